//! The conformance service: our server layer and our client layer, and no
//! propagation code of its own, for external judges (the W3C Trace Context
//! test harness on `POST /test`, a cross-SDK interop check on `GET /forward`).
//! The contract is `docs/conformance-contract.md`.
//!
//! Run with:
//! ```text
//! cargo run -p example-conformance -- 127.0.0.1:5000
//! curl -X POST http://127.0.0.1:5000/test -d '[]'
//! ```

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use reqwest_middleware::ClientWithMiddleware;
use serde_json::{Value, json};
use tracewire_axum::InstrumentAll as _;

#[tokio::main]
async fn main() {
    // Logs go to stderr: stdout carries only the `listening on` line.
    let telemetry = tracewire::builder()
        .default_service_name("conformance")
        .log_writer(std::io::stderr)
        .init();

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .map(tracewire_reqwest::client)
        .unwrap_or_else(|e| {
            eprintln!("cannot build the HTTP client: {e}");
            std::process::exit(1);
        });

    let app = Router::new()
        .route("/test", post(test))
        .route("/forward", get(forward))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(http)
        .instrument_all();

    let addr = example_support::listen_addr("127.0.0.1:5000");
    let listener = example_support::bind(addr).await;

    // Peer address on the span, graceful shutdown on SIGTERM/Ctrl-C, flush.
    if let Err(e) = tracewire_axum::serve(listener, app).await {
        eprintln!("server error: {e}");
    }
    telemetry.shutdown();
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

/// `[{url, arguments}]`, a single object, or `null`.
fn instructions(body: &[u8]) -> Result<Vec<(String, Value)>, &'static str> {
    let parsed: Value = serde_json::from_slice(body).map_err(|_| "body is not JSON")?;
    let items = match parsed {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => return Err("expected an array of instructions"),
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Object(mut fields) = item else {
                return Err("each instruction must be an object");
            };
            let Some(Value::String(url)) = fields.remove("url") else {
                return Err("each instruction needs a string url");
            };
            let arguments = match fields.remove("arguments") {
                None | Some(Value::Null) => json!([]),
                Some(a) => a,
            };
            Ok((url, arguments))
        })
        .collect()
}

/// W3C harness: call each URL in order, through the client layer, before answering.
async fn test(State(http): State<ClientWithMiddleware>, body: Bytes) -> Response {
    let list = match instructions(&body) {
        Ok(list) => list,
        Err(message) => return bad_request(message),
    };
    let mut results = Vec::with_capacity(list.len());
    for (url, arguments) in list {
        let sent = http
            .post(&url)
            .header("content-type", "application/json")
            .body(arguments.to_string())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(_) => results.push(json!({ "url": url, "status": status })),
                    Err(e) => results.push(json!({ "url": url, "error": e.to_string() })),
                }
            }
            Err(e) => results.push(json!({ "url": url, "error": e.to_string() })),
        }
    }
    Json(Value::Array(results)).into_response()
}

/// Interop check: one GET to `to`, carrying the extracted context.
async fn forward(
    State(http): State<ClientWithMiddleware>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(to) = query.get("to").cloned() else {
        return bad_request("missing `to`");
    };
    match http.get(&to).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.text().await {
                Ok(body) => {
                    Json(json!({ "to": to, "status": status, "body": body })).into_response()
                }
                Err(e) => (
                    StatusCode::BAD_GATEWAY,
                    Json(json!({ "to": to, "error": e.to_string() })),
                )
                    .into_response(),
            }
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "to": to, "error": e.to_string() })),
        )
            .into_response(),
    }
}
