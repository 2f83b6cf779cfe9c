//! The shop's three services: `gateway` (the public API), `orders` (SQL and
//! the queue) and `worker` (a small admin router beside the job loop).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;
use tracewire_axum::InstrumentAll as _;

use crate::db::Db;
use crate::jobs::{self, Job, Queue};

/// An order as the public API takes it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewOrder {
    pub item: String,
    pub quantity: i64,
}

#[derive(Clone)]
struct Gateway {
    orders: String,
    client: reqwest_middleware::ClientWithMiddleware,
}

/// `POST /checkout` and `GET /orders/{id}`, each a call to `orders`.
pub fn gateway(orders_url: String) -> Router {
    let state = Gateway {
        orders: orders_url,
        client: tracewire_reqwest::client(reqwest::Client::new()),
    };
    Router::new()
        .route("/checkout", post(checkout))
        .route("/orders/{id}", get(order_status))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
        .instrument_all()
}

async fn checkout(State(gw): State<Gateway>, Json(order): Json<NewOrder>) -> Response {
    let body = match serde_json::to_vec(&order) {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let sent = gw
        .client
        .post(format!("{}/orders", gw.orders))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    relay(sent).await
}

async fn order_status(State(gw): State<Gateway>, Path(id): Path<i64>) -> Response {
    relay(
        gw.client
            .get(format!("{}/orders/{id}", gw.orders))
            .send()
            .await,
    )
    .await
}

/// The upstream's answer; a 5xx or a failed call becomes 502.
async fn relay(sent: reqwest_middleware::Result<reqwest::Response>) -> Response {
    match sent {
        Ok(response) => {
            let status = response.status();
            let body = response.bytes().await.unwrap_or_default();
            if status.is_server_error() {
                tracing::error!(%status, "orders failed");
                let code = StatusCode::BAD_GATEWAY;
                return (code, Json(json!({"error": "orders failed"}))).into_response();
            }
            let code = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            (
                code,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "orders unreachable");
            (
                StatusCode::BAD_GATEWAY,
                Json(json!({"error": "orders unreachable"})),
            )
                .into_response()
        }
    }
}

#[derive(Clone)]
struct Orders {
    db: Db,
    queue: Queue,
}

/// `POST /orders` (stock check, insert, job) and `GET /orders/{id}`.
pub fn orders(db: Db, queue: Queue) -> Router {
    Router::new()
        .route("/orders", post(create_order))
        .route("/orders/{id}", get(read_order))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(Orders { db, queue })
        .instrument_all()
}

async fn create_order(State(orders): State<Orders>, Json(order): Json<NewOrder>) -> Response {
    if let Err(e) = orders.db.check_stock(&order.item).await {
        tracing::error!(item = %order.item, error = %e, "stock check failed");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "stock check failed"})),
        )
            .into_response();
    }
    let id = match orders.db.insert(&order.item, order.quantity).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "insert failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let job = Job {
        order_id: id,
        item: order.item.clone(),
        attempt: 0,
    };
    if let Err(e) = orders.queue.send(jobs::QUEUE, &job).await {
        tracing::error!(error = %e, "enqueue failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    tracing::info!(order_id = id, item = %order.item, "order accepted");
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "status": "queued"})),
    )
        .into_response()
}

async fn read_order(State(orders): State<Orders>, Path(id): Path<i64>) -> Response {
    match orders.db.get(id).await {
        Ok(Some(order)) => Json(order).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such order"})),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "read failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The worker's admin router: `/healthz`, `/metrics`, `/_tracewire/`.
pub fn worker_admin() -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .instrument_all()
}
