//! tracewire's batch span processor: ended spans go into one bounded buffer
//! under a lock, and the export thread takes the buffer whole.
//!
//! Why not the SDK's `BatchSpanProcessor` behind a counting gate, as before:
//! there a span is moved on the thread that ends it three times after the
//! recorder hands it over (the gate, the processor, the channel's slot, each
//! ~420 bytes) and once more on the export thread, out of the channel into the
//! batch; here it is moved once, into the buffer, and the export thread takes
//! the buffer whole — it is the batch the exporter gets, with no span moved
//! again unless more than a batch had queued. The buffer put in its place is
//! allocated by the export thread before it takes the lock, as large as the
//! last round's spans: at a steady rate the ending thread neither allocates
//! nor reallocates. What is kept from the SDK's processor: a thread of its
//! own that exports in batches of `max_export_batch_size` when a batch is
//! full or `schedule_delay` has passed, `force_flush` (up to 5 s, like the
//! SDK's), `shutdown_with_timeout` that exports what is queued, shuts the
//! exporter down and returns within its timeout even when the exporter
//! hangs, and telemetry suppressed on the export thread (the exporter's own
//! HTTP client records nothing).
//!
//! What is kept from the counting gate: a span holds a place from the moment
//! it is queued until the export carrying it ends ([`QueueSlots`], released by
//! [`CountedSpanExporter`](super::accounting::CountedSpanExporter)), so
//! `max_queue_size` bounds the spans held in memory; past it a span is dropped
//! and counted (`spans_dropped_queue_full`). Attribute values are cut to the
//! configured length on the export thread, before the export.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use super::accounting::{QueueSlots, Totals, truncate_value};
use crate::config::BatchSettings;

/// How long `force_flush` waits for the export thread (the SDK's batch
/// processor waits as long).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The batch span processor; see the module docs.
#[derive(Debug)]
pub(crate) struct SpanBatch {
    shared: Arc<Shared>,
    slots: QueueSlots,
    totals: Arc<Totals>,
    /// Spans per export: reaching it wakes the export thread.
    batch_size: usize,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the callers and the export thread share.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The export thread waits here for work.
    work: Condvar,
    /// `force_flush` and `shutdown` wait here for the export thread.
    answered: Condvar,
}

#[derive(Debug)]
struct State {
    /// Spans ended and not yet taken by the export thread.
    spans: Vec<SpanData>,
    /// A resource to give the exporter before its next export.
    resource: Option<Resource>,
    /// The number of flushes asked for, and of those the thread finished.
    flushes_asked: u64,
    flushes_done: u64,
    /// The last finished flush's failure, if it failed.
    flush_failure: Option<String>,
    /// Shutdown asked for (or the processor dropped): export what is
    /// queued, shut the exporter down by `closing_deadline`, stop.
    closing: bool,
    closing_deadline: Option<Instant>,
    /// Set by the export thread when it has stopped: the exporter's
    /// shutdown result.
    closed: Option<Result<(), String>>,
}

impl Shared {
    /// Waits, until `deadline`, for the export thread to make `answer`
    /// give something; `None` when the deadline passes first.
    fn answer<T>(
        &self,
        mut state: MutexGuard<'_, State>,
        deadline: Instant,
        answer: impl Fn(&State) -> Option<T>,
    ) -> Option<T> {
        loop {
            if let Some(found) = answer(&state) {
                return Some(found);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            state = self
                .answered
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// Locks `mutex`, also after a panic elsewhere: the state stays consistent
/// (every update is a single assignment), and telemetry must not panic.
fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SpanBatch {
    /// Starts the export thread for `exporter` (already wrapped to release
    /// `slots` after each export).
    pub(crate) fn start<E: SpanExporter + 'static>(
        exporter: E,
        settings: BatchSettings,
        slots: QueueSlots,
        value_length_limit: Option<usize>,
        totals: Arc<Totals>,
    ) -> Self {
        let batch_size = settings.max_export_batch_size.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                spans: Vec::with_capacity(batch_size),
                resource: None,
                flushes_asked: 0,
                flushes_done: 0,
                flush_failure: None,
                closing: false,
                closing_deadline: None,
                closed: None,
            }),
            work: Condvar::new(),
            answered: Condvar::new(),
        });
        let worker = ExportThread {
            shared: Arc::clone(&shared),
            exporter,
            batch_size,
            // A zero delay would make the thread spin.
            schedule_delay: settings.schedule_delay.max(Duration::from_millis(1)),
            value_length_limit,
        };
        let thread = std::thread::Builder::new()
            .name("tracewire-spans".into())
            .spawn(move || worker.run());
        let thread = match thread {
            Ok(handle) => Some(handle),
            Err(e) => {
                // No thread, no export: every span is turned away, and
                // flush and shutdown answer at once.
                let mut state = lock(&shared.state);
                state.closing = true;
                state.closed = Some(Err(format!("no export thread: {e}")));
                None
            }
        };
        Self {
            shared,
            slots,
            totals,
            batch_size,
            thread: Mutex::new(thread),
        }
    }
}

impl SpanBatch {
    /// Queues the span taken out of `ended` (the way tracewire's own spans
    /// arrive: moved once, from the span into the buffer), or drops it.
    #[inline]
    pub(crate) fn take_ended(&self, ended: &mut Option<SpanData>) {
        if !self.slots.take() {
            *ended = None;
            self.totals.spans_queue_full.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut state = lock(&self.shared.state);
        match ended.take() {
            Some(span) if !state.closing => state.spans.push(span),
            _ => {
                drop(state);
                self.slots.release(1);
                return;
            }
        }
        let full = state.spans.len() == self.batch_size;
        drop(state);
        self.totals.spans_processed.fetch_add(1, Ordering::Relaxed);
        if full {
            self.shared.work.notify_one();
        }
    }
}

impl SpanProcessor for SpanBatch {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        self.take_ended(&mut Some(span));
    }

    fn force_flush(&self) -> OTelSdkResult {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        let mut state = lock(&self.shared.state);
        if state.closing {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.flushes_asked += 1;
        let ticket = state.flushes_asked;
        self.shared.work.notify_one();
        let answer = self.shared.answer(state, deadline, |state| {
            if state.flushes_done >= ticket {
                Some(match &state.flush_failure {
                    None => Ok(()),
                    Some(failure) => Err(OTelSdkError::InternalFailure(failure.clone())),
                })
            } else if state.closed.is_some() {
                Some(Err(OTelSdkError::AlreadyShutdown))
            } else {
                None
            }
        });
        answer.unwrap_or(Err(OTelSdkError::Timeout(FLUSH_TIMEOUT)))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        if state.closing && state.closing_deadline.is_some() {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.closing = true;
        state.closing_deadline = Some(deadline);
        self.shared.work.notify_one();
        let Some(result) = self
            .shared
            .answer(state, deadline, |state| state.closed.clone())
        else {
            return Err(OTelSdkError::Timeout(timeout));
        };
        // The thread set `closed` as its last act: the join is immediate.
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        result.map_err(OTelSdkError::InternalFailure)
    }

    fn set_resource(&mut self, resource: &Resource) {
        lock(&self.shared.state).resource = Some(resource.clone());
        self.shared.work.notify_one();
    }
}

impl Drop for SpanBatch {
    /// Dropped without a shutdown: the thread exports what is queued and
    /// stops on its own; nothing waits for it.
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        if !state.closing {
            state.closing = true;
            state.closing_deadline = Some(Instant::now() + FLUSH_TIMEOUT);
            self.shared.work.notify_one();
        }
    }
}

/// The export thread's side.
struct ExportThread<E> {
    shared: Arc<Shared>,
    exporter: E,
    batch_size: usize,
    schedule_delay: Duration,
    value_length_limit: Option<usize>,
}

impl<E: SpanExporter> ExportThread<E> {
    fn run(mut self) {
        // The exporter's own work (its HTTP client, say) makes no telemetry.
        let _suppressed = Context::enter_telemetry_suppressed_scope();
        let mut next_export = Instant::now() + self.schedule_delay;
        // The spans taken last round: the next buffer is made as large.
        let mut last_round = 0;
        loop {
            // As large as the last round, within four batches (a burst's
            // backlog need not size every buffer after it).
            let fresh = Vec::with_capacity(last_round.clamp(self.batch_size, 4 * self.batch_size));
            let mut state = lock(&self.shared.state);
            loop {
                let due = state.resource.is_some()
                    || state.spans.len() >= self.batch_size
                    || state.flushes_asked > state.flushes_done
                    || state.closing;
                let now = Instant::now();
                if due || now >= next_export {
                    break;
                }
                state = self
                    .shared
                    .work
                    .wait_timeout(state, next_export - now)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
            let resource = state.resource.take();
            let flush = state.flushes_asked;
            let closing = state.closing.then_some(state.closing_deadline);
            let queued = std::mem::replace(&mut state.spans, fresh);
            drop(state);
            last_round = queued.len();

            if let Some(resource) = resource {
                self.exporter.set_resource(&resource);
            }
            next_export = Instant::now() + self.schedule_delay;
            let failure = self.export(queued);

            let mut state = lock(&self.shared.state);
            if flush > state.flushes_done {
                state.flushes_done = flush;
                state.flush_failure = failure;
                self.shared.answered.notify_all();
            }
            if let Some(deadline) = closing {
                drop(state);
                let left = deadline
                    .unwrap_or_else(Instant::now)
                    .saturating_duration_since(Instant::now());
                let shut = self
                    .exporter
                    .shutdown_with_timeout(left)
                    .map_err(|e| e.to_string());
                lock(&self.shared.state).closed = Some(shut);
                self.shared.answered.notify_all();
                return;
            }
        }
    }

    /// Exports `spans` in batches; the last failure's text, if any.
    fn export(&self, spans: Vec<SpanData>) -> Option<String> {
        if spans.len() <= self.batch_size {
            // The usual case: the buffer is the batch.
            return if spans.is_empty() {
                None
            } else {
                self.export_batch(spans)
            };
        }
        // A backlog: moved out batch by batch.
        let mut failure = None;
        let mut queued = spans.into_iter();
        loop {
            let batch: Vec<SpanData> = queued.by_ref().take(self.batch_size).collect();
            if batch.is_empty() {
                return failure;
            }
            failure = self.export_batch(batch).or(failure);
        }
    }

    /// Exports one batch; the failure's text, if it failed.
    fn export_batch(&self, batch: Vec<SpanData>) -> Option<String> {
        let batch = self.limit_values(batch);
        futures_executor::block_on(self.exporter.export(batch))
            .err()
            .map(|e| e.to_string())
    }

    /// Cuts string attribute values to the configured length.
    fn limit_values(&self, mut batch: Vec<SpanData>) -> Vec<SpanData> {
        if let Some(limit) = self.value_length_limit {
            for span in &mut batch {
                for kv in &mut span.attributes {
                    truncate_value(&mut kv.value, limit);
                }
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceId};
    use opentelemetry::{InstrumentationScope, KeyValue};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::super::accounting::{CountedSpanExporter, SelfMetrics};
    use super::*;

    /// What the test exporter saw, in order.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Resource(String),
        /// A batch: each span's name and first attribute value, and whether
        /// telemetry was suppressed on the exporting thread.
        Batch(Vec<(String, String)>, bool),
        Shutdown,
    }

    /// Reports to a channel; with a gate, each export first waits for a
    /// message on it (a collector that hangs while the gate stays shut).
    #[derive(Debug)]
    struct Watching {
        seen: mpsc::Sender<Seen>,
        gate: Option<Mutex<mpsc::Receiver<()>>>,
    }

    impl SpanExporter for Watching {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            let spans = batch
                .iter()
                .map(|s| {
                    let value = s.attributes.first().map(|kv| kv.value.to_string());
                    (s.name.to_string(), value.unwrap_or_default())
                })
                .collect();
            let suppressed = Context::is_current_telemetry_suppressed();
            let _ = self.seen.send(Seen::Batch(spans, suppressed));
            if let Some(gate) = &self.gate {
                let _ = gate.lock().unwrap().recv();
            }
            Ok(())
        }

        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            let _ = self.seen.send(Seen::Shutdown);
            Ok(())
        }

        fn set_resource(&mut self, resource: &Resource) {
            let name = resource
                .get(&opentelemetry::Key::from_static_str("service.name"))
                .map(|v| v.to_string())
                .unwrap_or_default();
            let _ = self.seen.send(Seen::Resource(name));
        }
    }

    struct Rig {
        batch: SpanBatch,
        seen: mpsc::Receiver<Seen>,
        gate: mpsc::Sender<()>,
        totals: Arc<Totals>,
    }

    fn rig(settings: BatchSettings, gated: bool, value_length_limit: Option<usize>) -> Rig {
        let (seen_tx, seen) = mpsc::channel();
        let (gate, gate_rx) = mpsc::channel();
        let totals = Arc::new(Totals::default());
        let metrics = SelfMetrics::new(&opentelemetry::global::meter("test"), totals.clone());
        let slots = QueueSlots::new(settings.max_queue_size);
        let exporter = Watching {
            seen: seen_tx,
            gate: gated.then(|| Mutex::new(gate_rx)),
        };
        let counted = CountedSpanExporter::new(exporter, slots.clone(), metrics, "test");
        let batch = SpanBatch::start(counted, settings, slots, value_length_limit, totals.clone());
        Rig {
            batch,
            seen,
            gate,
            totals,
        }
    }

    fn settings(delay: Duration, queue: usize, batch: usize) -> BatchSettings {
        BatchSettings {
            schedule_delay: delay,
            max_queue_size: queue,
            max_export_batch_size: batch,
            export_timeout: Duration::from_secs(30),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const PATIENCE: Duration = Duration::from_secs(10);

    fn span(name: &str, value: &str) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(1),
                SpanId::from(2),
                opentelemetry::trace::TraceFlags::SAMPLED,
                false,
                Default::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: name.to_owned().into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes: vec![KeyValue::new("v", value.to_owned())],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    fn names(seen: &Seen) -> Vec<&str> {
        match seen {
            Seen::Batch(spans, _) => spans.iter().map(|(n, _)| n.as_str()).collect(),
            other => panic!("expected a batch, saw {other:?}"),
        }
    }

    /// A full batch goes out at once (the delay is an hour); what is left
    /// goes out with the flush, before `force_flush` returns, in order.
    #[test]
    fn a_full_batch_goes_out_at_once_and_a_flush_takes_the_rest() {
        let rig = rig(settings(HOUR, 100, 3), false, None);
        for name in ["a", "b", "c"] {
            rig.batch.on_end(span(name, "x"));
        }
        let first = rig.seen.recv_timeout(PATIENCE).expect("the full batch");
        assert_eq!(names(&first), ["a", "b", "c"]);
        rig.batch.on_end(span("d", "x"));
        rig.batch.on_end(span("e", "x"));
        rig.batch.force_flush().expect("flushed");
        let rest = rig
            .seen
            .try_recv()
            .expect("exported before the flush returned");
        assert_eq!(names(&rest), ["d", "e"]);
        assert_eq!(rig.totals.spans_processed.load(Ordering::Relaxed), 5);
        assert_eq!(rig.totals.spans_exported.load(Ordering::Relaxed), 5);
    }

    /// Fewer spans than a batch go out once the schedule delay has passed.
    #[test]
    fn the_schedule_delay_sends_a_partial_batch() {
        let rig = rig(settings(Duration::from_millis(20), 100, 512), false, None);
        rig.batch.on_end(span("alone", "x"));
        let batch = rig
            .seen
            .recv_timeout(PATIENCE)
            .expect("exported by the timer");
        assert_eq!(names(&batch), ["alone"]);
    }

    /// A span holds its place until the export carrying it ends: with two
    /// spans in a hung export and one queued, a queue of three turns the
    /// next one away and counts it; once the export ends there is room.
    #[test]
    fn spans_past_the_queue_bound_are_dropped_and_counted() {
        let rig = rig(settings(HOUR, 3, 2), true, None);
        rig.batch.on_end(span("a", "x"));
        rig.batch.on_end(span("b", "x"));
        let hung = rig.seen.recv_timeout(PATIENCE).expect("export started");
        assert_eq!(names(&hung), ["a", "b"]);
        rig.batch.on_end(span("c", "x"));
        rig.batch.on_end(span("dropped", "x"));
        assert_eq!(rig.totals.spans_queue_full.load(Ordering::Relaxed), 1);
        // Opens the gate for the hung export and the flush's.
        rig.gate.send(()).unwrap();
        rig.gate.send(()).unwrap();
        rig.batch.force_flush().expect("flushed");
        let rest = rig.seen.try_recv().expect("the queued span");
        assert_eq!(names(&rest), ["c"]);
        rig.batch.on_end(span("d", "x"));
        rig.batch.on_end(span("e", "x"));
        rig.batch.on_end(span("f", "x"));
        assert_eq!(rig.totals.spans_queue_full.load(Ordering::Relaxed), 1);
        assert_eq!(rig.totals.spans_processed.load(Ordering::Relaxed), 6);
        drop(rig.gate);
    }

    /// Shutdown exports what is queued, then shuts the exporter down; after
    /// it, spans are turned away and a second shutdown or a flush says so.
    #[test]
    fn shutdown_exports_the_queue_then_shuts_the_exporter_down() {
        let rig = rig(settings(HOUR, 100, 512), false, None);
        rig.batch.on_end(span("a", "x"));
        rig.batch.on_end(span("b", "x"));
        rig.batch
            .shutdown_with_timeout(Duration::from_secs(5))
            .expect("shut down");
        assert_eq!(names(&rig.seen.try_recv().unwrap()), ["a", "b"]);
        assert_eq!(rig.seen.try_recv().unwrap(), Seen::Shutdown);
        rig.batch.on_end(span("late", "x"));
        assert!(matches!(
            rig.batch.shutdown_with_timeout(Duration::from_secs(5)),
            Err(OTelSdkError::AlreadyShutdown)
        ));
        assert!(matches!(
            rig.batch.force_flush(),
            Err(OTelSdkError::AlreadyShutdown)
        ));
        assert!(rig.seen.try_recv().is_err(), "nothing after shutdown");
        assert_eq!(rig.totals.spans_processed.load(Ordering::Relaxed), 2);
    }

    /// An exporter that hangs does not hold shutdown past its timeout.
    #[test]
    fn shutdown_keeps_its_timeout_when_the_exporter_hangs() {
        let rig = rig(settings(HOUR, 100, 1), true, None);
        rig.batch.on_end(span("stuck", "x"));
        rig.seen.recv_timeout(PATIENCE).expect("export started");
        let started = Instant::now();
        let result = rig.batch.shutdown_with_timeout(Duration::from_millis(200));
        let took = started.elapsed();
        assert!(
            matches!(result, Err(OTelSdkError::Timeout(_))),
            "{result:?}"
        );
        assert!(took < Duration::from_secs(2), "took {took:?}");
        drop(rig.gate);
    }

    /// The resource set on the processor reaches the exporter before any
    /// export; values are cut to the limit on the export thread, where
    /// telemetry is suppressed.
    #[test]
    fn the_exporter_gets_the_resource_first_and_values_within_the_limit() {
        let mut rig = rig(settings(HOUR, 100, 512), false, Some(3));
        rig.batch.set_resource(
            &Resource::builder_empty()
                .with_service_name("checkout")
                .build(),
        );
        rig.batch.on_end(span("a", "abcdef"));
        rig.batch.force_flush().expect("flushed");
        assert_eq!(
            rig.seen.try_recv().unwrap(),
            Seen::Resource("checkout".into())
        );
        assert_eq!(
            rig.seen.try_recv().unwrap(),
            Seen::Batch(vec![("a".into(), "abc".into())], true)
        );
    }
}
