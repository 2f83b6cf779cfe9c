//! # tracewire
//!
//! One call gives a Rust service the three OpenTelemetry signals — traces,
//! metrics and logs — configured from the standard `OTEL_*` variables, with
//! W3C-correct propagation and a Prometheus endpoint:
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() {
//!     let _telemetry = tracewire::init(); // flushes on drop
//!     tracing::info!("started"); // a JSON line; with trace_id/span_id inside a span
//! }
//! ```
//!
//! - [`init`] / [`try_init`] / [`builder`]: tracer, meter and logger
//!   providers, the `tracing` subscriber and the propagators, from
//!   [`Config::from_env`] plus code settings. `init` never fails: what cannot
//!   be set up is left out with one warning.
//! - [`propagation`]: our own W3C `traceparent`/`tracestate` (Level 2) and
//!   `baggage` propagators, B3, and inject/extract helpers for HTTP headers
//!   and message metadata.
//! - [`prometheus`]: the OpenTelemetry metrics as a Prometheus/OpenMetrics
//!   exposition with exemplars.
//! - [`metrics`]: instruments that record exemplars.
//! - [`http`]: HTTP semantic conventions shared by the server and client
//!   crates (method normalization, span names, redaction, header capture,
//!   instruments).
//! - [`db`]: database semantic conventions shared by the SQL and Redis crates.
//! - [`context`]: the current trace id, attaching contexts, spawning tasks in
//!   the current trace.
//! - `testing` (feature): in-memory exporters and assertion helpers.
//!
//! The pinned OpenTelemetry crates are re-exported ([`otel`], [`otel_sdk`],
//! [`tracing_opentelemetry`]) so an application never mixes versions.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod baggage_spans;
pub mod config;
pub mod context;
pub mod db;
mod env;
mod error;
mod errors;
mod export;
pub mod hashers;
pub mod http;
mod installed;
pub mod instrumentation;
mod log_bridge;
pub mod logging;
pub mod metrics;
mod own_spans;
mod process_metrics;
pub mod prometheus;
pub mod propagation;
mod recent;
pub mod resource;
mod telemetry;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod view;
mod views;

pub use config::{Config, ExporterKind, LogFormat, Protocol, SamplerConfig};
pub use error::Error;
pub use errors::{
    PANIC_ERROR_TYPE, install_panic_hook, panic_hook_installed, record_error, record_error_as,
};
pub use export::accounting::PipelineStats;
pub use telemetry::{BoxedLayer, Telemetry, TelemetryBuilder, active_sampler, flush, sdk_tracer};
pub use views::View;

/// The pinned `opentelemetry` API crate.
pub use opentelemetry as otel;
/// The pinned `opentelemetry_sdk` crate.
pub use opentelemetry_sdk as otel_sdk;
/// The pinned `tracing-opentelemetry` crate.
pub use tracing_opentelemetry;

/// Sets everything up from the environment and installs it globally.
/// Never fails: see [`TelemetryBuilder::init`].
pub fn init() -> Telemetry {
    builder().init()
}

/// Like [`init`], but returns an error instead of degrading.
pub fn try_init() -> Result<Telemetry, Error> {
    builder().try_init()
}

/// A builder starting from the environment, for settings made in code.
pub fn builder() -> TelemetryBuilder {
    TelemetryBuilder::default()
}
