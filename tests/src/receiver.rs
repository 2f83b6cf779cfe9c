//! In-process OTLP receivers that speak the real protocols (http/protobuf
//! and gRPC), each on its own thread and runtime so that a test blocking in
//! `shutdown()` never blocks the receiver.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
    logs_service_server::{LogsService, LogsServiceServer},
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    metrics_service_server::{MetricsService, MetricsServiceServer},
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message as _;

/// Everything a receiver got.
#[derive(Debug, Default)]
#[allow(missing_docs)]
pub struct Received {
    pub traces: Mutex<Vec<ExportTraceServiceRequest>>,
    pub metrics: Mutex<Vec<ExportMetricsServiceRequest>>,
    pub logs: Mutex<Vec<ExportLogsServiceRequest>>,
    pub requests: AtomicUsize,
    /// Trace requests, answered or not.
    pub trace_requests: AtomicUsize,
    /// The headers of every OTLP/HTTP trace request, as they arrived.
    pub trace_headers: Mutex<Vec<axum::http::HeaderMap>>,
    /// TLS handshakes the receiver refused (HTTPS receivers).
    pub tls_refused: AtomicUsize,
}

/// The request body, gunzipped when the request says it is gzip.
fn decoded_body(headers: &axum::http::HeaderMap, body: &[u8]) -> Vec<u8> {
    let gzip = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip");
    if !gzip {
        return body.to_vec();
    }
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut plain).unwrap();
    plain
}

impl Received {
    /// Every received span, in arrival order.
    pub fn spans(&self) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
        self.traces
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.resource_spans.iter())
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter())
            .cloned()
            .collect()
    }

    /// Names of every received span.
    pub fn span_names(&self) -> Vec<String> {
        self.spans().into_iter().map(|s| s.name).collect()
    }

    /// Number of received spans.
    pub fn span_count(&self) -> usize {
        self.span_names().len()
    }

    /// Names of every received metric.
    pub fn metric_names(&self) -> Vec<String> {
        self.metrics
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.resource_metrics.iter())
            .flat_map(|rm| rm.scope_metrics.iter())
            .flat_map(|sm| sm.metrics.iter())
            .map(|m| m.name.clone())
            .collect()
    }

    /// String bodies of every received log record.
    pub fn log_bodies(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.resource_logs.iter())
            .flat_map(|rl| rl.scope_logs.iter())
            .flat_map(|sl| sl.log_records.iter())
            .filter_map(|l| l.body.as_ref().and_then(string_of))
            .collect()
    }

    /// `service.name` of the first resource of each signal.
    pub fn service_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for r in self.traces.lock().unwrap().iter() {
            names.extend(
                r.resource_spans
                    .iter()
                    .filter_map(|rs| rs.resource.as_ref())
                    .filter_map(|res| attr(&res.attributes, "service.name")),
            );
        }
        for r in self.metrics.lock().unwrap().iter() {
            names.extend(
                r.resource_metrics
                    .iter()
                    .filter_map(|rs| rs.resource.as_ref())
                    .filter_map(|res| attr(&res.attributes, "service.name")),
            );
        }
        for r in self.logs.lock().unwrap().iter() {
            names.extend(
                r.resource_logs
                    .iter()
                    .filter_map(|rs| rs.resource.as_ref())
                    .filter_map(|res| attr(&res.attributes, "service.name")),
            );
        }
        names
    }
}

/// An id as lowercase hex, as it appears in `traceparent`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The string inside an OTLP value.
pub fn string_of(v: &AnyValue) -> Option<String> {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

/// A string attribute by key.
pub fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(string_of)
}

/// An integer attribute by key.
pub fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attrs.iter().find(|kv| kv.key == key)?.value.as_ref()?.value {
        Some(any_value::Value::IntValue(n)) => Some(n),
        _ => None,
    }
}

/// Runs `serve` on a fresh runtime in its own thread; returns once bound.
fn spawn_server<F, Fut>(serve: F) -> SocketAddr
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            serve(listener).await;
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

/// An OTLP/HTTP receiver answering every request with `status`.
pub fn http_receiver(status: u16) -> (SocketAddr, Arc<Received>) {
    flaky_http_receiver(usize::MAX, status)
}

/// An OTLP/HTTP receiver answering its first `failures` trace requests with
/// `status` (and `Retry-After: 0`), the rest with 200; other signals get `status`.
pub fn flaky_http_receiver(failures: usize, status: u16) -> (SocketAddr, Arc<Received>) {
    let received = Arc::new(Received::default());
    let state = Arc::clone(&received);
    let addr = spawn_server(move |listener| async move {
        axum::serve(listener, otlp_http_app(state, failures, status))
            .await
            .unwrap();
    });
    (addr, received)
}

/// The OTLP/HTTP routes of the receivers, recording into `state`.
fn otlp_http_app(state: Arc<Received>, failures: usize, status: u16) -> axum::Router {
    {
        use axum::body::Bytes;
        use axum::extract::State;
        use axum::http::StatusCode;
        use axum::routing::post;
        let code = StatusCode::from_u16(status).unwrap();
        axum::Router::new()
            .route(
                "/v1/traces",
                post(
                    move |State(r): State<Arc<Received>>,
                          headers: axum::http::HeaderMap,
                          body: Bytes| async move {
                        let failed = r.trace_requests.fetch_add(1, Ordering::SeqCst) < failures;
                        r.requests.fetch_add(1, Ordering::SeqCst);
                        let code = if failed { code } else { StatusCode::OK };
                        if code.is_success() {
                            let body = decoded_body(&headers, &body);
                            r.traces
                                .lock()
                                .unwrap()
                                .push(ExportTraceServiceRequest::decode(body.as_slice()).unwrap());
                        }
                        r.trace_headers.lock().unwrap().push(headers);
                        (code, [(axum::http::header::RETRY_AFTER, "0")])
                    },
                ),
            )
            .route(
                "/v1/metrics",
                post(
                    move |State(r): State<Arc<Received>>, body: Bytes| async move {
                        r.requests.fetch_add(1, Ordering::SeqCst);
                        if code.is_success() {
                            r.metrics
                                .lock()
                                .unwrap()
                                .push(ExportMetricsServiceRequest::decode(body).unwrap());
                        }
                        code
                    },
                ),
            )
            .route(
                "/v1/logs",
                post(
                    move |State(r): State<Arc<Received>>, body: Bytes| async move {
                        r.requests.fetch_add(1, Ordering::SeqCst);
                        if code.is_success() {
                            r.logs
                                .lock()
                                .unwrap()
                                .push(ExportLogsServiceRequest::decode(body).unwrap());
                        }
                        code
                    },
                ),
            )
            .with_state(state)
    }
}

/// An OTLP/HTTP receiver behind TLS (`config`): connections whose handshake
/// fails are counted in [`Received::tls_refused`] and dropped.
pub fn https_receiver(config: rustls::ServerConfig) -> (SocketAddr, Arc<Received>) {
    let received = Arc::new(Received::default());
    let state = Arc::clone(&received);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let addr = spawn_server(move |listener| async move {
        let listener = TlsListener {
            tcp: listener,
            acceptor,
            received: Arc::clone(&state),
        };
        axum::serve(listener, otlp_http_app(state, 0, 200))
            .await
            .unwrap();
    });
    (addr, received)
}

/// Accepts TCP connections and completes their TLS handshake.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    received: Arc<Received>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, peer)) = self.tcp.accept().await else {
                continue;
            };
            match self.acceptor.accept(stream).await {
                Ok(tls) => return (tls, peer),
                Err(_) => {
                    self.received.tls_refused.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An OTLP/gRPC receiver behind TLS.
pub fn grpcs_receiver(tls: tonic::transport::ServerTlsConfig) -> (SocketAddr, Arc<Received>) {
    let received = Arc::new(Received::default());
    let service = Grpc(Arc::clone(&received));
    let addr = spawn_server(move |listener| async move {
        tonic::transport::Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(TraceServiceServer::new(service.clone()))
            .add_service(MetricsServiceServer::new(service.clone()))
            .add_service(LogsServiceServer::new(service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    (addr, received)
}

#[derive(Clone)]
struct Grpc(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        self.0
            .trace_headers
            .lock()
            .unwrap()
            .push(request.metadata().clone().into_headers());
        self.0.traces.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        self.0.metrics.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        self.0.logs.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse {
            partial_success: None,
        }))
    }
}

/// An OTLP/gRPC receiver.
pub fn grpc_receiver() -> (SocketAddr, Arc<Received>) {
    let received = Arc::new(Received::default());
    let service = Grpc(Arc::clone(&received));
    let addr = spawn_server(move |listener| async move {
        tonic::transport::Server::builder()
            .add_service(
                TraceServiceServer::new(service.clone())
                    .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
            )
            .add_service(MetricsServiceServer::new(service.clone()))
            .add_service(LogsServiceServer::new(service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    (addr, received)
}

/// A configuration from a list of variables (the process environment is not read).
pub fn config(vars: &[(&str, String)]) -> tracewire::Config {
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    tracewire::Config::from_lookup(move |k| map.get(k).cloned())
}

/// A black-holed collector: it accepts connections, reads what is sent and
/// never answers. Returns its address and the number of connections accepted.
pub fn black_hole() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let addr = spawn_server(move |listener| async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut sink = [0u8; 4096];
                while let Ok(n) = tokio::io::AsyncReadExt::read(&mut socket, &mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    (addr, accepted)
}
