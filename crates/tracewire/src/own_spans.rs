//! tracewire's own spans, recorded without the SDK's span machinery.
//!
//! An integration's span (an HTTP server request, say) is started and ended
//! here rather than by the SDK tracer: the sampler `init` configured decides
//! first — before any attribute is built, which the SDK cannot do since it
//! wants the attributes at start; the spec's built-in samplers, the only ones
//! `init` configures, never read them —, then a span record is kept in the
//! context like any span, and on end it is handed as [`SpanData`] to the same
//! processors the SDK provider feeds (the exporters' batch processors, the
//! local views, the caller's own). User code sees no difference: the record
//! is the current span while the handler runs, so `tracing` and OpenTelemetry
//! API spans nest under it, and `Context::current().span()` sets attributes,
//! events and status on it.
//!
//! What it saves per span, against `SdkTracer::build_with_context` and the
//! SDK span's end: the `SpanBuilder`, a second move of the span data, the
//! provider's shutdown and limit bookkeeping on the way in, the lock-and-
//! dispatch on the way out (docs/performance.md has the figures).
//!
//! The one difference a processor can see: `SpanProcessor::on_start` is not
//! called for these spans (it takes the SDK's span type, which only the SDK
//! can build). tracewire's own processors need no such call — the baggage
//! allow-list is applied here at start —; a processor of the caller's that
//! needs it gets the SDK path back with
//! [`TelemetryBuilder::sdk_spans`](crate::TelemetryBuilder::sdk_spans).

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Link, SpanBuilder, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    IdGenerator as _, RandomIdGenerator, SpanData, SpanEvents, SpanLimits, SpanLinks, SpanProcessor,
};

use crate::export::batch::SpanBatch;

/// A span processor shared between the SDK provider (which feeds it the
/// spans of `tracing` and the OpenTelemetry API) and the [`SpanRecorder`]
/// (which feeds it tracewire's own).
#[derive(Debug, Clone)]
pub(crate) enum SharedProcessor {
    /// tracewire's batch processor, known by type so that the recorder
    /// moves an ended span's record straight into its buffer.
    Batch(Arc<SpanBatch>),
    /// Any other: the local views, the caller's own.
    Other(Arc<dyn SpanProcessor>),
}

impl SharedProcessor {
    fn get(&self) -> &dyn SpanProcessor {
        match self {
            Self::Batch(batch) => &**batch,
            Self::Other(processor) => &**processor,
        }
    }
}

impl SpanProcessor for SharedProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.get().on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.get().on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.get().force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.get().shutdown_with_timeout(timeout)
    }

    // `set_resource` was called on the processor before it was shared.
}

/// A new span's ids and sampling decision, worked out as the SDK tracer
/// would — for tracewire's own spans, and for the ids-only context of an
/// operation whose spans would go nowhere (`context_without_span`).
#[derive(Debug)]
pub(crate) struct Decider {
    sampler: crate::config::SamplerConfig,
    ids: RandomIdGenerator,
}

/// What [`Decider::decide`] found.
#[derive(Debug)]
pub(crate) struct Decision {
    /// The new span's ids, flags and tracestate.
    pub(crate) span_context: SpanContext,
    parent_span_id: SpanId,
    parent_is_remote: bool,
    /// Whether the span is recorded (else only its ids travel).
    pub(crate) record: bool,
}

impl Decision {
    /// No span: an invalid span context, not recorded (a suppressed
    /// context, a provider shut down).
    fn none() -> Self {
        Self {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_is_remote: false,
            record: false,
        }
    }
}

impl Decider {
    pub(crate) fn new(sampler: crate::config::SamplerConfig) -> Self {
        Self {
            sampler,
            ids: RandomIdGenerator::default(),
        }
    }

    /// Decides a span under `parent`: the parent's trace id (or a new one), a
    /// new span id, the sampler's decision (`SamplerConfig::samples`: the
    /// SDK's built-in samplers, which read neither the span's name, kind nor
    /// attributes, never record without sampling, and keep the parent's
    /// tracestate), the parent's flags with the sampled bit set. A suppressed
    /// context gets an invalid span context (no span), as from the SDK.
    pub(crate) fn decide(&self, parent: &Context) -> Decision {
        if parent.is_telemetry_suppressed() {
            return Decision::none();
        }
        let parent_span = parent.span();
        let parent_sc = parent_span.span_context();
        let valid = parent_sc.is_valid();
        let trace_id = if valid {
            parent_sc.trace_id()
        } else {
            self.ids.new_trace_id()
        };
        let record = self.sampler.samples(parent, trace_id);
        let flags = match (record, valid) {
            (false, _) => TraceFlags::default(),
            (true, true) => parent_sc.trace_flags().with_sampled(true),
            (true, false) => TraceFlags::SAMPLED,
        };
        Decision {
            span_context: SpanContext::new(
                trace_id,
                self.ids.new_span_id(),
                flags,
                false,
                parent_sc.trace_state().clone(),
            ),
            parent_span_id: if valid {
                parent_sc.span_id()
            } else {
                SpanId::INVALID
            },
            parent_is_remote: valid && parent_sc.is_remote(),
            record,
        }
    }
}

/// Where tracewire's own spans are decided and delivered: the provider's
/// sampler, ids, limits and processors.
#[derive(Debug)]
pub(crate) struct SpanRecorder {
    decider: Decider,
    limits: SpanLimits,
    processors: Vec<SharedProcessor>,
    baggage: Option<crate::baggage_spans::BaggageSpanProcessor>,
    /// Set when the provider shuts down: spans ended later go nowhere, as
    /// the SDK's do.
    shut_down: AtomicBool,
}

impl SpanRecorder {
    pub(crate) fn new(
        sampler: crate::config::SamplerConfig,
        limits: SpanLimits,
        processors: Vec<SharedProcessor>,
        baggage: Option<crate::baggage_spans::BaggageSpanProcessor>,
    ) -> Self {
        Self {
            decider: Decider::new(sampler),
            limits,
            processors,
            baggage,
            shut_down: AtomicBool::new(false),
        }
    }

    /// Stops delivering spans (the provider is shutting down).
    pub(crate) fn shut_down(&self) {
        self.shut_down.store(true, Ordering::Release);
    }

    /// Hands the span in `ended` (taken out of it) to every processor.
    fn deliver(&self, ended: &mut Option<SpanData>) {
        if self.shut_down.load(Ordering::Acquire) {
            *ended = None;
            return;
        }
        match self.processors.as_slice() {
            [] => *ended = None,
            // The common case, tracewire's batch alone: the record moves
            // once, from the span into the batch's buffer.
            [SharedProcessor::Batch(batch)] => batch.take_ended(ended),
            [rest @ .., last] => {
                let Some(data) = ended.take() else { return };
                for processor in rest {
                    processor.on_end(data.clone());
                }
                last.on_end(data);
            }
        }
    }
}

/// The instrumentation scope of an integration's spans: its name, this
/// version, the semantic conventions' schema.
pub(crate) fn integration_scope(scope: &'static str) -> opentelemetry::InstrumentationScope {
    opentelemetry::InstrumentationScope::builder(scope)
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url("https://opentelemetry.io/schemas/1.44.0")
        .build()
}

static RECORDER: crate::installed::Installed<Arc<SpanRecorder>> =
    crate::installed::Installed::new();

/// Installed by `init`: `Some` when tracewire records its own spans.
pub(crate) fn set_recorder(recorder: Option<Arc<SpanRecorder>>) {
    RECORDER.set(recorder);
}

/// Starts tracewire's own spans for one instrumentation scope; see the
/// module docs. Get one with [`own_tracer`].
#[derive(Debug, Clone)]
pub struct OwnTracer {
    recorder: Arc<SpanRecorder>,
    scope: InstrumentationScope,
}

/// The tracer for an integration's own spans, from what `init` installed:
/// `None` before `init`, with the SDK disabled, when no span would go
/// anywhere, or when the application asked for SDK spans
/// ([`TelemetryBuilder::sdk_spans`](crate::TelemetryBuilder::sdk_spans)) —
/// then use [`sdk_tracer`](crate::sdk_tracer).
pub fn own_tracer(scope: &'static str) -> Option<OwnTracer> {
    Some(OwnTracer::new(RECORDER.get()?, scope))
}

impl OwnTracer {
    pub(crate) fn new(recorder: Arc<SpanRecorder>, scope: &'static str) -> Self {
        Self {
            recorder,
            scope: integration_scope(scope),
        }
    }

    /// Starts a span under `parent` and returns the context holding it
    /// (only its ids when it is not recorded) and whether it records. The
    /// sampler decides first; `build` — the span's name, kind, attributes,
    /// links, events and start time — is called only for a recorded span,
    /// so an unrecorded one costs no attribute work.
    pub fn start_in(
        &self,
        parent: &Context,
        build: impl FnOnce() -> SpanBuilder,
    ) -> (Context, bool) {
        let recorder = &self.recorder;
        let decision = if recorder.shut_down.load(Ordering::Acquire) {
            Decision::none()
        } else {
            recorder.decider.decide(parent)
        };
        if !decision.record {
            // Only its ids travel: one allocation, no span boxed.
            return (
                parent.with_remote_span_context(decision.span_context),
                false,
            );
        }
        let span = self.record(decision, parent, build());
        (parent.with_span(span), true)
    }

    /// The record of a span `decision` kept, from `builder`, within the
    /// configured limits, with the allowed baggage members copied on.
    fn record(&self, decision: Decision, parent: &Context, builder: SpanBuilder) -> OwnSpan {
        let limits = &self.recorder.limits;
        let mut attributes = builder.attributes.unwrap_or_default();
        let max_attributes = limits.max_attributes_per_span as usize;
        let dropped_attributes_count = attributes.len().saturating_sub(max_attributes) as u32;
        attributes.truncate(max_attributes);
        let mut links = builder.links.unwrap_or_default();
        let max_links = limits.max_links_per_span as usize;
        let dropped_links = links.len().saturating_sub(max_links) as u32;
        links.truncate(max_links);
        let max_link_attributes = limits.max_attributes_per_link as usize;
        for link in &mut links {
            link.dropped_attributes_count =
                link.attributes.len().saturating_sub(max_link_attributes) as u32;
            link.attributes.truncate(max_link_attributes);
        }
        let mut span_links = SpanLinks::default();
        span_links.links = links;
        span_links.dropped_count = dropped_links;
        let start_time = builder.start_time.unwrap_or_else(opentelemetry::time::now);
        let span_context = decision.span_context;
        let own_context = span_context.clone();
        let mut record = RecordBox::take();
        *record = Some(SpanData {
            span_context,
            parent_span_id: decision.parent_span_id,
            parent_span_is_remote: decision.parent_is_remote,
            span_kind: builder.span_kind.unwrap_or(SpanKind::Internal),
            name: builder.name,
            start_time,
            end_time: start_time,
            attributes,
            dropped_attributes_count,
            events: SpanEvents::default(),
            links: span_links,
            status: Status::Unset,
            instrumentation_scope: self.scope.clone(),
        });
        let mut span = OwnSpan {
            span_context: own_context,
            record: Some(record),
            recorder: Arc::clone(&self.recorder),
        };
        for event in builder.events.unwrap_or_default() {
            opentelemetry::trace::Span::add_event_with_timestamp(
                &mut span,
                event.name,
                event.timestamp,
                event.attributes,
            );
        }
        if let Some(baggage) = &self.recorder.baggage {
            baggage.copy_onto(&mut span, parent);
        }
        span
    }
}

/// Where a span's record is kept: a box of its own, given back when the
/// span is dropped and taken again by the next span started on the same
/// thread (up to [`SPARE_PER_THREAD`](Self::SPARE_PER_THREAD) boxes a
/// thread).
///
/// Why: the context boxes the span it holds, and a span with its record
/// inline (some 450 bytes) is copied on the way into that box, and before
/// that into its own place (~65 instructions a copy); a span holding a box
/// moves as a few words. Kept boxes give that without an allocation: a
/// thread that drops the spans it starts (an HTTP server's worker) reuses
/// the same few boxes. Measured: ~180 instructions fewer per HTTP server
/// request (docs/performance.md).
#[derive(Debug)]
struct RecordBox;

thread_local! {
    // Boxes, not values: a box is what a span takes and gives back.
    #[allow(clippy::vec_box)]
    static SPARE_RECORDS: std::cell::RefCell<Vec<Box<Option<SpanData>>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl RecordBox {
    const SPARE_PER_THREAD: usize = 32;

    /// An empty record box: a kept one, or a new one.
    fn take() -> Box<Option<SpanData>> {
        SPARE_RECORDS
            .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| Box::new(None))
    }

    /// Keeps `record` (emptied) for the next span, when there is room.
    fn give_back(mut record: Box<Option<SpanData>>) {
        *record = None;
        let _ = SPARE_RECORDS.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut() {
                if spare.len() < Self::SPARE_PER_THREAD {
                    spare.push(record);
                }
            }
        });
    }
}

/// One of tracewire's own spans: the record the processors will get, kept
/// in the context while the operation runs; see the module docs.
#[derive(Debug)]
pub(crate) struct OwnSpan {
    span_context: SpanContext,
    /// The record, `None` inside when not recorded or once ended; the box
    /// is taken out only when the span is dropped.
    record: Option<Box<Option<SpanData>>>,
    recorder: Arc<SpanRecorder>,
}

impl OwnSpan {
    fn data(&mut self) -> Option<&mut SpanData> {
        self.record.as_deref_mut().and_then(Option::as_mut)
    }

    fn with_data(&mut self, f: impl FnOnce(&mut SpanData, &SpanLimits)) {
        let limits = &self.recorder.limits;
        if let Some(data) = self.record.as_deref_mut().and_then(Option::as_mut) {
            f(data, limits);
        }
    }
}

impl opentelemetry::trace::Span for OwnSpan {
    fn add_event_with_timestamp<T>(
        &mut self,
        name: T,
        timestamp: SystemTime,
        mut attributes: Vec<KeyValue>,
    ) where
        T: Into<Cow<'static, str>>,
    {
        self.with_data(|data, limits| {
            if data.events.events.len() < limits.max_events_per_span as usize {
                let max = limits.max_attributes_per_event as usize;
                let dropped = attributes.len().saturating_sub(max) as u32;
                attributes.truncate(max);
                data.events.events.push(opentelemetry::trace::Event::new(
                    name, timestamp, attributes, dropped,
                ));
            } else {
                data.events.dropped_count += 1;
            }
        });
    }

    fn span_context(&self) -> &SpanContext {
        &self.span_context
    }

    fn is_recording(&self) -> bool {
        self.record.as_deref().is_some_and(Option::is_some)
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        self.with_data(|data, limits| {
            if data.attributes.len() < limits.max_attributes_per_span as usize {
                data.attributes.push(attribute);
            } else {
                data.dropped_attributes_count += 1;
            }
        });
    }

    fn set_status(&mut self, status: Status) {
        self.with_data(|data, _| {
            // Ok > Error > Unset: a status only ever moves up.
            if status > data.status {
                data.status = status;
            }
        });
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        self.with_data(|data, _| data.name = new_name.into());
    }

    fn add_link(&mut self, span_context: SpanContext, mut attributes: Vec<KeyValue>) {
        self.with_data(|data, limits| {
            if data.links.links.len() < limits.max_links_per_span as usize {
                let max = limits.max_attributes_per_link as usize;
                let dropped = attributes.len().saturating_sub(max) as u32;
                attributes.truncate(max);
                data.links
                    .links
                    .push(Link::new(span_context, attributes, dropped));
            } else {
                data.links.dropped_count += 1;
            }
        });
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        if let Some(data) = self.data() {
            data.end_time = timestamp;
            if let Some(record) = self.record.as_deref_mut() {
                self.recorder.deliver(record);
            }
        }
    }
}

impl Drop for OwnSpan {
    /// A span dropped unended ends now, as the SDK's does; its record's box
    /// is kept for the next span.
    fn drop(&mut self) {
        if self.data().is_some() {
            opentelemetry::trace::Span::end(self);
        }
        if let Some(record) = self.record.take() {
            RecordBox::give_back(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use opentelemetry::trace::{SpanBuilder, TraceContextExt as _};

    use super::*;

    /// Counts the spans it is handed.
    #[derive(Debug, Default)]
    struct Count(AtomicUsize);

    impl SpanProcessor for Count {
        fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &Context) {}
        fn on_end(&self, _: SpanData) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    /// A recorder always sampling, delivering to a counter.
    fn counted_recorder() -> (Arc<Count>, Arc<SpanRecorder>) {
        let count = Arc::new(Count::default());
        let recorder = Arc::new(SpanRecorder::new(
            crate::config::SamplerConfig::AlwaysOn,
            SpanLimits::default(),
            vec![SharedProcessor::Other(count.clone())],
            None,
        ));
        (count, recorder)
    }

    /// A dropped span's record box is the next span's (no allocation), up
    /// to the bound a thread keeps; a kept box comes back empty.
    #[test]
    fn a_dropped_spans_record_box_is_the_next_spans() {
        let (count, recorder) = counted_recorder();
        let tracer = OwnTracer::new(recorder, "test");
        let address =
            |span: &OwnSpan| -> *const Option<SpanData> { &**span.record.as_ref().expect("a box") };
        let first = tracer.record(
            tracer.recorder.decider.decide(&Context::new()),
            &Context::new(),
            SpanBuilder::from_name("first"),
        );
        let kept = address(&first);
        drop(first);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "ended when dropped");
        let mut second = tracer.record(
            tracer.recorder.decider.decide(&Context::new()),
            &Context::new(),
            SpanBuilder::from_name("second"),
        );
        assert_eq!(address(&second), kept, "the same box");
        assert_eq!(
            second.data().map(|d| d.name.to_string()).as_deref(),
            Some("second")
        );

        let boxes: Vec<_> = (0..RecordBox::SPARE_PER_THREAD + 8)
            .map(|_| RecordBox::take())
            .collect();
        for b in boxes {
            RecordBox::give_back(b);
        }
        let kept = SPARE_RECORDS.with(|spare| spare.borrow().len());
        assert_eq!(kept, RecordBox::SPARE_PER_THREAD, "bounded");
        assert!(SPARE_RECORDS.with(|spare| spare.borrow().iter().all(|b| b.is_none())));
    }

    /// Spans ended once the provider shuts down go to no processor (the
    /// SDK's spans check the provider the same way), and none is recorded.
    #[test]
    fn nothing_is_delivered_after_shutdown() {
        let (count, recorder) = counted_recorder();
        let tracer = OwnTracer::new(Arc::clone(&recorder), "test");
        let start = || tracer.start_in(&Context::new(), || SpanBuilder::from_name("op"));

        let (before, recorded) = start();
        assert!(recorded);
        let (ended_late, _) = start();
        before.span().end();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "delivered while running");

        recorder.shut_down();
        ended_late.span().end();
        let (after, recorded) = start();
        after.span().end();
        assert!(!recorded, "no span is recorded after shutdown");
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "nothing after shutdown");
    }
}
