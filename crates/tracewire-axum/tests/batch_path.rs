//! The server span on the path `init` sets up for production: tracewire's
//! batch processor as the only consumer, where an own span's record moves
//! straight from the span into the batch's buffer. Against the SDK's span of
//! the same request through the same processor: the same attributes in the
//! same order, the handler's own after them, the limits applied alike.
//! (The other tests read spans through the testing helpers' processor, which
//! the recorder hands each span as `SpanData`, the way it feeds any other.)

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use tracewire::otel::KeyValue;
use tracewire::otel::trace::{SpanId, SpanKind, TraceContextExt as _};
use tracewire::otel_sdk::trace::SpanData;
use tracewire::testing::InMemorySpanExporter;
use tracewire::{Config, LogFormat, SamplerConfig, TelemetryBuilder};
use tracewire_axum::ServerTelemetryLayer;

async fn handler() -> (StatusCode, &'static str) {
    let cx = tracewire::otel::Context::current();
    cx.span()
        .set_attribute(KeyValue::new("app.user.tier", "gold"));
    (StatusCode::OK, "ada")
}

fn routes() -> Router {
    Router::new()
        .route("/users/{id}", get(handler))
        .route("/ok", get(|| async { "ok" }))
}

fn request(uri: &str) -> Request<Body> {
    let mut request = Request::get(uri)
        .header("host", "shop.example:8080")
        .header("user-agent", "curl/8")
        .header("x-request-id", "r-1")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo("10.0.0.2:41000".parse::<SocketAddr>().unwrap()));
    request
}

async fn send(app: &Router, uri: &str) {
    let response = app.clone().oneshot(request(uri)).await.unwrap();
    response.into_body().collect().await.unwrap();
}

/// The server spans `uri` made through the own path and the SDK path, in
/// that order, with `limit` attributes a span at most.
async fn both_paths(uri: &str, limit: u32) -> (SpanData, SpanData) {
    // One `init` at a time: the tests share the process's globals.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = ONE_AT_A_TIME.lock().await;
    let exported = InMemorySpanExporter::default();
    let mut config = Config::default();
    config.traces_exporters = vec![];
    config.log_format = LogFormat::Off;
    config.limits.span_attribute_count = limit;
    let telemetry = TelemetryBuilder::from_config(config)
        .sampler(SamplerConfig::AlwaysOn)
        .with_span_exporter(exported.clone())
        .init();
    let own = routes().layer(
        ServerTelemetryLayer::new()
            .own_tracer(tracewire::instrumentation::own_tracer("tracewire-axum").unwrap())
            .capture_request_headers(["x-request-id"]),
    );
    let sdk = routes().layer(
        ServerTelemetryLayer::new()
            .tracer(tracewire::sdk_tracer("tracewire-axum").unwrap())
            .capture_request_headers(["x-request-id"]),
    );
    send(&own, uri).await;
    send(&sdk, uri).await;
    telemetry.force_flush();
    let spans = exported.get_finished_spans().unwrap();
    telemetry.shutdown();
    let mut server = spans
        .into_iter()
        .filter(|s| s.span_kind == SpanKind::Server);
    (server.next().unwrap(), server.next().unwrap())
}

/// Only the ids minted for the span and the clock may differ.
fn normalized(mut span: SpanData) -> SpanData {
    let sc = &span.span_context;
    span.span_context = tracewire::otel::trace::SpanContext::new(
        sc.trace_id(),
        SpanId::INVALID,
        sc.trace_flags(),
        sc.is_remote(),
        sc.trace_state().clone(),
    );
    span.start_time = std::time::UNIX_EPOCH;
    span.end_time = std::time::UNIX_EPOCH;
    span
}

fn keys(span: &SpanData) -> Vec<&str> {
    span.attributes.iter().map(|kv| kv.key.as_str()).collect()
}

#[tokio::test]
async fn own_spans_through_the_batch_processor_are_the_sdks() {
    for uri in ["/users/7?page=2&token=hunter2", "/ok"] {
        let (own, sdk) = both_paths(uri, 128).await;
        assert_eq!(normalized(own.clone()), normalized(sdk), "{uri}");
        // The comparison saw what it is meant to compare: the request's
        // attributes first, the response's and the handler's after.
        let keys = keys(&own);
        assert_eq!(keys[0], "http.request.method", "{keys:?}");
        assert!(keys.contains(&"network.peer.address"), "{keys:?}");
        assert!(
            keys.contains(&"http.request.header.x-request-id"),
            "{keys:?}"
        );
        if uri == "/ok" {
            continue;
        }
        let tier = keys.iter().position(|k| *k == "app.user.tier");
        let agent = keys.iter().position(|k| *k == "user_agent.original");
        assert!(tier > agent, "{keys:?}");
        let value = |key: &str| {
            own.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(value("url.path").as_deref(), Some("/users/7"));
        assert_eq!(value("url.query").as_deref(), Some("page=2&token=REDACTED"));
        assert_eq!(value("client.address").as_deref(), Some("10.0.0.2"));
        assert_eq!(value("server.address").as_deref(), Some("shop.example"));
    }
}

/// With room for fewer attributes than the request has, both paths keep
/// the same first ones and count the same dropped (the handler's included).
#[tokio::test]
async fn a_small_attribute_limit_cuts_both_paths_alike() {
    for limit in [4, 12, 13] {
        let (own, sdk) = both_paths("/users/7", limit).await;
        assert_eq!(own.attributes.len(), limit as usize);
        assert!(own.dropped_attributes_count > 0, "limit {limit}");
        assert_eq!(normalized(own), normalized(sdk), "limit {limit}");
    }
}
