//! The client middleware: span per attempt, status rules, redaction, and the
//! exact trace-context bytes that leave the process.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::SocketAddr;

use axum::Router;
use axum::routing::any;
use tracewire::otel::Value;
use tracewire::otel::trace::{SpanKind, Status};
use tracewire::testing::{TestTelemetry, attribute};
use tracewire_reqwest::ClientTelemetry;

/// A server that answers with the status in the path and echoes the request
/// headers as JSON `[[name, value], …]`.
async fn echo_server() -> SocketAddr {
    let app = Router::new().route(
        "/{*rest}",
        any(|uri: http::Uri, headers: http::HeaderMap| async move {
            let status = uri
                .path()
                .trim_start_matches('/')
                .parse::<u16>()
                .unwrap_or(200);
            let pairs: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            (
                http::StatusCode::from_u16(status).unwrap(),
                serde_json::to_string(&pairs).unwrap(),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn client(t: &TestTelemetry) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::builder().no_proxy().build().unwrap())
        .with(
            ClientTelemetry::new()
                .tracer(t.own_tracer("tracewire-reqwest"))
                .meter(&t.telemetry.meter("tracewire-reqwest")),
        )
        .build()
}

/// Sends GET with `incoming` as the current context's source; returns the
/// headers the server saw with the given names.
async fn sent_headers(
    t: &TestTelemetry,
    addr: SocketAddr,
    incoming: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut map = http::HeaderMap::new();
    for (k, v) in incoming {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let cx = tracewire::propagation::extract(&map);
    let http = client(t);
    let body = tracewire::otel::trace::FutureExt::with_context(
        async {
            http.get(format!("http://{addr}/200"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        },
        cx,
    )
    .await;
    let pairs: Vec<(String, String)> = serde_json::from_str(&body).unwrap();
    pairs
        .into_iter()
        .filter(|(k, _)| ["traceparent", "tracestate", "baggage"].contains(&k.as_str()))
        .collect()
}

fn one<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let all: Vec<&str> = headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(all.len() <= 1, "{name} sent {} times", all.len());
    all.first().copied()
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn client_span_follows_the_conventions() {
    let t = TestTelemetry::start();
    let addr = echo_server().await;
    let http = client(&t);
    let url = format!("http://user:pw@{addr}/200?q=1&X-Amz-Signature=abc");
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let span = t.span("GET");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.status, Status::Unset);
    // reqwest moves URL credentials into an Authorization header before any
    // middleware runs; neither reaches the span.
    assert_eq!(
        attribute(&span, "url.full").unwrap().to_string(),
        format!("http://{addr}/200?q=1&X-Amz-Signature=REDACTED")
    );
    assert!(!format!("{span:?}").contains("pw"), "{span:?}");
    assert_eq!(
        attribute(&span, "server.address").unwrap().to_string(),
        "127.0.0.1"
    );
    assert_eq!(
        attribute(&span, "server.port"),
        Some(Value::I64(i64::from(addr.port())))
    );
    assert_eq!(
        attribute(&span, "http.response.status_code"),
        Some(Value::I64(200))
    );
    assert_eq!(
        attribute(&span, "http.request.method").unwrap().to_string(),
        "GET"
    );
    assert!(
        attribute(&span, "http.request.resend_count").is_none(),
        "absent on the first attempt"
    );
}

#[tokio::test]
async fn four_and_five_hundreds_are_client_errors() {
    let t = TestTelemetry::start();
    let addr = echo_server().await;
    let http = client(&t);
    http.get(format!("http://{addr}/404")).send().await.unwrap();
    http.post(format!("http://{addr}/503"))
        .send()
        .await
        .unwrap();
    let get = t.span("GET");
    assert!(matches!(get.status, Status::Error { .. }));
    assert_eq!(attribute(&get, "error.type").unwrap().to_string(), "404");
    let post = t.span("POST");
    assert_eq!(attribute(&post, "error.type").unwrap().to_string(), "503");
    let text = t.metrics_text();
    assert!(
        text.lines().any(
            |l| l.starts_with("http_client_request_duration_seconds_count{")
                && l.contains("error_type=\"503\"")
        ),
        "{text}"
    );
}

#[tokio::test]
async fn transport_failures_and_cancellation() {
    let t = TestTelemetry::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let http = client(&t);
    assert!(http.get(format!("http://{dead}/")).send().await.is_err());
    let span = t.span("GET");
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(
        attribute(&span, "error.type").unwrap().to_string(),
        "connect"
    );

    // A caller that gives up: the span ends, with no error.
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_addr = slow.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let (_socket, _) = slow.accept().await.unwrap();
        std::future::pending::<()>().await;
    });
    let request = http.delete(format!("http://{slow_addr}/"));
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), request.send()).await;
    let cancelled = t.span("DELETE");
    assert_eq!(cancelled.status, Status::Unset);
    assert!(attribute(&cancelled, "error.type").is_none());
}

/// A retry middleware that tries twice, for resend counting.
struct TwoTries;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for TwoTries {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = req.try_clone().unwrap();
        let _ = next.clone().run(req, extensions).await?;
        next.run(again, extensions).await
    }
}

#[tokio::test]
async fn each_attempt_is_a_span_with_its_resend_count() {
    let t = TestTelemetry::start();
    let addr = echo_server().await;
    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TwoTries)
        .with(ClientTelemetry::new().tracer(t.own_tracer("tracewire-reqwest")))
        .build();
    http.get(format!("http://{addr}/200")).send().await.unwrap();
    let spans = t.spans();
    assert_eq!(spans.len(), 2);
    assert!(attribute(&spans[0], "http.request.resend_count").is_none());
    assert_eq!(
        attribute(&spans[1], "http.request.resend_count"),
        Some(Value::I64(1))
    );
}

#[tokio::test]
async fn context_is_injected_without_any_global_setup() {
    let t = TestTelemetry::start();
    let addr = echo_server().await;
    let sent = sent_headers(
        &t,
        addr,
        &[("traceparent", &format!("00-{TRACE}-00f067aa0ba902b7-01"))],
    )
    .await;
    let span = t.span("GET");
    assert_eq!(
        one(&sent, "traceparent"),
        Some(format!("00-{TRACE}-{}-01", span.span_context.span_id()).as_str())
    );
    assert_eq!(
        one(&sent, "tracestate"),
        None,
        "no empty tracestate is ever sent"
    );
}

#[tokio::test]
async fn the_bytes_that_leave_the_client_follow_the_spec() {
    let t = TestTelemetry::start();
    let addr = echo_server().await;
    let restarted = |sent: &[(String, String)]| {
        let tp = one(sent, "traceparent").unwrap().to_owned();
        assert!(tp.starts_with("00-") && tp.len() == 55, "{tp}");
        assert!(
            !tp.contains(TRACE) && !tp.contains("12345678901234567890123456789012"),
            "new trace expected: {tp}"
        );
        assert_eq!(one(sent, "tracestate"), None);
    };
    // Duplicated traceparent.
    restarted(
        &sent_headers(
            &t,
            addr,
            &[
                ("traceparent", &format!("00-{TRACE}-00f067aa0ba902b7-01")),
                ("traceparent", &format!("00-{TRACE}-00f067aa0ba902b8-01")),
                ("tracestate", "a=1"),
            ],
        )
        .await,
    );
    // Bad lengths, uppercase, version ff.
    restarted(
        &sent_headers(
            &t,
            addr,
            &[
                (
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                ),
                ("tracestate", "a=1"),
            ],
        )
        .await,
    );
    restarted(
        &sent_headers(
            &t,
            addr,
            &[(
                "traceparent",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            )],
        )
        .await,
    );
    restarted(
        &sent_headers(
            &t,
            addr,
            &[("traceparent", &format!("ff-{TRACE}-00f067aa0ba902b7-01"))],
        )
        .await,
    );
    // A future version is continued, and sent as 00.
    let sent = sent_headers(
        &t,
        addr,
        &[
            (
                "traceparent",
                &format!("cc-{TRACE}-00f067aa0ba902b7-01-future"),
            ),
            ("tracestate", "a=1"),
        ],
    )
    .await;
    let tp = one(&sent, "traceparent").unwrap();
    assert!(
        tp.starts_with(&format!("00-{TRACE}-")) && tp.ends_with("-01"),
        "{tp}"
    );
    assert_eq!(one(&sent, "tracestate"), Some("a=1"));
    // Empty tracestate: none sent. Several: combined.
    let sent = sent_headers(
        &t,
        addr,
        &[
            ("traceparent", &format!("00-{TRACE}-00f067aa0ba902b7-01")),
            ("tracestate", ""),
        ],
    )
    .await;
    assert_eq!(one(&sent, "tracestate"), None);
    let sent = sent_headers(
        &t,
        addr,
        &[
            ("traceparent", &format!("00-{TRACE}-00f067aa0ba902b7-01")),
            ("tracestate", "a=1"),
            ("tracestate", "b=2"),
        ],
    )
    .await;
    assert_eq!(one(&sent, "tracestate"), Some("a=1,b=2"));
    // Oversized tracestate: trimmed to at most 512 characters, whole members.
    let big: String = (0..30)
        .map(|i| format!("k{i:02}={}", "v".repeat(25)))
        .collect::<Vec<_>>()
        .join(",");
    let sent = sent_headers(
        &t,
        addr,
        &[
            ("traceparent", &format!("00-{TRACE}-00f067aa0ba902b7-01")),
            ("tracestate", &big),
        ],
    )
    .await;
    let state = one(&sent, "tracestate").unwrap();
    assert!(
        state.len() <= 512 && state.starts_with("k00="),
        "{}",
        state.len()
    );
    assert!(
        state.split(',').all(|m| m.len() == 29),
        "whole members only"
    );
    // The random flag is kept.
    let sent = sent_headers(
        &t,
        addr,
        &[("traceparent", &format!("00-{TRACE}-00f067aa0ba902b7-03"))],
    )
    .await;
    assert!(one(&sent, "traceparent").unwrap().ends_with("-03"));
    // Baggage with percent-encoded values arrives re-encoded, decodable to the same values.
    let sent = sent_headers(
        &t,
        addr,
        &[
            ("traceparent", &format!("00-{TRACE}-00f067aa0ba902b7-01")),
            ("baggage", "user=ada%20lovelace,role=a%2Cb;p=1"),
        ],
    )
    .await;
    let mut members: Vec<&str> = one(&sent, "baggage").unwrap().split(',').collect();
    members.sort();
    assert_eq!(members, ["role=a%2Cb;p=1", "user=ada%20lovelace"]);
}

/// The duration is recorded once per attempt under exactly its attributes —
/// each combination of method, host, port, status and error its own series
/// (they go through bound handles keyed by them), and the sampled attempt's
/// span its exemplar.
#[tokio::test]
async fn each_attribute_combination_is_its_own_duration_series() {
    let t = TestTelemetry::start();
    let addr = echo_server().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let http = client(&t);
    let port = addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/200"),
        format!("http://127.0.0.1:{port}/200"),
        format!("http://127.0.0.1:{port}/404"),
        format!("http://localhost:{port}/200"),
    ] {
        http.get(url).send().await.unwrap();
    }
    http.post(format!("http://127.0.0.1:{port}/200"))
        .send()
        .await
        .unwrap();
    assert!(http.get(format!("http://{dead}/")).send().await.is_err());

    let text = t.metrics_text();
    let mut series: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("http_client_request_duration_seconds_count{"))
        .map(|l| {
            let (labels, count) = l.split_once("} ").unwrap();
            let mut labels: Vec<&str> = labels
                .split(',')
                .filter(|kv| !kv.starts_with("otel_scope_"))
                .collect();
            labels.sort_unstable();
            (
                labels.join(","),
                count.split(' ').next().unwrap().to_owned(),
            )
        })
        .collect();
    series.sort();
    let ok = |method: &str, host: &str, p: u16, status: u16| {
        format!(
            "http_request_method=\"{method}\",http_response_status_code=\"{status}\",\
             network_protocol_version=\"1.1\",server_address=\"{host}\",server_port=\"{p}\""
        )
    };
    let mut expected = vec![
        (ok("GET", "127.0.0.1", port, 200), "2".to_owned()),
        (
            format!("error_type=\"404\",{}", ok("GET", "127.0.0.1", port, 404)),
            "1".to_owned(),
        ),
        (ok("GET", "localhost", port, 200), "1".to_owned()),
        (ok("POST", "127.0.0.1", port, 200), "1".to_owned()),
        (
            format!(
                "error_type=\"connect\",http_request_method=\"GET\",server_address=\"127.0.0.1\",server_port=\"{}\"",
                dead.port()
            ),
            "1".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(series, expected, "{text}");
    // The sampled attempts' spans are the exemplars of their buckets.
    t.assert_exemplars_link_to_spans("http_client_request_duration_seconds");
}
