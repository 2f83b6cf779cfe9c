//! The OTLP/gRPC trace exporter: batches encoded by
//! [`otlp_proto`](super::otlp_proto) and sent as the `Export` call of
//! `opentelemetry.proto.collector.trace.v1.TraceService` over a tonic channel
//! whose connection lives on the telemetry runtime. The bytes go out as they
//! were encoded (a pass-through codec), so gRPC costs what HTTP costs.

use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

use crate::config::{Compression, OtlpConfig};
use crate::export::otlp_proto::{encode_export_request, partial_success};
use crate::export::retry::{Attempt, with_retries};

const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// tonic's TLS settings; without the `tls` feature there are none to have.
#[cfg(feature = "tls")]
pub(crate) type GrpcTls = tonic::transport::ClientTlsConfig;
/// tonic's TLS settings; without the `tls` feature there are none to have.
#[cfg(not(feature = "tls"))]
pub(crate) type GrpcTls = std::convert::Infallible;

/// The TLS settings of every OTLP/gRPC exporter for an `https://` endpoint
/// (`None` for `http://`).
pub(crate) fn tls_config(config: &OtlpConfig) -> Result<Option<GrpcTls>, crate::error::Error> {
    if !config.endpoint.starts_with("https://") {
        return Ok(None);
    }
    #[cfg(feature = "tls")]
    {
        let loaded = super::tls::load(&config.tls)?;
        Ok(Some(super::tls::grpc_config(loaded.as_ref())))
    }
    #[cfg(not(feature = "tls"))]
    Err(crate::error::Error::TlsNotCompiled {
        endpoint: config.endpoint.clone(),
    })
}

pub(crate) struct OtlpGrpcSpanExporter {
    client: tonic::client::Grpc<tonic::transport::Channel>,
    endpoint: String,
    metadata: tonic::metadata::MetadataMap,
    timeout: Duration,
    resource: Resource,
}

impl std::fmt::Debug for OtlpGrpcSpanExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Metadata may carry credentials: never printed.
        f.debug_struct("OtlpGrpcSpanExporter")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl OtlpGrpcSpanExporter {
    /// Builds the channel. Call it inside the telemetry runtime: the channel's
    /// connection task is spawned there.
    pub(crate) fn new(
        config: &OtlpConfig,
        metadata: tonic::metadata::MetadataMap,
    ) -> Result<Self, String> {
        let endpoint = tonic::transport::Endpoint::from_shared(config.endpoint.clone())
            .map_err(|e| format!("OTLP endpoint {:?}: {e}", config.endpoint))?
            .timeout(config.timeout)
            .connect_timeout(config.timeout);
        let endpoint = match tls_config(config).map_err(|e| e.to_string())? {
            #[cfg(feature = "tls")]
            Some(tls) => endpoint.tls_config(tls).map_err(|e| e.to_string())?,
            #[cfg(not(feature = "tls"))]
            Some(never) => match never {},
            None => endpoint,
        };
        let channel = endpoint.connect_lazy();
        let mut client = tonic::client::Grpc::new(channel);
        if config.compression == Some(Compression::Gzip) {
            client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
        }
        Ok(Self {
            client,
            endpoint: config.endpoint.clone(),
            metadata,
            timeout: config.timeout,
            resource: Resource::builder_empty().build(),
        })
    }

    async fn call(&self, body: Bytes, timeout: Duration) -> Attempt {
        let mut client = self.client.clone();
        let failure = |status: &Status| {
            // The code, never the message: servers echo credentials in it.
            OTelSdkError::InternalFailure(format!(
                "OTLP export to {} failed: gRPC {:?}",
                self.endpoint,
                status.code()
            ))
        };
        if let Err(e) = client.ready().await {
            let error = OTelSdkError::InternalFailure(format!(
                "OTLP export to {} failed: {e}",
                self.endpoint
            ));
            return Attempt::Retry { after: None, error };
        }
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(timeout);
        let path = http::uri::PathAndQuery::from_static(EXPORT);
        match client.unary(request, path, PassThrough).await {
            Ok(response) => {
                // Accepted, but the collector may have refused some spans:
                // said, as the OTLP spec asks, and not retried.
                if let Some((rejected, message)) = partial_success(response.get_ref()) {
                    tracing::warn!(
                        target: "tracewire",
                        "OTLP collector at {} rejected {rejected} span(s): {message}",
                        self.endpoint
                    );
                }
                Attempt::Done(Ok(()))
            }
            // The codes the OTLP spec lists as retryable.
            Err(status) => match status.code() {
                Code::DeadlineExceeded => Attempt::Retry {
                    after: None,
                    error: OTelSdkError::Timeout(self.timeout),
                },
                Code::Cancelled
                | Code::Aborted
                | Code::OutOfRange
                | Code::Unavailable
                | Code::DataLoss => Attempt::Retry {
                    after: None,
                    error: failure(&status),
                },
                _ => Attempt::Done(Err(failure(&status))),
            },
        }
    }
}

impl SpanExporter for OtlpGrpcSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let body = Bytes::from(encode_export_request(&self.resource, &batch));
        // Each attempt gets what is left of the export's budget.
        let deadline = std::time::Instant::now() + self.timeout;
        with_retries(self.timeout, || {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            self.call(body.clone(), left.max(Duration::from_millis(1)))
        })
        .await
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }
}

/// A codec that sends bytes already encoded and hands back the response's
/// bytes undecoded.
#[derive(Debug, Clone, Copy)]
struct PassThrough;

impl Codec for PassThrough {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self
    }

    fn decoder(&mut self) -> Self {
        Self
    }
}

impl Encoder for PassThrough {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PassThrough {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
