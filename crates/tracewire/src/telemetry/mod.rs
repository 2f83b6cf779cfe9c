//! Setting up the providers, the subscriber and the globals; the guard that
//! flushes them.

mod active;
mod pipelines;

use pipelines::{Extra, ExtraProcessor, ExtraTraces};

use active::set_active_tracer_provider;
pub use active::{active_sampler, sdk_tracer};

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{LoggerProviderBuilder, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{MeterProviderBuilder, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{Config, ExporterKind, LogFormat, Protocol, SamplerConfig};
use crate::error::Error;
use crate::export::accounting::{PipelineStats, SelfMetrics, Totals};
use crate::export::runtime::TelemetryRuntime;
use crate::logging::JsonFormat;
use crate::prometheus::Exposition;
use crate::propagation::{self, PropagatorKind};

/// Layers for a user-composed subscriber.
pub type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

type WriterFactory = Arc<dyn Fn() -> BoxMakeWriter + Send + Sync>;

/// Instrumentation scope of the spans and logs tracewire's own layer emits.
const SCOPE: &str = "tracewire";

/// Targets never forwarded as OTLP log records: the exporters' own stack
/// would otherwise log about exporting its logs, forever.
const EXPORT_STACK_TARGETS: &[&str] =
    &["opentelemetry", "hyper", "h2", "tonic", "tower", "reqwest"];

/// Code-level settings on top of the environment. Start with [`builder`](crate::builder).
pub struct TelemetryBuilder {
    config: Config,
    writer: WriterFactory,
    shutdown_timeout: Duration,
    span_details: bool,
    panic_hook: bool,
    views: Vec<crate::View>,
    cardinality_limit: Option<usize>,
    extra_traces: Vec<ExtraTraces>,
    sdk_spans: bool,
    extra_logs: Vec<Extra<LoggerProviderBuilder>>,
    extra_metrics: Vec<Extra<MeterProviderBuilder>>,
    console_writer: Option<crate::view::Sink>,
}

impl fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for TelemetryBuilder {
    fn default() -> Self {
        Self::from_config(Config::from_env())
    }
}

impl TelemetryBuilder {
    /// Starts from an explicit configuration instead of the environment.
    pub fn from_config(config: Config) -> Self {
        Self {
            config,
            writer: Arc::new(|| BoxMakeWriter::new(std::io::stdout)),
            shutdown_timeout: Duration::from_secs(5),
            span_details: false,
            panic_hook: true,
            views: Vec::new(),
            cardinality_limit: None,
            extra_traces: Vec::new(),
            sdk_spans: false,
            extra_logs: Vec::new(),
            extra_metrics: Vec::new(),
            console_writer: None,
        }
    }

    /// The configuration as read so far (environment plus earlier setters).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Changes the configuration in place.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// `service.name` (wins over `OTEL_SERVICE_NAME`).
    pub fn service_name(self, name: impl Into<String>) -> Self {
        self.resource_attribute("service.name", name)
    }

    /// The service name to use when the environment names none: the
    /// deployment can still rename the service with `OTEL_SERVICE_NAME`.
    pub fn default_service_name(mut self, name: impl Into<String>) -> Self {
        self.config.default_service_name = Some(name.into());
        self
    }

    /// `deployment.environment.name` (e.g. `production`, `staging`).
    pub fn deployment_environment(self, name: impl Into<String>) -> Self {
        self.resource_attribute("deployment.environment.name", name)
    }

    /// `service.version`.
    pub fn service_version(self, version: impl Into<String>) -> Self {
        self.resource_attribute("service.version", version)
    }

    /// Any resource attribute; code wins over the environment.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.config
            .code_resource_attributes
            .retain(|(k, _)| *k != key);
        self.config
            .code_resource_attributes
            .push((key, value.into()));
        self
    }

    /// The generic OTLP endpoint (a base URL) and OTLP as the exporter of
    /// traces, metrics and logs.
    pub fn otlp_endpoint(mut self, base: impl Into<String>) -> Self {
        self.config.set_otlp_endpoint(base);
        for list in [
            &mut self.config.traces_exporters,
            &mut self.config.metrics_exporters,
            &mut self.config.logs_exporters,
        ] {
            if !list.contains(&ExporterKind::Otlp) {
                list.push(ExporterKind::Otlp);
            }
        }
        self
    }

    /// The OTLP transport for every signal.
    pub fn otlp_protocol(mut self, protocol: Protocol) -> Self {
        self.config.set_otlp_protocol(protocol);
        self
    }

    /// The head sampler.
    pub fn sampler(mut self, sampler: SamplerConfig) -> Self {
        self.config.sampler = sampler;
        self
    }

    /// The propagators (order matters on extraction).
    pub fn propagators(mut self, kinds: Vec<PropagatorKind>) -> Self {
        self.config.propagators = kinds;
        self
    }

    /// The stdout log format.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.config.log_format = format;
        self
    }

    /// The `tracing` filter (overrides `RUST_LOG`).
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.config.log_filter = filter.into();
        self
    }

    /// Where log lines go instead of stdout (tests capture them this way).
    pub fn log_writer<W>(mut self, make_writer: W) -> Self
    where
        W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Clone + Send + Sync + 'static,
    {
        self.writer = Arc::new(move || BoxMakeWriter::new(make_writer.clone()));
        self
    }

    /// Puts `tracing-opentelemetry`'s extras on spans from `tracing`:
    /// `busy_ns`/`idle_ns`, `target`, and the code location (`code.file.path`,
    /// `code.line.number`, and its `code.module.name`, which is not a
    /// semantic convention). Off by default: the spans carry only
    /// convention attributes and the user's fields.
    pub fn span_details(mut self, on: bool) -> Self {
        self.span_details = on;
        self
    }

    /// Process metrics (`process.cpu.time`, `process.memory.usage`, …) and
    /// the Tokio runtime's (`tokio.runtime.workers`, …), read only when
    /// metrics are collected. On by default; also `TRACEWIRE_PROCESS_METRICS=false`.
    pub fn process_metrics(mut self, on: bool) -> Self {
        self.config.process_metrics = on;
        self
    }

    /// Copies these baggage members onto every span started under them, as
    /// attributes of the same name (also `TRACEWIRE_BAGGAGE_SPAN_ATTRIBUTES`,
    /// comma-separated). None by default: baggage comes from callers.
    pub fn baggage_span_attributes<K: Into<String>>(
        mut self,
        keys: impl IntoIterator<Item = K>,
    ) -> Self {
        self.config.baggage_span_attributes = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a [`View`](crate::View): new buckets, kept attributes, a new
    /// name, a cardinality limit, or nothing exported for an instrument. The
    /// first view that names an instrument applies.
    pub fn view(mut self, view: crate::View) -> Self {
        self.views.push(view);
        self
    }

    /// The most attribute sets any instrument exports (default: the SDK's
    /// 2000); past it, measurements go to one series marked
    /// `otel.metric.overflow="true"`. A view's own limit wins.
    pub fn cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = Some(limit);
        self
    }

    /// Whether [`init`](Self::init) installs the panic hook that records a
    /// panic on the current span (default on; see [`crate::install_panic_hook`]).
    pub fn panic_hook(mut self, on: bool) -> Self {
        self.panic_hook = on;
        self
    }

    /// The upper bound on [`Telemetry::shutdown`] (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sends spans to `exporter` too, through a counted batch processor with
    /// the `OTEL_BSP_*` settings.
    pub fn with_span_exporter<E>(mut self, exporter: E) -> Self
    where
        E: opentelemetry_sdk::trace::SpanExporter + 'static,
    {
        let batch = self.config.span_batch;
        let limit = self.config.limits.span_attribute_value_length;
        self.extra_traces.push(Box::new(move |metrics| {
            ExtraProcessor::Batch(pipelines::counted_batch(
                exporter,
                batch,
                limit,
                metrics.clone(),
                "custom_span_exporter",
            ))
        }));
        self
    }

    /// Adds a span processor as is (e.g. a `SimpleSpanProcessor` in tests).
    ///
    /// The processor may rely on `on_start`, which only the SDK's own spans
    /// get, so with one the integrations' spans are built by the SDK (as
    /// with [`sdk_spans`](Self::sdk_spans)); to receive finished spans
    /// only, [`with_span_exporter`](Self::with_span_exporter) keeps
    /// tracewire's lighter span path.
    pub fn with_span_processor<P: opentelemetry_sdk::trace::SpanProcessor + 'static>(
        mut self,
        processor: P,
    ) -> Self {
        self.extra_traces.push(Box::new(move |_| {
            ExtraProcessor::CallersOwn(Box::new(processor))
        }));
        self
    }

    /// Adds a span processor that needs no `on_start` call (the testing
    /// helpers' in-memory one): tracewire's own spans stay on their path.
    #[cfg(feature = "testing")]
    pub(crate) fn with_end_only_span_processor<P>(mut self, processor: P) -> Self
    where
        P: opentelemetry_sdk::trace::SpanProcessor + 'static,
    {
        self.extra_traces.push(Box::new(move |_| {
            ExtraProcessor::EndOnly(Box::new(processor))
        }));
        self
    }

    /// Whether the integrations' spans (an HTTP server request's, say) are
    /// built by the OpenTelemetry SDK's tracer (`true`), or recorded by
    /// tracewire and handed to the same processors when they end (`false`,
    /// the default: fewer instructions per span; see `docs/architecture.md`).
    /// The only difference a span processor can see: `on_start` is called
    /// only for the SDK's spans. Adding a processor with
    /// [`with_span_processor`](Self::with_span_processor) turns this on.
    pub fn sdk_spans(mut self, on: bool) -> Self {
        self.sdk_spans = on;
        self
    }

    /// Adds a log-record processor (e.g. a `SimpleLogProcessor` in tests).
    pub fn with_log_processor<P: opentelemetry_sdk::logs::LogProcessor + 'static>(
        mut self,
        processor: P,
    ) -> Self {
        self.extra_logs.push(Box::new(move |builder| {
            builder.with_log_processor(processor)
        }));
        self
    }

    /// Adds a metric reader (e.g. a `PeriodicReader` over an in-memory exporter).
    pub fn with_metric_reader<R: opentelemetry_sdk::metrics::reader::MetricReader>(
        mut self,
        reader: R,
    ) -> Self {
        self.extra_metrics
            .push(Box::new(move |builder| builder.with_reader(reader)));
        self
    }

    /// Where the console trace tree (`OTEL_TRACES_EXPORTER=console`) is
    /// written instead of stdout (colour stays off unless stdout is a
    /// terminal). Whole trees are written in one call each.
    pub fn console_writer<W: std::io::Write + Send + 'static>(mut self, writer: W) -> Self {
        self.console_writer = Some(Box::new(writer));
        self
    }

    /// Pushes the metrics to a Prometheus Pushgateway at `url`
    /// (`http://host:port`) as group `job` when the telemetry shuts down —
    /// for batch jobs that exit before any scrape
    /// (`TRACEWIRE_PUSHGATEWAY_URL`, `TRACEWIRE_PUSHGATEWAY_JOB`).
    pub fn pushgateway(mut self, url: impl Into<String>, job: impl Into<String>) -> Self {
        self.config.pushgateway_url = Some(url.into());
        self.config.pushgateway_job = Some(job.into());
        self
    }

    /// Turns the trace browser on or off (`TRACEWIRE_TRACE_BROWSER`): recent
    /// traces kept in memory and served at `/_tracewire/`; see [`crate::view`].
    pub fn trace_browser(mut self, on: bool) -> Self {
        self.config.trace_browser = on;
        self
    }

    /// Builds everything without touching any global: the caller installs
    /// [`Telemetry::subscriber`] (or adds [`Telemetry::layers`] to its own).
    /// Exporters that cannot be built are left out with a warning.
    pub fn build(self) -> Telemetry {
        self.assemble(false)
            .unwrap_or_else(|(_, telemetry)| telemetry)
    }

    /// Builds and installs globally: the `tracing` subscriber, the OpenTelemetry
    /// tracer and meter providers, and the propagators. Anything that fails is
    /// reported with one warning and left out; the rest works.
    pub fn init(self) -> Telemetry {
        let telemetry = self.build();
        telemetry.install_globals(false).ok();
        telemetry
    }

    /// Like [`init`](Self::init), but any failure is an error.
    pub fn try_init(self) -> Result<Telemetry, Error> {
        let telemetry = self.assemble(true).map_err(|(e, _)| e)?;
        telemetry.install_globals(true)?;
        Ok(telemetry)
    }

    fn assemble(self, strict: bool) -> Result<Telemetry, (Error, Telemetry)> {
        let Self {
            config,
            writer,
            shutdown_timeout,
            span_details,
            panic_hook,
            views,
            cardinality_limit,
            extra_traces,
            sdk_spans,
            extra_logs,
            extra_metrics,
            console_writer,
        } = self;
        let mut problems = pipelines::Problems::new(config.warnings().to_vec());

        let resource = crate::resource::build(&config);
        let needs_runtime = [
            &config.traces_exporters,
            &config.metrics_exporters,
            &config.logs_exporters,
        ]
        .iter()
        .any(|l| l.contains(&ExporterKind::Otlp))
            || config.prometheus_listener;
        let runtime = if needs_runtime && !config.sdk_disabled {
            match TelemetryRuntime::start() {
                Ok(rt) => Some(rt),
                Err(e) => {
                    problems.fail("traces, metrics and logs", Error::Runtime(e));
                    None
                }
            }
        } else {
            None
        };

        let totals = Arc::new(Totals::default());
        let (meter_provider, exposition) = pipelines::meter_provider(
            &config,
            &resource,
            runtime.as_ref(),
            views,
            cardinality_limit,
            extra_metrics,
            &mut problems,
        );
        // Read at collection time only; the runtime is the one `init` ran in.
        let process_metrics = match &meter_provider {
            Some(mp) if config.process_metrics => {
                Some(crate::process_metrics::ProcessMetrics::register(
                    &opentelemetry::metrics::MeterProvider::meter(mp, SCOPE),
                    tokio::runtime::Handle::try_current().ok(),
                ))
            }
            _ => None,
        };
        let self_metrics = SelfMetrics::new(
            &match &meter_provider {
                Some(mp) => opentelemetry::metrics::MeterProvider::meter(mp, SCOPE),
                None => opentelemetry::metrics::MeterProvider::meter(
                    &opentelemetry::metrics::noop::NoopMeterProvider::new(),
                    SCOPE,
                ),
            },
            Arc::clone(&totals),
        );

        let trace_store = (config.trace_browser && !config.sdk_disabled).then(|| {
            Arc::new(crate::view::TraceStore::new(
                config.trace_browser_max_traces,
                config.trace_browser_max_bytes,
            ))
        });
        let traced = pipelines::tracer_provider(
            &config,
            &resource,
            runtime.as_ref(),
            &self_metrics,
            pipelines::LocalViews {
                store: trace_store.clone(),
                console_writer,
            },
            extra_traces,
            sdk_spans,
            &mut problems,
        );

        let (tracer_provider, spans_consumed, span_recorder) = match traced {
            Some(t) => (Some(t.provider), t.consumed, t.recorder),
            None => (None, false, None),
        };
        let logger_provider = pipelines::logger_provider(
            &config,
            &resource,
            runtime.as_ref(),
            &self_metrics,
            extra_logs,
            &mut problems,
        );

        let pushgateway = match (&config.pushgateway_url, config.sdk_disabled) {
            (Some(url), false) => {
                let service = crate::resource::service_name(&resource);
                let job = config.pushgateway_job.as_deref().unwrap_or(&service);
                match crate::prometheus::Pushgateway::new(url, job) {
                    Ok(pushgateway) => Some(pushgateway),
                    Err(e) => {
                        problems.fail("metrics", e);
                        None
                    }
                }
            }
            _ => None,
        };
        let prometheus_listen = config
            .prometheus_listener
            .then(|| config.prometheus_listen.clone());
        let telemetry = Telemetry {
            inner: Arc::new(Inner {
                service_name: crate::resource::service_name(&resource),
                resource,
                config,
                tracer_provider,
                spans_consumed,
                span_recorder,
                meter_provider,
                logger_provider,
                exposition,
                pushgateway,
                trace_store,
                runtime: Mutex::new(runtime),
                totals,
                writer,
                shutdown_timeout,
                span_details,
                panic_hook,
                _process_metrics: process_metrics,
                instrument_error_type: Default::default(),
                shut_down: AtomicBool::new(false),
                warnings: Mutex::new(problems.warnings),
            }),
        };
        let mut first_error = problems.first_error;
        if let Some((host, port)) = prometheus_listen {
            if let Err(e) = telemetry.start_prometheus_listener(&host, port) {
                telemetry.warn(format!("metrics are not served: {e}"));
                if first_error.is_none() {
                    first_error = Some(e);
                }
            }
        }
        match first_error {
            Some(e) if strict => Err((e, telemetry)),
            _ => Ok(telemetry),
        }
    }
}

struct Inner {
    service_name: String,
    resource: Resource,
    config: Config,
    tracer_provider: Option<SdkTracerProvider>,
    /// Whether any span processor takes spans somewhere; when none does, the
    /// integrations build no span (`instrumentation::context_without_span`).
    spans_consumed: bool,
    /// Records the integrations' own spans (see `own_spans`), unless the
    /// SDK builds them.
    span_recorder: Option<Arc<crate::own_spans::SpanRecorder>>,
    meter_provider: Option<SdkMeterProvider>,
    logger_provider: Option<SdkLoggerProvider>,
    exposition: Option<Exposition>,
    /// Where shutdown pushes the metrics, when configured.
    pushgateway: Option<crate::prometheus::Pushgateway>,
    /// The trace browser's store, when it is on.
    trace_store: Option<Arc<crate::view::TraceStore>>,
    runtime: Mutex<Option<TelemetryRuntime>>,
    totals: Arc<Totals>,
    writer: WriterFactory,
    shutdown_timeout: Duration,
    /// Busy/idle times, target and code location on spans from `tracing`.
    span_details: bool,
    /// Whether `init` installs the panic hook.
    panic_hook: bool,
    /// Held for their callbacks.
    _process_metrics: Option<crate::process_metrics::ProcessMetrics>,
    /// `error.type` for `#[instrument(err)]` spans (shared by every
    /// subscriber built from this telemetry; the first one wins).
    instrument_error_type: crate::errors::InstrumentErrorType,
    shut_down: AtomicBool,
    /// Problems found while setting up, logged once a subscriber exists.
    warnings: Mutex<Vec<String>>,
}

/// The telemetry `init` installed, for [`flush`] (weak: dropping the guard
/// still shuts it down).
static INSTALLED: crate::installed::Installed<std::sync::Weak<Inner>> =
    crate::installed::Installed::new();

/// Exports everything the installed telemetry (the one [`init`](crate::init)
/// returned) has buffered, without stopping it; nothing when none is
/// installed or it was dropped. Servers call it after their last response
/// (`tracewire_axum::serve` does).
pub fn flush() {
    let inner = INSTALLED.get().and_then(|installed| installed.upgrade());
    if let Some(inner) = inner {
        if !inner.shut_down.load(Ordering::Acquire) {
            inner.force_flush();
        }
    }
}

impl Inner {
    fn force_flush(&self) {
        if let Some(tp) = &self.tracer_provider {
            let _ = tp.force_flush();
        }
        if let Some(lp) = &self.logger_provider {
            let _ = lp.force_flush();
        }
        if let Some(mp) = &self.meter_provider {
            let _ = mp.force_flush();
        }
    }

    /// Stops traces, then logs, then metrics, each with what is left of
    /// `deadline`, then the export runtime.
    fn stop_pipelines(&self, deadline: Instant) {
        let remaining = || {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        };
        if let Some(recorder) = &self.span_recorder {
            recorder.shut_down();
        }
        if let Some(tp) = &self.tracer_provider {
            let _ = tp.shutdown_with_timeout(remaining());
        }
        if let Some(lp) = &self.logger_provider {
            let _ = lp.shutdown_with_timeout(remaining());
        }
        if let (Some(pushgateway), Some(exposition)) = (&self.pushgateway, &self.exposition) {
            let text = exposition.render(crate::prometheus::Format::Classic);
            if let Err(e) = pushgateway.push(&text, remaining()) {
                tracing::warn!(target: "tracewire", "{e}");
            }
        }
        if let Some(mp) = &self.meter_provider {
            let _ = mp.shutdown_with_timeout(remaining());
        }
        if let Ok(mut runtime) = self.runtime.lock() {
            if let Some(mut rt) = runtime.take() {
                rt.stop();
            }
        }
    }
}

/// The installed telemetry. Keep it alive for the life of the program: dropping
/// it (or calling [`shutdown`](Self::shutdown)) flushes and stops every signal.
pub struct Telemetry {
    inner: Arc<Inner>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("service_name", &self.inner.service_name)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// The resolved configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The resource every signal carries.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// The tracer provider (`None` with `OTEL_SDK_DISABLED=true`).
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.inner.tracer_provider.as_ref()
    }

    /// The tracer of the integrations' own spans for `scope`, from this
    /// telemetry rather than the installed one (tests that do not install
    /// globals); `None` when the SDK builds those spans or none would go
    /// anywhere.
    #[cfg(feature = "testing")]
    pub(crate) fn own_tracer(&self, scope: &'static str) -> Option<crate::own_spans::OwnTracer> {
        let recorder = self.inner.span_recorder.clone()?;
        self.inner
            .spans_consumed
            .then(|| crate::own_spans::OwnTracer::new(recorder, scope))
    }

    /// The meter provider (`None` with `OTEL_SDK_DISABLED=true`).
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.inner.meter_provider.as_ref()
    }

    /// The logger provider (`None` when no log exporter is configured).
    pub fn logger_provider(&self) -> Option<&SdkLoggerProvider> {
        self.inner.logger_provider.as_ref()
    }

    /// A meter from this telemetry's provider (a no-op one when disabled).
    pub fn meter(&self, scope: &'static str) -> opentelemetry::metrics::Meter {
        match &self.inner.meter_provider {
            Some(mp) => opentelemetry::metrics::MeterProvider::meter(mp, scope),
            None => opentelemetry::metrics::MeterProvider::meter(
                &opentelemetry::metrics::noop::NoopMeterProvider::new(),
                scope,
            ),
        }
    }

    /// The Prometheus exposition of this telemetry's metrics, when the
    /// `prometheus` metrics exporter is on (the default).
    pub fn exposition(&self) -> Option<&Exposition> {
        self.inner.exposition.as_ref()
    }

    /// Counts of spans and logs dropped or lost so far.
    pub fn stats(&self) -> PipelineStats {
        self.inner.totals.snapshot()
    }

    /// The `tracing` filter: `RUST_LOG` (default `info`) plus `OTEL_LOG_LEVEL`
    /// for the SDK's own diagnostics.
    pub fn env_filter(&self) -> EnvFilter {
        let config = &self.inner.config;
        let mut directives = config.log_filter.clone();
        if !directives.contains("opentelemetry") {
            for target in ["opentelemetry", "opentelemetry_sdk", "opentelemetry_otlp"] {
                directives.push_str(&format!(",{target}={}", config.sdk_log_level));
            }
        }
        EnvFilter::try_new(&directives).unwrap_or_else(|_| {
            self.warn(format!(
                "invalid value {:?} for RUST_LOG; using info",
                config.log_filter
            ));
            EnvFilter::new("info")
        })
    }

    /// The layers to add to a subscriber you compose yourself: stdout log
    /// lines (JSON with trace ids by default), spans from `tracing` to
    /// OpenTelemetry, and `tracing` events to OTLP logs when configured.
    pub fn layers<S>(&self) -> Vec<BoxedLayer<S>>
    where
        S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
    {
        let mut layers: Vec<BoxedLayer<S>> = Vec::new();
        let writer = (self.inner.writer)();
        match self.inner.config.log_format {
            LogFormat::Json => layers.push(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonFormat::new())
                    .with_writer(writer)
                    .boxed(),
            ),
            LogFormat::Text => layers.push(
                tracing_subscriber::fmt::layer()
                    .event_format(crate::logging::TextFormat::new(
                        std::io::IsTerminal::is_terminal(&std::io::stdout())
                            && std::env::var_os("NO_COLOR").is_none(),
                    ))
                    .with_writer(writer)
                    .boxed(),
            ),
            LogFormat::Pretty => layers.push(
                tracing_subscriber::fmt::layer()
                    .pretty()
                    .with_writer(writer)
                    .boxed(),
            ),
            LogFormat::Off => {}
        }
        if let Some(tp) = &self.inner.tracer_provider {
            // Semconv-clean by default: no `busy_ns`/`idle_ns`, `target` or
            // code location (whose `code.module.name` is no convention)
            // unless asked for.
            let details = self.inner.span_details;
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(tp.tracer(SCOPE))
                    .with_tracked_inactivity(details)
                    .with_target(details)
                    .with_location(details)
                    .boxed(),
            );
            layers.push(self.inner.instrument_error_type.clone().boxed());
        }
        if let Some(store) = &self.inner.trace_store {
            layers.push(
                crate::view::CaptureLogs {
                    store: Arc::clone(store),
                }
                .boxed(),
            );
        }
        if let Some(lp) = &self.inner.logger_provider {
            let bridge = opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(
                &crate::log_bridge::NamedEventsOnly(lp.clone()),
            );
            let not_export_stack = tracing_subscriber::filter::filter_fn(|meta| {
                !EXPORT_STACK_TARGETS
                    .iter()
                    .any(|t| meta.target().starts_with(t))
            });
            layers.push(bridge.with_filter(not_export_stack).boxed());
        }
        layers
    }

    /// A complete subscriber: [`env_filter`](Self::env_filter) plus
    /// [`layers`](Self::layers). Install it with
    /// `tracing::subscriber::set_default` (tests) or `set_global_default`.
    pub fn subscriber(&self) -> tracing::Dispatch {
        let base = Registry::default().with(self.env_filter());
        let layers = self.layers();
        let dispatch = tracing::Dispatch::new(base.with(layers));
        let _ = self
            .inner
            .instrument_error_type
            .dispatch
            .set(dispatch.downgrade());
        dispatch
    }

    fn install_globals(&self, strict: bool) -> Result<(), Error> {
        let config = &self.inner.config;
        if self.inner.panic_hook {
            crate::errors::install_panic_hook();
        }
        propagation::set_active(&config.propagators);
        global::set_text_map_propagator(propagation::composite(&config.propagators));
        crate::metrics::set_exemplar_filter(config.exemplar_filter);
        crate::prometheus::set_active(self.inner.exposition.clone());
        crate::view::set_active(self.inner.trace_store.clone());
        INSTALLED.set(Some(Arc::downgrade(&self.inner)));
        if let Some(tp) = &self.inner.tracer_provider {
            global::set_tracer_provider(tp.clone());
        }
        // Spans that no processor takes are not built by the integrations:
        // they get no tracer, and mint the ids the next hop needs instead.
        let consumed = self.inner.spans_consumed;
        set_active_tracer_provider(
            self.inner
                .tracer_provider
                .clone()
                .filter(|_| consumed)
                .map(|tp| (tp, config.sampler)),
        );
        crate::own_spans::set_recorder(
            self.inner
                .span_recorder
                .clone()
                .filter(|_| consumed && self.inner.tracer_provider.is_some()),
        );
        crate::instrumentation::set_ids_only(
            (self.inner.tracer_provider.is_some() && !consumed).then_some(config.sampler),
        );
        if let Some(mp) = &self.inner.meter_provider {
            global::set_meter_provider(mp.clone());
        }
        let installed = tracing::dispatcher::set_global_default(self.subscriber()).is_ok();
        if installed {
            let max = self
                .env_filter()
                .max_level_hint()
                .unwrap_or(tracing::level_filters::LevelFilter::TRACE);
            if let Err(e) = crate::logging::capture_log_records(max) {
                self.warn(format!(
                    "records of the `log` crate do not reach tracewire: {e} (another `log` logger is installed)"
                ));
            }
        }
        if !installed {
            self.warn(
                "a global tracing subscriber was already installed: tracewire's layers are not active; \
                 add Telemetry::layers() to your subscriber instead"
                    .to_owned(),
            );
        }
        self.flush_warnings();
        tracing::info!(target: "tracewire", "telemetry configured: {}", self.summary());
        if strict && !installed {
            return Err(Error::SubscriberAlreadySet);
        }
        Ok(())
    }

    /// One line describing what was set up (header values redacted).
    pub fn summary(&self) -> String {
        self.inner.config.summary(&self.inner.service_name)
    }

    /// Setup problems not yet logged.
    pub fn take_warnings(&self) -> Vec<String> {
        self.inner
            .warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    fn warn(&self, message: String) {
        if let Ok(mut w) = self.inner.warnings.lock() {
            w.push(message);
        }
    }

    /// Logs the setup warnings through the current subscriber, once.
    pub fn flush_warnings(&self) {
        for w in self.take_warnings() {
            tracing::warn!(target: "tracewire", "{w}");
        }
    }

    fn start_prometheus_listener(&self, host: &str, port: u16) -> Result<(), Error> {
        let addr_text = format!("{host}:{port}");
        let listener_error = |reason: String| Error::Listener {
            addr: addr_text.clone(),
            reason,
        };
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&addr_text)
            .map_err(|e| listener_error(e.to_string()))?
            .next()
            .ok_or_else(|| listener_error("no address".into()))?;
        let runtime = self
            .inner
            .runtime
            .lock()
            .map_err(|_| listener_error("poisoned".into()))?;
        let handle = runtime
            .as_ref()
            .ok_or_else(|| listener_error("no telemetry runtime".into()))?
            .handle()
            .clone();
        let exposition = self.inner.exposition.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            let _ = tx.send(crate::prometheus::serve_exposition(addr, exposition).await);
        });
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| listener_error("timed out binding".into()))?
            .map(|_| ())
            .map_err(|e| listener_error(e.to_string()))
    }

    /// Exports everything buffered so far, without stopping.
    pub fn force_flush(&self) {
        self.inner.force_flush();
    }

    /// Flushes and stops traces, then logs, then metrics, returning within the
    /// configured timeout (default 5 s) whatever the collector does.
    ///
    /// The timeout is one deadline for the whole shutdown: each signal gets
    /// what the ones before it left. The providers are stopped on a helper
    /// thread, because the SDK's periodic metric reader ignores the timeout it
    /// is given (it waits up to 5 s of its own, and its exporter up to
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`); when the deadline passes first, this
    /// returns and what was not yet exported is lost — the process can exit.
    /// Idempotent; safe from any thread, inside or outside a Tokio runtime,
    /// including a signal handler's task.
    pub fn shutdown(&self) {
        if self.inner.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        let deadline = Instant::now() + self.inner.shutdown_timeout;
        let inner = Arc::clone(&self.inner);
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let helper = std::thread::Builder::new()
            .name("tracewire-shutdown".into())
            .spawn(move || {
                inner.stop_pipelines(deadline);
                let _ = done.send(());
            });
        match helper {
            Ok(_) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                if finished.recv_timeout(wait).is_err() {
                    tracing::warn!(
                        target: "tracewire",
                        timeout = ?self.inner.shutdown_timeout,
                        "shutdown did not finish in time; telemetry not yet exported is dropped"
                    );
                }
            }
            // No thread to be had: stop inline, still passing the remaining budget on.
            Err(_) => self.inner.stop_pipelines(deadline),
        }
    }

    /// Whether [`shutdown`](Self::shutdown) has run.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shut_down.load(Ordering::Acquire)
    }

    /// Attributes of the resource as key-values (for assertions and logs).
    pub fn resource_attributes(&self) -> Vec<KeyValue> {
        self.inner
            .resource
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}
