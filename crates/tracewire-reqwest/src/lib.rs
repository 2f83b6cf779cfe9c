//! # tracewire-reqwest
//!
//! Client-side OpenTelemetry for `reqwest` through `reqwest-middleware`: a
//! CLIENT span per attempt (semantic conventions 1.44), W3C `traceparent` /
//! `tracestate` / `baggage` injected from that span with tracewire's
//! propagators — no feature flag, no global propagator needed — and
//! `http.client.request.duration`.
//!
//! ```no_run
//! # async fn run() -> Result<(), reqwest_middleware::Error> {
//! let _telemetry = tracewire::init();
//! let http = tracewire_reqwest::client(reqwest::Client::new());
//! let body = http.get("http://inventory.internal/items/7").send().await?.text().await?;
//! # Ok(()) }
//! ```
//!
//! With retries, put this middleware *inside* the retry middleware (added
//! after it) so each attempt gets its own span with `http.request.resend_count`.
//!
//! What the span records: name `{method}` (`HTTP` for unknown methods),
//! `http.request.method` (+ `_original`), `url.full` with userinfo replaced by
//! `REDACTED:REDACTED` and sensitive query values redacted, `server.address`,
//! `server.port`, `http.response.status_code`, `network.protocol.version`,
//! `http.request.resend_count` on resends, allow-listed headers (never
//! credentials). 4xx and 5xx set status Error with `error.type` = the code;
//! transport failures set `error.type` (`timeout`, `connect`, …); a request
//! the caller abandons (dropped future) ends its span with no error. The
//! span ends when the response headers arrive; reading the body is the
//! caller's business.

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod middleware;

pub use middleware::ClientTelemetry;

/// Wraps `client` with [`ClientTelemetry`].
pub fn client(client: reqwest::Client) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(client)
        .with(ClientTelemetry::new())
        .build()
}
