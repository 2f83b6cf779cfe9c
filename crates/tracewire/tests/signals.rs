//! Traces, logs and metrics agree with each other: log lines and log records
//! carry the ids of the span that reaches the exporter, and metrics recorded
//! inside a sampled span carry it as an exemplar.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use opentelemetry::trace::{Span as _, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::InMemorySpanExporter;
use tracewire::prometheus::Format;
use tracewire::testing::{TestTelemetry, assert_child_of, attribute};
use tracewire::{Config, TelemetryBuilder};

#[test]
fn a_json_log_line_carries_the_ids_of_the_exported_span() {
    let t = TestTelemetry::start();
    tracing::info!("before any span");
    tracing::info_span!("checkout").in_scope(|| {
        tracing::info!(order.id = 7, "payment accepted");
    });
    let span = t.span("checkout");
    let lines = t.log_lines();
    let outside = lines
        .iter()
        .find(|l| l["message"] == "before any span")
        .unwrap();
    assert!(
        outside.get("trace_id").is_none(),
        "no ids outside a span, not zeros: {outside}"
    );
    let inside = lines
        .iter()
        .find(|l| l["message"] == "payment accepted")
        .unwrap();
    assert_eq!(inside["trace_id"], span.span_context.trace_id().to_string());
    assert_eq!(inside["span_id"], span.span_context.span_id().to_string());
    assert_eq!(inside["trace_flags"], "01");
    assert_eq!(inside["level"], "INFO");
    assert_eq!(inside["fields"]["order.id"], 7);
    assert_eq!(inside["span"], "checkout");
}

#[test]
fn spans_started_on_the_sdk_directly_correlate_too() {
    let t = TestTelemetry::start();
    let tracer = t.tracer("direct");
    let span = tracer.start("request");
    {
        let _cx = Context::current_with_span(span).attach();
        tracing::warn!("inside an SDK span");
        tracing::info_span!("nested").in_scope(|| tracing::info!("inside a tracing span under it"));
    }
    let request = t.span("request");
    let nested = t.span("nested");
    assert_child_of(&nested, &request);
    let lines = t.log_lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "inside an SDK span")
        .unwrap();
    assert_eq!(line["span_id"], request.span_context.span_id().to_string());
    let line = lines
        .iter()
        .find(|l| l["message"] == "inside a tracing span under it")
        .unwrap();
    assert_eq!(line["span_id"], nested.span_context.span_id().to_string());
}

#[test]
fn otlp_log_records_carry_trace_context_and_severity() {
    let t = TestTelemetry::start();
    tracing::info_span!("work").in_scope(|| tracing::error!("it broke"));
    let span = t.span("work");
    let records = t.log_records();
    let record = records
        .iter()
        .find(|r| format!("{:?}", r.body()).contains("it broke"))
        .unwrap();
    let cx = record.trace_context().expect("trace context on the record");
    assert_eq!(cx.trace_id, span.span_context.trace_id());
    assert_eq!(cx.span_id, span.span_context.span_id());
    assert_eq!(
        record.severity_number(),
        Some(opentelemetry::logs::Severity::Error)
    );
}

#[test]
fn exemplars_link_a_histogram_bucket_to_its_trace() {
    let t = TestTelemetry::start();
    let meter = t.telemetry.meter("shop");
    let latency = tracewire::metrics::duration_histogram(
        &meter,
        "checkout.duration",
        "Checkout time",
        tracewire::metrics::DURATION_BUCKETS,
    );
    latency.record(0.3, &[KeyValue::new("outcome", "ok")]); // outside any span: no exemplar
    tracing::info_span!("slow checkout").in_scope(|| {
        latency.record(0.3, &[KeyValue::new("outcome", "ok")]);
    });
    let span = t.span("slow checkout");
    let text = t.metrics_text();
    let bucket = text
        .lines()
        .find(|l| l.starts_with("checkout_duration_seconds_bucket{") && l.contains("le=\"0.5\""))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(bucket.contains("outcome=\"ok\""));
    assert!(
        bucket.contains(" 2 # {"),
        "two observations, then the exemplar: {bucket}"
    );
    assert!(
        bucket.contains(&format!("trace_id=\"{}\"", span.span_context.trace_id())),
        "{bucket}"
    );
    assert!(
        bucket.contains(&format!("span_id=\"{}\"", span.span_context.span_id())),
        "{bucket}"
    );
    let other = text
        .lines()
        .find(|l| l.starts_with("checkout_duration_seconds_bucket{") && l.contains("le=\"0.25\""))
        .unwrap();
    assert!(
        !other.contains('#'),
        "only the bucket the value fell in: {other}"
    );
    assert!(text.ends_with("# EOF\n"));
    let classic = t.telemetry.exposition().unwrap().render(Format::Classic);
    assert!(!classic.contains("trace_id"), "text 0.0.4 has no exemplars");
}

#[test]
fn counters_get_exemplars_and_unsampled_spans_do_not() {
    let t = TestTelemetry::start_with(TelemetryBuilder::from_config(Config::default()));
    let meter = t.telemetry.meter("shop");
    let orders = tracewire::metrics::counter(&meter, "orders.placed", "{order}", "Orders placed");
    let tracer = t.tracer("shop");
    let unsampled = opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from(7u128),
        opentelemetry::trace::SpanId::from(7u64),
        opentelemetry::trace::TraceFlags::default(),
        true,
        Default::default(),
    );
    {
        let _cx = Context::new().with_remote_span_context(unsampled).attach();
        orders.add(1, &[KeyValue::new("kind", "unsampled")]);
    }
    let span = tracer.start("order");
    let trace_id = span.span_context().trace_id();
    {
        let _cx = Context::current_with_span(span).attach();
        orders.add(2, &[KeyValue::new("kind", "sampled")]);
    }
    let text = t.metrics_text();
    let sampled = text
        .lines()
        .find(|l| {
            l.starts_with("orders_placed_total{")
                && l.contains("sampled\"")
                && l.contains("kind=\"sampled\"")
        })
        .unwrap();
    assert!(
        sampled.contains(&format!("trace_id=\"{trace_id}\"")),
        "{sampled}"
    );
    let unsampled = text
        .lines()
        .find(|l| l.contains("kind=\"unsampled\""))
        .unwrap();
    assert!(!unsampled.contains("trace_id"), "{unsampled}");
    assert!(text.contains("# TYPE orders_placed counter"), "{text}");
}

#[test]
fn span_attribute_values_are_truncated_to_the_limit() {
    let exporter = InMemorySpanExporter::default();
    let mut config = Config::default();
    config.limits.span_attribute_value_length = Some(5);
    let telemetry = TelemetryBuilder::from_config(config)
        .with_span_exporter(exporter.clone())
        .build();
    let tracer =
        opentelemetry::trace::TracerProvider::tracer(telemetry.tracer_provider().unwrap(), "t");
    let mut span = tracer.start("long");
    opentelemetry::trace::Span::set_attribute(&mut span, KeyValue::new("note", "ééééééééé"));
    opentelemetry::trace::Span::set_attribute(&mut span, KeyValue::new("count", 123456789i64));
    drop(span);
    telemetry.force_flush(); // (shutdown would clear the in-memory exporter)
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(attribute(&spans[0], "note").unwrap().to_string(), "ééééé");
    assert_eq!(
        attribute(&spans[0], "count"),
        Some(opentelemetry::Value::I64(123456789))
    );
}

#[test]
fn sdk_disabled_means_no_providers_but_propagation_still_works() {
    let mut config = Config::default();
    config.sdk_disabled = true;
    let telemetry = TelemetryBuilder::from_config(config).build();
    assert!(telemetry.tracer_provider().is_none());
    assert!(telemetry.meter_provider().is_none());
    assert!(telemetry.exposition().is_none());
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-12345678901234567890123456789012-1234567890123456-01"
            .parse()
            .unwrap(),
    );
    let cx = tracewire::propagation::extract(&headers);
    assert!(cx.span().span_context().is_valid());
    telemetry.shutdown();
}

#[test]
fn prometheus_names_follow_the_translation_rules() {
    let t = TestTelemetry::start();
    let meter = t.telemetry.meter("names");
    meter
        .i64_up_down_counter("http.server.active_requests")
        .with_unit("{request}")
        .build()
        .add(2, &[KeyValue::new("http.request.method", "GET")]);
    meter
        .f64_histogram("http.server.request.body.size")
        .with_unit("By")
        .with_boundaries(vec![100.0, 1000.0])
        .build()
        .record(512.0, &[]);
    meter
        .u64_counter("messaging.client.sent.messages")
        .with_unit("{message}")
        .build()
        .add(1, &[]);
    meter
        .f64_gauge("cpu.utilization")
        .with_unit("1")
        .build()
        .record(0.5, &[]);
    let text = t.telemetry.exposition().unwrap().render(Format::Classic);
    for expected in [
        "# TYPE http_server_active_requests gauge",
        "http_server_active_requests{http_request_method=\"GET\",otel_scope_name=\"names\"} 2",
        "# TYPE http_server_request_body_size_bytes histogram",
        // prometheus-client's own text 0.0.4: `le` last, integral bounds bare.
        "http_server_request_body_size_bytes_bucket{otel_scope_name=\"names\",le=\"1000\"} 1",
        "# TYPE messaging_client_sent_messages_total counter",
        "# TYPE cpu_utilization gauge",
        "# TYPE target_info gauge",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("_ratio"),
        "the removed `1` → `_ratio` rule is not applied"
    );
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
    let om = t.metrics_text();
    assert!(om.contains("# TYPE target info"));
    assert!(om.contains("# UNIT http_server_request_body_size_bytes bytes"));
}

#[tokio::test]
async fn spawned_tasks_stay_in_the_current_trace() {
    let t = TestTelemetry::start();
    let span = tracing::info_span!("request");
    let handle = {
        let _entered = span.enter();
        tracewire::context::spawn(async {
            tracing::info_span!("background").in_scope(|| tracing::info!("in the background"));
            tracewire::context::current_trace_id()
        })
    };
    let trace_id_in_task = handle.await.unwrap();
    drop(span);
    let request = t.span("request");
    let background = t.span("background");
    assert_child_of(&background, &request);
    assert_eq!(
        trace_id_in_task,
        Some(request.span_context.trace_id().to_string())
    );
}

#[test]
fn current_ids_and_attach() {
    let t = TestTelemetry::start();
    assert_eq!(tracewire::context::current_trace_id(), None);
    let span = t.tracer("ids").start("op");
    let (trace_id, span_id) = (
        span.span_context().trace_id(),
        span.span_context().span_id(),
    );
    let guard = tracewire::context::attach(Context::current_with_span(span));
    assert_eq!(
        tracewire::context::current_trace_id(),
        Some(trace_id.to_string())
    );
    assert_eq!(
        tracewire::context::current_span_id(),
        Some(span_id.to_string())
    );
    assert!(tracewire::context::is_sampled());
    drop(guard);
    assert_eq!(tracewire::context::current_trace_id(), None, "detached");
}

fn get(addr: std::net::SocketAddr, accept: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_standalone_listener_serves_metrics_when_prometheus_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = Config::from_lookup(|k| match k {
        "OTEL_METRICS_EXPORTER" => Some("prometheus".into()),
        "OTEL_EXPORTER_PROMETHEUS_HOST" => Some("127.0.0.1".into()),
        "OTEL_EXPORTER_PROMETHEUS_PORT" => Some(port.to_string()),
        _ => None,
    });
    config.log_format = tracewire::LogFormat::Off;
    let telemetry = TelemetryBuilder::from_config(config)
        .default_service_name("listener")
        .build();
    telemetry.meter("l").u64_counter("hits").build().add(4, &[]);
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let classic = get(addr, "*/*");
    assert!(classic.starts_with("HTTP/1.1 200"), "{classic}");
    assert!(classic.contains("content-type: text/plain; version=0.0.4"));
    assert!(
        classic.contains("hits_total{otel_scope_name=\"l\"} 4"),
        "{classic}"
    );
    let om = get(addr, "application/openmetrics-text;version=1.0.0");
    assert!(
        om.contains("application/openmetrics-text") && om.trim_end().ends_with("# EOF"),
        "{om}"
    );
    telemetry.shutdown();
}

#[test]
fn a_taken_prometheus_port_is_a_warning_not_a_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = Config::from_lookup(|k| match k {
        "OTEL_METRICS_EXPORTER" => Some("prometheus".into()),
        "OTEL_EXPORTER_PROMETHEUS_HOST" => Some("127.0.0.1".into()),
        "OTEL_EXPORTER_PROMETHEUS_PORT" => Some(port.to_string()),
        "TRACEWIRE_LOG_FORMAT" => Some("off".into()),
        _ => None,
    });
    let lenient = TelemetryBuilder::from_config(config).build();
    let warnings = lenient.take_warnings();
    assert!(
        warnings.iter().any(|w| w.contains(&port.to_string())),
        "{warnings:?}"
    );
    assert!(
        lenient.meter_provider().is_some(),
        "metrics still work in-process"
    );
}

/// The console log and metric exporters need the `console` feature (the
/// trace tree does not).
#[cfg(feature = "console")]
#[test]
fn console_exporters_build_and_shut_down() {
    let config = Config::from_lookup(|k| match k {
        "OTEL_TRACES_EXPORTER" | "OTEL_LOGS_EXPORTER" => Some("console".into()),
        "OTEL_METRICS_EXPORTER" => Some("console".into()),
        "TRACEWIRE_LOG_FORMAT" => Some("off".into()),
        _ => None,
    });
    let telemetry = TelemetryBuilder::from_config(config).build();
    assert!(telemetry.logger_provider().is_some());
    assert!(
        telemetry.exposition().is_none(),
        "no prometheus unless named"
    );
    let _span =
        opentelemetry::trace::TracerProvider::tracer(telemetry.tracer_provider().unwrap(), "c")
            .start("printed");
    telemetry.shutdown();
}
