//! What every server example in this repository shares: the listen address
//! (first argument, else `LISTEN_ADDR`, else a default; port 0 picks a free
//! port), the `listening on http://IP:PORT` line scripts wait for, and a
//! shutdown on SIGTERM or Ctrl-C.

use std::io::Write as _;
use std::net::SocketAddr;

/// The first CLI argument, else `LISTEN_ADDR`, else `default`. Exits with
/// status 2 on an unparsable address.
pub fn listen_addr(default: &str) -> SocketAddr {
    let raw = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("LISTEN_ADDR").ok())
        .unwrap_or_else(|| default.to_owned());
    raw.parse().unwrap_or_else(|e| {
        eprintln!("invalid listen address {raw:?}: {e}");
        std::process::exit(2);
    })
}

/// Binds `addr` and prints `listening on http://IP:PORT` (flushed) once bound.
/// Exits with status 1 when the address cannot be bound.
pub async fn bind(addr: SocketAddr) -> tokio::net::TcpListener {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "listening on http://{}",
        listener.local_addr().unwrap_or(addr)
    );
    let _ = std::io::stdout().flush();
    listener
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
