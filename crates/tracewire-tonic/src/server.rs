//! [`ServerTelemetryLayer`]: a SERVER span and `rpc.server.call.duration`
//! per call of a tonic server (or any tower service that speaks gRPC).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use tracewire::instrumentation as tw;
use tracewire::otel::StringValue;
use tracewire::propagation::HeaderExtractor;

use crate::body::{CallBody, respond};
use crate::call::{Call, CallDuration, End, Side, Start, default_excluded, is_excluded};
use crate::method::{Recognized, method_of_path};

const SCOPE: &str = "tracewire-tonic";

#[derive(Debug)]
struct Settings {
    tracer: Option<tracewire::instrumentation::Tracer>,
    duration: Arc<CallDuration>,
    recognized: Arc<Recognized>,
    excluded: Vec<String>,
    addresses: tracewire::instrumentation::AddressText,
}

/// The server layer: add it to `tonic::transport::Server::builder()` (or use
/// [`server`](crate::server)).
///
/// Per call: a SERVER span named `{rpc.method}` under the context extracted
/// from the request metadata (`traceparent`, `tracestate`, `baggage`, with
/// tracewire's propagators), `rpc.system.name`, `rpc.method`,
/// `rpc.response.status_code` from the trailers (or the headers of a
/// trailers-only response), `server.address`/`.port`, `network.peer.*`;
/// status Error and `error.type` for `UNKNOWN`, `DEADLINE_EXCEEDED`,
/// `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE` and `DATA_LOSS`. A streaming
/// call ends when its response stream does.
#[derive(Debug, Clone)]
pub struct ServerTelemetryLayer {
    settings: Arc<Settings>,
}

impl Default for ServerTelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerTelemetryLayer {
    /// Spans on the tracer `tracewire::init` installed (without one, context
    /// still propagates), metrics on the global meter provider; calls to
    /// [`DEFAULT_EXCLUDED_SERVICES`](crate::DEFAULT_EXCLUDED_SERVICES) left alone; a method is known unless the
    /// server answers it `UNIMPLEMENTED` (see
    /// [`recognized_methods`](Self::recognized_methods)).
    pub fn new() -> Self {
        Self {
            settings: Arc::new(Settings {
                tracer: tracewire::instrumentation::Tracer::installed(SCOPE),
                duration: CallDuration::of(Side::Server, &tw::global_meter(SCOPE)),
                recognized: Arc::new(Recognized::answered()),
                excluded: default_excluded(),
                addresses: tracewire::instrumentation::AddressText::default(),
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Settings)) -> Self {
        let s = &self.settings;
        let mut settings = Settings {
            tracer: s.tracer.clone(),
            duration: s.duration.clone(),
            recognized: s.recognized.clone(),
            excluded: s.excluded.clone(),
            addresses: tracewire::instrumentation::AddressText::default(),
        };
        change(&mut settings);
        Self {
            settings: Arc::new(settings),
        }
    }

    /// Uses this tracer.
    pub fn tracer(self, tracer: impl Into<tracewire::instrumentation::Tracer>) -> Self {
        let tracer = tracer.into();
        self.with(|s| s.tracer = Some(tracer))
    }

    /// Records `rpc.server.call.duration` on this meter.
    pub fn meter(self, meter: &tracewire::otel::metrics::Meter) -> Self {
        let duration = CallDuration::of(Side::Server, meter);
        self.with(|s| s.duration = duration)
    }

    /// The methods this server has (`package.Service/Method`); calls to any
    /// other are `_OTHER` with `rpc.method_original`, decided when the call
    /// starts. Without a list, a method is known unless the server answers
    /// `UNIMPLEMENTED` — which is what tonic answers for a method no service
    /// has, and also what a handler may answer on purpose: list the methods
    /// when one does.
    pub fn recognized_methods<I: IntoIterator<Item = S>, S: AsRef<str>>(self, methods: I) -> Self {
        let recognized = Arc::new(Recognized::listed(methods));
        self.with(|s| s.recognized = recognized)
    }

    /// Leaves calls to `service` (`package.Service`) untraced and unmeasured.
    pub fn exclude_service(self, service: impl Into<String>) -> Self {
        let service = service.into();
        self.with(|s| s.excluded.push(service))
    }

    /// Traces and measures every service, health checks included.
    pub fn exclude_no_service(self) -> Self {
        self.with(|s| s.excluded.clear())
    }
}

impl<S> tower::Layer<S> for ServerTelemetryLayer {
    type Service = ServerTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerTelemetry {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The service [`ServerTelemetryLayer`] makes.
#[derive(Debug, Clone)]
pub struct ServerTelemetry<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for ServerTelemetry<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<CallBody<ResBody>>;
    type Error = S::Error;
    type Future = ServerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let settings = &self.settings;
        let path = request.uri().path();
        let method = method_of_path(path);
        if is_excluded(&settings.excluded, method) {
            return ServerFuture {
                inner: self.inner.call(request),
                call: None,
            };
        }
        let parent = tw::extract_from(&HeaderExtractor(request.headers()));
        let (local, peer) = connection(&request);
        // The local address's text is shared by every call (its string's
        // address keys the metric's bound handle); an `:authority` is the
        // request's own.
        let server_shared = local.is_some();
        let server = local
            .map(|local| (settings.addresses.of(local.ip()), Some(local.port())))
            .or_else(|| {
                let authority = request.uri().authority()?;
                let (host, port) = tracewire::http::split_host(authority.as_str());
                Some((StringValue::from(host.to_owned()), port))
            });
        let call = Call::start(Start {
            tracer: settings.tracer.as_ref(),
            side: Side::Server,
            parent: &parent,
            method: settings.recognized.at_start(method),
            path,
            server,
            server_shared,
            peer: peer.map(|peer| (settings.addresses.of(peer.ip()), peer.port())),
            deadline: crate::code::timeout_in(request.headers())
                .and_then(|timeout| Instant::now().checked_add(timeout)),
            recognized: Some(settings.recognized.clone()),
            duration: &settings.duration,
        });
        let inner = {
            let _current = call.context().clone().attach();
            self.inner.call(request)
        };
        ServerFuture {
            inner,
            call: Some(call),
        }
    }
}

/// The connection's local and peer addresses, when the server put them in
/// the request (tonic's `TcpConnectInfo`).
fn connection<B>(
    request: &http::Request<B>,
) -> (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>) {
    #[cfg(feature = "transport")]
    if let Some(info) = request
        .extensions()
        .get::<tonic::transport::server::TcpConnectInfo>()
    {
        return (info.local_addr(), info.remote_addr());
    }
    let _ = request;
    (None, None)
}

pin_project_lite::pin_project! {
    /// The future of [`ServerTelemetry`].
    pub struct ServerFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F> std::fmt::Debug for ServerFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerFuture").finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ServerFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = Result<http::Response<CallBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            // The handler (its logs, spans and outgoing calls) runs in the
            // call's context.
            let _current = this
                .call
                .as_ref()
                .map(|call| call.context().clone().attach());
            match this.inner.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            }
        };
        Poll::Ready(match (result, this.call.take()) {
            (Ok(response), Some(call)) => Ok(respond(call, response)),
            (Ok(response), None) => Ok(response.map(|body| CallBody::new(body, None))),
            (Err(error), call) => {
                if let Some(mut call) = call {
                    call.end(End::Failed("_OTHER"));
                }
                Err(error)
            }
        })
    }
}
