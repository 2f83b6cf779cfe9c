//! Which span path `init` gives the integrations: tracewire's own by
//! default (spans reach an exporter added in code, with the integration's
//! scope), the SDK's when a processor of the application's may need
//! `on_start` or when asked. (Its own process: `init` is global.)

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanProcessor};
use tracewire::instrumentation::{Operation, Tracer, own_tracer};
use tracewire::testing::InMemorySpanExporter;
use tracewire::{Config, LogFormat, TelemetryBuilder};

/// Counts the calls a processor gets.
#[derive(Debug, Default, Clone)]
struct Calls {
    started: Arc<AtomicUsize>,
    ended: Arc<AtomicUsize>,
}

impl SpanProcessor for Calls {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &Context) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }
    fn on_end(&self, _: SpanData) {
        self.ended.fetch_add(1, Ordering::SeqCst);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn config() -> Config {
    let mut config = Config::default();
    config.traces_exporters = vec![];
    config.log_format = LogFormat::Off;
    config
}

/// `init` exporting to memory through an exporter added in code, on the SDK
/// span path when `sdk_spans`.
fn init_exporting(sdk_spans: bool) -> (tracewire::Telemetry, InMemorySpanExporter) {
    let exported = InMemorySpanExporter::default();
    let telemetry = TelemetryBuilder::from_config(config())
        .with_span_exporter(exported.clone())
        .sdk_spans(sdk_spans)
        .init();
    (telemetry, exported)
}

fn one_operation(scope: &'static str) {
    let tracer = Tracer::installed(scope);
    let mut op: Operation = Operation::start(
        tracer.as_ref(),
        "GET",
        SpanKind::Client,
        &Context::new(),
        vec![KeyValue::new("db.system.name", "kv")],
        |_| {},
    );
    assert!(op.is_recording());
    op.finish(None);
}

#[test]
fn init_picks_the_span_path_the_processors_allow() {
    // An exporter added in code needs only finished spans: the own path.
    let (telemetry, exported) = init_exporting(false);
    assert!(own_tracer("kv").is_some(), "tracewire's own spans");
    assert!(matches!(Tracer::installed("kv"), Some(Tracer::Own(_))));
    one_operation("kv");
    tracewire::flush();
    let spans = exported.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1, "{spans:?}");
    let span = &spans[0];
    assert_eq!(span.name, "GET");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.instrumentation_scope.name(), "kv");
    assert_eq!(
        span.instrumentation_scope.version(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        span.instrumentation_scope.schema_url(),
        Some("https://opentelemetry.io/schemas/1.44.0")
    );
    telemetry.shutdown();

    // A processor of the application's may rely on `on_start`: the SDK
    // builds the spans, and it gets both calls.
    let calls = Calls::default();
    let telemetry = TelemetryBuilder::from_config(config())
        .with_span_processor(calls.clone())
        .init();
    assert!(own_tracer("kv").is_none(), "the SDK's spans");
    assert!(matches!(Tracer::installed("kv"), Some(Tracer::Sdk(_))));
    one_operation("kv");
    assert_eq!(calls.started.load(Ordering::SeqCst), 1);
    assert_eq!(calls.ended.load(Ordering::SeqCst), 1);
    telemetry.shutdown();

    // Asked for explicitly.
    let (telemetry, exported) = init_exporting(true);
    assert!(matches!(Tracer::installed("kv"), Some(Tracer::Sdk(_))));
    one_operation("kv");
    tracewire::flush();
    assert_eq!(exported.get_finished_spans().unwrap().len(), 1);
    telemetry.shutdown();
}
