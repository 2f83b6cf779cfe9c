//! The OTLP/HTTP (`http/protobuf`) trace exporter: batches encoded by
//! [`otlp_proto`](super::otlp_proto) and POSTed by the [`OtlpHttpClient`] on
//! the telemetry runtime while the batch processor's own thread waits, so
//! export never runs on (or waits for) the application's runtime. Failures
//! the OTLP spec calls retryable are retried within the export timeout.

use std::io::Write as _;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::config::{Compression, OtlpConfig};
use crate::export::http_client::{OtlpHttpClient, SendError};
use crate::export::otlp_proto::{encode_export_request, partial_success};
use crate::export::retry::{Attempt, MAX_THROTTLE, with_retries};
use crate::export::runtime::TelemetryRuntime;

pub(crate) struct OtlpHttpSpanExporter {
    client: OtlpHttpClient,
    endpoint: http::Uri,
    headers: http::HeaderMap,
    gzip: bool,
    timeout: Duration,
    resource: Resource,
}

impl std::fmt::Debug for OtlpHttpSpanExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers may carry credentials: never printed.
        f.debug_struct("OtlpHttpSpanExporter")
            .field("endpoint", &self.endpoint)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl OtlpHttpSpanExporter {
    /// Builds the exporter and its client.
    pub(crate) fn new(config: &OtlpConfig, runtime: &TelemetryRuntime) -> Result<Self, String> {
        let mut headers = http::HeaderMap::new();
        for (name, value) in &config.headers {
            match (
                http::HeaderName::try_from(name.as_str()),
                http::HeaderValue::try_from(value.as_str()),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                // The value is not shown: headers carry credentials.
                _ => return Err(format!("OTLP header {name:?} is not a valid HTTP header")),
            }
        }
        let client = OtlpHttpClient::new(config, runtime).map_err(|e| e.to_string())?;
        let endpoint = config
            .endpoint
            .parse()
            .map_err(|e| format!("OTLP endpoint {:?}: {e}", config.endpoint))?;
        Ok(Self {
            client,
            endpoint,
            headers,
            gzip: config.compression == Some(Compression::Gzip),
            timeout: config.timeout,
            resource: Resource::builder_empty().build(),
        })
    }

    async fn send(&self, batch: &[SpanData]) -> OTelSdkResult {
        let body = self.body(batch)?;
        // Each attempt gets what is left of the export's budget, so the
        // export as a whole ends within it.
        let deadline = std::time::Instant::now() + self.timeout;
        with_retries(self.timeout, || {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            self.post(body.clone(), left.max(Duration::from_millis(1)))
        })
        .await
    }

    /// The request body: the encoded batch, gzipped if configured.
    fn body(&self, batch: &[SpanData]) -> Result<bytes::Bytes, OTelSdkError> {
        let body = encode_export_request(&self.resource, batch);
        if !self.gzip {
            return Ok(body.into());
        }
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 4),
            flate2::Compression::default(),
        );
        encoder
            .write_all(&body)
            .and_then(|()| encoder.finish())
            .map(Into::into)
            .map_err(|e| OTelSdkError::InternalFailure(format!("gzip: {e}")))
    }

    async fn post(&self, body: bytes::Bytes, timeout: Duration) -> Attempt {
        let mut request = http::Request::post(self.endpoint.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf");
        if self.gzip {
            request = request.header(http::header::CONTENT_ENCODING, "gzip");
        }
        let mut request = match request.body(body) {
            Ok(request) => request,
            Err(e) => {
                return Attempt::Done(Err(OTelSdkError::InternalFailure(format!(
                    "OTLP request: {e}"
                ))));
            }
        };
        request
            .headers_mut()
            .extend(self.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        let response = match self.client.send(request, timeout).await {
            Ok(response) => response,
            Err(SendError::Timeout) => {
                let error = OTelSdkError::Timeout(timeout);
                return Attempt::Retry { after: None, error };
            }
            Err(SendError::Failed(reason)) => {
                // The URL, never the headers: they may hold credentials.
                let error = OTelSdkError::InternalFailure(format!(
                    "OTLP export to {} failed: {reason}",
                    self.endpoint
                ));
                return Attempt::Retry { after: None, error };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|seconds| Duration::from_secs(seconds).min(MAX_THROTTLE));
        let body = response.into_body();
        if (200..300).contains(&status) {
            // Accepted, but the collector may have refused some spans: said,
            // as the OTLP spec asks, and not retried.
            if let Some((rejected, message)) = partial_success(&body) {
                tracing::warn!(
                    target: "tracewire",
                    "OTLP collector at {} rejected {rejected} span(s): {message}",
                    self.endpoint
                );
            }
            return Attempt::Done(Ok(()));
        }
        let error = OTelSdkError::InternalFailure(format!(
            "OTLP export to {} failed: HTTP {status}",
            self.endpoint
        ));
        match status {
            429 | 503 => Attempt::Retry {
                after: retry_after,
                error,
            },
            502 | 504 => Attempt::Retry { after: None, error },
            _ => Attempt::Done(Err(error)),
        }
    }
}

impl SpanExporter for OtlpHttpSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.send(&batch).await
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }
}
