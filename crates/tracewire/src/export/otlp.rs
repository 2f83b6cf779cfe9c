//! The OTLP exporters of each signal, over the transports compiled in.

#[cfg(feature = "otlp-http")]
use std::collections::HashMap;

#[cfg(feature = "otlp-grpc")]
use super::otlp_grpc;
use super::runtime::TelemetryRuntime;
#[cfg(feature = "otlp-http")]
use super::{http_client, otlp_http};
use crate::config::{Compression, OtlpConfig, Protocol};
use crate::error::Error;

/// Builds an exporter inside the telemetry runtime, so that the tasks its
/// client spawns (connections, the gRPC channel) live there. (A thread of its
/// own was needed while the HTTP client was reqwest's blocking one.)
fn build_in_runtime<T>(
    runtime: &TelemetryRuntime,
    build: impl FnOnce() -> Result<T, opentelemetry_otlp::ExporterBuildError>,
) -> Result<T, Error> {
    let _entered = runtime.handle().enter();
    build().map_err(|e| Error::Exporter(e.to_string()))
}

#[cfg(feature = "otlp-http")]
fn headers(config: &OtlpConfig) -> HashMap<String, String> {
    config.headers.iter().cloned().collect()
}

#[cfg(feature = "otlp-grpc")]
fn metadata(config: &OtlpConfig) -> opentelemetry_otlp::tonic_types::metadata::MetadataMap {
    let mut map = http::HeaderMap::new();
    for (k, v) in &config.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::try_from(k.as_str()),
            http::HeaderValue::try_from(v.as_str()),
        ) {
            map.append(k, v);
        }
    }
    opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(map)
}

fn compression(config: &OtlpConfig) -> Option<opentelemetry_otlp::Compression> {
    config
        .compression
        .map(|Compression::Gzip| opentelemetry_otlp::Compression::Gzip)
}

#[allow(dead_code)]
fn unsupported(protocol: Protocol) -> Error {
    Error::Exporter(format!(
        "OTLP protocol {protocol} needs the tracewire feature that enables it"
    ))
}

/// Builds an OTLP exporter from its `…Exporter::builder()` expression with the
/// transport, endpoint, timeout, headers and compression of `config`.
macro_rules! build_otlp {
    ($config:expr, $runtime:expr, $builder:expr) => {{
        use opentelemetry_otlp::WithExportConfig as _;
        let config: &OtlpConfig = $config;
        match config.protocol {
            #[cfg(feature = "otlp-http")]
            Protocol::HttpProtobuf => build_in_runtime($runtime, || {
                use opentelemetry_otlp::WithHttpConfig as _;
                let client = http_client::OtlpHttpClient::new(config, $runtime).map_err(|e| {
                    opentelemetry_otlp::ExporterBuildError::InternalFailure(e.to_string())
                })?;
                let mut b = $builder
                    .with_http()
                    .with_http_client(client)
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(config.endpoint.clone())
                    .with_timeout(config.timeout)
                    .with_headers(headers(config));
                if let Some(c) = compression(config) {
                    b = b.with_compression(c);
                }
                b.build()
            }),
            #[cfg(feature = "otlp-grpc")]
            Protocol::Grpc => build_in_runtime($runtime, || {
                use opentelemetry_otlp::WithTonicConfig as _;
                let tls = otlp_grpc::tls_config(config).map_err(|e| {
                    opentelemetry_otlp::ExporterBuildError::InternalFailure(e.to_string())
                })?;
                let mut b = $builder
                    .with_tonic()
                    .with_endpoint(config.endpoint.clone())
                    .with_timeout(config.timeout)
                    .with_metadata(metadata(config));
                if let Some(tls) = tls {
                    b = with_grpc_tls(b, tls);
                }
                if let Some(c) = compression(config) {
                    b = b.with_compression(c);
                }
                b.build()
            }),
            #[allow(unreachable_patterns)]
            other => Err(unsupported(other)),
        }
    }};
}

#[cfg(all(feature = "otlp-grpc", feature = "tls"))]
fn with_grpc_tls<B: opentelemetry_otlp::WithTonicConfig>(builder: B, tls: otlp_grpc::GrpcTls) -> B {
    builder.with_tls_config(tls)
}

/// Without the `tls` feature there is no configuration to apply.
#[cfg(all(feature = "otlp-grpc", not(feature = "tls")))]
fn with_grpc_tls<B>(_: B, never: otlp_grpc::GrpcTls) -> B {
    match never {}
}

/// The OTLP trace exporter: the batch encoded straight to protobuf (see
/// `otlp_proto`), sent over HTTP or gRPC.
#[derive(Debug)]
pub(crate) enum OtlpSpanExporter {
    #[cfg(feature = "otlp-http")]
    Http(Box<otlp_http::OtlpHttpSpanExporter>),
    #[cfg(feature = "otlp-grpc")]
    Grpc(Box<otlp_grpc::OtlpGrpcSpanExporter>),
}

impl opentelemetry_sdk::trace::SpanExporter for OtlpSpanExporter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        match self {
            #[cfg(feature = "otlp-http")]
            Self::Http(exporter) => exporter.export(batch).await,
            #[cfg(feature = "otlp-grpc")]
            Self::Grpc(exporter) => exporter.export(batch).await,
        }
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        match self {
            #[cfg(feature = "otlp-http")]
            Self::Http(exporter) => exporter.set_resource(resource),
            #[cfg(feature = "otlp-grpc")]
            Self::Grpc(exporter) => exporter.set_resource(resource),
        }
    }
}

pub(crate) fn otlp_span_exporter(
    config: &OtlpConfig,
    runtime: &TelemetryRuntime,
) -> Result<OtlpSpanExporter, Error> {
    match config.protocol {
        #[cfg(feature = "otlp-http")]
        Protocol::HttpProtobuf => build_in_runtime(runtime, || {
            otlp_http::OtlpHttpSpanExporter::new(config, runtime)
                .map_err(opentelemetry_otlp::ExporterBuildError::InternalFailure)
        })
        .map(|e| OtlpSpanExporter::Http(Box::new(e))),
        #[cfg(feature = "otlp-grpc")]
        Protocol::Grpc => build_in_runtime(runtime, || {
            otlp_grpc::OtlpGrpcSpanExporter::new(config, metadata(config))
                .map_err(opentelemetry_otlp::ExporterBuildError::InternalFailure)
        })
        .map(|e| OtlpSpanExporter::Grpc(Box::new(e))),
        #[allow(unreachable_patterns)]
        other => Err(unsupported(other)),
    }
}

pub(crate) fn otlp_log_exporter(
    config: &OtlpConfig,
    runtime: &TelemetryRuntime,
) -> Result<opentelemetry_otlp::LogExporter, Error> {
    build_otlp!(config, runtime, opentelemetry_otlp::LogExporter::builder())
}

pub(crate) fn otlp_metric_exporter(
    config: &OtlpConfig,
    runtime: &TelemetryRuntime,
    delta: bool,
) -> Result<opentelemetry_otlp::MetricExporter, Error> {
    let temporality = if delta {
        opentelemetry_sdk::metrics::Temporality::Delta
    } else {
        opentelemetry_sdk::metrics::Temporality::Cumulative
    };
    build_otlp!(
        config,
        runtime,
        opentelemetry_otlp::MetricExporter::builder().with_temporality(temporality)
    )
}
