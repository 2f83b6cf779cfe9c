//! [`serve`]: `axum::serve` as a traced service needs it — with the peer
//! address available to the layer, graceful shutdown on SIGTERM and Ctrl-C,
//! and the telemetry flushed once the last response has gone.

use std::future::Future;
use std::net::SocketAddr;

/// Serves `router` on `listener` until SIGTERM or Ctrl-C, then lets the
/// requests in flight finish and flushes the installed telemetry.
///
/// Unlike a bare `axum::serve(listener, router)`, the connection's peer
/// address reaches the layer (`ConnectInfo`), so the SERVER span carries
/// `client.address` and `network.peer.address` / `.port`.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tracewire_axum::InstrumentAll as _;
///
/// # async fn run() -> std::io::Result<()> {
/// let _telemetry = tracewire::init();
/// let app = Router::new().route("/", get(|| async { "hi" })).instrument_all();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// tracewire_axum::serve(listener, app).await
/// # }
/// ```
pub async fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> std::io::Result<()> {
    serve_until(listener, router, shutdown_signal()).await
}

/// Like [`serve`], stopping when `signal` resolves instead (several servers
/// in one process sharing one signal, tests).
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .await?;
    tracewire::flush();
    Ok(())
}

/// Resolves on SIGTERM (Unix) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
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
