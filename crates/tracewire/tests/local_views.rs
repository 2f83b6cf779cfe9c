//! The local views through the real pipeline: the console tree as a user
//! gets it, the readable log line, and the trace browser's store behind
//! `tracewire::view::respond` (fed by the same spans the exporters get).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::Write;
use std::sync::{Arc, Mutex};

use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use tracewire::{Config, ExporterKind, LogFormat, TelemetryBuilder};

/// A writer whose bytes the test reads back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber_writer::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

mod tracing_subscriber_writer {
    pub use tracing_subscriber::fmt::MakeWriter;
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn quiet_config() -> Config {
    let mut config = Config::default();
    config.log_format = LogFormat::Off;
    config.metrics_exporters = vec![];
    config
}

#[test]
fn the_console_exporter_prints_each_trace_as_one_tree() {
    let mut config = quiet_config();
    config.traces_exporters = vec![ExporterKind::Console];
    let out = Buffer::default();
    let telemetry = TelemetryBuilder::from_config(config)
        .service_name("shop")
        .console_writer(out.clone())
        .build();
    let tracer = telemetry.tracer_provider().unwrap().tracer("test");
    let mut root = tracer.start("GET /orders/{id}");
    root.set_attribute(KeyValue::new("http.route", "/orders/{id}"));
    let cx = Context::current_with_span(root);
    let trace_id = cx.span().span_context().trace_id();
    tracer.start_with_context("SELECT orders", &cx).end();
    cx.span().end();
    // Shutdown prints what is pending and stops the printer.
    telemetry.shutdown();
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("trace {trace_id} · shop · 2 spans · ")),
        "{text}"
    );
    assert!(lines[1].starts_with("GET /orders/{id}  "), "{text}");
    assert!(
        lines[1].contains("INTERNAL") && lines[1].contains("http.route=/orders/{id}"),
        "{text}"
    );
    assert!(lines[2].starts_with("└─ SELECT orders  "), "{text}");
    assert_eq!(lines.len(), 4, "one trace, one tree: {text}");
    assert_eq!(lines[3], "", "a blank line after each tree");
}

#[test]
fn a_text_log_line_is_readable_and_carries_the_short_ids() {
    let mut config = quiet_config();
    config.log_format = LogFormat::Text;
    let out = Buffer::default();
    let telemetry = TelemetryBuilder::from_config(config)
        .log_writer(out.clone())
        .with_span_exporter(opentelemetry_sdk::trace::InMemorySpanExporter::default())
        .build();
    let _guard = tracing::dispatcher::set_default(&telemetry.subscriber());
    tracing::info!(target: "shop", "outside");
    let ids = tracing::info_span!("checkout").in_scope(|| {
        tracing::warn!(target: "shop", { order.id = 7, note = "late" }, "payment slow");
        let cx = Context::current();
        let sc = cx.span().span_context().clone();
        (sc.trace_id().to_string(), sc.span_id().to_string())
    });
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    let outside = lines.iter().find(|l| l.contains("outside")).unwrap();
    assert!(
        outside.ends_with(" INFO shop: outside"),
        "no ids outside a span: {outside:?}"
    );
    let inside = lines.iter().find(|l| l.contains("payment slow")).unwrap();
    let (time, rest) = inside.split_once("  ").unwrap();
    assert_eq!(time.len(), "11:02:03.123".len(), "{inside:?}");
    assert_eq!(
        rest,
        format!(
            " WARN shop: payment slow note=late order.id=7  trace={} span={}",
            &ids.0[..8],
            &ids.1[..8]
        )
    );
}

#[test]
fn the_trace_browser_serves_what_would_be_exported() {
    let mut config = quiet_config();
    config.log_format = LogFormat::Json;
    config.limits.span_attribute_value_length = Some(8);
    let lines = Buffer::default();
    let telemetry = TelemetryBuilder::from_config(config)
        .service_name("shop")
        .trace_browser(true)
        .log_writer(lines.clone())
        .with_span_exporter(opentelemetry_sdk::trace::InMemorySpanExporter::default())
        .init();
    assert!(tracewire::view::is_enabled());
    let tracer = tracewire::otel::global::tracer("test");
    let span = tracer.start("POST /login");
    let cx = Context::current_with_span(span);
    cx.span()
        .set_attribute(KeyValue::new("url.query", "user=ada&password=REDACTED"));
    cx.span()
        .set_status(opentelemetry::trace::Status::error("bad password"));
    {
        let _attached = cx.clone().attach();
        tracing::warn!(user = "ada", "login refused");
    }
    cx.span().end();
    let trace_id = cx.span().span_context().trace_id().to_string();

    let get = |path: &str| -> serde_json::Value {
        let response = tracewire::view::respond(path).unwrap();
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.content_type, "application/json");
        serde_json::from_slice(&response.body).unwrap()
    };
    let list = get("/_tracewire/api/traces?status=error");
    assert_eq!(list["traces"][0]["trace_id"], trace_id);
    assert_eq!(list["traces"][0]["services"], serde_json::json!(["shop"]));
    let trace = get(&format!("/_tracewire/api/traces/{trace_id}"));
    let span = &trace["spans"][0];
    assert_eq!(
        span["attributes"]["url.query"], "user=ada",
        "the exporters' value limit applies"
    );
    assert_eq!(span["status"], "error");
    assert_eq!(span["status_message"], "bad password");
    assert_eq!(trace["logs"][0]["message"], "login refused");
    assert_eq!(trace["logs"][0]["level"], "WARN");
    assert_eq!(trace["logs"][0]["fields"]["user"], "ada");
    assert_eq!(
        get("/_tracewire/api/traces?status=ok")["traces"],
        serde_json::json!([])
    );
    let page = tracewire::view::respond("/_tracewire/").unwrap();
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert!(
        tracewire::view::respond("/metrics").is_none(),
        "only its own prefix"
    );
    telemetry.shutdown();
}
