//! [`ClientTelemetry`]: the middleware.

use std::borrow::Cow;
use std::sync::Arc;

use smallvec::SmallVec;
use tracewire::http::{
    ClientInstruments, HeaderCapture, KnownMethod, attr, client_status_is_error, protocol_version,
    protocol_version_key, redact_url, status_error_type,
};
use tracewire::instrumentation::{Operation, RecentValue};
use tracewire::metrics::BoundHistograms;
use tracewire::otel::trace::{FutureExt as _, SpanKind};
use tracewire::otel::{Context, KeyValue, StringValue};
use tracewire::propagation::HeaderInjector;

const SCOPE: &str = "tracewire-reqwest";

/// Attempts seen so far for one logical request (lives in the request's
/// extensions, which a retry middleware reuses across attempts).
#[derive(Debug, Clone, Copy)]
struct Attempts(u32);

/// Everything that decides an attempt's duration attributes: the duration
/// is recorded through one bound handle per combination (bounded by
/// `BoundHistograms`), not by hashing its attributes every time.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DurationKey {
    /// `server.address`, by content (the client's shared copy).
    host: Arc<str>,
    port: Option<u16>,
    method: u8,
    status: u16,
    version: u8,
    /// A transport error's class (a status's is given by the status).
    error: Option<&'static str>,
}

/// The middleware; see the crate docs.
#[derive(Clone)]
pub struct ClientTelemetry {
    tracer: Option<tracewire::instrumentation::Tracer>,
    instruments: ClientInstruments,
    request_headers: HeaderCapture,
    response_headers: HeaderCapture,
    /// The host this client calls most, shared by its requests' attributes.
    hosts: Arc<RecentValue>,
    /// Bound handles of `instruments.duration`.
    durations: Arc<BoundHistograms<DurationKey>>,
}

impl std::fmt::Debug for ClientTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTelemetry")
            .field("tracing", &self.tracer.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ClientTelemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientTelemetry {
    /// Spans on the tracer installed by `tracewire::init` (without it, context
    /// is still propagated), metrics on the global meter provider, the headers
    /// named by `OTEL_INSTRUMENTATION_HTTP_CLIENT_CAPTURE_REQUEST_HEADERS` /
    /// `…_RESPONSE_HEADERS` captured.
    pub fn new() -> Self {
        Self {
            tracer: tracewire::instrumentation::Tracer::installed(SCOPE),
            instruments: ClientInstruments::new(&tracewire::otel::global::meter(SCOPE)),
            request_headers: HeaderCapture::from_env(
                "http.request.header",
                tracewire::http::env::CLIENT_REQUEST_HEADERS,
                |v| std::env::var(v).ok(),
            ),
            response_headers: HeaderCapture::from_env(
                "http.response.header",
                tracewire::http::env::CLIENT_RESPONSE_HEADERS,
                |v| std::env::var(v).ok(),
            ),
            hosts: Default::default(),
            durations: Default::default(),
        }
    }

    /// Uses this tracer.
    pub fn tracer(mut self, tracer: impl Into<tracewire::instrumentation::Tracer>) -> Self {
        self.tracer = Some(tracer.into());
        self
    }

    /// Records metrics on this meter.
    pub fn meter(mut self, meter: &tracewire::otel::metrics::Meter) -> Self {
        self.instruments = ClientInstruments::new(meter);
        self.durations = Default::default();
        self
    }

    /// Records these request headers (never credentials).
    pub fn capture_request_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(
        mut self,
        names: I,
    ) -> Self {
        self.request_headers = HeaderCapture::new("http.request.header", names);
        self
    }

    /// Records these response headers (never credentials).
    pub fn capture_response_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(
        mut self,
        names: I,
    ) -> Self {
        self.response_headers = HeaderCapture::new("http.response.header", names);
        self
    }
}

/// A class for a transport error.
fn error_type(error: &reqwest_middleware::Error) -> &'static str {
    match error {
        reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => "timeout",
        reqwest_middleware::Error::Reqwest(e) if e.is_connect() => "connect",
        reqwest_middleware::Error::Reqwest(e) if e.is_redirect() => "redirect",
        reqwest_middleware::Error::Reqwest(e) if e.is_body() => "body",
        reqwest_middleware::Error::Reqwest(e) if e.is_decode() => "decode",
        reqwest_middleware::Error::Reqwest(e) if e.is_request() => "request",
        reqwest_middleware::Error::Middleware(_) => "middleware",
        _ => "_OTHER",
    }
}

/// One attempt's telemetry: the shared life-cycle, with the duration
/// recorded even when the caller gives up (dropped unfinished: the span ends
/// with no error, the duration is recorded without a status).
struct Attempt<'a> {
    telemetry: &'a ClientTelemetry,
    op: Operation<SmallVec<[KeyValue; 8]>>,
    host: Arc<str>,
    port: Option<u16>,
    method: KnownMethod,
}

impl Attempt<'_> {
    fn finish(
        &mut self,
        status: Option<u16>,
        version: Option<http::Version>,
        error: Option<Cow<'static, str>>,
    ) {
        let version_key = version.map_or(0, protocol_version_key);
        let version = version.and_then(protocol_version);
        if let Some(status) = status {
            self.op.add_attribute(KeyValue::new(
                attr::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status),
            ));
        }
        if let Some(version) = version {
            self.op
                .add_attribute(KeyValue::new(attr::NETWORK_PROTOCOL_VERSION, version));
        }
        let key = match &error {
            None => Some(None),
            // A status's error type follows from the status.
            Some(_) if status.is_some() => Some(None),
            Some(Cow::Borrowed(class)) => Some(Some(*class)),
            Some(Cow::Owned(_)) => None,
        }
        .map(|error| DurationKey {
            host: Arc::clone(&self.host),
            port: self.port,
            method: self.method.index() as u8,
            status: status.unwrap_or(0),
            version: version_key,
            error,
        });
        if let Some(e) = error {
            self.op.fail(tracewire::http::string_value(e), "");
        }
        self.op.finish_bound(
            &self.telemetry.instruments.duration,
            &self.telemetry.durations,
            key,
        );
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.op.is_finished() {
            self.finish(None, None, None);
        }
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for ClientTelemetry {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let resends = match extensions.get::<Attempts>() {
            Some(Attempts(n)) => *n,
            None => 0,
        };
        extensions.insert(Attempts(resends + 1));

        let method = KnownMethod::of_http(req.method());
        let url = req.url();
        let host = self.hosts.shared(url.host_str().unwrap_or(""));
        let port = url.port_or_known_default();
        let mut metric_attributes: SmallVec<[KeyValue; 8]> = SmallVec::new();
        metric_attributes.push(KeyValue::new(attr::HTTP_REQUEST_METHOD, method.as_str()));
        metric_attributes.push(KeyValue::new(
            attr::SERVER_ADDRESS,
            StringValue::from(Arc::clone(&host)),
        ));
        if let Some(port) = port {
            metric_attributes.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
        }
        let op = Operation::start(
            self.tracer.as_ref(),
            method.span_prefix(),
            SpanKind::Client,
            &Context::current(),
            metric_attributes,
            |span| {
                span.push(KeyValue::new(
                    attr::URL_FULL,
                    redact_url(url.as_str()).into_owned(),
                ));
                if method == KnownMethod::Other {
                    span.push(KeyValue::new(
                        attr::HTTP_REQUEST_METHOD_ORIGINAL,
                        req.method().as_str().to_owned(),
                    ));
                }
                if resends > 0 {
                    span.push(KeyValue::new(
                        attr::HTTP_REQUEST_RESEND_COUNT,
                        i64::from(resends),
                    ));
                }
                span.extend(self.request_headers.attributes(req.headers()));
            },
        );
        let cx = op.context().clone();
        let recording = op.is_recording();
        tracewire::propagation::inject_into(&cx, &mut HeaderInjector(req.headers_mut()));
        let mut attempt = Attempt {
            telemetry: self,
            op,
            host,
            port,
            method,
        };

        let result = next.run(req, extensions).with_context(cx).await;
        match &result {
            Ok(response) => {
                let status = response.status().as_u16();
                let error = client_status_is_error(status).then(|| status_error_type(status));
                if recording && !self.response_headers.is_empty() {
                    for header in self.response_headers.attributes(response.headers()) {
                        attempt.op.set_span_attribute(header);
                    }
                }
                attempt.finish(Some(status), Some(response.version()), error);
            }
            Err(e) => attempt.finish(None, None, Some(Cow::Borrowed(error_type(e)))),
        }
        result
    }
}
