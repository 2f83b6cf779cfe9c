//! The OTLP/HTTP (`http/protobuf`) trace exporter: batches encoded by
//! [`otlp_proto`](super::otlp_proto) and POSTed with a blocking client from the
//! batch processor's own thread, so export never runs on (or waits for) the
//! application's runtime. Failures the OTLP spec calls retryable are retried
//! within the export timeout.

use std::io::Write as _;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::config::{Compression, OtlpConfig};
use crate::export::otlp_proto::{encode_export_request, partial_success};
use crate::export::retry::{Attempt, MAX_THROTTLE, with_retries};

/// Identifies the exporter to collectors, as the OpenTelemetry exporters do.
const USER_AGENT: &str = concat!(
    "tracewire/",
    env!("CARGO_PKG_VERSION"),
    " OTel-OTLP-Exporter-Rust"
);

/// The blocking HTTP client of every OTLP/HTTP exporter (traces here; logs
/// and metrics through opentelemetry-otlp): the export timeout, the user
/// agent, and TLS for `https://` endpoints. Call it off any Tokio runtime.
pub(crate) fn blocking_client(
    config: &OtlpConfig,
) -> Result<reqwest::blocking::Client, crate::error::Error> {
    let builder = reqwest::blocking::Client::builder()
        .timeout(config.timeout)
        .user_agent(USER_AGENT);
    let builder = if config.endpoint.starts_with("https://") {
        with_tls(builder, config)?
    } else {
        builder
    };
    builder
        .build()
        .map_err(|e| crate::error::Error::Exporter(e.to_string()))
}

#[cfg(feature = "tls")]
fn with_tls(
    builder: reqwest::blocking::ClientBuilder,
    config: &OtlpConfig,
) -> Result<reqwest::blocking::ClientBuilder, crate::error::Error> {
    let loaded = super::tls::load(&config.tls)?;
    let tls = super::tls::client_config(loaded.as_ref()).map_err(crate::error::Error::Exporter)?;
    Ok(builder.tls_backend_preconfigured(tls))
}

#[cfg(not(feature = "tls"))]
fn with_tls(
    _: reqwest::blocking::ClientBuilder,
    config: &OtlpConfig,
) -> Result<reqwest::blocking::ClientBuilder, crate::error::Error> {
    Err(crate::error::Error::TlsNotCompiled {
        endpoint: config.endpoint.clone(),
    })
}

pub(crate) struct OtlpHttpSpanExporter {
    client: reqwest::blocking::Client,
    endpoint: String,
    headers: reqwest::header::HeaderMap,
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
    /// Builds the client. Call it off any Tokio runtime: the blocking client
    /// starts (and, when dropped, stops) one of its own.
    pub(crate) fn new(config: &OtlpConfig) -> Result<Self, String> {
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            match (
                reqwest::header::HeaderName::try_from(name.as_str()),
                reqwest::header::HeaderValue::try_from(value.as_str()),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                // The value is not shown: headers carry credentials.
                _ => return Err(format!("OTLP header {name:?} is not a valid HTTP header")),
            }
        }
        let client = blocking_client(config).map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            endpoint: config.endpoint.clone(),
            headers,
            gzip: config.compression == Some(Compression::Gzip),
            timeout: config.timeout,
            resource: Resource::builder_empty().build(),
        })
    }

    async fn send(&self, batch: &[SpanData]) -> OTelSdkResult {
        let body = self.body(batch)?;
        with_retries(self.timeout, || std::future::ready(self.post(body.clone()))).await
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

    fn post(&self, body: bytes::Bytes) -> Attempt {
        let mut request = self
            .client
            .post(&self.endpoint)
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf");
        if self.gzip {
            request = request.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        let response = match request.body(body).send() {
            Ok(response) => response,
            Err(e) => {
                let error = if e.is_timeout() {
                    OTelSdkError::Timeout(self.timeout)
                } else {
                    // The URL, never the headers: they may hold credentials.
                    OTelSdkError::InternalFailure(format!(
                        "OTLP export to {} failed: {}",
                        self.endpoint,
                        e.without_url()
                    ))
                };
                return Attempt::Retry { after: None, error };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|seconds| Duration::from_secs(seconds).min(MAX_THROTTLE));
        // Read to the end, so that the connection is kept for the next export.
        let body = response.bytes().unwrap_or_default();
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
