//! Every `OTEL_*` variable the core crate reads, good and bad values alike.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::time::Duration;

use tracewire::config::{Compression, ExemplarFilter, Signal};
use tracewire::propagation::PropagatorKind;
use tracewire::{Config, ExporterKind, LogFormat, Protocol, SamplerConfig};

fn config(vars: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(move |k| map.get(k).cloned())
}

/// Exactly one warning, naming the variable and the value.
fn assert_one_warning(c: &Config, var: &str, value: &str) {
    assert_eq!(c.warnings().len(), 1, "{:?}", c.warnings());
    let w = &c.warnings()[0];
    assert!(
        w.contains(var) && w.contains(value),
        "warning {w:?} should name {var} and {value:?}"
    );
}

#[test]
fn defaults_with_an_empty_environment() {
    let c = config(&[]);
    assert!(!c.sdk_disabled);
    assert_eq!(
        c.propagators,
        [PropagatorKind::TraceContext, PropagatorKind::Baggage]
    );
    assert_eq!(c.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert_eq!(c.traces_exporters, []);
    assert_eq!(c.metrics_exporters, [ExporterKind::Prometheus]);
    assert_eq!(c.logs_exporters, []);
    assert_eq!(c.span_batch.max_queue_size, 2048);
    assert_eq!(c.span_batch.max_export_batch_size, 512);
    assert_eq!(c.span_batch.schedule_delay, Duration::from_millis(5000));
    assert_eq!(c.log_batch.schedule_delay, Duration::from_millis(1000));
    assert_eq!(c.metric_export_interval, Duration::from_secs(60));
    assert_eq!(c.prometheus_listen, ("localhost".to_owned(), 9464));
    assert!(!c.prometheus_listener);
    assert_eq!(c.log_filter, "info");
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.exemplar_filter, ExemplarFilter::TraceBased);
    assert_eq!(c.limits.span_attribute_count, 128);
    assert_eq!(c.limits.span_attribute_value_length, None);
    assert!(c.warnings().is_empty());
    let otlp = c.otlp(Signal::Traces);
    assert_eq!(otlp.protocol, Protocol::HttpProtobuf);
    assert_eq!(otlp.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(otlp.timeout, Duration::from_secs(10));
}

#[test]
fn empty_values_count_as_unset() {
    let c = config(&[
        ("OTEL_SDK_DISABLED", ""),
        ("OTEL_TRACES_SAMPLER", " "),
        ("OTEL_PROPAGATORS", ""),
    ]);
    assert!(!c.sdk_disabled);
    assert_eq!(c.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert_eq!(c.propagators.len(), 2);
    assert!(c.warnings().is_empty());
}

#[test]
fn sdk_disabled_accepts_only_true() {
    assert!(config(&[("OTEL_SDK_DISABLED", "TRUE")]).sdk_disabled);
    assert!(!config(&[("OTEL_SDK_DISABLED", "false")]).sdk_disabled);
    let c = config(&[("OTEL_SDK_DISABLED", "yes")]);
    assert!(!c.sdk_disabled);
    assert_one_warning(&c, "OTEL_SDK_DISABLED", "yes");
}

#[test]
fn propagators_are_case_insensitive_deduplicated_and_skip_unknown() {
    let c = config(&[(
        "OTEL_PROPAGATORS",
        "B3Multi, tracecontext,b3,tracecontext,jaeger",
    )]);
    assert_eq!(
        c.propagators,
        [
            PropagatorKind::B3Multi,
            PropagatorKind::TraceContext,
            PropagatorKind::B3
        ]
    );
    assert_one_warning(&c, "OTEL_PROPAGATORS", "jaeger");
    assert_eq!(config(&[("OTEL_PROPAGATORS", "none")]).propagators, []);
}

#[test]
fn samplers_are_case_insensitive() {
    assert_eq!(
        config(&[("OTEL_TRACES_SAMPLER", "Always_On")]).sampler,
        SamplerConfig::AlwaysOn
    );
    assert_eq!(
        config(&[("OTEL_TRACES_SAMPLER", "always_off")]).sampler,
        SamplerConfig::AlwaysOff
    );
    assert_eq!(
        config(&[
            ("OTEL_TRACES_SAMPLER", "ParentBased_TraceIdRatio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25")
        ])
        .sampler,
        SamplerConfig::ParentBasedTraceIdRatio(0.25)
    );
    assert_eq!(
        config(&[("OTEL_TRACES_SAMPLER", "traceidratio")]).sampler,
        SamplerConfig::TraceIdRatio(1.0)
    );
    assert_eq!(
        config(&[("OTEL_TRACES_SAMPLER", "parentbased_always_off")]).sampler,
        SamplerConfig::ParentBasedAlwaysOff
    );
}

#[test]
fn bad_sampler_values_warn_and_default() {
    let c = config(&[("OTEL_TRACES_SAMPLER", "sometimes")]);
    assert_eq!(c.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert_one_warning(&c, "OTEL_TRACES_SAMPLER", "sometimes");

    let c = config(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
    ]);
    assert_eq!(c.sampler, SamplerConfig::TraceIdRatio(1.0));
    assert_one_warning(&c, "OTEL_TRACES_SAMPLER_ARG", "1.5");

    let c = config(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "half"),
    ]);
    assert_eq!(c.sampler, SamplerConfig::ParentBasedTraceIdRatio(1.0));
    assert_one_warning(&c, "OTEL_TRACES_SAMPLER_ARG", "half");
}

#[test]
fn exporters_lists() {
    let c = config(&[
        ("OTEL_TRACES_EXPORTER", "otlp,console"),
        ("OTEL_METRICS_EXPORTER", "Prometheus"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ]);
    assert_eq!(
        c.traces_exporters,
        [ExporterKind::Otlp, ExporterKind::Console]
    );
    assert_eq!(c.metrics_exporters, [ExporterKind::Prometheus]);
    assert!(
        c.prometheus_listener,
        "an explicit prometheus exporter serves its own port"
    );
    assert_eq!(c.logs_exporters, []);
    let c = config(&[("OTEL_TRACES_EXPORTER", "zipkin")]);
    assert_eq!(c.traces_exporters, []);
    assert_one_warning(&c, "OTEL_TRACES_EXPORTER", "zipkin");
    let c = config(&[("OTEL_LOGS_EXPORTER", "prometheus")]);
    assert_one_warning(&c, "OTEL_LOGS_EXPORTER", "prometheus");
}

#[test]
fn an_otlp_endpoint_turns_otlp_on_by_default() {
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]);
    assert_eq!(c.traces_exporters, [ExporterKind::Otlp]);
    assert_eq!(
        c.metrics_exporters,
        [ExporterKind::Prometheus, ExporterKind::Otlp]
    );
    assert_eq!(c.logs_exporters, [ExporterKind::Otlp]);
    let c = config(&[(
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "http://loki:4318/v1/logs",
    )]);
    assert_eq!(c.traces_exporters, []);
    assert_eq!(c.logs_exporters, [ExporterKind::Otlp]);
}

#[test]
fn generic_http_endpoint_gets_signal_paths() {
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/mycollector/")]);
    assert_eq!(
        c.otlp(Signal::Traces).endpoint,
        "http://c:4318/mycollector/v1/traces"
    );
    assert_eq!(
        c.otlp(Signal::Metrics).endpoint,
        "http://c:4318/mycollector/v1/metrics"
    );
    assert_eq!(
        c.otlp(Signal::Logs).endpoint,
        "http://c:4318/mycollector/v1/logs"
    );
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]);
    assert_eq!(c.otlp(Signal::Traces).endpoint, "http://c:4318/v1/traces");
}

#[test]
fn signal_endpoints_are_used_as_is() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://t:9999/custom/path",
        ),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9999"),
    ]);
    assert_eq!(c.otlp(Signal::Traces).endpoint, "http://t:9999/custom/path");
    assert_eq!(c.otlp(Signal::Metrics).endpoint, "http://m:9999/");
    assert_eq!(c.otlp(Signal::Logs).endpoint, "http://generic:4318/v1/logs");
}

#[test]
fn grpc_protocol_and_endpoints() {
    let c = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "GRPC")]);
    assert_eq!(c.otlp(Signal::Traces).protocol, Protocol::Grpc);
    assert_eq!(c.otlp(Signal::Traces).endpoint, "http://localhost:4317");
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
    ]);
    assert_eq!(c.otlp(Signal::Metrics).endpoint, "http://c:4317");
    assert_eq!(c.otlp(Signal::Logs).protocol, Protocol::HttpProtobuf);
    assert_eq!(c.otlp(Signal::Logs).endpoint, "http://c:4317/v1/logs");
    let c = config(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
    assert_eq!(c.otlp(Signal::Traces).protocol, Protocol::HttpProtobuf);
    assert_one_warning(&c, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
}

#[test]
fn headers_timeout_and_compression() {
    let c = config(&[
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=secret%20value,tenant=a%2Cb",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ]);
    let t = c.otlp(Signal::Traces);
    assert_eq!(
        t.headers,
        [
            ("api-key".to_owned(), "secret value".to_owned()),
            ("tenant".to_owned(), "a,b".to_owned())
        ]
    );
    assert_eq!(t.timeout, Duration::from_millis(2500));
    assert_eq!(c.otlp(Signal::Logs).timeout, Duration::from_secs(10));
    assert_eq!(t.compression, Some(Compression::Gzip));
    assert!(
        !format!("{t:?}").contains("secret"),
        "header values are redacted in Debug"
    );
    assert!(!c.summary("svc").contains("secret"));
}

#[test]
fn bad_headers_warn_without_echoing_the_value() {
    let c = config(&[("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%ZZtoken")]);
    assert!(c.otlp(Signal::Traces).headers.is_empty());
    assert_eq!(c.warnings().len(), 1);
    assert!(c.warnings()[0].contains("OTEL_EXPORTER_OTLP_HEADERS"));
    assert!(
        !c.warnings()[0].contains("token"),
        "credentials never reach the logs"
    );
}

#[test]
fn bad_durations_and_numbers_warn_and_default() {
    let c = config(&[("OTEL_BSP_SCHEDULE_DELAY", "-5")]);
    assert_eq!(c.span_batch.schedule_delay, Duration::from_millis(5000));
    assert_one_warning(&c, "OTEL_BSP_SCHEDULE_DELAY", "-5");
    let c = config(&[("OTEL_BSP_MAX_QUEUE_SIZE", "lots")]);
    assert_eq!(c.span_batch.max_queue_size, 2048);
    assert_one_warning(&c, "OTEL_BSP_MAX_QUEUE_SIZE", "lots");
    let c = config(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")]);
    assert_eq!(c.otlp(Signal::Traces).timeout, Duration::from_secs(10));
    assert_one_warning(&c, "OTEL_EXPORTER_OTLP_TIMEOUT", "10s");
    let c = config(&[("OTEL_METRIC_EXPORT_INTERVAL", "0")]);
    assert_one_warning(&c, "OTEL_METRIC_EXPORT_INTERVAL", "0");
}

#[test]
fn batch_settings() {
    let c = config(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500"),
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "50"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"),
    ]);
    assert_eq!(c.span_batch.max_queue_size, 100);
    assert_eq!(
        c.span_batch.max_export_batch_size, 100,
        "batch size is clamped to the queue size"
    );
    assert_eq!(c.span_batch.schedule_delay, Duration::from_millis(200));
    assert_eq!(c.log_batch.max_queue_size, 50);
    assert_eq!(c.metric_export_interval, Duration::from_secs(1));
    assert!(c.metrics_delta_temporality);
}

#[test]
fn resource_attributes_are_percent_decoded() {
    let c = config(&[(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment.name=prod,team=a%2Cb%3Dc, note = hello%20world ",
    )]);
    assert_eq!(
        c.resource_attributes,
        [
            ("deployment.environment.name".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "a,b=c".to_owned()),
            ("note".to_owned(), "hello world".to_owned()),
        ]
    );
}

#[test]
fn a_decoding_error_drops_the_whole_variable() {
    let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", "good=1,bad=%E2%28")]);
    assert!(c.resource_attributes.is_empty());
    assert_one_warning(&c, "OTEL_RESOURCE_ATTRIBUTES", "bad=%E2%28");
    let c = config(&[("OTEL_RESOURCE_ATTRIBUTES", "novalue")]);
    assert!(c.resource_attributes.is_empty());
}

#[test]
fn service_name_precedence() {
    let c = config(&[
        ("OTEL_SERVICE_NAME", "from-env"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attrs,service.namespace=shop",
        ),
    ]);
    let resource = tracewire::resource::build(&c);
    assert_eq!(tracewire::resource::service_name(&resource), "from-env");
    let get = |k: &'static str| {
        resource
            .get(&opentelemetry::Key::from_static_str(k))
            .map(|v| v.to_string())
    };
    assert_eq!(get("service.namespace").as_deref(), Some("shop"));
    assert!(get("service.instance.id").is_some());
    assert_eq!(get("telemetry.sdk.language").as_deref(), Some("rust"));
    assert!(get("host.name").is_some());
    assert_eq!(get("process.pid"), Some(std::process::id().to_string()));

    let mut c = config(&[("OTEL_SERVICE_NAME", "from-env")]);
    c.code_resource_attributes
        .push(("service.name".into(), "from-code".into()));
    assert_eq!(
        tracewire::resource::service_name(&tracewire::resource::build(&c)),
        "from-code"
    );

    let mut c = config(&[]);
    c.default_service_name = Some("fallback".into());
    assert_eq!(
        tracewire::resource::service_name(&tracewire::resource::build(&c)),
        "fallback"
    );
    let mut c = config(&[("OTEL_SERVICE_NAME", "from-env")]);
    c.default_service_name = Some("fallback".into());
    assert_eq!(
        tracewire::resource::service_name(&tracewire::resource::build(&c)),
        "from-env"
    );

    let unnamed = tracewire::resource::build(&config(&[]));
    assert!(tracewire::resource::service_name(&unnamed).starts_with("unknown_service:"));
}

#[test]
fn attribute_limits() {
    let c = config(&[
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"),
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "10"),
        ("OTEL_SPAN_EVENT_COUNT_LIMIT", "5"),
        ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "3"),
    ]);
    assert_eq!(c.limits.span_attribute_value_length, Some(64));
    assert_eq!(c.limits.span_attribute_count, 10);
    assert_eq!(c.limits.event_attribute_count, 10);
    assert_eq!(c.limits.link_attribute_count, 3);
    assert_eq!(c.limits.span_event_count, 5);
    let c = config(&[
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64"),
        ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "16"),
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "7"),
    ]);
    assert_eq!(c.limits.span_attribute_value_length, Some(16));
    assert_eq!(c.limits.span_attribute_count, 7);
    let c = config(&[("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "-1")]);
    assert_one_warning(&c, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "-1");
}

#[test]
fn prometheus_exemplars_log_level_and_format() {
    let c = config(&[
        ("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "9100"),
        ("OTEL_METRICS_EXEMPLAR_FILTER", "ALWAYS_OFF"),
        ("OTEL_LOG_LEVEL", "debug"),
        ("RUST_LOG", "warn,my_app=debug"),
        ("TRACEWIRE_LOG_FORMAT", "pretty"),
    ]);
    assert_eq!(c.prometheus_listen, ("0.0.0.0".to_owned(), 9100));
    assert_eq!(c.exemplar_filter, ExemplarFilter::AlwaysOff);
    assert_eq!(c.sdk_log_level, "debug");
    assert_eq!(c.log_filter, "warn,my_app=debug");
    assert_eq!(c.log_format, LogFormat::Pretty);
    for (var, bad) in [
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "99999"),
        ("OTEL_METRICS_EXEMPLAR_FILTER", "sometimes"),
        ("OTEL_LOG_LEVEL", "loud"),
        ("TRACEWIRE_LOG_FORMAT", "xml"),
    ] {
        assert_one_warning(&config(&[(var, bad)]), var, bad);
    }
}

#[test]
fn unsupported_variables_are_reported() {
    let c = config(&[("OTEL_CONFIG_FILE", "/etc/otel.yaml")]);
    assert_eq!(c.warnings().len(), 1);
}

#[test]
fn tls_files_and_insecure_are_read_per_signal() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
        ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "/etc/logs-ca.pem"),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/etc/key.pem"),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/etc/cert.pem"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_METRICS_INSECURE", "true"),
    ]);
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    let path =
        |f: &Option<tracewire::config::TlsFile>| f.as_ref().map(|f| f.path.display().to_string());
    let traces = c.otlp(Signal::Traces);
    assert_eq!(
        path(&traces.tls.certificate).as_deref(),
        Some("/etc/ca.pem")
    );
    assert_eq!(
        path(&traces.tls.client_key).as_deref(),
        Some("/etc/key.pem")
    );
    assert_eq!(
        path(&traces.tls.client_certificate).as_deref(),
        Some("/etc/cert.pem")
    );
    assert_eq!(
        traces.tls.certificate.as_ref().unwrap().variable,
        "OTEL_EXPORTER_OTLP_CERTIFICATE"
    );
    let logs = c.otlp(Signal::Logs);
    assert_eq!(
        path(&logs.tls.certificate).as_deref(),
        Some("/etc/logs-ca.pem")
    );
    assert_eq!(
        logs.tls.certificate.as_ref().unwrap().variable,
        "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE"
    );
    // A scheme-less gRPC endpoint is TLS unless INSECURE says otherwise.
    assert_eq!(traces.endpoint, "https://collector:4317");
    assert_eq!(c.otlp(Signal::Metrics).endpoint, "http://collector:4317");
}

#[test]
fn summary_names_the_resolved_configuration() {
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=abc"),
    ]);
    let s = c.summary("shop");
    for part in [
        "service=shop",
        "traces=otlp",
        "metrics=prometheus,otlp",
        "sampler=parentbased_always_on",
        "propagators=tracecontext,baggage",
        "http://collector:4318/v1/traces",
        "authorization=<redacted>",
    ] {
        assert!(s.contains(part), "{s:?} lacks {part:?}");
    }
    assert!(!s.contains("abc"));
}

#[test]
fn a_list_with_many_bad_items_gives_one_short_warning() {
    let many: Vec<String> = (0..2000).map(|i| format!("nope{i}")).collect();
    let raw = format!("{},tracecontext", many.join(","));
    let c = config(&[("OTEL_PROPAGATORS", &raw)]);
    assert_eq!(c.propagators, [PropagatorKind::TraceContext]);
    assert_one_warning(&c, "OTEL_PROPAGATORS", "nope0,nope1");
    assert!(c.warnings()[0].len() < 200, "{}", c.warnings()[0]);
}

#[test]
fn a_long_bad_value_is_shown_cut() {
    let long = "x".repeat(100_000);
    let c = config(&[("OTEL_BSP_SCHEDULE_DELAY", &long)]);
    assert_one_warning(&c, "OTEL_BSP_SCHEDULE_DELAY", &"x".repeat(64));
    assert!(
        c.warnings()[0].contains("100000 bytes"),
        "{}",
        c.warnings()[0]
    );
    assert!(c.warnings()[0].len() < 200);
}

#[test]
fn the_signal_export_timeouts_bound_the_otlp_timeout() {
    let c = config(&[
        ("OTEL_BSP_EXPORT_TIMEOUT", "300"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "700"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "200"),
    ]);
    assert_eq!(c.otlp(Signal::Traces).timeout, Duration::from_millis(300));
    assert_eq!(c.otlp(Signal::Metrics).timeout, Duration::from_millis(700));
    assert_eq!(c.otlp(Signal::Logs).timeout, Duration::from_millis(200));
    assert_eq!(
        config(&[]).otlp(Signal::Traces).timeout,
        Duration::from_secs(10)
    );
}
