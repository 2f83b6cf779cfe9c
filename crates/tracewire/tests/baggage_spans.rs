//! Baggage members on spans: only the allowed keys, only when asked.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use opentelemetry::KeyValue;
use opentelemetry::baggage::BaggageExt as _;
use tracewire::testing::{TestTelemetry, attribute};
use tracewire::{Config, SamplerConfig, TelemetryBuilder};

fn run(builder: TelemetryBuilder) -> TestTelemetry {
    let t = TestTelemetry::start_with(builder.sampler(SamplerConfig::AlwaysOn));
    let cx = opentelemetry::Context::new().with_baggage([
        KeyValue::new("tenant.id", "acme"),
        KeyValue::new("user.email", "ada@example.com"),
    ]);
    let _attached = cx.attach();
    tracing::info_span!("handle").in_scope(|| {});
    t
}

#[test]
fn allowed_baggage_keys_become_span_attributes() {
    let t = run(
        TelemetryBuilder::from_config(Config::default()).baggage_span_attributes(["tenant.id"])
    );
    let span = t.span("handle");
    assert_eq!(
        attribute(&span, "tenant.id")
            .map(|v| v.to_string())
            .as_deref(),
        Some("acme")
    );
    assert!(
        attribute(&span, "user.email").is_none(),
        "not on the allow-list"
    );
}

#[test]
fn nothing_is_copied_by_default() {
    let t = run(TelemetryBuilder::from_config(Config::default()));
    let span = t.span("handle");
    assert!(attribute(&span, "tenant.id").is_none());
    assert!(attribute(&span, "user.email").is_none());
}

#[test]
fn the_allow_list_is_read_from_the_environment() {
    let c = Config::from_lookup(|k| {
        (k == "TRACEWIRE_BAGGAGE_SPAN_ATTRIBUTES").then(|| " tenant.id , region,".to_owned())
    });
    assert_eq!(c.baggage_span_attributes, ["tenant.id", "region"]);
}
