//! Two real services on loopback, axum → reqwest → axum: one trace, the
//! parent chain SERVER → CLIENT → SERVER, attribute values, baggage delivered.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use axum::Router;
use axum::routing::get;
use tracewire::otel::baggage::BaggageExt as _;
use tracewire::otel::trace::SpanKind;
use tracewire::testing::{TestTelemetry, assert_child_of, attribute};
use tracewire_axum::ServerTelemetryLayer;
use tracewire_reqwest::ClientTelemetry;

async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn one_trace_across_two_services() {
    let t = TestTelemetry::start();
    let server_layer = || {
        ServerTelemetryLayer::new()
            .own_tracer(t.own_tracer("tracewire-axum"))
            .meter(&t.telemetry.meter("tracewire-axum"))
    };

    // Downstream: answers with the baggage it sees in its context.
    let inventory = serve(
        Router::new()
            .route(
                "/items/{id}",
                get(|| async {
                    let cx = tracewire::otel::Context::current();
                    let user = cx
                        .baggage()
                        .get("user")
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    tracing::info!("inventory looked up");
                    format!("item for {user}")
                }),
            )
            .layer(server_layer()),
    )
    .await;

    // Upstream: calls downstream through the instrumented client.
    let http = reqwest_middleware::ClientBuilder::new(
        reqwest::Client::builder().no_proxy().build().unwrap(),
    )
    .with(
        ClientTelemetry::new()
            .tracer(t.own_tracer("tracewire-reqwest"))
            .meter(&t.telemetry.meter("tracewire-reqwest")),
    )
    .build();
    let shop = serve(
        Router::new()
            .route(
                "/orders/{id}",
                get(move || {
                    let http = http.clone();
                    async move {
                        http.get(format!("http://{inventory}/items/7"))
                            .send()
                            .await
                            .unwrap()
                            .text()
                            .await
                            .unwrap()
                    }
                }),
            )
            .layer(server_layer()),
    )
    .await;

    let body = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{shop}/orders/1"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("baggage", "user=ada%20lovelace")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        body, "item for ada lovelace",
        "baggage delivered downstream"
    );

    let order = t.span("GET /orders/{id}");
    let call = t.span("GET");
    let item = t.span("GET /items/{id}");
    assert_eq!(
        order.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(order.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert_child_of(&call, &order);
    assert_child_of(&item, &call);
    assert_eq!(
        (
            order.span_kind.clone(),
            call.span_kind.clone(),
            item.span_kind.clone()
        ),
        (SpanKind::Server, SpanKind::Client, SpanKind::Server)
    );
    assert_eq!(
        attribute(&call, "url.full").unwrap().to_string(),
        format!("http://{inventory}/items/7")
    );
    assert_eq!(
        attribute(&call, "server.port").unwrap().to_string(),
        inventory.port().to_string()
    );
    assert_eq!(
        attribute(&item, "http.route").unwrap().to_string(),
        "/items/{id}"
    );
    assert_eq!(
        attribute(&item, "server.address").unwrap().to_string(),
        "127.0.0.1"
    );

    let lines = t.log_lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "inventory looked up")
        .unwrap();
    assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(line["span_id"], item.span_context.span_id().to_string());

    let metrics = t.metrics_text();
    for series in [
        "http_server_request_duration_seconds_bucket",
        "http_client_request_duration_seconds_bucket",
        "http_server_active_requests",
    ] {
        assert!(metrics.contains(series), "{series}:\n{metrics}");
    }
    assert!(
        metrics.contains("trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\""),
        "exemplars link the request metrics to the trace"
    );
}
