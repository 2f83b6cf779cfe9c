//! The resolved configuration: `OTEL_*` environment variables, then code.
//!
//! [`Config::from_env`] applies every variable of the OpenTelemetry SDK
//! specification that matters to a service, including those the Rust SDK
//! ignores (`OTEL_SDK_DISABLED`, `OTEL_PROPAGATORS`, `OTEL_*_EXPORTER`,
//! case-insensitive samplers, percent-decoded `OTEL_RESOURCE_ATTRIBUTES`,
//! attribute limits, Prometheus host/port). The builder in [`crate::TelemetryBuilder`]
//! then overrides what the code sets.

use std::fmt;
use std::time::Duration;

use opentelemetry::trace::TraceId;

use crate::env::{EnvReader, parse_key_values};
use crate::propagation::PropagatorKind;

/// Where a signal goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExporterKind {
    /// OTLP push to a collector.
    Otlp,
    /// Human-readable output on stdout: for traces, each trace as one tree
    /// once it has ended; for metrics and logs, the SDK's stdout dump
    /// (feature `console`).
    Console,
    /// `console_raw`: every span as the SDK's stdout exporter dumps it
    /// (feature `console`); for metrics and logs the same as `console`.
    ConsoleRaw,
    /// Prometheus pull (`/metrics`); metrics only.
    Prometheus,
}

impl ExporterKind {
    fn parse(name: &str, allow_prometheus: bool) -> Option<Self> {
        match name {
            "otlp" => Some(Self::Otlp),
            "console" | "logging" => Some(Self::Console),
            "console_raw" => Some(Self::ConsoleRaw),
            "prometheus" if allow_prometheus => Some(Self::Prometheus),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Otlp => "otlp",
            Self::Console => "console",
            Self::ConsoleRaw => "console_raw",
            Self::Prometheus => "prometheus",
        }
    }
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC (default port 4317).
    Grpc,
    /// HTTP with protobuf bodies (default port 4318); the spec's default.
    HttpProtobuf,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        })
    }
}

/// OTLP payload compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip.
    Gzip,
}

/// The head sampler (`OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerConfig {
    /// Record every trace.
    AlwaysOn,
    /// Record nothing.
    AlwaysOff,
    /// Keep a fraction of traces by trace id.
    TraceIdRatio(f64),
    /// Follow the parent; roots always sampled (default).
    ParentBasedAlwaysOn,
    /// Follow the parent; roots never sampled.
    ParentBasedAlwaysOff,
    /// Follow the parent; roots sampled by ratio.
    ParentBasedTraceIdRatio(f64),
}

impl fmt::Display for SamplerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlwaysOn => f.write_str("always_on"),
            Self::AlwaysOff => f.write_str("always_off"),
            Self::TraceIdRatio(r) => write!(f, "traceidratio({r})"),
            Self::ParentBasedAlwaysOn => f.write_str("parentbased_always_on"),
            Self::ParentBasedAlwaysOff => f.write_str("parentbased_always_off"),
            Self::ParentBasedTraceIdRatio(r) => write!(f, "parentbased_traceidratio({r})"),
        }
    }
}

/// Which signal an OTLP setting is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metrics.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    fn env(self) -> &'static str {
        match self {
            Self::Traces => "TRACES",
            Self::Metrics => "METRICS",
            Self::Logs => "LOGS",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Self::Traces => "v1/traces",
            Self::Metrics => "v1/metrics",
            Self::Logs => "v1/logs",
        }
    }
}

/// The OTLP settings of one signal, fully resolved.
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    /// Transport.
    pub protocol: Protocol,
    /// The URL requests go to (for HTTP, the signal path is included).
    pub endpoint: String,
    /// Extra request headers / gRPC metadata (never logged).
    pub headers: Vec<(String, String)>,
    /// Per-export timeout.
    pub timeout: Duration,
    /// Payload compression.
    pub compression: Option<Compression>,
    /// Extra CA and client identity for TLS.
    pub tls: TlsFiles,
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("protocol", &self.protocol)
            .field("endpoint", &self.endpoint)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Header names with their values replaced: they often carry credentials.
pub(crate) struct RedactedHeaders<'a>(pub(crate) &'a [(String, String)]);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| format!("{k}=<redacted>")))
            .finish()
    }
}

/// Raw OTLP variables, generic and per signal; resolved per signal on demand
/// so that code overrides of the generic values still apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct OtlpVars {
    pub(crate) endpoint: Option<String>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) compression: Option<Compression>,
    pub(crate) certificate: Option<TlsFile>,
    pub(crate) client_key: Option<TlsFile>,
    pub(crate) client_certificate: Option<TlsFile>,
    pub(crate) insecure: Option<bool>,
}

/// A TLS file named by a variable (kept with its name for the warning when
/// the file cannot be used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFile {
    /// The variable, e.g. `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` (or `code`
    /// when set by the builder).
    pub variable: String,
    /// The path.
    pub path: std::path::PathBuf,
}

/// TLS settings of one signal's OTLP exporter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file of CA certificates trusted in addition to the platform's.
    pub certificate: Option<TlsFile>,
    /// PEM file of the client's private key (mTLS).
    pub client_key: Option<TlsFile>,
    /// PEM file of the client's certificate chain (mTLS).
    pub client_certificate: Option<TlsFile>,
}

impl TlsFiles {
    /// Whether any file is set.
    pub fn is_empty(&self) -> bool {
        self.certificate.is_none() && self.client_key.is_none() && self.client_certificate.is_none()
    }
}

/// Batch processor settings (`OTEL_BSP_*`, `OTEL_BLRP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Delay between two exports.
    pub schedule_delay: Duration,
    /// Queue bound; items beyond it are dropped and counted.
    pub max_queue_size: usize,
    /// Items per export.
    pub max_export_batch_size: usize,
    /// Time allowed for one export.
    pub export_timeout: Duration,
}

/// Attribute limits (`OTEL_ATTRIBUTE_*`, `OTEL_SPAN_*`, `OTEL_EVENT_*`, `OTEL_LINK_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest string attribute value on spans (characters); `None` = no limit.
    pub span_attribute_value_length: Option<usize>,
    /// Attributes per span.
    pub span_attribute_count: u32,
    /// Events per span.
    pub span_event_count: u32,
    /// Links per span.
    pub span_link_count: u32,
    /// Attributes per span event.
    pub event_attribute_count: u32,
    /// Attributes per link.
    pub link_attribute_count: u32,
}

/// The trace-id ratio rule of the SDK's `TraceIdRatioBased`: a ratio of 1
/// or more keeps every trace; otherwise the trace id's last 8 bytes, shifted
/// right by one, must be below `ratio × 2⁶³` (a negative ratio keeps none).
fn ratio_keeps(ratio: f64, trace_id: TraceId) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    let bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
    let bytes = trace_id.to_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..]);
    (u64::from_be_bytes(low) >> 1) < bound
}

/// Which measurements may carry exemplars (`OTEL_METRICS_EXEMPLAR_FILTER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExemplarFilter {
    /// Only measurements taken inside a sampled span (default).
    TraceBased,
    /// Every measurement taken inside a span, sampled or not.
    AlwaysOn,
    /// None.
    AlwaysOff,
}

impl SamplerConfig {
    /// Whether a new span under `parent` in trace `trace_id` is sampled:
    /// exactly the decision of [`sdk_sampler`](Self::sdk_sampler)'s
    /// `should_sample` (whose tracestate is always the parent's, and which
    /// reads neither the name, kind, attributes nor links), without its
    /// dynamic dispatch and result. A parent-based sampler follows any
    /// active parent span — one with an invalid context counts as not
    /// sampled, as in the SDK —; a ratio keeps the trace ids whose lower 63
    /// bits fall under `ratio × 2⁶³`.
    pub(crate) fn samples(self, parent: &opentelemetry::Context, trace_id: TraceId) -> bool {
        use opentelemetry::trace::TraceContextExt as _;
        match self {
            Self::AlwaysOn => true,
            Self::AlwaysOff => false,
            Self::TraceIdRatio(ratio) => ratio_keeps(ratio, trace_id),
            // Parent-based, under a parent span: its decision.
            _ if parent.has_active_span() => parent.span().span_context().is_sampled(),
            Self::ParentBasedAlwaysOn => true,
            Self::ParentBasedAlwaysOff => false,
            Self::ParentBasedTraceIdRatio(ratio) => ratio_keeps(ratio, trace_id),
        }
    }

    /// The SDK's sampler for this configuration.
    pub(crate) fn sdk_sampler(self) -> opentelemetry_sdk::trace::Sampler {
        use opentelemetry_sdk::trace::Sampler;
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
            Self::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            Self::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            Self::ParentBasedTraceIdRatio(r) => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
            }
        }
    }
}

/// How log lines are written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line with `trace_id`/`span_id` (the default when
    /// stdout is not a terminal).
    Json,
    /// One readable line per event, with the short trace and span ids (the
    /// default when stdout is a terminal).
    Text,
    /// Multi-line, coloured, for a terminal.
    Pretty,
    /// No stdout log output.
    Off,
}

/// The complete configuration. Start from [`Config::from_env`], change fields
/// in code (code wins), then hand it to [`crate::TelemetryBuilder`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `OTEL_SDK_DISABLED`: no-op providers for every signal (propagation stays on).
    pub sdk_disabled: bool,
    /// `OTEL_SERVICE_NAME`.
    pub service_name: Option<String>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, percent-decoded, plus code-given attributes.
    pub resource_attributes: Vec<(String, String)>,
    /// A service name used only when neither `OTEL_SERVICE_NAME` nor
    /// `service.name` in `OTEL_RESOURCE_ATTRIBUTES` nor code sets one.
    pub default_service_name: Option<String>,
    /// Resource attributes set in code; they win over every variable.
    pub code_resource_attributes: Vec<(String, String)>,
    /// `OTEL_PROPAGATORS`.
    pub propagators: Vec<PropagatorKind>,
    /// `OTEL_TRACES_SAMPLER` + `_ARG`.
    pub sampler: SamplerConfig,
    /// `OTEL_TRACES_EXPORTER`.
    pub traces_exporters: Vec<ExporterKind>,
    /// `OTEL_METRICS_EXPORTER`.
    pub metrics_exporters: Vec<ExporterKind>,
    /// `OTEL_LOGS_EXPORTER`.
    pub logs_exporters: Vec<ExporterKind>,
    pub(crate) otlp: OtlpVars,
    pub(crate) otlp_signal: [OtlpVars; 3],
    /// `OTEL_BSP_*`.
    pub span_batch: BatchSettings,
    /// `OTEL_BLRP_*`.
    pub log_batch: BatchSettings,
    /// `OTEL_METRIC_EXPORT_INTERVAL`.
    pub metric_export_interval: Duration,
    /// `OTEL_METRIC_EXPORT_TIMEOUT`.
    pub metric_export_timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` is `delta`.
    pub metrics_delta_temporality: bool,
    /// `OTEL_METRICS_EXEMPLAR_FILTER`.
    pub exemplar_filter: ExemplarFilter,
    /// Attribute limits.
    pub limits: Limits,
    /// `OTEL_EXPORTER_PROMETHEUS_HOST` / `_PORT`: the standalone listener's
    /// address, used when `prometheus` is named in `OTEL_METRICS_EXPORTER`.
    pub prometheus_listen: (String, u16),
    /// Start the standalone Prometheus listener.
    pub prometheus_listener: bool,
    /// `TRACEWIRE_PROCESS_METRICS` (default `true`): process and Tokio
    /// runtime metrics.
    pub process_metrics: bool,
    /// `TRACEWIRE_BAGGAGE_SPAN_ATTRIBUTES`: baggage keys copied onto every
    /// span started under them (none by default).
    pub baggage_span_attributes: Vec<String>,
    /// `OTEL_LOG_LEVEL`: the SDK's own diagnostics (`opentelemetry*` targets).
    pub sdk_log_level: String,
    /// `RUST_LOG` (default `info`).
    pub log_filter: String,
    /// `TRACEWIRE_LOG_FORMAT`: `json`, `text`, `pretty` or `off`; unset,
    /// `text` when stdout is a terminal and `json` otherwise.
    pub log_format: LogFormat,
    /// `TRACEWIRE_PUSHGATEWAY_URL`: push the metrics to this Prometheus
    /// Pushgateway on shutdown (`http://host:port`).
    pub pushgateway_url: Option<String>,
    /// `TRACEWIRE_PUSHGATEWAY_JOB`: the pushed group's `job` (default: the
    /// service name).
    pub pushgateway_job: Option<String>,
    /// `TRACEWIRE_TRACE_BROWSER` (default `false`): keep recent traces in
    /// memory and serve them at `/_tracewire/` (see [`crate::view`]).
    pub trace_browser: bool,
    /// `TRACEWIRE_TRACE_BROWSER_MAX_TRACES` (default 500).
    pub trace_browser_max_traces: usize,
    /// `TRACEWIRE_TRACE_BROWSER_MAX_BYTES` (default 16 MiB, an estimate of
    /// what the kept spans and log lines hold).
    pub trace_browser_max_bytes: usize,
    warnings: Vec<String>,
}

/// Default bound on the traces the trace browser keeps.
pub const DEFAULT_TRACE_BROWSER_MAX_TRACES: usize = 500;
/// Default bound on the bytes the trace browser's traces hold (an estimate).
pub const DEFAULT_TRACE_BROWSER_MAX_BYTES: usize = 16 * 1024 * 1024;

const DEFAULT_BSP: BatchSettings = BatchSettings {
    schedule_delay: Duration::from_millis(5000),
    max_queue_size: 2048,
    max_export_batch_size: 512,
    export_timeout: Duration::from_millis(30000),
};

const DEFAULT_BLRP: BatchSettings = BatchSettings {
    schedule_delay: Duration::from_millis(1000),
    ..DEFAULT_BSP
};

impl Default for Config {
    /// The configuration with no variable set.
    fn default() -> Self {
        Self::from_lookup(|_| None)
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut env = EnvReader::new(&lookup);
        let config = Self::read(&mut env);
        Self {
            warnings: env.into_warnings(),
            ..config
        }
    }

    /// Problems found while reading the environment, one sentence each, naming
    /// the variable and the value. [`crate::init`] logs them as warnings.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn read(env: &mut EnvReader<'_>) -> Self {
        let sdk_disabled = env.bool("OTEL_SDK_DISABLED", false);
        let service_name = env.get("OTEL_SERVICE_NAME");
        let resource_attributes = match env.get("OTEL_RESOURCE_ATTRIBUTES") {
            None => Vec::new(),
            Some(raw) => parse_key_values(&raw).unwrap_or_else(|| {
                env.warn("OTEL_RESOURCE_ATTRIBUTES", &raw, "no attributes from it");
                Vec::new()
            }),
        };
        let propagators = env
            .list("OTEL_PROPAGATORS", |name| match name {
                "tracecontext" => Some(PropagatorKind::TraceContext),
                "baggage" => Some(PropagatorKind::Baggage),
                "b3" => Some(PropagatorKind::B3),
                "b3multi" => Some(PropagatorKind::B3Multi),
                _ => None,
            })
            .unwrap_or_else(|| vec![PropagatorKind::TraceContext, PropagatorKind::Baggage]);

        let sampler = read_sampler(env);

        let otlp = read_otlp(env, "OTEL_EXPORTER_OTLP_");
        let otlp_signal = [Signal::Traces, Signal::Metrics, Signal::Logs]
            .map(|s| read_otlp(env, &format!("OTEL_EXPORTER_OTLP_{}_", s.env())));

        // With no exporter variable, OTLP is used once an endpoint says where
        // the collector is; before that a service with no collector would log
        // an export error every few seconds. Metrics are always pullable.
        let endpoint_set = |i: usize| otlp.endpoint.is_some() || otlp_signal[i].endpoint.is_some();
        let default_push = |i: usize| {
            if endpoint_set(i) {
                vec![ExporterKind::Otlp]
            } else {
                vec![]
            }
        };
        let traces_exporters = env
            .list("OTEL_TRACES_EXPORTER", |n| ExporterKind::parse(n, false))
            .unwrap_or_else(|| default_push(0));
        let explicit_metrics = env.list("OTEL_METRICS_EXPORTER", |n| ExporterKind::parse(n, true));
        let process_metrics = env.bool("TRACEWIRE_PROCESS_METRICS", true);
        let baggage_span_attributes = env
            .get("TRACEWIRE_BAGGAGE_SPAN_ATTRIBUTES")
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let prometheus_listener = explicit_metrics
            .as_ref()
            .is_some_and(|m| m.contains(&ExporterKind::Prometheus));
        let metrics_exporters = explicit_metrics.unwrap_or_else(|| {
            let mut m = vec![ExporterKind::Prometheus];
            m.extend(default_push(1));
            m
        });
        let logs_exporters = env
            .list("OTEL_LOGS_EXPORTER", |n| ExporterKind::parse(n, false))
            .unwrap_or_else(|| default_push(2));

        let span_batch = read_batch(env, "OTEL_BSP_", DEFAULT_BSP);
        let log_batch = read_batch(env, "OTEL_BLRP_", DEFAULT_BLRP);

        let metric_export_interval = env.millis(
            "OTEL_METRIC_EXPORT_INTERVAL",
            Duration::from_millis(60000),
            false,
        );
        let metric_export_timeout = env.millis(
            "OTEL_METRIC_EXPORT_TIMEOUT",
            Duration::from_millis(30000),
            true,
        );
        let metrics_delta_temporality =
            match env.get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE") {
                None => false,
                Some(v) => match v.to_ascii_lowercase().as_str() {
                    "cumulative" => false,
                    "delta" | "lowmemory" => true,
                    _ => {
                        env.warn(
                            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                            &v,
                            "cumulative",
                        );
                        false
                    }
                },
            };
        let exemplar_filter = match env.get("OTEL_METRICS_EXEMPLAR_FILTER") {
            None => ExemplarFilter::TraceBased,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "trace_based" => ExemplarFilter::TraceBased,
                "always_on" => ExemplarFilter::AlwaysOn,
                "always_off" => ExemplarFilter::AlwaysOff,
                _ => {
                    env.warn("OTEL_METRICS_EXEMPLAR_FILTER", &v, "trace_based");
                    ExemplarFilter::TraceBased
                }
            },
        };

        let limits = read_limits(env);

        let prometheus_host = env
            .get("OTEL_EXPORTER_PROMETHEUS_HOST")
            .unwrap_or_else(|| "localhost".to_owned());
        let prometheus_port = env.number("OTEL_EXPORTER_PROMETHEUS_PORT", 9464u16);

        let sdk_log_level = match env.get("OTEL_LOG_LEVEL") {
            None => "info".to_owned(),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                l @ ("trace" | "debug" | "info" | "warn" | "error") => l.to_owned(),
                "none" | "off" => "off".to_owned(),
                _ => {
                    env.warn("OTEL_LOG_LEVEL", &v, "info");
                    "info".to_owned()
                }
            },
        };
        let log_filter = env.get("RUST_LOG").unwrap_or_else(|| "info".to_owned());
        let log_format = match env.get("TRACEWIRE_LOG_FORMAT") {
            None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => LogFormat::Text,
            None => LogFormat::Json,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                "pretty" => LogFormat::Pretty,
                "off" | "none" => LogFormat::Off,
                _ => {
                    env.warn("TRACEWIRE_LOG_FORMAT", &v, "json");
                    LogFormat::Json
                }
            },
        };
        let pushgateway_url = env
            .get("TRACEWIRE_PUSHGATEWAY_URL")
            .filter(|u| !u.is_empty());
        let pushgateway_job = env
            .get("TRACEWIRE_PUSHGATEWAY_JOB")
            .filter(|j| !j.is_empty());
        let trace_browser = env.bool("TRACEWIRE_TRACE_BROWSER", false);
        let trace_browser_max_traces = env.number(
            "TRACEWIRE_TRACE_BROWSER_MAX_TRACES",
            DEFAULT_TRACE_BROWSER_MAX_TRACES,
        );
        let trace_browser_max_bytes = env.number(
            "TRACEWIRE_TRACE_BROWSER_MAX_BYTES",
            DEFAULT_TRACE_BROWSER_MAX_BYTES,
        );
        if env.get("OTEL_CONFIG_FILE").is_some() {
            env.note("OTEL_CONFIG_FILE is not supported; the OTEL_* variables apply".to_owned());
        }

        Self {
            sdk_disabled,
            service_name,
            resource_attributes,
            default_service_name: None,
            code_resource_attributes: Vec::new(),
            propagators,
            sampler,
            traces_exporters,
            metrics_exporters,
            logs_exporters,
            otlp,
            otlp_signal,
            span_batch,
            log_batch,
            metric_export_interval,
            metric_export_timeout,
            metrics_delta_temporality,
            exemplar_filter,
            limits,
            prometheus_listen: (prometheus_host, prometheus_port),
            prometheus_listener,
            process_metrics,
            baggage_span_attributes,
            sdk_log_level,
            log_filter,
            log_format,
            pushgateway_url,
            pushgateway_job,
            trace_browser,
            trace_browser_max_traces,
            trace_browser_max_bytes,
            warnings: Vec::new(),
        }
    }

    /// The OTLP settings of `signal`: signal-specific variables beat generic
    /// ones; a generic HTTP endpoint is a base to which `v1/{signal}` is
    /// appended, a signal-specific one is used as is.
    pub fn otlp(&self, signal: Signal) -> OtlpConfig {
        let specific = &self.otlp_signal[signal as usize];
        let generic = &self.otlp;
        let protocol = specific
            .protocol
            .or(generic.protocol)
            .unwrap_or(Protocol::HttpProtobuf);
        let insecure = specific.insecure.or(generic.insecure).unwrap_or(false);
        // The spec: an endpoint without a scheme is for gRPC; `INSECURE`
        // says whether it is plain text. Over HTTP the URL's scheme decides.
        let with_scheme = |url: &String| {
            if url.contains("://") {
                url.clone()
            } else if insecure {
                format!("http://{url}")
            } else {
                format!("https://{url}")
            }
        };
        let endpoint = match (protocol, &specific.endpoint, &generic.endpoint) {
            (Protocol::HttpProtobuf, Some(url), _) => with_root_path(&with_scheme(url)),
            (Protocol::HttpProtobuf, None, Some(base)) => {
                join_path(&with_scheme(base), signal.path())
            }
            (Protocol::HttpProtobuf, None, None) => {
                join_path("http://localhost:4318", signal.path())
            }
            (Protocol::Grpc, Some(url), _) | (Protocol::Grpc, None, Some(url)) => with_scheme(url),
            (Protocol::Grpc, None, None) => "http://localhost:4317".to_owned(),
        };
        let pick = |specific: &Option<TlsFile>, generic: &Option<TlsFile>| {
            specific.clone().or_else(|| generic.clone())
        };
        let headers = if specific.headers.is_empty() {
            &generic.headers
        } else {
            &specific.headers
        };
        OtlpConfig {
            protocol,
            endpoint,
            headers: headers.clone(),
            // One export, retries included, within both the transport's
            // timeout and the signal's export timeout (`OTEL_BSP_EXPORT_TIMEOUT`,
            // `OTEL_BLRP_EXPORT_TIMEOUT`, `OTEL_METRIC_EXPORT_TIMEOUT`).
            timeout: specific
                .timeout
                .or(generic.timeout)
                .unwrap_or(Duration::from_secs(10))
                .min(self.export_timeout(signal)),
            compression: specific.compression.or(generic.compression),
            tls: TlsFiles {
                certificate: pick(&specific.certificate, &generic.certificate),
                client_key: pick(&specific.client_key, &generic.client_key),
                client_certificate: pick(&specific.client_certificate, &generic.client_certificate),
            },
        }
    }

    /// The export timeout of `signal`'s processor or reader.
    pub fn export_timeout(&self, signal: Signal) -> Duration {
        match signal {
            Signal::Traces => self.span_batch.export_timeout,
            Signal::Logs => self.log_batch.export_timeout,
            Signal::Metrics => self.metric_export_timeout,
        }
    }

    /// Sets the generic OTLP endpoint (a base URL, like `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub fn set_otlp_endpoint(&mut self, base: impl Into<String>) {
        self.otlp.endpoint = Some(base.into());
    }

    /// Sets the OTLP transport for every signal.
    pub fn set_otlp_protocol(&mut self, protocol: Protocol) {
        self.otlp.protocol = Some(protocol);
        for s in &mut self.otlp_signal {
            s.protocol = None;
        }
    }

    /// One line describing the resolved configuration, with header values
    /// redacted; `init` logs it at INFO.
    pub fn summary(&self, service_name: &str) -> String {
        let names = |v: &[ExporterKind]| -> String {
            if v.is_empty() {
                "none".into()
            } else {
                v.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(",")
            }
        };
        let mut s = format!(
            "service={service_name} traces={} metrics={} logs={} sampler={} propagators={}",
            names(&self.traces_exporters),
            names(&self.metrics_exporters),
            names(&self.logs_exporters),
            self.sampler,
            if self.propagators.is_empty() {
                "none".to_owned()
            } else {
                self.propagators
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            },
        );
        for (signal, exporters) in [
            (Signal::Traces, &self.traces_exporters),
            (Signal::Metrics, &self.metrics_exporters),
            (Signal::Logs, &self.logs_exporters),
        ] {
            if exporters.contains(&ExporterKind::Otlp) {
                let o = self.otlp(signal);
                s.push_str(&format!(
                    " otlp.{}={} ({}, headers={:?})",
                    signal.env().to_ascii_lowercase(),
                    o.endpoint,
                    o.protocol,
                    RedactedHeaders(&o.headers)
                ));
            }
        }
        if self.sdk_disabled {
            s.push_str(" sdk_disabled=true");
        }
        if self.prometheus_listener {
            s.push_str(&format!(
                " prometheus_listener={}:{}",
                self.prometheus_listen.0, self.prometheus_listen.1
            ));
        }
        s
    }
}

fn read_sampler(env: &mut EnvReader<'_>) -> SamplerConfig {
    const NAME: &str = "OTEL_TRACES_SAMPLER";
    let ratio = |env: &mut EnvReader<'_>| -> f64 {
        match env.get("OTEL_TRACES_SAMPLER_ARG") {
            None => 1.0,
            Some(v) => match v.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => r,
                _ => {
                    env.warn("OTEL_TRACES_SAMPLER_ARG", &v, 1.0);
                    1.0
                }
            },
        }
    };
    let Some(raw) = env.get(NAME) else {
        return SamplerConfig::ParentBasedAlwaysOn;
    };
    match raw.to_ascii_lowercase().as_str() {
        "always_on" => SamplerConfig::AlwaysOn,
        "always_off" => SamplerConfig::AlwaysOff,
        "traceidratio" => SamplerConfig::TraceIdRatio(ratio(env)),
        "parentbased_always_on" => SamplerConfig::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerConfig::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerConfig::ParentBasedTraceIdRatio(ratio(env)),
        _ => {
            env.warn(NAME, &raw, "parentbased_always_on");
            SamplerConfig::ParentBasedAlwaysOn
        }
    }
}

fn read_otlp(env: &mut EnvReader<'_>, prefix: &str) -> OtlpVars {
    let var = |suffix: &str| format!("{prefix}{suffix}");
    let protocol = env
        .get(&var("PROTOCOL"))
        .and_then(|v| match v.to_ascii_lowercase().as_str() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            _ => {
                env.warn(&var("PROTOCOL"), &v, "http/protobuf");
                None
            }
        });
    let headers = match env.get(&var("HEADERS")) {
        None => Vec::new(),
        Some(raw) => parse_key_values(&raw).unwrap_or_else(|| {
            // The value may hold a credential: name the variable, not the value.
            env.note(format!(
                "invalid value for {}; no headers from it",
                var("HEADERS")
            ));
            Vec::new()
        }),
    };
    let timeout = env
        .get(&var("TIMEOUT"))
        .map(|_| env.millis(&var("TIMEOUT"), Duration::from_secs(10), true));
    let compression =
        env.get(&var("COMPRESSION"))
            .and_then(|v| match v.to_ascii_lowercase().as_str() {
                "gzip" => Some(Compression::Gzip),
                "none" => None,
                _ => {
                    env.warn(&var("COMPRESSION"), &v, "none");
                    None
                }
            });
    let insecure = env
        .get(&var("INSECURE"))
        .map(|_| env.bool(&var("INSECURE"), false));
    let endpoint = env.get(&var("ENDPOINT")).and_then(|v| {
        if v.starts_with("http://") || v.starts_with("https://") || !v.contains("://") {
            // Scheme-less (`collector:4317`) is for gRPC, where `INSECURE`
            // picks the scheme; `Config::otlp` decides.
            Some(v)
        } else {
            env.warn(&var("ENDPOINT"), &v, "the default endpoint");
            None
        }
    });
    let file = |env: &mut EnvReader<'_>, suffix: &str| {
        env.get(&var(suffix)).map(|path| TlsFile {
            variable: var(suffix),
            path: path.into(),
        })
    };
    OtlpVars {
        endpoint,
        protocol,
        headers,
        timeout,
        compression,
        certificate: file(env, "CERTIFICATE"),
        client_key: file(env, "CLIENT_KEY"),
        client_certificate: file(env, "CLIENT_CERTIFICATE"),
        insecure,
    }
}

fn read_batch(env: &mut EnvReader<'_>, prefix: &str, default: BatchSettings) -> BatchSettings {
    let var = |suffix: &str| format!("{prefix}{suffix}");
    let max_queue_size = env.positive(&var("MAX_QUEUE_SIZE"), default.max_queue_size);
    let batch = env.positive(&var("MAX_EXPORT_BATCH_SIZE"), default.max_export_batch_size);
    BatchSettings {
        schedule_delay: env.millis(&var("SCHEDULE_DELAY"), default.schedule_delay, false),
        max_queue_size,
        // The spec: the batch size must not exceed the queue size.
        max_export_batch_size: batch.min(max_queue_size),
        export_timeout: env.millis(&var("EXPORT_TIMEOUT"), default.export_timeout, true),
    }
}

fn read_limits(env: &mut EnvReader<'_>) -> Limits {
    let general_length = env.limit("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT");
    let general_count = env.number("OTEL_ATTRIBUTE_COUNT_LIMIT", 128u32);
    let span_length = env
        .limit("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")
        .or(general_length);
    Limits {
        span_attribute_value_length: span_length,
        span_attribute_count: env.number("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", general_count),
        span_event_count: env.number("OTEL_SPAN_EVENT_COUNT_LIMIT", 128u32),
        span_link_count: env.number("OTEL_SPAN_LINK_COUNT_LIMIT", 128u32),
        event_attribute_count: env.number("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", general_count),
        link_attribute_count: env.number("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", general_count),
    }
}

/// A signal-specific URL is used as is, except that an empty path becomes `/`.
fn with_root_path(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) if !rest.contains('/') => format!("{url}/"),
        _ => url.to_owned(),
    }
}

/// Appends `path` to a base URL with exactly one `/` between them.
fn join_path(base: &str, path: &str) -> String {
    format!("{}/{path}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use opentelemetry::Context;
    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample as _};

    use super::SamplerConfig;

    /// `samples` decides as the SDK sampler it stands for, on every kind of
    /// parent and across the trace-id range (ratio boundaries included).
    #[test]
    fn samples_decides_as_the_sdk_sampler() {
        let configs = [
            SamplerConfig::AlwaysOn,
            SamplerConfig::AlwaysOff,
            SamplerConfig::TraceIdRatio(0.25),
            SamplerConfig::TraceIdRatio(0.0),
            SamplerConfig::TraceIdRatio(1.0),
            SamplerConfig::TraceIdRatio(-1.0),
            SamplerConfig::ParentBasedAlwaysOn,
            SamplerConfig::ParentBasedAlwaysOff,
            SamplerConfig::ParentBasedTraceIdRatio(0.5),
            SamplerConfig::ParentBasedTraceIdRatio(0.01),
        ];
        let parent = |flags: u8, remote: bool| {
            Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
                SpanId::from(0x00f0_67aa_0ba9_02b7),
                TraceFlags::new(flags),
                remote,
                TraceState::default(),
            ))
        };
        let parents = [
            Context::new(),
            parent(0x01, true),
            parent(0x00, true),
            parent(0x03, false),
            parent(0x00, false),
            // An active span whose context is invalid: the SDK's
            // parent-based sampler treats it as an unsampled parent.
            Context::new().with_remote_span_context(SpanContext::empty_context()),
        ];
        let mut ids: Vec<u128> = (0..64u32)
            .map(|i| (u128::from(i) << 122) | (u128::from(i) * 0x9e37_79b9_7f4a_7c15))
            .collect();
        ids.extend([1, u128::from(u64::MAX), u128::MAX, (1u128 << 62) * 2]);
        for config in configs {
            let sdk = config.sdk_sampler();
            for cx in &parents {
                for &id in &ids {
                    let trace_id = TraceId::from(id);
                    let expected = sdk
                        .should_sample(Some(cx), trace_id, "x", &SpanKind::Server, &[], &[])
                        .decision
                        == SamplingDecision::RecordAndSample;
                    assert_eq!(
                        config.samples(cx, trace_id),
                        expected,
                        "{config:?}, parent {:?}, trace id {id:032x}",
                        cx.span().span_context()
                    );
                }
            }
        }
    }
}
