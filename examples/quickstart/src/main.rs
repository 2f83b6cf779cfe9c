//! The smallest useful tracewire service.
//!
//! Run with:
//! ```text
//! cargo run -p example-quickstart                 # listens on 127.0.0.1:3000
//! curl http://127.0.0.1:3000/hello/world          # a JSON log line with trace_id
//! curl http://127.0.0.1:3000/metrics              # Prometheus exposition
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run -p example-quickstart
//! ```
//!
//! `LISTEN_ADDR` (or the first argument) picks the address; port 0 picks a free
//! port. The process prints `listening on http://IP:PORT` once bound and shuts
//! down gracefully on SIGTERM or Ctrl-C, flushing telemetry.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use tracewire::otel::KeyValue;
use tracewire_axum::InstrumentAll as _;

#[tokio::main]
async fn main() {
    let telemetry = tracewire::builder()
        .default_service_name("quickstart")
        .service_version(env!("CARGO_PKG_VERSION"))
        .init();

    let greetings = tracewire::metrics::counter(
        &tracewire::otel::global::meter("quickstart"),
        "quickstart.greetings",
        "{greeting}",
        "Greetings served",
    );

    let app = Router::new()
        .route(
            "/hello/{name}",
            get(move |Path(name): Path<String>| {
                let greetings = greetings.clone();
                async move {
                    tracing::info!(name = %name, "saying hello");
                    greetings.add(1, &[KeyValue::new("greeting.kind", "hello")]);
                    greet(&name).await
                }
            }),
        )
        // One call: a server span and HTTP metrics per request (continuing
        // the caller's trace), and GET /metrics.
        .instrument_all();

    let addr = example_support::listen_addr("127.0.0.1:3000");
    let listener = example_support::bind(addr).await;

    // Peer address on the span, graceful shutdown on SIGTERM/Ctrl-C, flush.
    if let Err(e) = tracewire_axum::serve(listener, app).await {
        tracing::error!("server error: {e}");
    }
    tracing::info!("shutting down");
    telemetry.shutdown();
}

/// The one instrumented function the issue asks for: its span is a child of
/// the request span, and its log line carries the same trace id.
#[tracing::instrument]
async fn greet(name: &str) -> String {
    tracing::debug!("composing greeting");
    format!("Hello, {name}!\n")
}
