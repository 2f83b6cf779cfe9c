//! Without `otlp-http` and `otlp-grpc` there is no OTLP exporter to build:
//! asking for one (`OTEL_*_EXPORTER=otlp`) is an error naming the features,
//! reported like any other set-up failure.

use opentelemetry_sdk::error::OTelSdkResult;

use crate::config::OtlpConfig;
use crate::error::Error;
use crate::export::runtime::TelemetryRuntime;

/// The exporter that cannot be built: no value of it exists.
#[derive(Debug)]
pub(crate) enum Unavailable {}

fn not_compiled() -> Error {
    Error::Exporter("OTLP export needs tracewire's `otlp-http` or `otlp-grpc` feature".to_owned())
}

pub(crate) fn otlp_span_exporter(
    _: &OtlpConfig,
    _: &TelemetryRuntime,
) -> Result<Unavailable, Error> {
    Err(not_compiled())
}

pub(crate) fn otlp_log_exporter(
    _: &OtlpConfig,
    _: &TelemetryRuntime,
) -> Result<Unavailable, Error> {
    Err(not_compiled())
}

pub(crate) fn otlp_metric_exporter(
    _: &OtlpConfig,
    _: &TelemetryRuntime,
    _: bool,
) -> Result<Unavailable, Error> {
    Err(not_compiled())
}

impl opentelemetry_sdk::trace::SpanExporter for Unavailable {
    async fn export(&self, _: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        match *self {}
    }
}

impl opentelemetry_sdk::logs::LogExporter for Unavailable {
    async fn export(&self, _: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        match *self {}
    }
}

impl opentelemetry_sdk::metrics::exporter::PushMetricExporter for Unavailable {
    async fn export(&self, _: &opentelemetry_sdk::metrics::data::ResourceMetrics) -> OTelSdkResult {
        match *self {}
    }

    fn force_flush(&self) -> OTelSdkResult {
        match *self {}
    }

    fn shutdown_with_timeout(&self, _: std::time::Duration) -> OTelSdkResult {
        match *self {}
    }

    fn temporality(&self) -> opentelemetry_sdk::metrics::Temporality {
        match *self {}
    }
}
