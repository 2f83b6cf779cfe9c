//! Errors and panics on spans: `record_error`, the panic hook,
//! `#[instrument(err)]`, and the attributes of spans bridged from `tracing`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use opentelemetry::trace::{Status, TraceContextExt as _, Tracer as _};
use opentelemetry_sdk::trace::SpanData;
use tracewire::testing::{TestTelemetry, attribute};

#[derive(Debug)]
struct Outer(std::io::Error);

impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("loading the order failed")
    }
}

impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn exception(span: &SpanData) -> std::collections::HashMap<String, String> {
    let event = span
        .events
        .iter()
        .find(|e| e.name == "exception")
        .unwrap_or_else(|| panic!("no exception event on {}: {:?}", span.name, span.events));
    event
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

fn text(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|v| v.to_string())
}

#[test]
fn record_error_marks_the_current_tracing_span() {
    let t = TestTelemetry::start();
    tracing::info_span!("load order").in_scope(|| {
        let error = Outer(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        ));
        tracewire::record_error(&error);
    });
    let span = t.span("load order");
    assert_eq!(span.status, Status::error("loading the order failed"));
    assert_eq!(text(&span, "error.type").as_deref(), Some("errors::Outer"));
    let event = exception(&span);
    assert_eq!(event["exception.type"], "errors::Outer");
    assert_eq!(event["exception.message"], "loading the order failed");
    assert_eq!(event["exception.stacktrace"], "caused by: no such file");
}

#[test]
fn record_error_as_marks_the_span_of_the_current_context() {
    let t = TestTelemetry::start();
    let tracer = t.tracer("test");
    let span = tracer.start("GET /orders/{id}");
    let cx = opentelemetry::Context::current_with_span(span);
    {
        let _attached = cx.clone().attach();
        let error = std::io::Error::new(std::io::ErrorKind::TimedOut, "upstream timed out");
        tracewire::record_error_as(&error, "timeout");
    }
    cx.span().end();
    let span = t.span("GET /orders/{id}");
    assert_eq!(span.status, Status::error("upstream timed out"));
    assert_eq!(text(&span, "error.type").as_deref(), Some("timeout"));
    assert_eq!(exception(&span)["exception.type"], "timeout");
    assert!(
        !exception(&span).contains_key("exception.stacktrace"),
        "no causes"
    );
}

#[tracing::instrument(err)]
fn charge(amount: u32) -> Result<(), std::io::Error> {
    Err(std::io::Error::other(format!("card declined for {amount}")))
}

#[test]
fn instrument_err_results_carry_error_type() {
    let t = TestTelemetry::start();
    let _ = charge(3);
    let span = t.span("charge");
    assert!(
        matches!(span.status, Status::Error { .. }),
        "{:?}",
        span.status
    );
    assert_eq!(text(&span, "error.type").as_deref(), Some("_OTHER"));
}

#[test]
fn a_panic_marks_the_span_it_happened_in() {
    tracewire::install_panic_hook();
    tracewire::install_panic_hook(); // once only: no double recording
    let t = TestTelemetry::start();
    let caught = std::panic::catch_unwind(|| {
        tracing::info_span!("risky").in_scope(|| panic!("the ledger is unbalanced"));
    });
    assert!(caught.is_err());
    let span = t.span("risky");
    assert!(
        matches!(&span.status, Status::Error { description } if description.contains("the ledger is unbalanced") && description.contains("errors.rs")),
        "{:?}",
        span.status
    );
    assert_eq!(text(&span, "error.type").as_deref(), Some("panic"));
    let event = exception(&span);
    assert_eq!(event["exception.message"], "the ledger is unbalanced");
    assert!(event["code.file.path"].ends_with("errors.rs"), "{event:?}");
    assert_eq!(
        span.events.iter().filter(|e| e.name == "exception").count(),
        1
    );
}

#[test]
fn spans_from_tracing_carry_only_convention_attributes_by_default() {
    let t = TestTelemetry::start();
    tracing::info_span!("plain", order.id = 7).in_scope(|| {});
    let span = t.span("plain");
    let keys: Vec<String> = span
        .attributes
        .iter()
        .map(|kv| kv.key.to_string())
        .collect();
    for unwanted in ["busy_ns", "idle_ns", "target", "code.module.name"] {
        assert!(
            !keys.contains(&unwanted.to_owned()),
            "{unwanted} in {keys:?}"
        );
    }
    assert!(keys.contains(&"order.id".to_owned()), "{keys:?}");

    let t = TestTelemetry::start_with(
        tracewire::TelemetryBuilder::from_config(tracewire::Config::default())
            .sampler(tracewire::SamplerConfig::AlwaysOn)
            .span_details(true),
    );
    tracing::info_span!("detailed").in_scope(|| {});
    let keys: Vec<String> = t
        .span("detailed")
        .attributes
        .iter()
        .map(|kv| kv.key.to_string())
        .collect();
    for asked in ["busy_ns", "code.file.path", "code.line.number"] {
        assert!(keys.contains(&asked.to_owned()), "{asked} not in {keys:?}");
    }
}

#[test]
fn log_records_carry_an_event_name_only_when_the_user_gave_one() {
    let t = TestTelemetry::start();
    tracing::info!("unnamed");
    tracing::info!(name: "order.placed", "named");
    let records = t.log_records();
    let name_of = |body: &str| {
        records
            .iter()
            .find(|r| {
                r.body()
                    .map(|b| format!("{b:?}"))
                    .is_some_and(|b| b.contains(&format!("{body:?}")))
            })
            .unwrap_or_else(|| panic!("no record {body}"))
            .event_name()
    };
    assert_eq!(name_of("unnamed"), None);
    assert_eq!(name_of("named"), Some("order.placed"));
}
