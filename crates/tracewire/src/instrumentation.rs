//! For integration crates: the life-cycle every instrumented operation
//! shares, so that each integration is only its adapter part.
//!
//! Applications do not need this module. An integration (an HTTP client, a
//! database driver, a queue) starts an [`Operation`] where the work starts,
//! says what it learned on the way (a status code, a failure), and finishes
//! it — or drops it, which ends the span all the same. The operation:
//!
//! - starts a span of the given kind under the parent context, when a tracer
//!   is given, and remembers whether it records (nothing is set on a span
//!   that does not);
//! - keeps the attributes the duration metric is recorded with, in the
//!   container the integration chose (a `Vec`, or a `SmallVec` on a hot path:
//!   nothing is boxed);
//! - on failure, puts `error.type` on the span and on the metric, and sets
//!   status Error with the description given;
//! - records the duration linked to the span, so a sampled span becomes
//!   the exemplar of its bucket, then ends the span; finishing twice, or
//!   dropping after finishing, does nothing more.
//!
//! Everything else an integration needs is re-exported here too: the tracer
//! and meter `init` installed ([`Tracer::installed`], [`global_meter`]), instruments
//! with exemplars ([`duration_histogram`], [`counter`]), the propagators
//! ([`inject_into`], [`extract_from`], the `http::HeaderMap` carriers), and
//! the conventions' keys and helpers of HTTP ([`http`]) and databases
//! ([`db`]). `docs/writing-an-integration.md` walks through a whole one.
//!
//! ```
//! use tracewire::instrumentation::{self as tw, Operation};
//! use tracewire::otel::trace::SpanKind;
//! use tracewire::otel::{Context, KeyValue};
//!
//! /// A key-value client, traced: one CLIENT span and one duration per `get`.
//! struct TracedKv {
//!     tracer: Option<tw::Tracer>,
//!     duration: tw::Histogram,
//! }
//!
//! impl TracedKv {
//!     fn new() -> Self {
//!         Self {
//!             tracer: tw::Tracer::installed("kv-client"),
//!             duration: tw::db::operation_duration(&tw::global_meter("kv-client")),
//!         }
//!     }
//!
//!     fn get(&self, key: &str) -> Result<Option<String>, std::io::Error> {
//!         let mut op: Operation = Operation::start(
//!             self.tracer.as_ref(),
//!             "GET",
//!             SpanKind::Client,
//!             &Context::current(),
//!             vec![
//!                 KeyValue::new(tw::db::attr::DB_SYSTEM_NAME, "kv"),
//!                 KeyValue::new(tw::db::attr::DB_OPERATION_NAME, "GET"),
//!             ],
//!             |span| span.push(KeyValue::new(tw::db::attr::DB_QUERY_TEXT, format!("GET {key}"))),
//!         );
//!         let result = Ok(None); // the real call, run in `op.context()`
//!         if let Err(e) = &result {
//!             op.fail("io", format!("{e}"));
//!         }
//!         op.finish(Some(&self.duration));
//!         result
//!     }
//! }
//! # let _ = TracedKv::new().get("user:1");
//! ```

use std::borrow::Cow;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{Span as _, SpanBuilder, SpanKind, Status, TraceContextExt as _};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_sdk::trace::SdkTracer;

pub use crate::metrics::{
    Counter, DB_DURATION_BUCKETS, DURATION_BUCKETS, Histogram, counter, duration_histogram,
};
pub use crate::own_spans::{OwnTracer, own_tracer};
pub use crate::propagation::{HeaderExtractor, HeaderInjector, extract_from, inject_into};
pub use crate::recent::{AddressText, RecentValue};
pub use crate::sdk_tracer;
pub use crate::{db, http};

/// The global meter of `scope` (the meter provider `init` installed).
pub fn global_meter(scope: &'static str) -> opentelemetry::metrics::Meter {
    opentelemetry::global::meter(scope)
}

/// `s` as a `&'static str`, interned once (bounded: past 10,000 strings it
/// is copied per call instead), for span names an integration derives from
/// a bounded set — a route, a query summary — without allocating per span.
pub fn intern(s: &str) -> Cow<'static, str> {
    crate::http::intern::intern(s)
}

/// `error.type`, the key every failed operation carries (semconv).
pub const ERROR_TYPE: &str = "error.type";
/// `server.address`.
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`.
pub const SERVER_PORT: &str = "server.port";

/// Span ids without spans, for when `init` set up tracing whose spans go
/// nowhere (no trace exporter, no local view): building an SDK span only to
/// drop it is most of an instrumented request's cost, yet the next hop still
/// needs a new parent-id and the sampler's decision.
static IDS_ONLY: crate::installed::Installed<std::sync::Arc<crate::own_spans::Decider>> =
    crate::installed::Installed::new();

/// Installed by `init`: `Some` when spans are decided but not recorded.
pub(crate) fn set_ids_only(sampler: Option<crate::config::SamplerConfig>) {
    IDS_ONLY.set(sampler.map(|config| std::sync::Arc::new(crate::own_spans::Decider::new(config))));
}

/// The context an operation without a tracer runs in. When `init` set up
/// tracing with nowhere for spans to go, this is `parent` with a new,
/// non-recording span context: the parent's trace id (or a new one), a new
/// span id, the sampler's decision as the sampled flag, the parent's
/// tracestate — what the next hop needs, decided as tracewire's own spans
/// are, without building a span. Otherwise (no `init`, or the SDK disabled)
/// it is `parent` as it is. (`name` and `kind` are not read: the samplers
/// `init` configures do not read them.)
pub fn context_without_span(parent: &Context, _name: &str, _kind: &SpanKind) -> Context {
    match IDS_ONLY.get() {
        Some(decider) => parent.with_remote_span_context(decider.decide(parent).span_context),
        None => parent.clone(),
    }
}

/// Where an integration's spans come from: tracewire's own span path (what
/// `init` sets up by default; see [`OwnTracer`]) or an SDK tracer (a provider
/// built by hand, or `TelemetryBuilder::sdk_spans`).
#[derive(Debug, Clone)]
pub enum Tracer {
    /// tracewire's own spans.
    Own(OwnTracer),
    /// The OpenTelemetry SDK's.
    Sdk(SdkTracer),
}

impl From<OwnTracer> for Tracer {
    fn from(tracer: OwnTracer) -> Self {
        Self::Own(tracer)
    }
}

impl From<SdkTracer> for Tracer {
    fn from(tracer: SdkTracer) -> Self {
        Self::Sdk(tracer)
    }
}

impl Tracer {
    /// The tracer `init` installed for `scope`: tracewire's own spans unless
    /// the application asked for the SDK's. `None` before `init`, with the
    /// SDK disabled, or when no span would go anywhere (then
    /// [`context_without_span`] gives the ids to propagate).
    pub fn installed(scope: &'static str) -> Option<Self> {
        own_tracer(scope)
            .map(Self::Own)
            .or_else(|| crate::sdk_tracer(scope).map(Self::Sdk))
    }

    /// Starts a span under `parent`: the context holding it (only its ids
    /// when the own path does not record it) and whether it records.
    /// `build` describes the span; on the own path it is called only for a
    /// recorded span (the sampler decides first), the SDK needs it to decide.
    pub fn start(&self, parent: &Context, build: impl FnOnce() -> SpanBuilder) -> (Context, bool) {
        match self {
            Self::Own(tracer) => tracer.start_in(parent, build),
            Self::Sdk(tracer) => {
                let span = build().start_with_context(tracer, parent);
                let recording = span.is_recording();
                (parent.with_span(span), recording)
            }
        }
    }

    /// Whether the sampler decides before the span is built (tracewire's own
    /// spans), so that an unrecorded span is only ids in the context; the
    /// SDK decides inside `start` and puts even an unrecorded span there.
    fn decides_first(&self) -> bool {
        matches!(self, Self::Own(_))
    }
}

/// A container of metric attributes an [`Operation`] can grow.
pub trait AttributeList: AsRef<[KeyValue]> {
    /// Appends one attribute.
    fn push_attribute(&mut self, attribute: KeyValue);
}

impl AttributeList for Vec<KeyValue> {
    fn push_attribute(&mut self, attribute: KeyValue) {
        self.push(attribute);
    }
}

impl<const N: usize> AttributeList for smallvec::SmallVec<[KeyValue; N]> {
    fn push_attribute(&mut self, attribute: KeyValue) {
        self.push(attribute);
    }
}

/// The attribute container of an integration that records its metrics
/// itself (through bound handles, say): nothing is kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetricAttributes;

impl AsRef<[KeyValue]> for NoMetricAttributes {
    fn as_ref(&self) -> &[KeyValue] {
        &[]
    }
}

impl AttributeList for NoMetricAttributes {
    fn push_attribute(&mut self, _: KeyValue) {}
}

/// One instrumented operation; see the module docs.
#[derive(Debug)]
pub struct Operation<A: AttributeList = Vec<KeyValue>> {
    cx: Context,
    /// Whether `cx` holds a span of ours (else it is the parent's: never ended here).
    spanned: bool,
    recording: bool,
    start: Instant,
    /// The span's start time in nanoseconds since the epoch, when the
    /// operation set it (else 0): the span then ends at this plus the
    /// measured duration, without reading the clock again, and lasts exactly
    /// as long as the duration metric says. (Eight bytes, not an
    /// `Option<SystemTime>`'s sixteen: an HTTP server moves its operation
    /// several times per request, and ≤ 128 bytes move inline.)
    span_start_nanos: u64,
    attributes: A,
    failed: bool,
    finished: bool,
}

impl<A: AttributeList> Operation<A> {
    /// Starts `name` as a span of `kind` under `parent` (when there is a
    /// tracer) with `attributes` (also the metric's), to which
    /// `span_attributes` adds the span's own (a query text, a full URL) —
    /// called only when there is a span to give them to.
    pub fn start(
        tracer: Option<&Tracer>,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        parent: &Context,
        attributes: A,
        span_attributes: impl FnOnce(&mut Vec<KeyValue>),
    ) -> Self {
        let Some(tracer) = tracer else {
            return Self::start_with(None, None, parent, attributes);
        };
        let name = name.into();
        let start = Instant::now();
        let mut span_start = None;
        let started = tracer.start(parent, || {
            // Room for the span's own: an integration keeping no metric
            // attributes (tracewire-sqlx) adds six here, and a vector grown
            // past its capacity is a reallocation per operation.
            let mut all: Vec<KeyValue> = Vec::with_capacity(attributes.as_ref().len() + 8);
            all.extend_from_slice(attributes.as_ref());
            span_attributes(&mut all);
            let now = opentelemetry::time::now();
            span_start = Some(now);
            SpanBuilder::from_name(name)
                .with_kind(kind)
                .with_attributes(all)
                .with_start_time(now)
        });
        Self::adopt_started(start, tracer, started, attributes).with_span_start(span_start)
    }

    /// The operation around what `tracer.start` returned: an unrecorded
    /// span of the SDK's is in the context (and is ended); of ours, only
    /// its ids are.
    fn adopt_started(
        start: Instant,
        tracer: &Tracer,
        (cx, recording): (Context, bool),
        attributes: A,
    ) -> Self {
        Self::adopt_since(
            start,
            cx,
            recording || !tracer.decides_first(),
            recording,
            attributes,
        )
    }

    /// Like [`start`](Self::start), from a span builder of the caller's
    /// (links, a start time): `builder` holds every span attribute.
    pub fn start_with(
        tracer: Option<&Tracer>,
        builder: Option<SpanBuilder>,
        parent: &Context,
        attributes: A,
    ) -> Self {
        match (tracer, builder) {
            (Some(tracer), Some(builder)) => {
                let start = Instant::now();
                Self::adopt_started(start, tracer, tracer.start(parent, || builder), attributes)
            }
            _ => Self::adopt(
                context_without_span(parent, "", &SpanKind::Internal),
                false,
                false,
                attributes,
            ),
        }
    }

    /// An operation around a span the integration started itself (a server
    /// that keeps only the ids of an unsampled span, say): `cx` is its
    /// context, `spanned` whether `cx` holds a span of the integration's own
    /// to end, `recording` whether that span records.
    pub fn adopt(cx: Context, spanned: bool, recording: bool, attributes: A) -> Self {
        Self::adopt_since(Instant::now(), cx, spanned, recording, attributes)
    }

    /// Like [`adopt`](Self::adopt), timed from `start` (taken before the span
    /// was started).
    pub fn adopt_since(
        start: Instant,
        cx: Context,
        spanned: bool,
        recording: bool,
        attributes: A,
    ) -> Self {
        Self {
            cx,
            spanned,
            recording,
            start,
            span_start_nanos: 0,
            attributes,
            failed: false,
            finished: false,
        }
    }

    /// Says when the operation's span started (the start time its builder
    /// was given, read after `start`): the span then ends at that time plus
    /// the duration [`finish`](Self::finish) measures, with no clock read
    /// of its own.
    pub fn with_span_start(mut self, span_start: Option<SystemTime>) -> Self {
        self.span_start_nanos = span_start
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .unwrap_or(0);
        self
    }

    /// The context holding the operation's span (the parent's when there is
    /// no tracer): run the operation's work in it, inject it downstream.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// The context whose span the operation's measurements link to as
    /// exemplars: ours when it is recorded, else `None` — whatever is
    /// current, as for any measurement (an unrecorded span's ids lead
    /// nowhere). For the `*_in` methods of [`crate::metrics`], which take it
    /// instead of the operation's context being made current.
    pub fn exemplar_context(&self) -> Option<&Context> {
        self.recording.then_some(&self.cx)
    }

    /// Whether the span records (attributes set on one that does not are
    /// work thrown away).
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The metric attributes so far.
    pub fn attributes(&self) -> &[KeyValue] {
        self.attributes.as_ref()
    }

    /// Whether [`fail`](Self::fail) was called.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Sets an attribute of the span only.
    pub fn set_span_attribute(&self, attribute: KeyValue) {
        if self.recording {
            self.cx.span().set_attribute(attribute);
        }
    }

    /// Adds an attribute to the metric's attributes only (one the span was
    /// started with already, or one the span must not carry).
    pub fn add_metric_attribute(&mut self, attribute: KeyValue) {
        self.attributes.push_attribute(attribute);
    }

    /// Renames the span (a name that was only known at the end: an RPC
    /// method the server turned out not to know, say).
    pub fn update_name(&self, name: impl Into<Cow<'static, str>>) {
        if self.recording {
            self.cx.span().update_name(name);
        }
    }

    /// Adds an attribute to the span and to the metric's attributes (say, a
    /// response status code).
    pub fn add_attribute(&mut self, attribute: KeyValue) {
        self.set_span_attribute(attribute.clone());
        self.attributes.push_attribute(attribute);
    }

    /// Marks the operation failed: `error.type` on the span and the metric,
    /// status Error with `description` (empty when the type says it all).
    /// Only the first failure counts. A [`PANIC_ERROR_TYPE`](crate::PANIC_ERROR_TYPE)
    /// failure goes to the metric only when the panic hook is installed: the
    /// hook has marked the span already, with the panic's message.
    pub fn fail(
        &mut self,
        error_type: impl Into<StringValue>,
        description: impl Into<Cow<'static, str>>,
    ) {
        if self.failed {
            return;
        }
        self.failed = true;
        let error_type = KeyValue::new(ERROR_TYPE, error_type.into());
        let marked_by_hook =
            error_type.value.as_str() == crate::PANIC_ERROR_TYPE && crate::panic_hook_installed();
        if self.recording && !marked_by_hook {
            self.cx.span().set_attribute(error_type.clone());
            self.cx.span().set_status(Status::error(description));
        }
        self.attributes.push_attribute(error_type);
    }

    /// Records the duration in `duration` (if given) under the span's
    /// context, so that a sampled span is the exemplar, then ends the span.
    /// Finishing again does nothing.
    pub fn finish(&mut self, duration: Option<&Histogram>) {
        let elapsed = self.start.elapsed();
        self.finish_with(duration, elapsed, None);
    }

    /// Like [`finish`](Self::finish) with no histogram, for an integration
    /// that recorded `elapsed` — from [`elapsed`](Self::elapsed) — itself:
    /// the clock is not read again.
    pub fn finish_measured(&mut self, elapsed: Duration) {
        self.finish_with(None, elapsed, None);
    }

    /// Like [`finish`](Self::finish), recording through `bound`'s handle for
    /// `key` — bound with the operation's attributes the first time; unbound
    /// when `key` is `None` or the cache is full — for an integration whose
    /// attribute combinations have a small key (an interned name, a code).
    pub fn finish_bound<K: std::hash::Hash + Eq>(
        &mut self,
        duration: &Histogram,
        bound: &crate::metrics::BoundHistograms<K>,
        key: Option<K>,
    ) {
        if self.finished {
            return;
        }
        let elapsed = self.start.elapsed();
        let attributes = self.attributes.as_ref();
        bound.record_in(
            self.exemplar_context(),
            duration,
            key,
            elapsed.as_secs_f64(),
            || attributes.to_vec(),
        );
        self.finish_with(None, elapsed, None);
    }

    /// Like [`finish`](Self::finish) for an operation measured by the caller
    /// (one observed after the fact, say a blocking receive whose start was
    /// taken before the call): records `elapsed` and ends the span at `end`.
    /// Start it with [`start_with`](Self::start_with) and a builder that has
    /// the matching start time.
    pub fn finish_after(
        &mut self,
        duration: Option<&Histogram>,
        elapsed: Duration,
        end: SystemTime,
    ) {
        self.finish_with(duration, elapsed, Some(end));
    }

    fn finish_with(
        &mut self,
        duration: Option<&Histogram>,
        elapsed: Duration,
        end: Option<SystemTime>,
    ) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Some(histogram) = duration {
            histogram.record_in(
                self.exemplar_context(),
                elapsed.as_secs_f64(),
                self.attributes.as_ref(),
            );
        }
        if self.spanned {
            let measured = (self.span_start_nanos != 0).then(|| {
                SystemTime::UNIX_EPOCH + Duration::from_nanos(self.span_start_nanos) + elapsed
            });
            match end.or(measured) {
                Some(end) => self.cx.span().end_with_timestamp(end),
                None => self.cx.span().end(),
            }
        }
    }

    /// Whether [`finish`](Self::finish) has run.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

impl<A: AttributeList> Drop for Operation<A> {
    /// An operation dropped unfinished still ends its span (its integration
    /// records the duration in its own `Drop`, which runs first).
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            if self.spanned {
                self.cx.span().end();
            }
        }
    }
}
