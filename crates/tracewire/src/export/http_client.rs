//! The HTTP client of every OTLP/HTTP exporter: hyper on the telemetry
//! runtime, with rustls (ring) for `https://` endpoints.
//!
//! Ours rather than reqwest's: reqwest's rustls backend is a feature of the
//! application's own reqwest, and turning it on without a crypto provider
//! makes every `reqwest::Client::new()` in the application panic. This
//! client leaves the application's HTTP stack alone, and its requests run on
//! the telemetry runtime, so an exporter can wait for one from any thread.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};

use crate::config::OtlpConfig;
use crate::error::Error;
use crate::export::runtime::TelemetryRuntime;

/// Identifies the exporter to collectors, as the OpenTelemetry exporters do.
pub(crate) const USER_AGENT: &str = concat!(
    "tracewire/",
    env!("CARGO_PKG_VERSION"),
    " OTel-OTLP-Exporter-Rust"
);

/// The largest response body read (a collector answers with a few bytes).
const MAX_RESPONSE_BODY: usize = 4 * 1024 * 1024;

#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = hyper_util::client::legacy::connect::HttpConnector;

/// Why a request got no response.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No response within the timeout.
    Timeout,
    /// Connection, TLS or protocol failure (the message names no header).
    Failed(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::Failed(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for SendError {}

/// See the module docs.
#[derive(Clone)]
pub(crate) struct OtlpHttpClient {
    client: hyper_util::client::legacy::Client<Connector, Full<Bytes>>,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

impl std::fmt::Debug for OtlpHttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpHttpClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl OtlpHttpClient {
    /// A client for `config`'s endpoint: TLS (with its files) for `https://`.
    pub(crate) fn new(config: &OtlpConfig, runtime: &TelemetryRuntime) -> Result<Self, Error> {
        let https = config.endpoint.starts_with("https://");
        let connector = connector(config, https)?;
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .timer(hyper_util::rt::TokioTimer::new())
                .build(connector);
        Ok(Self {
            client,
            runtime: runtime.handle().clone(),
            timeout: config.timeout,
        })
    }

    /// Sends `request` on the telemetry runtime and reads the whole response
    /// (so the connection is kept), all within `timeout`.
    pub(crate) async fn send(
        &self,
        request: http::Request<Bytes>,
        timeout: Duration,
    ) -> Result<http::Response<Bytes>, SendError> {
        let (mut parts, body) = request.into_parts();
        parts
            .headers
            .entry(http::header::USER_AGENT)
            .or_insert(http::HeaderValue::from_static(USER_AGENT));
        let request = http::Request::from_parts(parts, Full::new(body));
        let client = self.client.clone();
        let (done, outcome) = tokio::sync::oneshot::channel();
        self.runtime.spawn(async move {
            let exchange = async {
                let response = client
                    .request(request)
                    .await
                    .map_err(|e| SendError::Failed(describe(&e)))?;
                let (parts, body) = response.into_parts();
                let body = Limited::new(body, MAX_RESPONSE_BODY)
                    .collect()
                    .await
                    .map_err(|e| SendError::Failed(format!("reading the response: {e}")))?
                    .to_bytes();
                Ok(http::Response::from_parts(parts, body))
            };
            let result = tokio::time::timeout(timeout, exchange)
                .await
                .unwrap_or(Err(SendError::Timeout));
            let _ = done.send(result);
        });
        outcome
            .await
            .unwrap_or_else(|_| Err(SendError::Failed("the telemetry runtime stopped".into())))
    }
}

/// The error and its causes (hyper-util's top error says only "client error").
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(feature = "tls")]
fn connector(config: &OtlpConfig, https: bool) -> Result<Connector, Error> {
    let tls = if https {
        let loaded = super::tls::load(&config.tls)?;
        super::tls::client_config(loaded.as_ref()).map_err(Error::Exporter)?
    } else {
        super::tls::plain_text_config()
            .ok_or_else(|| Error::Exporter("no TLS protocol versions".into()))?
    };
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(config.timeout));
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http))
}

#[cfg(not(feature = "tls"))]
fn connector(config: &OtlpConfig, https: bool) -> Result<Connector, Error> {
    if https {
        return Err(Error::TlsNotCompiled {
            endpoint: config.endpoint.clone(),
        });
    }
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_connect_timeout(Some(config.timeout));
    Ok(http)
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpHttpClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        Ok(self.send(request, self.timeout).await?)
    }
}
