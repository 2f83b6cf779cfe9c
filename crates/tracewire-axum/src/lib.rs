//! # tracewire-axum
//!
//! Server-side OpenTelemetry for axum, or any tower service over `http`
//! requests: one SERVER span per request (semantic conventions 1.44), parented
//! to the W3C context the caller sent, `http.server.request.duration` and
//! `http.server.active_requests`, and the request's context current while the
//! handler runs — so `tracing` spans (`#[instrument]`) nest under the request
//! and log lines carry its trace id.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tracewire_axum::InstrumentAll as _;
//!
//! # async fn run() {
//! let _telemetry = tracewire::init();
//! let app = Router::new()
//!     .route("/users/{id}", get(|| async { "ada" }))
//!     .instrument_all(); // the layer, GET /metrics, and /healthz & co. excluded
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```
//!
//! Or with the knobs: `Router::layer(ServerTelemetryLayer::new().exclude("/ping")
//! .capture_request_headers(["x-request-id"]).server_timing(true))`.
//!
//! What the span and the metric record:
//! - name `{method} {route}` with the route template from axum's `MatchedPath`
//!   (nest prefixes included); `{method}` alone when no route matched — the
//!   raw path is never used, so unmatched requests add no metric series;
//! - `http.request.method` (`_OTHER` + `http.request.method_original` for
//!   unknown methods), `url.path`, `url.query` (sensitive values redacted),
//!   `url.scheme`, `http.route`, `http.response.status_code`,
//!   `network.protocol.version`, `server.address`/`server.port`,
//!   `client.address`, `network.peer.address`/`.port` (with `ConnectInfo`),
//!   `user_agent.original`, allow-listed headers (never credentials);
//! - status Error and `error.type` for 5xx and failed exchanges; 4xx stays unset;
//! - the span and the duration end when the response body has been sent to the
//!   end, failed, or was dropped — not when the headers were ready.
//!
//! The request span is started on the OpenTelemetry SDK directly, not through
//! `tracing`: it costs less, and it exists whatever `RUST_LOG` says.

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod durations;
mod future;
mod layer;
mod request;
#[cfg(feature = "serve")]
mod serve;
mod service;
mod settings;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::{DEFAULT_EXCLUDED_PATHS, ServerTelemetryLayer};
#[cfg(feature = "serve")]
#[cfg_attr(docsrs, doc(cfg(feature = "serve")))]
pub use serve::{serve, serve_until, shutdown_signal};
pub use service::ServerTelemetry;

/// Adds tracewire to a router in one call.
pub trait InstrumentAll {
    /// Serves `GET /metrics` (Prometheus) and — when the trace browser is on
    /// (`TRACEWIRE_TRACE_BROWSER=true`, read by `tracewire::init`, which must
    /// run first) — `GET /_tracewire/`, and wraps every route, the fallback
    /// included, in [`ServerTelemetryLayer::new`] with the default exclusions
    /// ([`DEFAULT_EXCLUDED_PATHS`]). Call it after adding the routes. If the
    /// router already serves `/metrics`, add the layer yourself instead.
    ///
    /// For a router that faces the public, use
    /// [`instrument_routes`](Self::instrument_routes) and let the standalone
    /// admin listener (`OTEL_METRICS_EXPORTER=prometheus`, on
    /// `OTEL_EXPORTER_PROMETHEUS_HOST:PORT`) serve both pages instead.
    fn instrument_all(self) -> Self;

    /// Only the layer: every route traced and measured, nothing served —
    /// neither `/metrics` nor the trace browser.
    fn instrument_routes(self) -> Self;
}

impl<S: Clone + Send + Sync + 'static> InstrumentAll for axum::Router<S> {
    fn instrument_all(self) -> Self {
        let router = self.route("/metrics", axum::routing::get(metrics_handler));
        let router = if tracewire::view::is_enabled() {
            router
                .route("/_tracewire/", axum::routing::get(trace_browser_handler))
                .route(
                    "/_tracewire/{*path}",
                    axum::routing::get(trace_browser_handler),
                )
        } else {
            router
        };
        router.layer(ServerTelemetryLayer::new())
    }

    fn instrument_routes(self) -> Self {
        self.layer(ServerTelemetryLayer::new())
    }
}

/// An axum handler for the trace browser (`/_tracewire/` and everything
/// under it); 404 while the browser is off. Mount it yourself as
/// `.route("/_tracewire/{*path}", get(trace_browser_handler))` (and the same
/// for `/_tracewire/`) when not using [`InstrumentAll::instrument_all`].
pub async fn trace_browser_handler(uri: http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    match tracewire::view::respond(path) {
        Some(page) => {
            let mut response = (
                http::StatusCode::from_u16(page.status).unwrap_or(http::StatusCode::NOT_FOUND),
                [(http::header::CONTENT_TYPE, page.content_type)],
                page.body,
            )
                .into_response();
            for (name, value) in page.headers {
                response.headers_mut().insert(
                    http::HeaderName::from_static(name),
                    http::HeaderValue::from_static(value),
                );
            }
            response
        }
        None => http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// An axum handler for `GET /metrics`: the Prometheus exposition of the
/// metrics `tracewire::init` set up, OpenMetrics or text 0.0.4 by `Accept`.
pub async fn metrics_handler(headers: http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let (content_type, body) = tracewire::prometheus::render_for_accept(accept);
    ([(http::header::CONTENT_TYPE, content_type)], body).into_response()
}
