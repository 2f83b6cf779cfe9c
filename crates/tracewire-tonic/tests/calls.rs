//! Real tonic servers and clients over loopback, both sides instrumented:
//! the four call shapes, status from trailers and from trailers-only
//! responses, each side's error rule, deadlines and cancellation, unknown
//! methods, health checks left alone, and the duration metrics' labels.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};
use tracewire::otel::Value;
use tracewire::otel::trace::{SpanKind, Status as SpanStatus};
use tracewire::otel_sdk::trace::SpanData;
use tracewire::testing::{TestTelemetry, assert_child_of, attribute};
use tracewire_tonic::{ClientTelemetry, ClientTelemetryLayer, ServerTelemetryLayer};

#[allow(missing_docs, clippy::all, clippy::unwrap_used)]
mod proto {
    include!("proto/tracewire.test.rs");
}

use proto::echo_client::EchoClient;
use proto::echo_server::{Echo, EchoServer};
use proto::{EchoReply, EchoRequest};

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

/// Answers by the message: `missing…` NOT_FOUND, `fail…` INTERNAL,
/// `invalid…` INVALID_ARGUMENT, `slow…` after 500 ms; else an echo.
fn answer(message: &str) -> Result<EchoReply, Status> {
    if message.starts_with("missing") {
        Err(Status::not_found("no such thing"))
    } else if message.starts_with("fail") {
        Err(Status::internal("broken"))
    } else if message.starts_with("invalid") {
        Err(Status::invalid_argument("bad request"))
    } else {
        Ok(EchoReply {
            message: message.to_owned(),
        })
    }
}

struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let message = request.into_inner().message;
        tracing::info!(text = %message, "unary call");
        if message.starts_with("slow") {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        answer(&message).map(Response::new)
    }

    type ServerStreamStream = ReplyStream;

    /// `count` replies 50 ms apart; `fail` ends the stream with INTERNAL after them.
    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let EchoRequest { message, count } = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            for i in 0..count {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let reply = EchoReply {
                    message: format!("{message} {i}"),
                };
                if tx.send(Ok(reply)).await.is_err() {
                    return;
                }
            }
            if message == "fail" {
                let _ = tx.send(Err(Status::internal("stream broke"))).await;
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    /// The messages joined; INVALID_ARGUMENT when one is `invalid`.
    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut stream = request.into_inner();
        let mut all = Vec::new();
        while let Some(item) = stream.next().await {
            let item = item?;
            if item.message == "invalid" {
                return Err(Status::invalid_argument("invalid item"));
            }
            all.push(item.message);
        }
        Ok(Response::new(EchoReply {
            message: all.join(","),
        }))
    }

    type BidiStream = ReplyStream;

    /// Each request answered as it comes.
    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let stream = request.into_inner();
        Ok(Response::new(Box::pin(
            stream.map(|item| item.and_then(|r| answer(&r.message))),
        )))
    }
}

/// A server with the layer (on the test's tracer and meter) and tonic's
/// health service; its address.
async fn server(t: &TestTelemetry, layer: ServerTelemetryLayer) -> SocketAddr {
    let layer = layer
        .tracer(t.own_tracer("tracewire-tonic"))
        .meter(&t.telemetry.meter("tracewire-tonic"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(health)
            .add_service(EchoServer::new(EchoService))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr
}

fn traced_channel(
    t: &TestTelemetry,
    addr: SocketAddr,
) -> ClientTelemetry<tonic::transport::Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap();
    tower::ServiceBuilder::new()
        .layer(
            ClientTelemetryLayer::for_endpoint(&endpoint)
                .tracer(t.own_tracer("tracewire-tonic"))
                .meter(&t.telemetry.meter("tracewire-tonic")),
        )
        .service(endpoint.connect_lazy())
}

async fn setup() -> (
    TestTelemetry,
    SocketAddr,
    EchoClient<ClientTelemetry<tonic::transport::Channel>>,
) {
    let t = TestTelemetry::start();
    let addr = server(&t, ServerTelemetryLayer::new()).await;
    let client = EchoClient::new(traced_channel(&t, addr));
    (t, addr, client)
}

/// The finished span of `kind` called `name`, waited for (a server span can
/// end after the client has its answer: when the server sees the reset).
async fn span(t: &TestTelemetry, name: &str, kind: SpanKind) -> SpanData {
    for _ in 0..250 {
        if let Some(span) = t
            .spans()
            .into_iter()
            .find(|s| s.name == name && s.span_kind == kind)
        {
            return span;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let names: Vec<_> = t
        .spans()
        .iter()
        .map(|s| (s.name.to_string(), s.span_kind.clone()))
        .collect();
    panic!("no {kind:?} span {name:?}; spans: {names:?}");
}

fn text(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|v| v.as_str().into_owned())
}

fn int(span: &SpanData, key: &str) -> Option<i64> {
    match attribute(span, key) {
        Some(Value::I64(n)) => Some(n),
        _ => None,
    }
}

fn assert_status(span: &SpanData, code: &str, error: bool) {
    assert_eq!(
        text(span, "rpc.response.status_code").as_deref(),
        Some(code),
        "{} {:?}",
        span.name,
        span.span_kind
    );
    if error {
        assert_eq!(
            text(span, "error.type").as_deref(),
            Some(code),
            "{}",
            span.name
        );
        assert!(
            matches!(span.status, SpanStatus::Error { .. }),
            "{}: {:?}",
            span.name,
            span.status
        );
    } else {
        assert_eq!(text(span, "error.type"), None, "{}", span.name);
        assert_eq!(span.status, SpanStatus::Unset, "{}", span.name);
    }
}

#[tokio::test]
async fn a_unary_call_is_a_client_span_and_a_server_span_under_it() {
    let (t, addr, mut client) = setup().await;
    let reply = client
        .unary(EchoRequest {
            message: "hello".into(),
            count: 0,
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().message, "hello");

    let method = "tracewire.test.Echo/Unary";
    let c = span(&t, method, SpanKind::Client).await;
    let s = span(&t, method, SpanKind::Server).await;
    assert_child_of(&s, &c);
    assert!(s.parent_span_is_remote);
    for span in [&c, &s] {
        assert_eq!(text(span, "rpc.system.name").as_deref(), Some("grpc"));
        assert_eq!(text(span, "rpc.method").as_deref(), Some(method));
        assert_eq!(text(span, "rpc.method_original"), None);
        assert_eq!(text(span, "server.address").as_deref(), Some("127.0.0.1"));
        assert_eq!(int(span, "server.port"), Some(i64::from(addr.port())));
        assert_status(span, "OK", false);
    }
    assert_eq!(
        text(&s, "network.peer.address").as_deref(),
        Some("127.0.0.1")
    );
    assert!(int(&s, "network.peer.port").is_some_and(|p| p > 0 && p != i64::from(addr.port())));
    assert_eq!(text(&c, "network.peer.address"), None);

    // The handler ran in the server span's context: its log line carries it.
    let line = t
        .log_lines()
        .into_iter()
        .find(|l| l["message"] == "unary call")
        .unwrap();
    assert_eq!(line["trace_id"], s.span_context.trace_id().to_string());
    assert_eq!(line["span_id"], s.span_context.span_id().to_string());
}

#[tokio::test]
async fn the_client_span_continues_the_callers_trace() {
    let (t, _addr, mut client) = setup().await;
    let mut incoming = http::HeaderMap::new();
    incoming.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    let cx = tracewire::propagation::extract(&incoming);
    tracewire::otel::trace::FutureExt::with_context(
        client.unary(EchoRequest {
            message: "hi".into(),
            count: 0,
        }),
        cx,
    )
    .await
    .unwrap();
    let c = span(&t, "tracewire.test.Echo/Unary", SpanKind::Client).await;
    let s = span(&t, "tracewire.test.Echo/Unary", SpanKind::Server).await;
    assert_eq!(
        c.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(c.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert_child_of(&s, &c);
}

#[tokio::test]
async fn error_codes_follow_each_sides_rule() {
    let (t, _addr, mut client) = setup().await;
    // NOT_FOUND (trailers-only, from the handler): a client error, not a server one.
    let e = client
        .unary(EchoRequest {
            message: "missing".into(),
            count: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let c = span(&t, "tracewire.test.Echo/Unary", SpanKind::Client).await;
    let s = span(&t, "tracewire.test.Echo/Unary", SpanKind::Server).await;
    assert_status(&c, "NOT_FOUND", true);
    assert_status(&s, "NOT_FOUND", false);
    assert_eq!(
        c.status,
        SpanStatus::error("no such thing"),
        "the grpc-message is the client span's status description"
    );

    // INTERNAL: an error on both sides.
    let t2 = TestTelemetry::start();
    let addr = server(&t2, ServerTelemetryLayer::new()).await;
    let mut client = EchoClient::new(traced_channel(&t2, addr));
    let e = client
        .unary(EchoRequest {
            message: "fail".into(),
            count: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Internal);
    assert_status(
        &span(&t2, "tracewire.test.Echo/Unary", SpanKind::Client).await,
        "INTERNAL",
        true,
    );
    let s = span(&t2, "tracewire.test.Echo/Unary", SpanKind::Server).await;
    assert_status(&s, "INTERNAL", true);
    assert_eq!(s.status, SpanStatus::error("broken"));
}

#[tokio::test]
async fn a_server_stream_ends_with_its_last_message_and_its_trailers() {
    let (t, _addr, mut client) = setup().await;
    let mut stream = client
        .server_stream(EchoRequest {
            message: "tick".into(),
            count: 3,
        })
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(item) = stream.next().await {
        got.push(item.unwrap().message);
    }
    assert_eq!(got, ["tick 0", "tick 1", "tick 2"]);
    let method = "tracewire.test.Echo/ServerStream";
    let s = span(&t, method, SpanKind::Server).await;
    let c = span(&t, method, SpanKind::Client).await;
    assert_child_of(&s, &c);
    assert_status(&s, "OK", false);
    assert_status(&c, "OK", false);
    // The three replies come 50 ms apart after the response head: a span
    // that ended with the head would be a few milliseconds long.
    for span in [&s, &c] {
        let took = span.end_time.duration_since(span.start_time).unwrap();
        assert!(
            took >= Duration::from_millis(140),
            "{} {:?}: {took:?}",
            span.name,
            span.span_kind
        );
    }

    // A stream that fails after its messages: the status is in the trailers.
    let mut stream = client
        .server_stream(EchoRequest {
            message: "fail".into(),
            count: 2,
        })
        .await
        .unwrap()
        .into_inner();
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    assert_eq!(last.unwrap().unwrap_err().code(), tonic::Code::Internal);
    let failed: Vec<SpanData> = t
        .spans()
        .into_iter()
        .filter(|s| {
            s.name == method && text(s, "rpc.response.status_code").as_deref() == Some("INTERNAL")
        })
        .collect();
    assert_eq!(failed.len(), 2, "both sides saw the trailers' INTERNAL");
    for span in &failed {
        assert_status(span, "INTERNAL", true);
    }
}

#[tokio::test]
async fn client_streams_and_bidi_streams() {
    let (t, _addr, mut client) = setup().await;
    let requests = ["a", "b", "c"].map(|m| EchoRequest {
        message: m.into(),
        count: 0,
    });
    let reply = client
        .client_stream(tokio_stream::iter(requests.clone()))
        .await
        .unwrap();
    assert_eq!(reply.into_inner().message, "a,b,c");
    let method = "tracewire.test.Echo/ClientStream";
    let s = span(&t, method, SpanKind::Server).await;
    assert_child_of(&s, &span(&t, method, SpanKind::Client).await);
    assert_status(&s, "OK", false);

    // INVALID_ARGUMENT: the caller's fault — an error for the client only.
    let bad = [EchoRequest {
        message: "invalid".into(),
        count: 0,
    }];
    let e = client
        .client_stream(tokio_stream::iter(bad))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    let by_code = |kind: SpanKind| {
        t.spans()
            .into_iter()
            .find(|s| {
                s.name == method
                    && s.span_kind == kind
                    && text(s, "rpc.response.status_code").as_deref() == Some("INVALID_ARGUMENT")
            })
            .unwrap()
    };
    assert_status(&by_code(SpanKind::Server), "INVALID_ARGUMENT", false);
    assert_status(&by_code(SpanKind::Client), "INVALID_ARGUMENT", true);

    let mut replies = client
        .bidi(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(item) = replies.next().await {
        got.push(item.unwrap().message);
    }
    assert_eq!(got, ["a", "b", "c"]);
    let method = "tracewire.test.Echo/Bidi";
    let s = span(&t, method, SpanKind::Server).await;
    let c = span(&t, method, SpanKind::Client).await;
    assert_child_of(&s, &c);
    assert_status(&s, "OK", false);
    assert_status(&c, "OK", false);
}

/// Calls `path` with an empty request through a traced channel.
async fn call_path(
    channel: ClientTelemetry<tonic::transport::Channel>,
    path: &'static str,
) -> Result<EchoReply, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(Status::from_error)?;
    let codec = tonic_prost::ProstCodec::<EchoRequest, EchoReply>::default();
    grpc.unary(
        Request::new(EchoRequest::default()),
        http::uri::PathAndQuery::from_static(path),
        codec,
    )
    .await
    .map(Response::into_inner)
}

#[tokio::test]
async fn a_method_the_server_does_not_have_is_other() {
    let (t, addr, _client) = setup().await;
    let e = call_path(traced_channel(&t, addr), "/tracewire.test.Echo/Nope")
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unimplemented);
    let s = span(&t, "grpc", SpanKind::Server).await;
    assert_eq!(text(&s, "rpc.method").as_deref(), Some("_OTHER"));
    assert_eq!(
        text(&s, "rpc.method_original").as_deref(),
        Some("tracewire.test.Echo/Nope")
    );
    assert_status(&s, "UNIMPLEMENTED", true);
    // The client called the method its stub names.
    let c = span(&t, "tracewire.test.Echo/Nope", SpanKind::Client).await;
    assert_status(&c, "UNIMPLEMENTED", true);
    let metrics = t.metrics_text();
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("rpc_server") && l.contains("Nope")),
        "an unknown method is no metric series:\n{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rpc_server_call_duration_seconds_count{")
                && l.contains(r#"rpc_method="_OTHER""#)
                && l.contains(r#"rpc_response_status_code="UNIMPLEMENTED""#))
    );

    // Not a method at all: `_OTHER` from the start.
    let e = call_path(traced_channel(&t, addr), "/no-slash-here")
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unimplemented);
    let others: Vec<_> = t.spans().into_iter().filter(|s| s.name == "grpc").collect();
    assert!(
        others
            .iter()
            .any(|s| text(s, "rpc.method_original").as_deref() == Some("no-slash-here"))
    );

    // With a configured list, an unlisted method is `_OTHER` at once, and a
    // listed one keeps its name even when it answers UNIMPLEMENTED.
    let t = TestTelemetry::start();
    let addr = server(
        &t,
        ServerTelemetryLayer::new()
            .recognized_methods(["tracewire.test.Echo/Unary", "tracewire.test.Echo/Gone"]),
    )
    .await;
    let mut client = EchoClient::new(traced_channel(&t, addr));
    client
        .unary(EchoRequest {
            message: "x".into(),
            count: 0,
        })
        .await
        .unwrap();
    let _ = client
        .server_stream(EchoRequest {
            message: "x".into(),
            count: 0,
        })
        .await
        .unwrap();
    let _ = call_path(traced_channel(&t, addr), "/tracewire.test.Echo/Gone").await;
    assert_status(
        &span(&t, "tracewire.test.Echo/Unary", SpanKind::Server).await,
        "OK",
        false,
    );
    let gone = span(&t, "tracewire.test.Echo/Gone", SpanKind::Server).await;
    assert_eq!(
        text(&gone, "rpc.method").as_deref(),
        Some("tracewire.test.Echo/Gone")
    );
    let unlisted = span(&t, "grpc", SpanKind::Server).await;
    assert_eq!(
        text(&unlisted, "rpc.method_original").as_deref(),
        Some("tracewire.test.Echo/ServerStream")
    );
}

#[tokio::test]
async fn health_checks_are_neither_traced_nor_measured() {
    let (t, addr, mut client) = setup().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(traced_channel(&t, addr));
    let answer = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(answer.into_inner().status, 1, "SERVING");
    client
        .unary(EchoRequest {
            message: "after".into(),
            count: 0,
        })
        .await
        .unwrap();
    span(&t, "tracewire.test.Echo/Unary", SpanKind::Server).await;
    let names: Vec<String> = t.spans().iter().map(|s| s.name.to_string()).collect();
    assert!(names.iter().all(|n| !n.contains("Health")), "{names:?}");
    let metrics = t.metrics_text();
    assert!(!metrics.contains("grpc.health"), "{metrics}");

    // Opted in, they are.
    let t = TestTelemetry::start();
    let addr = server(&t, ServerTelemetryLayer::new().exclude_no_service()).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(traced_channel(&t, addr));
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    let s = span(&t, "grpc.health.v1.Health/Check", SpanKind::Server).await;
    assert_status(&s, "OK", false);
}

#[tokio::test]
async fn durations_are_recorded_with_the_conventions_labels() {
    let (t, addr, mut client) = setup().await;
    client
        .unary(EchoRequest {
            message: "a".into(),
            count: 0,
        })
        .await
        .unwrap();
    client
        .unary(EchoRequest {
            message: "b".into(),
            count: 0,
        })
        .await
        .unwrap();
    let _ = client
        .unary(EchoRequest {
            message: "fail".into(),
            count: 0,
        })
        .await;
    let metrics = t.metrics_text();
    let port = addr.port();
    let count = |side: &str, code: &str, error: Option<&str>| -> Option<String> {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(&format!("rpc_{side}_call_duration_seconds_count{{"))
                    && l.contains(r#"rpc_method="tracewire.test.Echo/Unary""#)
                    && l.contains(r#"rpc_system_name="grpc""#)
                    && l.contains(&format!(r#"rpc_response_status_code="{code}""#))
                    && l.contains(r#"server_address="127.0.0.1""#)
                    && l.contains(&format!(r#"server_port="{port}""#))
                    && match error {
                        Some(e) => l.contains(&format!(r#"error_type="{e}""#)),
                        None => !l.contains("error_type"),
                    }
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    };
    for side in ["server", "client"] {
        assert_eq!(
            count(side, "OK", None).as_deref(),
            Some("2"),
            "{side}:\n{metrics}"
        );
        assert_eq!(
            count(side, "INTERNAL", Some("INTERNAL")).as_deref(),
            Some("1"),
            "{side}:\n{metrics}"
        );
    }
    // A sampled call is its bucket's exemplar, on both sides (the latest
    // call of each bucket and label set).
    let traces: Vec<String> = t
        .spans()
        .iter()
        .filter(|s| s.name == "tracewire.test.Echo/Unary")
        .map(|s| format!("trace_id=\"{}\"", s.span_context.trace_id()))
        .collect();
    for side in ["server", "client"] {
        assert!(
            metrics.lines().any(|l| {
                l.starts_with(&format!("rpc_{side}_call_duration_seconds_bucket"))
                    && traces.iter().any(|t| l.contains(t.as_str()))
            }),
            "{side}: no exemplar of {traces:?}:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("# UNIT rpc_server_call_duration_seconds seconds"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_call_past_its_deadline_is_deadline_exceeded_on_the_client() {
    let (t, _addr, mut client) = setup().await;
    let mut request = Request::new(EchoRequest {
        message: "slow".into(),
        count: 0,
    });
    request.set_timeout(Duration::from_millis(100));
    let e = client.unary(request).await.unwrap_err();
    // tonic's own client gives up with CANCELLED "Timeout expired".
    assert_eq!(e.code(), tonic::Code::Cancelled, "{e:?}");
    let c = span(&t, "tracewire.test.Echo/Unary", SpanKind::Client).await;
    assert_status(&c, "DEADLINE_EXCEEDED", true);
    // The server sees the client's reset, a moment before or after its own
    // copy of the deadline passes.
    let s = span(&t, "tracewire.test.Echo/Unary", SpanKind::Server).await;
    let code = text(&s, "rpc.response.status_code").unwrap();
    assert!(
        ["CANCELLED", "DEADLINE_EXCEEDED"].contains(&code.as_str()),
        "{code}"
    );
}

/// One raw HTTP/2 gRPC call of `Echo/Unary` with `message` and the header
/// `grpc-timeout`, from a client that does not enforce the deadline itself;
/// the response's `grpc-status` header.
async fn raw_call_with_deadline(addr: SocketAddr, message: &str, timeout: &str) -> Option<String> {
    use http_body_util::BodyExt as _;
    use prost::Message as _;
    let io = hyper_util::rt::TokioIo::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .unwrap();
    tokio::spawn(connection);
    let payload = EchoRequest {
        message: message.into(),
        count: 0,
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&payload);
    let request = http::Request::post(format!("http://{addr}/tracewire.test.Echo/Unary"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .body(http_body_util::Full::new(bytes::Bytes::from(frame)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let head = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let trailers = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .trailers()
        .cloned();
    head.or_else(|| {
        trailers?
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_owned())
    })
}

#[tokio::test]
async fn a_call_the_server_ends_at_its_deadline_is_deadline_exceeded() {
    let (t, addr, _client) = setup().await;
    // tonic's server enforces the deadline (it answers CANCELLED).
    assert_eq!(
        raw_call_with_deadline(addr, "slow", "100m")
            .await
            .as_deref(),
        Some("1")
    );
    let s = span(&t, "tracewire.test.Echo/Unary", SpanKind::Server).await;
    assert_status(&s, "DEADLINE_EXCEEDED", true);
    let took = s.end_time.duration_since(s.start_time).unwrap();
    assert!(
        took < Duration::from_millis(450),
        "ended at the deadline: {took:?}"
    );

    // A deadline the call meets changes nothing; a malformed one is none.
    assert_eq!(
        raw_call_with_deadline(addr, "quick", "5S").await.as_deref(),
        Some("0")
    );
    assert_eq!(
        raw_call_with_deadline(addr, "quick", "soon")
            .await
            .as_deref(),
        Some("0")
    );
    let ok = t
        .spans()
        .into_iter()
        .filter(|s| {
            s.span_kind == SpanKind::Server
                && text(s, "rpc.response.status_code").as_deref() == Some("OK")
        })
        .count();
    assert_eq!(ok, 2);
}

#[tokio::test]
async fn a_call_the_caller_drops_is_cancelled() {
    let (t, _addr, mut client) = setup().await;
    let call = client.unary(EchoRequest {
        message: "slow".into(),
        count: 0,
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(100), call)
            .await
            .is_err()
    );
    let c = span(&t, "tracewire.test.Echo/Unary", SpanKind::Client).await;
    assert_status(&c, "CANCELLED", true);
    // The server sees the stream reset: CANCELLED is not a server error.
    let s = span(&t, "tracewire.test.Echo/Unary", SpanKind::Server).await;
    assert_status(&s, "CANCELLED", false);
}

#[tokio::test]
async fn a_server_that_is_not_there_is_unavailable() {
    let t = TestTelemetry::start();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut client = EchoClient::new(traced_channel(&t, closed));
    let e = client.unary(EchoRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    let c = span(&t, "tracewire.test.Echo/Unary", SpanKind::Client).await;
    assert_status(&c, "UNAVAILABLE", true);
    assert_eq!(int(&c, "server.port"), Some(i64::from(closed.port())));
}
