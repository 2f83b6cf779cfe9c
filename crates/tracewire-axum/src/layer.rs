//! [`ServerTelemetryLayer`]: the configuration, shared by every request.

use std::sync::Arc;

use tracewire::http::{HeaderCapture, SamplingHint, ServerInstruments};
use tracewire::otel_sdk::trace::SdkTracer;

use crate::durations::DurationHandles;
use crate::service::ServerTelemetry;
use crate::settings::{SCOPE, Settings};
use tracewire::http::ServerStrings;

/// Paths excluded by default: probes and the metrics endpoint itself.
pub const DEFAULT_EXCLUDED_PATHS: &[&str] =
    &["/metrics", "/healthz", "/livez", "/readyz", "/health"];

/// A tower [`Layer`](tower::Layer) that records a SERVER span and the HTTP
/// server metrics for every request; see the crate docs.
#[derive(Clone)]
pub struct ServerTelemetryLayer {
    pub(crate) settings: Arc<Settings>,
}

impl std::fmt::Debug for ServerTelemetryLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTelemetryLayer")
            .field(
                "tracing",
                &(self.settings.own_tracer.is_some() || self.settings.tracer.is_some()),
            )
            .field("excluded", &self.settings.excluded)
            .field("trust_remote_parent", &self.settings.trust_remote_parent)
            .field("server_timing", &self.settings.server_timing)
            .finish_non_exhaustive()
    }
}

impl Default for ServerTelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl ServerTelemetryLayer {
    /// Spans on the tracer installed by `tracewire::init` (none before it),
    /// metrics on the global meter provider, the default exclusions, and the
    /// headers named by `OTEL_INSTRUMENTATION_HTTP_SERVER_CAPTURE_REQUEST_HEADERS`
    /// / `…_RESPONSE_HEADERS` captured.
    pub fn new() -> Self {
        let meter = tracewire::otel::global::meter(SCOPE);
        let own_tracer = tracewire::instrumentation::own_tracer(SCOPE);
        Self {
            settings: Arc::new(Settings {
                tracer: own_tracer
                    .is_none()
                    .then(|| tracewire::sdk_tracer(SCOPE))
                    .flatten(),
                own_tracer,
                sampling_hint: SamplingHint::active(),
                instruments: ServerInstruments::new(&meter),
                durations: DurationHandles::default(),
                strings: ServerStrings::default(),
                excluded: DEFAULT_EXCLUDED_PATHS
                    .iter()
                    .map(|p| (*p).to_owned())
                    .collect(),
                request_headers: HeaderCapture::from_env(
                    "http.request.header",
                    tracewire::http::env::SERVER_REQUEST_HEADERS,
                    env_var,
                ),
                response_headers: HeaderCapture::from_env(
                    "http.response.header",
                    tracewire::http::env::SERVER_RESPONSE_HEADERS,
                    env_var,
                ),
                trust_remote_parent: true,
                server_timing: false,
                body_sizes: false,
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        match Arc::get_mut(&mut self.settings) {
            Some(settings) => change(settings),
            None => {
                let s = &self.settings;
                let mut copy = Settings {
                    own_tracer: s.own_tracer.clone(),
                    tracer: s.tracer.clone(),
                    sampling_hint: s.sampling_hint,
                    instruments: s.instruments.clone(),
                    durations: DurationHandles::default(),
                    strings: ServerStrings::default(),
                    excluded: s.excluded.clone(),
                    request_headers: s.request_headers.clone(),
                    response_headers: s.response_headers.clone(),
                    trust_remote_parent: s.trust_remote_parent,
                    server_timing: s.server_timing,
                    body_sizes: s.body_sizes,
                };
                change(&mut copy);
                self.settings = Arc::new(copy);
            }
        }
        self
    }

    /// Uses this tracer (tests, or a provider you built yourself).
    pub fn tracer(self, tracer: SdkTracer) -> Self {
        self.with(|s| {
            s.own_tracer = None;
            s.tracer = Some(tracer);
        })
    }

    /// Records the server spans on tracewire's own span path with this
    /// tracer (what `ServerTelemetryLayer::new` takes from `init` by default;
    /// tests, or a telemetry not installed globally).
    pub fn own_tracer(self, tracer: tracewire::instrumentation::OwnTracer) -> Self {
        self.with(|s| {
            s.own_tracer = Some(tracer);
            s.tracer = None;
        })
    }

    /// What the tracer's sampler will likely decide (defaults to the sampler
    /// `tracewire::init` installed): attributes are built before the span
    /// starts only when it will likely be kept.
    pub fn sampling_hint(self, hint: SamplingHint) -> Self {
        self.with(|s| s.sampling_hint = hint)
    }

    /// Records metrics on this meter.
    pub fn meter(self, meter: &tracewire::otel::metrics::Meter) -> Self {
        let instruments = ServerInstruments::new(meter);
        self.with(|s| {
            s.instruments = instruments;
            s.durations = DurationHandles::default();
        })
    }

    /// Excludes `path` (exact match): no span, no metrics.
    pub fn exclude(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.with(|s| s.excluded.push(path))
    }

    /// Replaces the exclusion list.
    pub fn exclusions<I: IntoIterator<Item = S>, S: Into<String>>(self, paths: I) -> Self {
        let paths = paths.into_iter().map(Into::into).collect();
        self.with(|s| s.excluded = paths)
    }

    /// Records these request headers as `http.request.header.<name>`.
    /// Credentials (`authorization`, `cookie`, API keys…) are never recorded.
    pub fn capture_request_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(
        self,
        names: I,
    ) -> Self {
        let capture = HeaderCapture::new("http.request.header", names);
        self.with(|s| s.request_headers = capture)
    }

    /// Records these response headers as `http.response.header.<name>`.
    pub fn capture_response_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(
        self,
        names: I,
    ) -> Self {
        let capture = HeaderCapture::new("http.response.header", names);
        self.with(|s| s.response_headers = capture)
    }

    /// For untrusted edges: start a new trace for every request and keep the
    /// caller's context only as a span link (default: continue the caller's trace).
    pub fn untrusted_edge(self, untrusted: bool) -> Self {
        self.with(|s| s.trust_remote_parent = !untrusted)
    }

    /// Adds `Server-Timing: trace;desc=00-{trace-id}-{span-id}-{flags}` to
    /// responses (the W3C Trace Context Level 3 draft form). Off by default:
    /// it shows internal ids to clients.
    pub fn server_timing(self, enabled: bool) -> Self {
        self.with(|s| s.server_timing = enabled)
    }

    /// Records `http.server.request.body.size` (from `Content-Length`) and
    /// `http.server.response.body.size` (bytes sent). Off by default.
    pub fn body_sizes(self, enabled: bool) -> Self {
        self.with(|s| s.body_sizes = enabled)
    }
}

impl<S> tower::Layer<S> for ServerTelemetryLayer {
    type Service = ServerTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerTelemetry::new(inner, Arc::clone(&self.settings))
    }
}
