//! Building the exporters each signal was configured with.

pub(crate) mod accounting;
pub(crate) mod batch;
#[cfg(feature = "otlp-http")]
mod http_client;
#[cfg(not(any(feature = "otlp-http", feature = "otlp-grpc")))]
mod no_otlp;
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
mod otlp;
#[cfg(feature = "otlp-grpc")]
mod otlp_grpc;
#[cfg(feature = "otlp-http")]
mod otlp_http;
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc", test))]
pub(crate) mod otlp_proto;
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
mod retry;
pub(crate) mod runtime;
#[cfg(all(feature = "tls", any(feature = "otlp-http", feature = "otlp-grpc")))]
mod tls;

#[cfg(not(any(feature = "otlp-http", feature = "otlp-grpc")))]
pub(crate) use no_otlp::{otlp_log_exporter, otlp_metric_exporter, otlp_span_exporter};
#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
pub(crate) use otlp::{otlp_log_exporter, otlp_metric_exporter, otlp_span_exporter};

use crate::config::Protocol;

/// The `otel.component.type` of an OTLP exporter.
pub(crate) fn component_type(protocol: Protocol, signal: &str) -> &'static str {
    match (protocol, signal) {
        (Protocol::Grpc, "span") => "otlp_grpc_span_exporter",
        (Protocol::Grpc, _) => "otlp_grpc_log_exporter",
        (Protocol::HttpProtobuf, "span") => "otlp_http_span_exporter",
        (Protocol::HttpProtobuf, _) => "otlp_http_log_exporter",
    }
}
