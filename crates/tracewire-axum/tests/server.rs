//! The server layer against the HTTP semantic conventions: span names, kinds,
//! parents, attribute values, status rules, metrics, safety.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use tracewire::otel::Value;
use tracewire::otel::trace::{SpanKind, Status};
use tracewire::testing::{TestTelemetry, assert_child_of, attribute};
use tracewire_axum::ServerTelemetryLayer;

fn layer(t: &TestTelemetry) -> ServerTelemetryLayer {
    ServerTelemetryLayer::new()
        .own_tracer(t.own_tracer("tracewire-axum"))
        .meter(&t.telemetry.meter("tracewire-axum"))
}

fn app(t: &TestTelemetry) -> Router {
    let users = Router::new().route("/{id}", get(|| async { "ada" }));
    Router::new()
        .route("/users/{id}", get(|| async { "user" }))
        .route("/boom", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route("/healthz", get(|| async { "ok" }))
        .nest("/api/v1/users", users)
        .layer(layer(t))
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    (status, headers, body)
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("host", "shop.example:8080")
        .body(Body::empty())
        .unwrap()
}

fn string(v: Option<Value>) -> Option<String> {
    v.map(|v| v.to_string())
}

#[tokio::test]
async fn server_span_follows_the_conventions() {
    let t = TestTelemetry::start();
    let app = app(&t);
    let req = Request::get("/users/42?color=blue&sig=secret")
        .header("host", "shop.example:8080")
        .header("user-agent", "curl/8")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-forwarded-for", "203.0.113.7, 10.0.0.1")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&app, req).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "user"));

    let span = t.span("GET /users/{id}");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(
        span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert!(span.parent_span_is_remote);
    assert_eq!(span.status, Status::Unset);
    for (key, value) in [
        ("http.request.method", "GET"),
        ("http.route", "/users/{id}"),
        ("url.path", "/users/42"),
        ("url.query", "color=blue&sig=REDACTED"),
        ("url.scheme", "http"),
        ("server.address", "shop.example"),
        ("client.address", "203.0.113.7"),
        ("user_agent.original", "curl/8"),
        ("network.protocol.version", "1.1"),
    ] {
        assert_eq!(
            string(attribute(&span, key)).as_deref(),
            Some(value),
            "{key}"
        );
    }
    assert_eq!(attribute(&span, "server.port"), Some(Value::I64(8080)));
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert!(attribute(&span, "error.type").is_none());
}

#[tokio::test]
async fn five_hundreds_are_errors_four_hundreds_are_not() {
    let t = TestTelemetry::start();
    let app = app(&t);
    send(&app, get_req("/boom")).await;
    send(&app, get_req("/missing")).await;
    let boom = t.span("GET /boom");
    assert!(matches!(boom.status, Status::Error { .. }));
    assert_eq!(
        string(attribute(&boom, "error.type")).as_deref(),
        Some("500")
    );
    let missing = t.span("GET /missing");
    assert_eq!(missing.status, Status::Unset);
    assert!(attribute(&missing, "error.type").is_none());
    let metrics = t.metrics_text();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("http_server_request_duration_seconds_count{")
                && l.contains("http_route=\"/boom\"")
        })
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(
        line.contains("error_type=\"500\"") && line.contains("http_response_status_code=\"500\""),
        "{line}"
    );
}

#[tokio::test]
async fn nested_routes_keep_their_prefix_and_unknown_methods_are_other() {
    let t = TestTelemetry::start();
    let app = app(&t);
    send(&app, get_req("/api/v1/users/7")).await;
    let span = t.span("GET /api/v1/users/{id}");
    assert_eq!(
        string(attribute(&span, "http.route")).as_deref(),
        Some("/api/v1/users/{id}")
    );

    let purge = Request::builder()
        .method("PURGE")
        .uri("/users/1")
        .body(Body::empty())
        .unwrap();
    send(&app, purge).await;
    let span = t.span("HTTP /users/{id}");
    assert_eq!(
        string(attribute(&span, "http.request.method")).as_deref(),
        Some("_OTHER")
    );
    assert_eq!(
        string(attribute(&span, "http.request.method_original")).as_deref(),
        Some("PURGE")
    );
}

#[tokio::test]
async fn unmatched_requests_have_no_route_and_add_no_series() {
    let t = TestTelemetry::start();
    let app = app(&t);
    send(&app, get_req("/users/1")).await;
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    send(&app, get_req("/nope/0")).await;
    let before = series(&t.metrics_text());
    for i in 0..10_000 {
        let (status, _, _) = send(&app, get_req(&format!("/random/{i}/{}", i * 7))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let text = t.metrics_text();
    assert_eq!(
        series(&text),
        before,
        "unmatched paths must not create series"
    );
    assert!(!text.contains("/random/"), "raw paths never reach metrics");
    let spans = t.spans();
    let unmatched = spans
        .iter()
        .find(|s| s.name == "GET")
        .expect("a span named by the method alone");
    assert!(attribute(unmatched, "http.route").is_none());
}

#[tokio::test]
async fn excluded_paths_make_no_span_and_no_metric() {
    let t = TestTelemetry::start();
    let app = app(&t);
    let (status, _, body) = send(&app, get_req("/healthz")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    assert!(
        t.spans().is_empty(),
        "{:?}",
        t.spans().iter().map(|s| s.name.clone()).collect::<Vec<_>>()
    );
    assert!(!t.metrics_text().contains("/healthz"));
}

#[tokio::test]
async fn credentials_are_never_captured() {
    let t = TestTelemetry::start();
    let app = Router::new()
        .route(
            "/x",
            get(|| async { ([("x-request-id", "r1"), ("set-cookie", "s=1")], "x") }),
        )
        .layer(
            layer(&t)
                .capture_request_headers(["Authorization", "X-Tenant", "cookie", "x-api-key"])
                .capture_response_headers(["set-cookie", "x-request-id"]),
        );
    let req = Request::get("/x")
        .header("authorization", "Bearer top-secret")
        .header("cookie", "session=top-secret")
        .header("x-api-key", "top-secret")
        .header("x-tenant", "acme")
        .body(Body::empty())
        .unwrap();
    send(&app, req).await;
    let span = t.span("GET /x");
    let everything = format!("{span:?}");
    assert!(!everything.contains("top-secret"), "{everything}");
    assert!(!everything.contains("s=1"));
    assert_eq!(
        attribute(&span, "http.request.header.x-tenant")
            .map(|v| v.to_string())
            .as_deref(),
        Some("[\"acme\"]")
    );
    assert!(attribute(&span, "http.response.header.x-request-id").is_some());
}

#[tokio::test]
async fn server_timing_exposes_the_trace_when_asked() {
    let t = TestTelemetry::start();
    let app = Router::new()
        .route("/x", get(|| async { "x" }))
        .layer(layer(&t).server_timing(true));
    let (_, headers, _) = send(&app, get_req("/x")).await;
    let span = t.span("GET /x");
    assert_eq!(
        headers.get("server-timing").unwrap().to_str().unwrap(),
        format!(
            "trace;desc=00-{}-{}-01",
            span.span_context.trace_id(),
            span.span_context.span_id()
        )
    );
    let plain = app_without_timing(&t);
    let (_, headers, _) = send(&plain, get_req("/x")).await;
    assert!(headers.get("server-timing").is_none(), "off by default");
}

fn app_without_timing(t: &TestTelemetry) -> Router {
    Router::new()
        .route("/x", get(|| async { "x" }))
        .layer(layer(t))
}

#[tokio::test]
async fn untrusted_edges_start_a_new_trace_linked_to_the_caller() {
    let t = TestTelemetry::start();
    let app = Router::new()
        .route("/x", get(|| async { "x" }))
        .layer(layer(&t).untrusted_edge(true));
    let req = Request::get("/x")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(Body::empty())
        .unwrap();
    send(&app, req).await;
    let span = t.span("GET /x");
    assert_ne!(
        span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(span.links.links.len(), 1);
    assert_eq!(
        span.links.links[0].span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
}

#[tracing::instrument(level = "warn")]
async fn load_user(id: u32) -> String {
    tracing::warn!(id, "cache miss");
    format!("user {id}")
}

#[tokio::test]
async fn handler_spans_and_logs_nest_under_the_request_even_with_rust_log_warn() {
    let t = TestTelemetry::start_with(
        tracewire::TelemetryBuilder::from_config(tracewire::Config::default()).log_filter("warn"),
    );
    let app = Router::new()
        .route("/users/{id}", get(|| load_user(7)))
        .layer(layer(&t));
    send(&app, get_req("/users/7")).await;
    let request = t.span("GET /users/{id}");
    let handler = t.span("load_user");
    assert_child_of(&handler, &request);
    let lines = t.log_lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "cache miss")
        .expect("the warn line");
    assert_eq!(
        line["trace_id"],
        request.span_context.trace_id().to_string()
    );
    assert_eq!(line["span_id"], handler.span_context.span_id().to_string());
}

#[tokio::test]
async fn the_span_ends_when_the_streamed_body_ends() {
    let t = TestTelemetry::start();
    let app = Router::new()
        .route(
            "/stream",
            get(|| async {
                let chunks = futures_util::stream::unfold(0u8, |i| async move {
                    if i == 3 {
                        return None;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    Some((
                        Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; 10])),
                        i + 1,
                    ))
                });
                Body::from_stream(chunks)
            }),
        )
        .layer(layer(&t));
    let response = app.clone().oneshot(get_req("/stream")).await.unwrap();
    assert!(
        t.spans().is_empty(),
        "headers are ready, the body is not: the span is still open"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), 30);
    let span = t.span("GET /stream");
    let duration = span.end_time.duration_since(span.start_time).unwrap();
    assert!(
        duration >= std::time::Duration::from_millis(300),
        "the span covers the body: {duration:?}"
    );
}

#[tokio::test]
async fn a_dropped_body_ends_the_span() {
    let t = TestTelemetry::start();
    let app = Router::new()
        .route(
            "/forever",
            get(|| async {
                Body::from_stream(futures_util::stream::pending::<
                    Result<axum::body::Bytes, std::io::Error>,
                >())
            }),
        )
        .layer(layer(&t));
    let response = app.clone().oneshot(get_req("/forever")).await.unwrap();
    assert!(t.spans().is_empty());
    drop(response); // the client went away mid-body
    let span = t.span("GET /forever");
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    let text = t.metrics_text();
    assert!(
        text.contains("http_server_active_requests{http_request_method=\"GET\""),
        "{text}"
    );
    let active = text
        .lines()
        .find(|l| l.starts_with("http_server_active_requests{"))
        .unwrap();
    assert!(active.ends_with(" 0"), "back to zero: {active}");
}

#[tokio::test]
async fn unsampled_requests_still_propagate_a_new_span_id() {
    // The default sampler: parent-based.
    let t = TestTelemetry::start_with(tracewire::TelemetryBuilder::from_config(
        tracewire::Config::default(),
    ));
    let app = Router::new()
        .route(
            "/x",
            get(|| async { tracewire::context::current_span_id().unwrap_or_default() }),
        )
        .layer(layer(&t));
    let req = Request::get("/x")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        )
        .body(Body::empty())
        .unwrap();
    let (_, _, span_id) = send(&app, req).await;
    assert!(t.spans().is_empty(), "the caller said not sampled");
    assert_eq!(span_id.len(), 16);
    assert_ne!(
        span_id, "00f067aa0ba902b7",
        "downstream sees our span as its parent"
    );
}

#[tokio::test]
async fn a_wrong_sampling_guess_still_records_every_attribute() {
    let t = TestTelemetry::start();
    let guess_dropped =
        tracewire::http::SamplingHint::from_config(tracewire::SamplerConfig::ParentBasedAlwaysOff);
    let app = Router::new()
        .route("/x/{id}", get(|| async { "x" }))
        .layer(layer(&t).sampling_hint(guess_dropped));
    send(&app, get_req("/x/1?a=b")).await;
    let span = t.span("GET /x/{id}");
    assert_eq!(
        string(attribute(&span, "url.path")).as_deref(),
        Some("/x/1")
    );
    assert_eq!(
        string(attribute(&span, "url.query")).as_deref(),
        Some("a=b")
    );
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(Value::I64(200))
    );
}

#[tokio::test]
async fn a_panicking_handler_leaves_an_error_span_with_the_panic_message() {
    tracewire::install_panic_hook();
    let t = TestTelemetry::start();
    let app = Router::new()
        .route(
            "/orders/{id}",
            get(|| async {
                if true {
                    panic!("inventory went negative");
                }
                "unreachable"
            }),
        )
        .layer(layer(&t));
    let served = tokio::spawn(async move { app.oneshot(get_req("/orders/7")).await }).await;
    assert!(served.unwrap_err().is_panic());
    let span = t.span("GET /orders/{id}");
    assert!(
        matches!(&span.status, Status::Error { description } if description.contains("inventory went negative")),
        "{:?}",
        span.status
    );
    assert_eq!(
        string(attribute(&span, "error.type")).as_deref(),
        Some("panic")
    );
    let event = span.events.iter().find(|e| e.name == "exception").unwrap();
    assert!(
        event
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "exception.message"
                && kv.value.to_string() == "inventory went negative")
    );
    let metrics = t.metrics_text();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("http_server_request_duration_seconds_count{")
                && l.contains("error_type=\"panic\"")
                && l.contains("http_route=\"/orders/{id}\"")
        ),
        "{metrics}"
    );
}

/// The same requests through tracewire's own span path and through the SDK's
/// tracer give the same spans: every field but the new span's id and the
/// times (so the same OTLP bytes, which the encoder derives from nothing
/// else) — caller's parent and tracestate, baggage copied by the allow-list,
/// an attribute, an event and a status set by the handler through the
/// OpenTelemetry API, the response's attributes, a 5xx, an untrusted edge's
/// link, and a child span of the handler's.
#[tokio::test]
async fn own_spans_match_the_sdks_field_for_field() {
    use tracewire::otel::KeyValue;
    use tracewire::otel::trace::{SpanId, TraceContextExt as _};

    let mut config = tracewire::Config::default();
    config.baggage_span_attributes = vec!["tenant".into()];
    let t = TestTelemetry::start_with(
        tracewire::TelemetryBuilder::from_config(config)
            .sampler(tracewire::SamplerConfig::AlwaysOn)
            .log_filter("trace"),
    );
    async fn handler() -> (StatusCode, &'static str) {
        let cx = tracewire::otel::Context::current();
        cx.span()
            .set_attribute(KeyValue::new("app.user.tier", "gold"));
        cx.span()
            .add_event("cache.miss", vec![KeyValue::new("cache.key", "user:7")]);
        cx.span()
            .set_status(tracewire::otel::trace::Status::error("upstream down"));
        load_user(7).await;
        (StatusCode::SERVICE_UNAVAILABLE, "later")
    }
    let routes = || {
        Router::new()
            .route("/users/{id}", get(handler))
            .route("/ok", get(|| async { "ok" }))
    };
    let meter = t.telemetry.meter("tracewire-axum");
    let own = routes().layer(
        ServerTelemetryLayer::new()
            .own_tracer(t.own_tracer("tracewire-axum"))
            .meter(&meter),
    );
    let sdk = routes().layer(
        ServerTelemetryLayer::new()
            .tracer(t.tracer("tracewire-axum"))
            .meter(&meter),
    );
    let own_edge = routes().layer(
        ServerTelemetryLayer::new()
            .own_tracer(t.own_tracer("tracewire-axum"))
            .meter(&meter)
            .untrusted_edge(true),
    );
    let sdk_edge = routes().layer(
        ServerTelemetryLayer::new()
            .tracer(t.tracer("tracewire-axum"))
            .meter(&meter)
            .untrusted_edge(true),
    );
    let request = |uri: &str| {
        Request::get(uri)
            .header("host", "shop.example:8080")
            .header("user-agent", "curl/8")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
            )
            .header("tracestate", "vendor=opaque,other=1")
            .header("baggage", "tenant=acme,secret=no")
            .body(Body::empty())
            .unwrap()
    };
    let mut pairs = Vec::new();
    for (own_app, sdk_app) in [(&own, &sdk), (&own_edge, &sdk_edge)] {
        for uri in ["/users/7?sig=secret", "/ok"] {
            for app in [own_app, sdk_app] {
                let before = t.spans().len();
                send(app, request(uri)).await;
                let spans = t.spans();
                let server: Vec<_> = spans[before..]
                    .iter()
                    .filter(|s| s.span_kind == SpanKind::Server)
                    .cloned()
                    .collect();
                assert_eq!(server.len(), 1, "{uri}: one server span");
                let children: Vec<_> = spans[before..]
                    .iter()
                    .filter(|s| s.span_kind != SpanKind::Server)
                    .cloned()
                    .collect();
                pairs.push((server[0].clone(), children));
            }
        }
    }
    // Only the ids minted for the span and the clock may differ.
    let normalized = |mut span: tracewire::otel_sdk::trace::SpanData| {
        let sc = &span.span_context;
        span.span_context = tracewire::otel::trace::SpanContext::new(
            if span.links.is_empty() {
                sc.trace_id()
            } else {
                tracewire::otel::trace::TraceId::INVALID
            },
            SpanId::INVALID,
            sc.trace_flags(),
            sc.is_remote(),
            sc.trace_state().clone(),
        );
        if !span.links.is_empty() {
            span.parent_span_id = SpanId::INVALID;
        }
        span.start_time = std::time::UNIX_EPOCH;
        span.end_time = std::time::UNIX_EPOCH;
        for event in &mut span.events.events {
            event.timestamp = std::time::UNIX_EPOCH;
        }
        span
    };
    for pair in pairs.chunks(2) {
        let ((own_span, own_children), (sdk_span, sdk_children)) = (&pair[0], &pair[1]);
        // Each child is under its own path's server span.
        for (children, parent) in [(own_children, own_span), (sdk_children, sdk_span)] {
            for child in children {
                assert_child_of(child, parent);
            }
        }
        assert_eq!(own_children.len(), sdk_children.len());
        assert_eq!(
            normalized(own_span.clone()),
            normalized(sdk_span.clone()),
            "{}",
            own_span.name
        );
    }
    // The comparison saw what it is meant to compare.
    let (user, _) = &pairs[0];
    assert_eq!(user.name, "GET /users/{id}");
    assert_eq!(attribute(user, "tenant"), Some(Value::from("acme")));
    assert_eq!(attribute(user, "app.user.tier"), Some(Value::from("gold")));
    assert_eq!(user.events.len(), 1);
    assert_eq!(
        user.span_context.trace_state().header(),
        "vendor=opaque,other=1"
    );
    assert!(matches!(user.status, Status::Error { .. }));
    // The caller's random flag (W3C Level 2) is kept beside the sampled one.
    assert_eq!(user.span_context.trace_flags().to_u8(), 0x03);
    assert_eq!(pairs[0].1.len(), 1, "the handler's child span");
    let (edge, _) = &pairs[4];
    assert_eq!(edge.links.len(), 1);
}

/// HTTP/1.0 and HTTP/1.1 requests of the same route are two duration series
/// (their bound handles once shared a key: both versions start with '1').
#[tokio::test]
async fn each_protocol_version_has_its_own_duration_series() {
    let t = TestTelemetry::start();
    let app = app(&t);
    for version in [
        http::Version::HTTP_11,
        http::Version::HTTP_10,
        http::Version::HTTP_10,
    ] {
        let mut req = get_req("/users/1");
        *req.version_mut() = version;
        send(&app, req).await;
    }
    let text = t.metrics_text();
    let count = |version: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("http_server_request_duration_seconds_count{")
                    && l.contains(&format!("network_protocol_version=\"{version}\""))
            })
            .unwrap_or_else(|| panic!("no series for HTTP/{version}:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(count("1.1"), "1");
    assert_eq!(count("1.0"), "2");
}
