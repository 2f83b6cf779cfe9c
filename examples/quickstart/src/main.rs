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

use std::net::SocketAddr;

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

    let addr = listen_addr();
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    println!("listening on http://{local}");

    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
    {
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

/// First CLI argument, else `LISTEN_ADDR`, else `127.0.0.1:3000`.
fn listen_addr() -> SocketAddr {
    let raw = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("LISTEN_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    raw.parse().unwrap_or_else(|e| {
        eprintln!("invalid listen address {raw:?}: {e}");
        std::process::exit(2);
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
