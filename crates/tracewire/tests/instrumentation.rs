//! The shared operation life-cycle of `tracewire::instrumentation`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use tracewire::instrumentation::{Operation, Tracer};
use tracewire::testing::{TestTelemetry, assert_child_of, attribute};

fn histogram(t: &TestTelemetry) -> tracewire::metrics::Histogram {
    tracewire::metrics::duration_histogram(
        &t.telemetry.meter("instrumentation"),
        "test.operation.duration",
        "Test operations.",
        tracewire::metrics::DURATION_BUCKETS,
    )
}

/// The operation's span on each path: tracewire's own, then the SDK's.
fn operation_tracer(t: &TestTelemetry, sdk: bool) -> Tracer {
    if sdk {
        t.tracer("instrumentation").into()
    } else {
        t.own_tracer("instrumentation").into()
    }
}

#[test]
fn an_operation_spans_fails_and_records_once() {
    for sdk in [false, true] {
        operation_spans_fails_and_records_once(sdk);
    }
}

fn operation_spans_fails_and_records_once(sdk: bool) {
    let t = TestTelemetry::start();
    let tracer = operation_tracer(&t, sdk);
    let user_tracer = t.tracer("instrumentation");
    let duration = histogram(&t);
    let parent_span = user_tracer.start("request");
    let parent = Context::current_with_span(parent_span);
    let mut op: Operation = Operation::start(
        Some(&tracer),
        "SELECT users",
        SpanKind::Client,
        &parent,
        vec![KeyValue::new("db.system.name", "postgresql")],
        |span| span.push(KeyValue::new("db.query.text", "SELECT * FROM users")),
    );
    assert!(op.is_recording());
    op.add_attribute(KeyValue::new("db.response.status_code", "23505"));
    op.fail("23505", "duplicate key");
    op.fail("ignored", "only the first failure counts");
    op.finish(Some(&duration));
    op.finish(Some(&duration));
    drop(op);
    parent.span().end();

    let span = t.span("SELECT users");
    let request = t.span("request");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_child_of(&span, &request);
    assert_eq!(span.status, Status::error("duplicate key"));
    for (key, value) in [
        ("db.system.name", "postgresql"),
        ("db.query.text", "SELECT * FROM users"),
        ("error.type", "23505"),
        ("db.response.status_code", "23505"),
    ] {
        assert_eq!(
            attribute(&span, key).map(|v| v.to_string()).as_deref(),
            Some(value),
            "{key}"
        );
    }
    let metrics = t.metrics_text();
    let count: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("test_operation_duration_seconds_count{"))
        .collect();
    assert_eq!(count.len(), 1, "{metrics}");
    assert!(count[0].contains("error_type=\"23505\"") && !count[0].contains("db_query_text"));
    assert_eq!(
        count[0].split_whitespace().nth(1),
        Some("1"),
        "recorded once: {}",
        count[0]
    );
    let exemplar = t
        .telemetry
        .exposition()
        .unwrap()
        .render(tracewire::prometheus::Format::OpenMetrics);
    assert!(
        exemplar.contains(&span.span_context.span_id().to_string()),
        "the span is the exemplar: {exemplar}"
    );
}

/// The span ends at its start plus the duration the metric records: it
/// lasts exactly as long as the histogram says (one clock read for both).
#[test]
fn a_span_lasts_exactly_the_recorded_duration() {
    for sdk in [false, true] {
        let t = TestTelemetry::start();
        let tracer = operation_tracer(&t, sdk);
        let duration = histogram(&t);
        let mut op: Operation = Operation::start(
            Some(&tracer),
            "timed",
            SpanKind::Internal,
            &Context::new(),
            Vec::new(),
            |_| {},
        );
        std::thread::sleep(std::time::Duration::from_millis(15));
        op.finish(Some(&duration));
        let span = t.span("timed");
        let lasted = span.end_time.duration_since(span.start_time).unwrap();
        let metrics = t.metrics_text();
        let sum: f64 = metrics
            .lines()
            .find(|l| l.starts_with("test_operation_duration_seconds_sum"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .parse()
            .unwrap();
        assert!(lasted >= std::time::Duration::from_millis(15), "{lasted:?}");
        assert_eq!(lasted.as_secs_f64(), sum, "sdk spans: {sdk}");
    }
}

#[test]
fn without_a_tracer_the_parent_is_left_alone() {
    let t = TestTelemetry::start();
    let tracer = t.tracer("instrumentation");
    let duration = histogram(&t);
    let parent = Context::current_with_span(tracer.start("request"));
    {
        let mut op: Operation =
            Operation::start(None, "x", SpanKind::Client, &parent, Vec::new(), |_| {
                panic!("no span, no span attributes")
            });
        assert!(!op.is_recording());
        assert_eq!(
            op.context().span().span_context(),
            parent.span().span_context()
        );
        op.fail("boom", "");
        op.finish(Some(&duration));
    }
    assert!(parent.span().is_recording(), "not ended by the operation");
    parent.span().end();
    assert_eq!(
        t.span("request").status,
        Status::Unset,
        "not marked by it either"
    );
    assert!(
        t.metrics_text().contains("error_type=\"boom\""),
        "the metric is still recorded"
    );
}

#[test]
fn a_dropped_operation_ends_its_span() {
    for sdk in [false, true] {
        let t = TestTelemetry::start();
        a_dropped_operation_ends_its_span_on(&t, &operation_tracer(&t, sdk));
    }
}

fn a_dropped_operation_ends_its_span_on(t: &TestTelemetry, tracer: &Tracer) {
    {
        let _op: Operation = Operation::start(
            Some(tracer),
            "abandoned",
            SpanKind::Client,
            &Context::new(),
            Vec::new(),
            |_| {},
        );
    }
    assert_eq!(
        t.spans().iter().filter(|s| s.name == "abandoned").count(),
        1
    );
}

#[test]
fn an_operation_observed_after_the_fact_keeps_the_callers_times() {
    for sdk in [false, true] {
        observed_after_the_fact(sdk);
    }
}

fn observed_after_the_fact(sdk: bool) {
    let t = TestTelemetry::start();
    let tracer = operation_tracer(&t, sdk);
    let duration = histogram(&t);
    let started = std::time::SystemTime::now() - std::time::Duration::from_secs(3);
    let elapsed = std::time::Duration::from_millis(2500);
    let builder = tracewire::otel::trace::SpanBuilder::from_name("receive jobs")
        .with_kind(SpanKind::Client)
        .with_start_time(started);
    let mut op: Operation = Operation::start_with(
        Some(&tracer),
        Some(builder),
        &Context::new(),
        vec![KeyValue::new("messaging.system", "redis")],
    );
    op.finish_after(Some(&duration), elapsed, started + elapsed);
    let span = t.span("receive jobs");
    assert_eq!(span.start_time, started);
    assert_eq!(
        span.end_time,
        started + elapsed,
        "ended when the caller says, not now"
    );
    let metrics = t.metrics_text();
    let bucket = metrics
        .lines()
        .find(|l| {
            l.starts_with("test_operation_duration_seconds_bucket{") && l.contains("le=\"2.5\"")
        })
        .unwrap();
    assert!(
        bucket.contains("} 1"),
        "the caller's 2.5 s, not the 0 s since start: {bucket}"
    );
    let below = metrics
        .lines()
        .find(|l| {
            l.starts_with("test_operation_duration_seconds_bucket{")
                && (l.contains("le=\"1\"") || l.contains("le=\"1.0\""))
        })
        .unwrap();
    assert!(below.contains("} 0"), "{below}");
}
