//! Views and cardinality limits, as the Prometheus exposition shows them.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _};
use tracewire::prometheus::Format;
use tracewire::testing::TestTelemetry;
use tracewire::{Config, SamplerConfig, TelemetryBuilder, View};

fn builder() -> TelemetryBuilder {
    TelemetryBuilder::from_config(Config::default())
        .sampler(SamplerConfig::AlwaysOn)
        .process_metrics(false)
}

fn lines<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn a_view_narrows_the_buckets_and_exemplars_follow_them() {
    let t = TestTelemetry::start_with(
        builder().view(View::instrument("http.server.request.duration").buckets([0.01, 0.05, 0.1])),
    );
    let duration = tracewire::metrics::duration_histogram(
        &t.telemetry.meter("views"),
        "http.server.request.duration",
        "Duration of HTTP server requests.",
        tracewire::metrics::DURATION_BUCKETS,
    );
    let span = t.tracer("views").start("GET /");
    let trace_id = span.span_context().trace_id().to_string();
    {
        let _cx = opentelemetry::Context::current_with_span(span).attach();
        duration.record(0.03, &[KeyValue::new("http.route", "/")]);
    }
    let text = t
        .telemetry
        .exposition()
        .unwrap()
        .render(Format::OpenMetrics);
    let buckets = lines(&text, "http_server_request_duration_seconds_bucket{");
    let bounds: Vec<&str> = buckets
        .iter()
        .map(|l| l.split("le=\"").nth(1).unwrap().split('"').next().unwrap())
        .collect();
    assert_eq!(bounds, ["0.01", "0.05", "0.1", "+Inf"], "{text}");
    let with_exemplar: Vec<&&str> = buckets.iter().filter(|l| l.contains(" # {")).collect();
    assert_eq!(with_exemplar.len(), 1, "{text}");
    assert!(
        with_exemplar[0].contains("le=\"0.05\""),
        "{}",
        with_exemplar[0]
    );
    assert!(with_exemplar[0].contains(&trace_id), "{}", with_exemplar[0]);
}

#[test]
fn views_rename_filter_attributes_and_drop() {
    let t = TestTelemetry::start_with(
        builder()
            .view(View::instrument("shop.orders").rename("shop.orders.placed"))
            .view(View::instrument("shop.payments").attributes(["method"]))
            .view(View::instrument("shop.debug.*").drop()),
    );
    let meter = t.telemetry.meter("views");
    let counter = |name: &'static str| meter.u64_counter(name).build();
    counter("shop.orders").add(1, &[]);
    let payments = counter("shop.payments");
    payments.add(
        1,
        &[
            KeyValue::new("method", "card"),
            KeyValue::new("user.id", "1"),
        ],
    );
    payments.add(
        1,
        &[
            KeyValue::new("method", "card"),
            KeyValue::new("user.id", "2"),
        ],
    );
    counter("shop.debug.cache_hits").add(5, &[]);
    let text = t.metrics_text();
    assert_eq!(lines(&text, "shop_orders_placed_total{").len(), 1, "{text}");
    assert!(lines(&text, "shop_orders_total{").is_empty(), "{text}");
    let paid = lines(&text, "shop_payments_total{");
    assert_eq!(paid.len(), 1, "user.id dropped, the series merged: {text}");
    assert!(paid[0].contains("method=\"card\"") && !paid[0].contains("user_id"));
    assert!(paid[0].ends_with(" 2"), "{}", paid[0]);
    assert!(!text.contains("shop_debug"), "{text}");
}

fn explode(t: &TestTelemetry, name: &'static str) -> Vec<String> {
    let counter = t.telemetry.meter("views").u64_counter(name).build();
    for i in 0..3000 {
        counter.add(1, &[KeyValue::new("user.id", i.to_string())]);
    }
    let prefix = format!("{}_total{{", name.replace('.', "_"));
    lines(&t.metrics_text(), &prefix)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[test]
fn three_thousand_attribute_sets_give_at_most_limit_plus_one_series() {
    let t = TestTelemetry::start_with(builder().cardinality_limit(100));
    let series = explode(&t, "shop.visits");
    assert!(series.len() <= 101, "{} series", series.len());
    let overflow: Vec<&String> = series
        .iter()
        .filter(|l| l.contains("otel_metric_overflow=\"true\""))
        .collect();
    assert_eq!(overflow.len(), 1, "one overflow series");
    let total: u64 = series
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 3000, "nothing lost, only folded");

    // A view's own limit wins over the global one.
    let t = TestTelemetry::start_with(
        builder()
            .cardinality_limit(100)
            .view(View::instrument("shop.clicks").cardinality_limit(10)),
    );
    assert!(explode(&t, "shop.clicks").len() <= 11);
}

#[test]
fn by_default_the_sdk_limit_of_two_thousand_applies() {
    let t = TestTelemetry::start_with(builder());
    let series = explode(&t, "shop.searches");
    assert!(series.len() <= 2001, "{} series", series.len());
    assert!(
        series
            .iter()
            .any(|l| l.contains("otel_metric_overflow=\"true\""))
    );
}
