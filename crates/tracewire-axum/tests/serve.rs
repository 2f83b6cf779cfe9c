//! `tracewire_axum::serve_until`: the peer address reaches the layer, and a
//! shutdown signal lets the request in flight finish before serving stops.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tracewire::testing::{TestTelemetry, attribute};
use tracewire_axum::ServerTelemetryLayer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_sets_the_peer_and_drains_the_request_in_flight_on_the_signal() {
    let t = TestTelemetry::start();
    let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let hooks = Arc::new(Mutex::new(Some((started_tx, released))));
    let app = Router::new()
        .route(
            "/slow",
            get(move || {
                let hooks = Arc::clone(&hooks);
                async move {
                    let (started, released) = hooks.lock().unwrap().take().unwrap();
                    let _ = started.send(());
                    let _ = released.await;
                    "done"
                }
            }),
        )
        .layer(
            ServerTelemetryLayer::new()
                .own_tracer(t.own_tracer("tracewire-axum"))
                .meter(&t.telemetry.meter("tracewire-axum")),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tracewire_axum::serve_until(listener, app, async {
        let _ = stopped.await;
    }));

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let client_port = stream.local_addr().unwrap().port();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nhost: shop\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    started.await.unwrap();
    // The signal arrives while the handler is still running.
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !server.is_finished(),
        "serving waits for the request in flight"
    );
    release.send(()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("done"), "{response}");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serving stops once the request is done")
        .unwrap()
        .unwrap();

    let span = t.span("GET /slow");
    assert_eq!(
        attribute(&span, "client.address").unwrap().to_string(),
        "127.0.0.1"
    );
    assert_eq!(
        attribute(&span, "network.peer.address")
            .unwrap()
            .to_string(),
        "127.0.0.1"
    );
    assert_eq!(
        attribute(&span, "network.peer.port").unwrap().to_string(),
        client_port.to_string()
    );
}
