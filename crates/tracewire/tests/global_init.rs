//! `init` and `try_init` against the process-wide state. One test function:
//! globals can be installed once per process.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use opentelemetry::trace::{Span as _, TraceContextExt, Tracer};
use tracewire::propagation::PropagatorKind;
use tracewire::{Config, Error, Protocol, TelemetryBuilder};

#[test]
fn init_degrades_and_try_init_is_strict() {
    // An exporter that cannot be built: strict callers get a typed error…
    let mut config = Config::default();
    config.log_format = tracewire::LogFormat::Off;
    let strict = TelemetryBuilder::from_config(config.clone())
        .otlp_protocol(Protocol::Grpc)
        .otlp_endpoint("http://bad host:4317")
        .try_init();
    assert!(matches!(strict, Err(Error::Exporter(_))), "{strict:?}");

    // …while init() leaves that signal out and sets up the rest.
    let telemetry = TelemetryBuilder::from_config(config.clone())
        .service_name("global-test")
        .propagators(vec![PropagatorKind::B3])
        .otlp_protocol(Protocol::Grpc)
        .otlp_endpoint("http://bad host:4317")
        .init();
    assert!(telemetry.tracer_provider().is_some());
    assert!(
        telemetry.take_warnings().is_empty(),
        "warnings were logged at init"
    );

    // Globals: the tracer provider, the propagators, the exposition.
    let span = opentelemetry::global::tracer("global").start("op");
    assert!(
        span.span_context().is_valid(),
        "an SDK tracer, not the no-op one"
    );
    let cx = opentelemetry::Context::current_with_span(span);
    let mut headers = http::HeaderMap::new();
    tracewire::propagation::inject(&cx, &mut headers);
    assert!(
        headers.contains_key("b3"),
        "OTEL_PROPAGATORS applies to the helpers: {headers:?}"
    );
    assert!(!headers.contains_key("traceparent"));
    let mut headers = http::HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(
            &cx,
            &mut tracewire::propagation::HeaderInjector(&mut headers),
        )
    });
    assert!(
        headers.contains_key("b3"),
        "and to the OpenTelemetry global"
    );
    let text = tracewire::prometheus::render();
    assert!(text.contains("service_name=\"global-test\""), "{text}");

    // A second global install cannot take the subscriber slot: strict fails…
    let again = TelemetryBuilder::from_config(config.clone()).try_init();
    assert!(
        matches!(again, Err(Error::SubscriberAlreadySet)),
        "{again:?}"
    );
    // …lenient warns and still works.
    let lenient = TelemetryBuilder::from_config(config).init();
    assert!(lenient.tracer_provider().is_some());

    telemetry.shutdown();
    assert!(telemetry.is_shut_down());
}
