//! Bounded span queue with every drop counted, and attribute value limits.
//!
//! tracewire's span batch ([`super::batch::SpanBatch`]) and, for log
//! records, [`CountedLogProcessor`] in front of the SDK's batch processor
//! (which drops silently when its queue is full) keep their own count of
//! items queued or being exported ([`QueueSlots`]); at capacity they drop the
//! item themselves and count it. [`CountedSpanExporter`] and
//! [`CountedLogExporter`] release the count once an export ends and count
//! failed exports. Both feed the SDK self-observability metrics
//! `otel.sdk.processor.span.processed` and `otel.sdk.exporter.span.exported`
//! (with `error.type` on the failures), visible on `/metrics` as
//! `otel_sdk_processor_span_processed_total` and
//! `otel_sdk_exporter_span_exported_total`. Log records get the same
//! treatment (`otel.sdk.processor.log.processed`, `otel.sdk.exporter.log.exported`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry::metrics::{Counter, Meter, ObservableCounter};
use opentelemetry::{KeyValue, StringValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, LogProcessor, SdkLogRecord};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Totals kept in-process (also exported as metrics), for [`crate::Telemetry::stats`].
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) spans_processed: AtomicU64,
    pub(crate) logs_processed: AtomicU64,
    pub(crate) spans_queue_full: AtomicU64,
    pub(crate) spans_export_failed: AtomicU64,
    pub(crate) spans_exported: AtomicU64,
    pub(crate) logs_export_failed: AtomicU64,
    pub(crate) logs_queue_full: AtomicU64,
}

/// Counts of telemetry the pipeline had to give up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PipelineStats {
    /// Spans dropped because the export queue was full.
    pub spans_dropped_queue_full: u64,
    /// Spans lost in failed exports (collector down, 5xx, timeout).
    pub spans_failed_export: u64,
    /// Spans exported successfully.
    pub spans_exported: u64,
    /// Log records lost in failed exports.
    pub logs_failed_export: u64,
    /// Log records dropped because the export queue was full.
    pub logs_dropped_queue_full: u64,
}

impl Totals {
    pub(crate) fn snapshot(&self) -> PipelineStats {
        PipelineStats {
            spans_dropped_queue_full: self.spans_queue_full.load(Ordering::Relaxed),
            spans_failed_export: self.spans_export_failed.load(Ordering::Relaxed),
            spans_exported: self.spans_exported.load(Ordering::Relaxed),
            logs_failed_export: self.logs_export_failed.load(Ordering::Relaxed),
            logs_dropped_queue_full: self.logs_queue_full.load(Ordering::Relaxed),
        }
    }
}

/// The places in one batch processor's queue, counted from enqueue to the end
/// of the export that carries the item.
#[derive(Debug, Clone)]
pub(crate) struct QueueSlots {
    used: Arc<AtomicUsize>,
    capacity: usize,
}

impl QueueSlots {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            used: Arc::new(AtomicUsize::new(0)),
            capacity,
        }
    }

    /// Takes a place; `false` when the queue is full.
    pub(crate) fn take(&self) -> bool {
        if self.used.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.used.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Gives back the places of `n` exported (or failed) items.
    pub(crate) fn release(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            });
    }
}

/// Instruments for the SDK self-observability metrics. The per-item counts
/// (`…processor.*.processed`) live in atomics and are observed at collection
/// time: an SDK counter `add` per span would cost more than the span's own
/// bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct SelfMetrics {
    exported_spans: Counter<u64>,
    exported_logs: Counter<u64>,
    _processed: [ObservableCounter<u64>; 2],
    pub(crate) totals: Arc<Totals>,
}

/// Observes `ok` and `queue_full` counts for one processor.
fn observe_processed(
    meter: &Meter,
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    component: &'static str,
    totals: &Arc<Totals>,
    counts: fn(&Totals) -> (u64, u64),
) -> ObservableCounter<u64> {
    let totals = Arc::clone(totals);
    meter
        .u64_observable_counter(name)
        .with_unit(unit)
        .with_description(description)
        .with_callback(move |observer| {
            let (ok, queue_full) = counts(&totals);
            observer.observe(ok, &[KeyValue::new("otel.component.type", component)]);
            observer.observe(
                queue_full,
                &[
                    KeyValue::new("otel.component.type", component),
                    KeyValue::new("error.type", "queue_full"),
                ],
            );
        })
        .build()
}

impl SelfMetrics {
    pub(crate) fn new(meter: &Meter, totals: Arc<Totals>) -> Self {
        let spans = observe_processed(
            meter,
            "otel.sdk.processor.span.processed",
            "{span}",
            "Spans handed to the batch processor, with error.type when dropped",
            "batching_span_processor",
            &totals,
            |t| {
                (
                    t.spans_processed.load(Ordering::Relaxed),
                    t.spans_queue_full.load(Ordering::Relaxed),
                )
            },
        );
        let logs = observe_processed(
            meter,
            "otel.sdk.processor.log.processed",
            "{log_record}",
            "Log records handed to the batch processor, with error.type when dropped",
            "batching_log_processor",
            &totals,
            |t| {
                (
                    t.logs_processed.load(Ordering::Relaxed),
                    t.logs_queue_full.load(Ordering::Relaxed),
                )
            },
        );
        Self {
            exported_spans: meter
                .u64_counter("otel.sdk.exporter.span.exported")
                .with_unit("{span}")
                .with_description(
                    "Spans the exporter handled, with error.type when the export failed",
                )
                .build(),
            exported_logs: meter
                .u64_counter("otel.sdk.exporter.log.exported")
                .with_unit("{log_record}")
                .with_description(
                    "Log records the exporter handled, with error.type when the export failed",
                )
                .build(),
            _processed: [spans, logs],
            totals,
        }
    }
}

/// Truncates string values (and strings in arrays) to `limit` characters.
pub(crate) fn truncate_value(value: &mut Value, limit: usize) {
    let cut =
        |s: &str| -> Option<String> { s.char_indices().nth(limit).map(|(i, _)| s[..i].to_owned()) };
    match value {
        Value::String(s) => {
            if let Some(short) = cut(s.as_str()) {
                *s = StringValue::from(short);
            }
        }
        Value::Array(opentelemetry::Array::String(items)) => {
            for s in items.iter_mut() {
                if let Some(short) = cut(s.as_str()) {
                    *s = StringValue::from(short);
                }
            }
        }
        _ => {}
    }
}

/// Releases queue slots after each export and counts its outcome.
#[derive(Debug)]
pub(crate) struct CountedSpanExporter<E> {
    inner: E,
    slots: QueueSlots,
    metrics: SelfMetrics,
    component: [KeyValue; 1],
    warned: FirstFailure,
}

impl<E> CountedSpanExporter<E> {
    pub(crate) fn new(
        inner: E,
        slots: QueueSlots,
        metrics: SelfMetrics,
        component: &'static str,
    ) -> Self {
        Self {
            inner,
            slots,
            metrics,
            component: [KeyValue::new("otel.component.type", component)],
            warned: FirstFailure::default(),
        }
    }
}

impl<E: SpanExporter> SpanExporter for CountedSpanExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        let result = self.inner.export(batch).await;
        self.slots.release(n);
        match &result {
            Ok(()) => {
                self.metrics
                    .totals
                    .spans_exported
                    .fetch_add(n as u64, Ordering::Relaxed);
                self.metrics.exported_spans.add(n as u64, &self.component);
            }
            Err(e) => {
                self.warned.warn_once("span", &self.component, e);
                self.metrics
                    .totals
                    .spans_export_failed
                    .fetch_add(n as u64, Ordering::Relaxed);
                let attrs = [
                    self.component[0].clone(),
                    KeyValue::new("error.type", error_type(e)),
                ];
                self.metrics.exported_spans.add(n as u64, &attrs);
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Gatekeeper in front of the SDK batch log processor, as for spans.
#[derive(Debug)]
pub(crate) struct CountedLogProcessor<P> {
    inner: P,
    slots: QueueSlots,
    metrics: SelfMetrics,
}

impl<P> CountedLogProcessor<P> {
    pub(crate) fn new(inner: P, slots: QueueSlots, metrics: SelfMetrics) -> Self {
        Self {
            inner,
            slots,
            metrics,
        }
    }
}

impl<P: LogProcessor> LogProcessor for CountedLogProcessor<P> {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        if !self.slots.take() {
            self.metrics
                .totals
                .logs_queue_full
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.metrics
            .totals
            .logs_processed
            .fetch_add(1, Ordering::Relaxed);
        self.inner.emit(record, scope);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Releases queue slots after each log export and counts its outcome.
#[derive(Debug)]
pub(crate) struct CountedLogExporter<E> {
    inner: E,
    slots: QueueSlots,
    metrics: SelfMetrics,
    component: [KeyValue; 1],
    warned: FirstFailure,
}

impl<E> CountedLogExporter<E> {
    pub(crate) fn new(
        inner: E,
        slots: QueueSlots,
        metrics: SelfMetrics,
        component: &'static str,
    ) -> Self {
        Self {
            inner,
            slots,
            metrics,
            component: [KeyValue::new("otel.component.type", component)],
            warned: FirstFailure::default(),
        }
    }
}

impl<E: LogExporter> LogExporter for CountedLogExporter<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let n = batch.iter().count() as u64;
        let result = self.inner.export(batch).await;
        self.slots.release(n as usize);
        match &result {
            Ok(()) => self.metrics.exported_logs.add(n, &self.component),
            Err(e) => {
                self.warned.warn_once("log", &self.component, e);
                self.metrics
                    .totals
                    .logs_export_failed
                    .fetch_add(n, Ordering::Relaxed);
                let attrs = [
                    self.component[0].clone(),
                    KeyValue::new("error.type", error_type(e)),
                ];
                self.metrics.exported_logs.add(n, &attrs);
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The first failed export of an exporter is one warning; the later ones
/// are only counted (a collector that is down must not flood the logs, nor,
/// through OTLP logs, itself).
#[derive(Debug, Default)]
struct FirstFailure(std::sync::atomic::AtomicBool);

impl FirstFailure {
    fn warn_once(
        &self,
        signal: &str,
        component: &[KeyValue; 1],
        error: &opentelemetry_sdk::error::OTelSdkError,
    ) {
        if !self.0.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "tracewire",
                component = %component[0].value,
                "{signal} export failed: {error}; later failures are counted in otel_sdk_exporter_{signal}_exported_total{{error_type}}, not logged"
            );
        }
    }
}

/// A low-cardinality class for an export error.
fn error_type(e: &opentelemetry_sdk::error::OTelSdkError) -> &'static str {
    use opentelemetry_sdk::error::OTelSdkError;
    match e {
        OTelSdkError::Timeout(_) => "timeout",
        OTelSdkError::AlreadyShutdown => "shutdown",
        _ => "export_failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::error::OTelSdkError;

    #[derive(Debug)]
    struct Refusing;

    impl SpanExporter for Refusing {
        async fn export(&self, _: Vec<SpanData>) -> OTelSdkResult {
            Err(OTelSdkError::InternalFailure("handshake refused".into()))
        }
    }

    /// Polls a future that is ready at once (the exporter above is).
    fn ready<F: std::future::Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("not ready"),
        }
    }

    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_first_failed_export_is_one_warning_and_every_one_is_counted() {
        let lines = Lines::default();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let meter = opentelemetry::metrics::MeterProvider::meter(
            &opentelemetry::metrics::noop::NoopMeterProvider::new(),
            "test",
        );
        let totals = std::sync::Arc::new(Totals::default());
        let metrics = SelfMetrics::new(&meter, std::sync::Arc::clone(&totals));
        let exporter = CountedSpanExporter::new(
            Refusing,
            QueueSlots::new(8),
            metrics,
            "otlp_http_span_exporter",
        );
        for _ in 0..3 {
            assert!(ready(exporter.export(Vec::new())).is_err());
        }
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let warnings: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("span export failed"))
            .collect();
        assert_eq!(warnings.len(), 1, "{text}");
        assert!(
            warnings[0].contains("handshake refused")
                && warnings[0].contains("otlp_http_span_exporter")
        );
    }
}
