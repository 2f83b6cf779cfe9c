//! One request's telemetry, from the first poll to the last body byte.

use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;
use tracewire::http::{
    InternedRoute, KnownMethod, ServerRequest, ServerRequestHeaders, attr, intern_route,
    protocol_version, protocol_version_key, request_scheme, server_span_name,
    server_status_is_error, status_error_type, string_value,
};
use tracewire::instrumentation::{NoMetricAttributes, Operation};
use tracewire::otel::trace::{
    Link, Span as _, SpanBuilder, SpanKind, TraceContextExt, Tracer as _,
};
use tracewire::otel::{Context, KeyValue, StringValue};

use crate::durations::DurationKey;
use crate::settings::Settings;

type Attributes = SmallVec<[KeyValue; 8]>;

/// The request's route template.
enum Route {
    /// No route matched.
    None,
    Interned(&'static InternedRoute),
    /// More routes than the interning cap (never in a real router). Boxed
    /// twice so that the request's telemetry stays small enough to be moved
    /// without a `memcpy` call (it moves several times per request).
    Owned(Box<Box<str>>),
}

impl Route {
    fn value(&self) -> Option<StringValue> {
        match self {
            Self::None => None,
            Self::Interned(route) => Some(StringValue::from(route.template())),
            Self::Owned(route) => Some(StringValue::from(route.to_string())),
        }
    }

    /// The route's part of the duration-handle key: `None` when not interned.
    fn key(&self) -> Option<usize> {
        match self {
            Self::None => Some(0),
            Self::Interned(route) => Some(route.key()),
            Self::Owned(_) => None,
        }
    }
}

/// Why an exchange ended without a usable response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The inner service returned an error (axum's services never do).
    Service,
    /// The response body failed mid-stream.
    Body,
    /// The handler panicked (the request was dropped while unwinding).
    Panic,
}

impl Failure {
    /// Its `error.type`.
    fn error_type(self) -> &'static str {
        match self {
            Self::Service => "_OTHER",
            Self::Body => "body_error",
            Self::Panic => tracewire::PANIC_ERROR_TYPE,
        }
    }

    /// Its part of the duration-handle key: one value per `error.type`.
    fn key(self) -> u8 {
        match self {
            Self::Service => 1,
            Self::Body => 2,
            Self::Panic => 3,
        }
    }
}

/// The telemetry of one request in flight. Finishing is idempotent; dropping
/// an unfinished one finishes it (client gone, body dropped).
pub(crate) struct InFlight {
    settings: Arc<Settings>,
    /// The shared life-cycle around our span; its context is the remote
    /// parent and our span (or only the ids of an unsampled one).
    op: Operation<NoMetricAttributes>,
    /// Whether the context holds anything worth making current (a span or baggage).
    pub(crate) attach: bool,
    method: KnownMethod,
    /// `url.scheme` is `https` (else `http`).
    https: bool,
    route: Route,
    version: http::Version,
    status: Option<u16>,
    /// The exchange failed without a usable response.
    failure: Option<Failure>,
    /// The request's `Content-Length` ([`UNKNOWN_SIZE`] when absent or not
    /// recorded): a sentinel rather than an `Option`, for the size above.
    request_body_size: u64,
    pub(crate) response_bytes: u64,
}

/// [`InFlight::request_body_size`] when there is none to record.
const UNKNOWN_SIZE: u64 = u64::MAX;

impl InFlight {
    /// Starts the span (if a tracer is set) and counts the request active.
    pub(crate) fn start<B>(settings: &Arc<Settings>, req: &http::Request<B>) -> Self {
        let start = Instant::now();
        let method = KnownMethod::of_http(req.method());
        let seen = ServerRequestHeaders::scan(req.headers());
        let scheme = request_scheme(&seen, req.uri());
        // The route, its span name and its metric key from one lookup.
        let (route, name) = match req.extensions().get::<axum::extract::MatchedPath>() {
            None => (Route::None, server_span_name(method, None)),
            Some(matched) => match intern_route(matched.as_str()) {
                Some(interned) => (
                    Route::Interned(interned),
                    std::borrow::Cow::Borrowed(interned.span_name(method)),
                ),
                None => (
                    Route::Owned(Box::new(matched.as_str().into())),
                    server_span_name(method, Some(matched.as_str())),
                ),
            },
        };
        let version = protocol_version(req.version());
        let https = scheme == "https";

        let remote = tracewire::propagation::extract(req.headers());
        let (parent, link) = if settings.trust_remote_parent {
            (remote, None)
        } else {
            let sc = remote.span().span_context().clone();
            (
                Context::new(),
                sc.is_valid().then(|| Link::with_context(sc)),
            )
        };

        let mut span_start = None;
        let (cx, recording) = match (&settings.own_tracer, &settings.tracer) {
            // tracewire's own span: the sampler decides first, so attributes
            // are built exactly when the span is recorded.
            (Some(own), _) => own.start_in(&parent, || {
                let attributes =
                    request_attributes(settings, req, &seen, method, scheme, &route, version);
                let now = tracewire::otel::time::now();
                span_start = Some(now);
                let mut builder = SpanBuilder::from_name(name)
                    .with_kind(SpanKind::Server)
                    .with_start_time(now)
                    .with_attributes(attributes);
                if let Some(link) = link {
                    builder = builder.with_links(vec![link]);
                }
                builder
            }),
            (None, Some(tracer)) => {
                let likely = settings
                    .sampling_hint
                    .likely_sampled(parent.span().span_context());
                let mut builder = tracer.span_builder(name).with_kind(SpanKind::Server);
                if let Some(link) = link {
                    builder = builder.with_links(vec![link]);
                }
                // Attributes are built only for spans that will likely be kept
                // (and then handed to the sampler at start, as the spec asks).
                if likely {
                    builder = builder.with_attributes(request_attributes(
                        settings, req, &seen, method, scheme, &route, version,
                    ));
                }
                let span = builder.start_with_context(tracer, &parent);
                if span.is_recording() {
                    let cx = parent.with_span(span);
                    if !likely {
                        cx.span().set_attributes(request_attributes(
                            settings, req, &seen, method, scheme, &route, version,
                        ));
                    }
                    (cx, true)
                } else {
                    // Not kept: carry only its ids (for propagation), which
                    // costs one allocation instead of boxing the span.
                    (
                        parent.with_remote_span_context(span.span_context().clone()),
                        false,
                    )
                }
            }
            // No tracer: the ids the next hop needs, when tracing is set up
            // with nowhere for spans to go (no span is built).
            (None, None) => (
                tracewire::instrumentation::context_without_span(&parent, &name, &SpanKind::Server),
                false,
            ),
        };

        let attach =
            cx.has_active_span() || cx.get::<tracewire::otel::baggage::Baggage>().is_some();
        // Only a span that records is ours to end: an unsampled one's ids ride
        // along in the context without a span to end.
        let op = Operation::adopt_since(start, cx, recording, recording, NoMetricAttributes)
            .with_span_start(span_start);
        let mut flight = Self {
            settings: Arc::clone(settings),
            attach,
            op,
            method,
            https,
            route,
            version: req.version(),
            status: None,
            failure: None,
            request_body_size: UNKNOWN_SIZE,
            response_bytes: 0,
        };
        if settings.body_sizes {
            if let Some(size) = seen.content_length.and_then(|l| l.parse().ok()) {
                flight.request_body_size = size;
            }
        }
        settings.instruments.active(1, flight.method, scheme);
        flight
    }

    /// `url.scheme`.
    fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// `network.protocol.version`.
    fn version(&self) -> Option<&'static str> {
        protocol_version(self.version)
    }

    /// The request's context: the remote parent and our span.
    pub(crate) fn context(&self) -> &Context {
        self.op.context()
    }

    /// Records the status line and headers of the response.
    pub(crate) fn on_response<B>(&mut self, response: &mut http::Response<B>) {
        let status = response.status().as_u16();
        self.status = Some(status);
        if self.op.is_recording() {
            self.op.set_span_attribute(KeyValue::new(
                attr::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status),
            ));
            if !self.settings.response_headers.is_empty() {
                for header in self
                    .settings
                    .response_headers
                    .attributes(response.headers())
                {
                    self.op.set_span_attribute(header);
                }
            }
        }
        if self.settings.server_timing {
            let span = self.op.context().span();
            let sc = span.span_context();
            if sc.is_valid() {
                let value = format!(
                    "trace;desc=00-{}-{}-{:02x}",
                    sc.trace_id(),
                    sc.span_id(),
                    sc.trace_flags().to_u8() & 0x03
                );
                if let Ok(value) = http::HeaderValue::try_from(value) {
                    response.headers_mut().append(
                        http::header::HeaderName::from_static("server-timing"),
                        value,
                    );
                }
            }
        }
    }

    /// The exchange failed without a usable response (service error, body error).
    pub(crate) fn on_failure(&mut self, failure: Failure) {
        self.failure = Some(failure);
    }

    /// `error.type`: the failure, else a 5xx status code.
    fn error_type(&self) -> Option<StringValue> {
        match (self.failure, self.status) {
            (Some(failure), _) => Some(StringValue::from(failure.error_type())),
            (None, Some(status)) if server_status_is_error(status) => {
                Some(string_value(status_error_type(status)))
            }
            _ => None,
        }
    }

    /// The error's part of the duration-handle key: one value per kind of
    /// `error.type` (a status-derived one is covered by the status).
    fn error_key(&self) -> u8 {
        self.failure.map_or(0, Failure::key)
    }

    /// The attributes of the duration (and size) metrics.
    fn metric_attributes(&self) -> Attributes {
        let mut attributes: Attributes = SmallVec::new();
        attributes.push(KeyValue::new(
            attr::HTTP_REQUEST_METHOD,
            self.method.as_str(),
        ));
        attributes.push(KeyValue::new(attr::URL_SCHEME, self.scheme()));
        if let Some(status) = self.status {
            attributes.push(KeyValue::new(
                attr::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status),
            ));
        }
        if let Some(route) = self.route.value() {
            attributes.push(KeyValue::new(attr::HTTP_ROUTE, route));
        }
        if let Some(version) = self.version() {
            attributes.push(KeyValue::new(attr::NETWORK_PROTOCOL_VERSION, version));
        }
        if let Some(error_type) = self.error_type() {
            attributes.push(KeyValue::new(attr::ERROR_TYPE, error_type));
        }
        attributes
    }

    /// Ends the span and records the metrics, once.
    pub(crate) fn finish(&mut self) {
        if self.op.is_finished() {
            return;
        }
        let elapsed = self.op.elapsed();
        let duration = elapsed.as_secs_f64();
        let instruments = &self.settings.instruments;
        instruments.active(-1, self.method, self.scheme());

        let key = self.route.key().map(|route| DurationKey {
            route,
            method: self.method.index() as u8,
            scheme: u8::from(self.https),
            status: self.status.unwrap_or(0),
            error: self.error_key(),
            version: protocol_version_key(self.version),
        });
        // Our span, when recorded, is the exemplar (without making it current).
        let exemplar = self.op.exemplar_context();
        self.settings
            .durations
            .record_in(exemplar, &instruments.duration, key, duration, || {
                self.metric_attributes()
            });
        if self.settings.body_sizes {
            let attributes = self.metric_attributes();
            if self.request_body_size != UNKNOWN_SIZE {
                let size = self.request_body_size as f64;
                instruments
                    .request_body_size
                    .record_in(exemplar, size, &attributes);
            }
            let size = self.response_bytes as f64;
            instruments
                .response_body_size
                .record_in(exemplar, size, &attributes);
        }

        if let Some(error_type) = self.error_type() {
            self.op.fail(error_type, "");
        }
        self.op.finish_measured(elapsed);
    }
}

/// The request-side span attributes (core's HTTP-server conventions), then
/// the allow-listed request headers.
fn request_attributes<B>(
    settings: &Settings,
    req: &http::Request<B>,
    seen: &ServerRequestHeaders<'_>,
    method: KnownMethod,
    scheme: &'static str,
    route: &Route,
    version: Option<&'static str>,
) -> Vec<KeyValue> {
    // A route without parameters is its own path: share the interned string.
    let path = req.uri().path();
    let path = match route {
        Route::Interned(route) if route.template() == path => StringValue::from(route.template()),
        _ => StringValue::from(path.to_owned()),
    };
    let request = ServerRequest {
        method,
        method_original: req.method().as_str(),
        scheme,
        path,
        query: req.uri().query(),
        route: route.value(),
        protocol_version: version,
        authority: req.uri().authority().map(|a| a.as_str()),
        peer: req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0),
    };
    let mut a = tracewire::http::request_attributes(request, seen, &settings.strings);
    a.extend(settings.request_headers.attributes(req.headers()));
    a
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Dropped while unwinding, before a response: the handler panicked.
        if self.status.is_none() && self.failure.is_none() && std::thread::panicking() {
            self.failure = Some(Failure::Panic);
        }
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    /// The request's telemetry moves several times per request (into the
    /// future, out into the response body, through axum's body boxing):
    /// moves of up to 128 bytes are inlined, larger ones call `memcpy`
    /// (~0.2k instructions per request on `cargo xtask bench http`).
    #[test]
    fn the_response_body_moves_without_a_memcpy_call() {
        let size = std::mem::size_of::<crate::ResponseBody<axum::body::Body>>();
        assert!(size <= 128, "ResponseBody<Body> is {size} bytes");
    }
}
