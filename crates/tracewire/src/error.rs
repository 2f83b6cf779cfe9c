//! The error `try_init` returns to callers that want strictness.

/// Why telemetry could not be set up as configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another global `tracing` subscriber was installed first.
    #[error("a global tracing subscriber is already installed")]
    SubscriberAlreadySet,
    /// An exporter could not be created (bad endpoint, missing feature…).
    #[error("exporter could not be built: {0}")]
    Exporter(String),
    /// The background thread for telemetry I/O could not start.
    #[error("telemetry runtime could not start: {0}")]
    Runtime(#[from] std::io::Error),
    /// `RUST_LOG` (or the filter given in code) does not parse.
    #[error("invalid log filter {0:?}")]
    Filter(String),
    /// The standalone Prometheus listener could not bind.
    #[error("prometheus listener on {addr} could not start: {reason}")]
    Listener {
        /// The address from `OTEL_EXPORTER_PROMETHEUS_HOST`/`_PORT`.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// A TLS file given by an `OTEL_EXPORTER_OTLP_*` variable could not be
    /// used (missing, unreadable, not PEM, no key in it…).
    #[error("{variable}={path}: {reason}")]
    Tls {
        /// The variable that named the file.
        variable: String,
        /// The path it gave.
        path: String,
        /// What is wrong with the file.
        reason: String,
    },
    /// An `https://` endpoint with the `tls` feature compiled out.
    #[error("OTLP endpoint {endpoint} needs TLS: enable tracewire's `tls` feature (on by default)")]
    TlsNotCompiled {
        /// The endpoint.
        endpoint: String,
    },
}
