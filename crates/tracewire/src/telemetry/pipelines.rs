//! The providers of each signal, built from the configuration: one function
//! per signal, with the exporters, processors, readers and views it names.
//! A signal whose exporter cannot be built is reported in [`Problems`] and
//! left out; the others are built all the same.

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanLimits};

use crate::config::{Config, ExporterKind, Signal};
use crate::error::Error;
use crate::export::accounting::{
    CountedLogExporter, CountedLogProcessor, CountedSpanExporter, QueueSlots, SelfMetrics,
};
use crate::export::batch::SpanBatch;
use crate::export::runtime::TelemetryRuntime;
use crate::export::{component_type, otlp_log_exporter, otlp_metric_exporter, otlp_span_exporter};
use crate::prometheus::{Exposition, PullReader};

/// A change to a provider builder requested in code (extra exporters, readers).
pub(super) type Extra<B> = Box<dyn FnOnce(B) -> B + Send>;
/// A span processor requested in code, made once the self metrics exist
/// (it may count into them).
pub(super) type ExtraTraces = Box<dyn FnOnce(&SelfMetrics) -> ExtraProcessor + Send>;

/// What [`ExtraTraces`] makes.
pub(super) enum ExtraProcessor {
    /// A batch processor around an exporter added in code.
    Batch(SpanBatch),
    /// A processor that needs no `on_start` call (the testing helpers').
    #[cfg(feature = "testing")]
    EndOnly(Box<dyn opentelemetry_sdk::trace::SpanProcessor>),
    /// The caller's own processor, which may need `on_start`: then the
    /// SDK builds every span.
    CallersOwn(Box<dyn opentelemetry_sdk::trace::SpanProcessor>),
}

/// The span processors of the provider being built, each shared with the
/// [`SpanRecorder`](crate::own_spans::SpanRecorder) that delivers
/// tracewire's own spans to the same processors.
struct Processors {
    resource: Resource,
    shared: Vec<crate::own_spans::SharedProcessor>,
}

impl Processors {
    fn add(&mut self, processor: impl opentelemetry_sdk::trace::SpanProcessor + 'static) {
        self.add_boxed(Box::new(processor));
    }

    fn add_boxed(&mut self, mut processor: Box<dyn opentelemetry_sdk::trace::SpanProcessor>) {
        // Set now: once shared, the processor is behind an `Arc`.
        processor.set_resource(&self.resource);
        self.shared.push(crate::own_spans::SharedProcessor::Other(
            std::sync::Arc::from(processor),
        ));
    }

    fn add_batch(&mut self, mut batch: SpanBatch) {
        opentelemetry_sdk::trace::SpanProcessor::set_resource(&mut batch, &self.resource);
        self.shared.push(crate::own_spans::SharedProcessor::Batch(
            std::sync::Arc::new(batch),
        ));
    }
}

/// What [`tracer_provider`] built.
pub(super) struct Tracing {
    pub(super) provider: SdkTracerProvider,
    /// Whether any processor takes spans somewhere.
    pub(super) consumed: bool,
    /// tracewire's own spans' recorder, unless the SDK builds them.
    pub(super) recorder: Option<std::sync::Arc<crate::own_spans::SpanRecorder>>,
}

/// Set-up problems: one warning each, and the first as the error `try_init`
/// returns.
pub(super) struct Problems {
    pub(super) warnings: Vec<String>,
    pub(super) first_error: Option<Error>,
}

impl Problems {
    pub(super) fn new(warnings: Vec<String>) -> Self {
        Self {
            warnings,
            first_error: None,
        }
    }

    /// `signal` cannot be exported because of `error`.
    pub(super) fn fail(&mut self, signal: &str, error: Error) {
        self.warnings
            .push(format!("{signal} are not exported: {error}"));
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }
}

/// The meter provider: readers for Prometheus, OTLP and the console, the
/// views, and the caller's own readers.
pub(super) fn meter_provider(
    config: &Config,
    resource: &Resource,
    runtime: Option<&TelemetryRuntime>,
    views: Vec<crate::View>,
    cardinality_limit: Option<usize>,
    extra_metrics: Vec<Extra<opentelemetry_sdk::metrics::MeterProviderBuilder>>,
    problems: &mut Problems,
) -> (Option<SdkMeterProvider>, Option<Exposition>) {
    if config.sdk_disabled {
        (None, None)
    } else {
        let mut builder = SdkMeterProvider::builder().with_resource(resource.clone());
        if !views.is_empty() || cardinality_limit.is_some() {
            for (name, buckets) in views.iter().filter_map(crate::View::exemplar_buckets) {
                crate::metrics::set_exemplar_buckets(name, buckets);
            }
            builder = builder.with_view(crate::views::compose(views, cardinality_limit));
        }
        let mut exposition = None;
        for kind in &config.metrics_exporters {
            match kind {
                ExporterKind::Prometheus => {
                    let reader = PullReader::default();
                    builder = builder.with_reader(reader.clone());
                    exposition = Some(Exposition::new(reader));
                }
                ExporterKind::Otlp => match runtime.map(|rt| {
                    otlp_metric_exporter(
                        &config.otlp(Signal::Metrics),
                        rt,
                        config.metrics_delta_temporality,
                    )
                }) {
                    Some(Ok(exporter)) => {
                        builder = builder.with_reader(
                            PeriodicReader::builder(exporter)
                                .with_interval(config.metric_export_interval)
                                .build(),
                        );
                    }
                    Some(Err(e)) => problems.fail("metrics", e),
                    None => {}
                },
                #[cfg(feature = "console")]
                ExporterKind::Console | ExporterKind::ConsoleRaw => {
                    builder = builder.with_reader(
                        PeriodicReader::builder(opentelemetry_stdout::MetricExporter::default())
                            .with_interval(config.metric_export_interval)
                            .build(),
                    );
                }
                #[cfg(not(feature = "console"))]
                ExporterKind::Console | ExporterKind::ConsoleRaw => {
                    problems.fail("metrics", console_not_compiled())
                }
            }
        }
        // A Pushgateway push renders the same exposition a scrape would.
        if config.pushgateway_url.is_some() && exposition.is_none() {
            let reader = PullReader::default();
            builder = builder.with_reader(reader.clone());
            exposition = Some(Exposition::new(reader));
        }
        for extra in extra_metrics {
            builder = extra(builder);
        }
        (Some(builder.build()), exposition)
    }
}

/// What the local views (terminal tree, trace browser) need from the builder.
pub(super) struct LocalViews {
    /// The trace browser's store, when it is on.
    pub(super) store: Option<std::sync::Arc<crate::view::TraceStore>>,
    /// Where the terminal tree goes instead of stdout.
    pub(super) console_writer: Option<crate::view::Sink>,
}

/// The tracer provider: sampler, limits, a counted batch processor per
/// exporter, and the caller's own processors; and the recorder of
/// tracewire's own spans, feeding the same processors (unless `sdk_spans`,
/// or a processor of the caller's, asks for the SDK's spans).
#[allow(clippy::too_many_arguments)] // the builder's parts, each needed
pub(super) fn tracer_provider(
    config: &Config,
    resource: &Resource,
    runtime: Option<&TelemetryRuntime>,
    self_metrics: &SelfMetrics,
    views: LocalViews,
    extra_traces: Vec<ExtraTraces>,
    sdk_spans: bool,
    problems: &mut Problems,
) -> Option<Tracing> {
    if config.sdk_disabled {
        None
    } else {
        // Whether any processor takes the spans somewhere (an exporter, a
        // local view, the caller's own); see `instrumentation::context_without_span`.
        let mut consumed = !extra_traces.is_empty();
        let limits = config.limits;
        let span_limits = SpanLimits {
            max_events_per_span: limits.span_event_count,
            max_attributes_per_span: limits.span_attribute_count,
            max_links_per_span: limits.span_link_count,
            max_attributes_per_event: limits.event_attribute_count,
            max_attributes_per_link: limits.link_attribute_count,
        };
        let mut builder = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_sampler(config.sampler.sdk_sampler())
            .with_span_limits(span_limits);
        let mut processors = Processors {
            resource: resource.clone(),
            shared: Vec::new(),
        };
        for kind in &config.traces_exporters {
            let limit = limits.span_attribute_value_length;
            match kind {
                ExporterKind::Otlp => {
                    let otlp = config.otlp(Signal::Traces);
                    match runtime.map(|rt| otlp_span_exporter(&otlp, rt)) {
                        Some(Ok(exporter)) => {
                            processors.add_batch(counted_batch(
                                exporter,
                                config.span_batch,
                                limit,
                                self_metrics.clone(),
                                component_type(otlp.protocol, "span"),
                            ));
                            consumed = true;
                        }
                        Some(Err(e)) => problems.fail("traces", e),
                        None => {}
                    }
                }
                // The tree printer: see the view processor below.
                ExporterKind::Console => {}
                #[cfg(feature = "console")]
                ExporterKind::ConsoleRaw => {
                    processors.add_batch(counted_batch(
                        opentelemetry_stdout::SpanExporter::default(),
                        config.span_batch,
                        limit,
                        self_metrics.clone(),
                        "console_span_exporter",
                    ));
                    consumed = true;
                }
                #[cfg(not(feature = "console"))]
                ExporterKind::ConsoleRaw => problems.fail("traces", console_not_compiled()),
                ExporterKind::Prometheus => {}
            }
        }
        let tree = config
            .traces_exporters
            .contains(&ExporterKind::Console)
            .then(|| {
                let color = std::io::IsTerminal::is_terminal(&std::io::stdout())
                    && std::env::var_os("NO_COLOR").is_none();
                crate::view::ConsoleTree::start(
                    views
                        .console_writer
                        .unwrap_or_else(|| Box::new(std::io::stdout())),
                    crate::view::Style { color },
                )
            });
        if tree.is_some() || views.store.is_some() {
            consumed = true;
            processors.add(crate::view::ViewProcessor::new(
                views.store,
                tree,
                config.limits.span_attribute_value_length,
            ));
        }
        // Baggage members are copied at start: by this processor onto the
        // SDK's spans, by the recorder onto tracewire's own.
        let baggage = (!config.baggage_span_attributes.is_empty()).then(|| {
            crate::baggage_spans::BaggageSpanProcessor::new(config.baggage_span_attributes.clone())
        });
        if let Some(baggage) = &baggage {
            builder = builder.with_span_processor(baggage.clone());
        }
        // A processor of the caller's may need `on_start`, which only the
        // SDK's spans get: then the SDK builds every span, as before.
        let mut needs_sdk_spans = sdk_spans;
        for extra in extra_traces {
            match extra(self_metrics) {
                ExtraProcessor::Batch(batch) => processors.add_batch(batch),
                #[cfg(feature = "testing")]
                ExtraProcessor::EndOnly(processor) => processors.add_boxed(processor),
                ExtraProcessor::CallersOwn(processor) => {
                    needs_sdk_spans = true;
                    processors.add_boxed(processor);
                }
            }
        }
        for processor in &processors.shared {
            builder = builder.with_span_processor(processor.clone());
        }
        let recorder = (!needs_sdk_spans).then(|| {
            std::sync::Arc::new(crate::own_spans::SpanRecorder::new(
                config.sampler,
                span_limits,
                processors.shared,
                baggage,
            ))
        });
        Some(Tracing {
            provider: builder.build(),
            consumed,
            recorder,
        })
    }
}

/// The logger provider, when any log exporter is configured.
pub(super) fn logger_provider(
    config: &Config,
    resource: &Resource,
    runtime: Option<&TelemetryRuntime>,
    self_metrics: &SelfMetrics,
    extra_logs: Vec<Extra<opentelemetry_sdk::logs::LoggerProviderBuilder>>,
    problems: &mut Problems,
) -> Option<SdkLoggerProvider> {
    if config.sdk_disabled {
        None
    } else {
        let mut builder = SdkLoggerProvider::builder().with_resource(resource.clone());
        let mut any = false;
        for kind in &config.logs_exporters {
            match kind {
                ExporterKind::Otlp => {
                    let otlp = config.otlp(Signal::Logs);
                    match runtime.map(|rt| otlp_log_exporter(&otlp, rt)) {
                        Some(Ok(exporter)) => {
                            builder = builder.with_log_processor(counted_log_batch(
                                exporter,
                                config.log_batch,
                                self_metrics.clone(),
                                component_type(otlp.protocol, "log"),
                            ));
                            any = true;
                        }
                        Some(Err(e)) => problems.fail("logs", e),
                        None => {}
                    }
                }
                #[cfg(feature = "console")]
                ExporterKind::Console | ExporterKind::ConsoleRaw => {
                    builder = builder.with_log_processor(counted_log_batch(
                        opentelemetry_stdout::LogExporter::default(),
                        config.log_batch,
                        self_metrics.clone(),
                        "console_log_exporter",
                    ));
                    any = true;
                }
                #[cfg(not(feature = "console"))]
                ExporterKind::Console | ExporterKind::ConsoleRaw => {
                    problems.fail("logs", console_not_compiled())
                }
                ExporterKind::Prometheus => {}
            }
        }
        for extra in extra_logs {
            builder = extra(builder);
            any = true;
        }
        any.then(|| builder.build())
    }
}

#[cfg(not(feature = "console"))]
fn console_not_compiled() -> Error {
    Error::Exporter("the console exporter needs tracewire's `console` feature".to_owned())
}

/// tracewire's batch processor around `exporter`, every span counted.
pub(super) fn counted_batch<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
    exporter: E,
    settings: crate::config::BatchSettings,
    value_limit: Option<usize>,
    metrics: SelfMetrics,
    component: &'static str,
) -> SpanBatch {
    let slots = QueueSlots::new(settings.max_queue_size);
    let totals = std::sync::Arc::clone(&metrics.totals);
    let counted = CountedSpanExporter::new(exporter, slots.clone(), metrics, component);
    SpanBatch::start(counted, settings, slots, value_limit, totals)
}

/// A counted batch log processor around `exporter`.
fn counted_log_batch<E: opentelemetry_sdk::logs::LogExporter + 'static>(
    exporter: E,
    settings: crate::config::BatchSettings,
    metrics: SelfMetrics,
    component: &'static str,
) -> CountedLogProcessor<BatchLogProcessor> {
    let slots = QueueSlots::new(settings.max_queue_size);
    let counted = CountedLogExporter::new(exporter, slots.clone(), metrics.clone(), component);
    let batch = BatchLogProcessor::builder(counted)
        .with_batch_config(
            opentelemetry_sdk::logs::BatchConfigBuilder::default()
                .with_max_queue_size(settings.max_queue_size)
                .with_max_export_batch_size(settings.max_export_batch_size)
                .with_scheduled_delay(settings.schedule_delay)
                .build(),
        )
        .build();
    CountedLogProcessor::new(batch, slots, metrics)
}
