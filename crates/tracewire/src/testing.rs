//! In-memory exporters and assertion helpers for tests (feature `testing`).
//!
//! ```
//! use tracewire::testing::TestTelemetry;
//!
//! let t = TestTelemetry::start();
//! tracing::info_span!("work").in_scope(|| tracing::info!("inside"));
//! let span = t.span("work");
//! let line = &t.log_lines()[0];
//! assert_eq!(line["trace_id"], span.span_context.trace_id().to_string());
//! ```

use std::io;
use std::sync::{Arc, Mutex};

use opentelemetry::{Key, Value};
use opentelemetry_sdk::logs::SimpleLogProcessor;
pub use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLogRecord};
use opentelemetry_sdk::trace::SimpleSpanProcessor;
pub use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use tracing::dispatcher::DefaultGuard;

use crate::config::{Config, LogFormat, SamplerConfig};
use crate::{Telemetry, TelemetryBuilder};

/// Bytes written by the log layer, shared with the test.
#[derive(Debug, Clone, Default)]
pub struct CapturedOutput(Arc<Mutex<Vec<u8>>>);

impl CapturedOutput {
    /// Everything written so far.
    pub fn contents(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl io::Write for CapturedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedOutput {
    type Writer = CapturedOutput;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Telemetry for one test: spans and log records kept in memory, JSON log
/// lines captured, the subscriber current on this thread only (tests run in
/// parallel), and no global touched.
#[derive(Debug)]
pub struct TestTelemetry {
    /// The telemetry under test.
    pub telemetry: Telemetry,
    spans: InMemorySpanExporter,
    logs: InMemoryLogExporter,
    output: CapturedOutput,
    _guard: DefaultGuard,
}

impl TestTelemetry {
    /// Always-on sampling, `trace`-level filter, JSON logs, no exporters but
    /// the in-memory ones; ignores the process environment.
    pub fn start() -> Self {
        Self::start_with(
            TelemetryBuilder::from_config(Config::default())
                .sampler(SamplerConfig::AlwaysOn)
                .log_filter("trace"),
        )
    }

    /// Like [`start`](Self::start), on top of a builder of your own (its
    /// sampler and log filter are kept).
    pub fn start_with(builder: TelemetryBuilder) -> Self {
        let spans = InMemorySpanExporter::default();
        let logs = InMemoryLogExporter::default();
        let output = CapturedOutput::default();
        let telemetry = builder
            .log_format(LogFormat::Json)
            .log_writer(output.clone())
            .with_end_only_span_processor(SimpleSpanProcessor::new(spans.clone()))
            .with_log_processor(SimpleLogProcessor::new(logs.clone()))
            .build();
        let guard = tracing::dispatcher::set_default(&telemetry.subscriber());
        Self {
            telemetry,
            spans,
            logs,
            output,
            _guard: guard,
        }
    }

    /// A tracer from the telemetry's provider, with the scope an
    /// integration's has (its name, this version, the conventions' schema).
    pub fn tracer(&self, scope: &'static str) -> opentelemetry_sdk::trace::SdkTracer {
        use opentelemetry::trace::TracerProvider as _;
        self.telemetry
            .tracer_provider()
            .expect("the SDK is enabled in tests")
            .tracer_with_scope(crate::own_spans::integration_scope(scope))
    }

    /// The tracer of the integrations' own spans (what `init` gives them by
    /// default; see `TelemetryBuilder::sdk_spans`), from this telemetry.
    pub fn own_tracer(&self, scope: &'static str) -> crate::instrumentation::OwnTracer {
        self.telemetry
            .own_tracer(scope)
            .expect("tracewire records its own spans in tests (no sdk_spans)")
    }

    /// Every finished span so far.
    pub fn spans(&self) -> Vec<SpanData> {
        self.spans.get_finished_spans().unwrap_or_default()
    }

    /// The finished span called `name`; panics listing the names it has.
    pub fn span(&self, name: &str) -> SpanData {
        let spans = self.spans();
        let names: Vec<String> = spans.iter().map(|s| s.name.to_string()).collect();
        spans
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no finished span named {name:?}; spans: {names:?}"))
    }

    /// Exported log records (through the OTLP log bridge).
    pub fn log_records(&self) -> Vec<SdkLogRecord> {
        self.logs
            .get_emitted_logs()
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.record)
            .collect()
    }

    /// The JSON log lines written so far, parsed.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        self.output
            .contents()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The first exposition line satisfying `matches`, polled every 20 ms
    /// for up to 5 s (for values a background task refreshes); `None` if
    /// none appeared. Async so that the refreshing task keeps running.
    pub async fn wait_for_metric_line(&self, matches: impl Fn(&str) -> bool) -> Option<String> {
        for _ in 0..250 {
            if let Some(line) = self.metrics_text().lines().find(|l| matches(l)) {
                return Some(line.to_owned());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        None
    }

    /// The Prometheus exposition (OpenMetrics) of the telemetry's metrics.
    pub fn metrics_text(&self) -> String {
        self.telemetry
            .exposition()
            .map(|e| e.render(crate::prometheus::Format::OpenMetrics))
            .unwrap_or_default()
    }

    /// Asserts that histogram `metric` (its exposition name, e.g.
    /// `http_client_request_duration_seconds`) has exemplars and that each
    /// one's trace is the trace of a finished span; returns their trace ids.
    pub fn assert_exemplars_link_to_spans(&self, metric: &str) -> Vec<String> {
        let text = self.metrics_text();
        let bucket = format!("{metric}_bucket{{");
        let exemplars: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with(&bucket))
            .filter_map(|l| l.split("trace_id=\"").nth(1))
            .filter_map(|rest| rest.get(..32).map(str::to_owned))
            .collect();
        assert!(!exemplars.is_empty(), "no exemplar on {metric}:\n{text}");
        let traces: Vec<String> = self
            .spans()
            .iter()
            .map(|s| s.span_context.trace_id().to_string())
            .collect();
        for id in &exemplars {
            assert!(
                traces.contains(id),
                "exemplar trace {id} is no finished span's: {traces:?}"
            );
        }
        exemplars
    }
}

/// The value of attribute `key` on `span`.
pub fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    let key = Key::new(key.to_owned());
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.clone())
}

/// Asserts `child` is a direct child of `parent` in the same trace.
pub fn assert_child_of(child: &SpanData, parent: &SpanData) {
    assert_eq!(
        child.span_context.trace_id(),
        parent.span_context.trace_id(),
        "{:?} and {:?} are in different traces",
        child.name,
        parent.name
    );
    assert_eq!(
        child.parent_span_id,
        parent.span_context.span_id(),
        "{:?} is not a child of {:?}",
        child.name,
        parent.name
    );
}

/// A span exporter that accepts every batch and keeps nothing: the export
/// path's cost without I/O, for benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardingSpanExporter;

impl opentelemetry_sdk::trace::SpanExporter for DiscardingSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        std::hint::black_box(batch);
        Ok(())
    }
}

/// What a test does when the backing service it needs cannot be reached:
/// under `CI=true` it fails (a missing service in CI is a broken setup, never
/// a silent pass); elsewhere it prints a loud skip line naming the test, the
/// service and the address, and the caller returns.
///
/// # Panics
/// When `CI=true`.
pub fn service_unavailable(service: &str, url: &str, test: &str, error: &dyn std::fmt::Display) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{service} at {url} is required for {test} in CI: {error}"
    );
    eprintln!("\n*** SKIPPED {test}: no {service} at {url} ({error}) ***\n");
}

/// Asserts that `consumer` is in a trace of its own that links to
/// `producer` (the messaging link mode).
///
/// # Panics
/// When it is in the producer's trace or has no link to it.
pub fn assert_linked_to(consumer: &SpanData, producer: &SpanData) {
    assert_ne!(
        consumer.span_context.trace_id(),
        producer.span_context.trace_id(),
        "{} is in {}'s trace",
        consumer.name,
        producer.name
    );
    assert!(
        consumer
            .links
            .iter()
            .any(|l| l.span_context.span_id() == producer.span_context.span_id()),
        "{} has no link to {}",
        consumer.name,
        producer.name
    );
}

/// Asserts that `span` starts a new trace: no parent and no links (what a
/// message with missing or malformed trace context gets).
///
/// # Panics
/// When it has a parent or a link.
pub fn assert_new_trace(span: &SpanData) {
    assert_eq!(
        span.parent_span_id,
        opentelemetry::trace::SpanId::INVALID,
        "{} has a parent",
        span.name
    );
    assert!(span.links.is_empty(), "{} has links", span.name);
}
