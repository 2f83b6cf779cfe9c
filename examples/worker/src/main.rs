//! An HTTP API and a Redis worker in one process; the request, the enqueue,
//! the processing and the database write are one trace.
//!
//! Run with:
//! ```text
//! cargo run -p example-worker
//! curl -X POST localhost:3000/jobs -H 'content-type: application/json' -d '{"payload":"hello"}'
//! curl localhost:3000/jobs/<id>                     # queued → done
//! curl -X POST localhost:3000/jobs -d '{"payload":"slow"}' -H 'content-type: application/json'
//!                                                   # running for a second, then done
//! curl -X POST localhost:3000/jobs -d '{"payload":"fail me"}' -H 'content-type: application/json'
//!                                                   # retried, then failed (dead-letter list)
//! ```
//!
//! `REDIS_URL` (default `redis://127.0.0.1:6379`) holds the queue `jobs`;
//! `DATABASE_URL` (PostgreSQL, default an embedded SQLite file `jobs.db`)
//! the job statuses. `LISTEN_ADDR` / first argument, `listening on`, and
//! SIGTERM (which lets in-flight jobs finish) as in the other examples.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;
use tracewire_axum::InstrumentAll as _;
use tracewire_queue::{HandlerError, Message, RedisQueue, Worker};
use tracewire_sqlx::TracedPool;

const QUEUE: &str = "jobs";
const MAX_RETRIES: u32 = 2;

#[derive(Clone)]
enum Store {
    Postgres(TracedPool<sqlx::Postgres>),
    Sqlite(TracedPool<sqlx::Sqlite>),
}

impl Store {
    async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let store = if url.starts_with("postgres") {
            Self::Postgres(tracewire_sqlx::instrument(
                sqlx::PgPool::connect(url).await?,
            ))
        } else {
            Self::Sqlite(tracewire_sqlx::instrument(
                sqlx::SqlitePool::connect(url).await?,
            ))
        };
        let ddl = "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)";
        match &store {
            Self::Postgres(pool) => {
                sqlx::query(ddl).execute(pool).await?;
            }
            Self::Sqlite(pool) => {
                sqlx::query(ddl).execute(pool).await?;
            }
        }
        Ok(store)
    }

    /// Records a job's status. A final status (`done`, `failed`) is never
    /// overwritten: whatever order two writes land in, a finished job stays
    /// finished.
    async fn set(&self, id: &str, status: &str, attempts: i64) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(pool) => {
                sqlx::query("INSERT INTO jobs (id, status, attempts) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET status = $2, attempts = $3 WHERE jobs.status NOT IN ('done', 'failed')")
                    .bind(id)
                    .bind(status)
                    .bind(attempts)
                    .execute(pool)
                    .await?;
            }
            Self::Sqlite(pool) => {
                sqlx::query("INSERT INTO jobs (id, status, attempts) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET status = ?2, attempts = ?3 WHERE jobs.status NOT IN ('done', 'failed')")
                    .bind(id)
                    .bind(status)
                    .bind(attempts)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<Option<(String, i64)>, sqlx::Error> {
        match self {
            Self::Postgres(pool) => {
                sqlx::query_as("SELECT status, attempts FROM jobs WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
            }
            Self::Sqlite(pool) => {
                sqlx::query_as("SELECT status, attempts FROM jobs WHERE id = ?1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
            }
        }
    }
}

struct App {
    store: Store,
    queue: RedisQueue,
}

#[derive(serde::Deserialize)]
struct NewJob {
    payload: String,
}

fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "internal error" })),
    )
        .into_response()
}

async fn enqueue(State(app): State<Arc<App>>, Json(job): Json<NewJob>) -> Response {
    // "queued" is written before the message exists: a worker may finish the
    // job before `send_with_id` returns, and its "done" must be the last word.
    let id = app.queue.new_message_id();
    if let Err(e) = app.store.set(&id, "queued", 0).await {
        return server_error(e);
    }
    if let Err(e) = app.queue.send_with_id(QUEUE, &id, job.payload).await {
        let _ = app.store.set(&id, "failed", 0).await;
        return server_error(e);
    }
    (StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response()
}

async fn status(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.store.get(&id).await {
        Ok(Some((status, attempts))) => {
            Json(json!({ "id": id, "status": status, "attempts": attempts })).into_response()
        }
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such job" })),
        )
            .into_response(),
        Err(e) => server_error(e),
    }
}

/// The job itself: a payload starting with `fail` fails, to show retries and
/// the dead-letter list; one starting with `slow` runs for a second (status
/// `running` meanwhile), to show that SIGTERM lets it finish.
async fn work(store: Store, message: Message) -> Result<(), HandlerError> {
    let attempts = i64::from(message.attempt) + 1;
    if message.payload.starts_with("slow") {
        store.set(&message.id, "running", attempts).await?;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    if message.payload.starts_with("fail") {
        let status = if message.attempt >= MAX_RETRIES {
            "failed"
        } else {
            "retrying"
        };
        tracing::warn!(id = %message.id, attempt = message.attempt, "job failed");
        store.set(&message.id, status, attempts).await?;
        return Err("the payload asked to fail".into());
    }
    tracing::info!(id = %message.id, "job done");
    store.set(&message.id, "done", attempts).await?;
    Ok(())
}

#[tokio::main]
async fn main() {
    let telemetry = tracewire::builder().default_service_name("worker").init();
    let database_url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://jobs.db?mode=rwc".to_owned());
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let store = Store::open(&database_url).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot open the database");
        std::process::exit(1);
    });
    let client = redis::Client::open(redis_url.as_str()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "invalid REDIS_URL");
        std::process::exit(1);
    });
    let queue = RedisQueue::connect(&client).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot reach Redis");
        std::process::exit(1);
    });

    let app = Router::new()
        .route("/jobs", post(enqueue))
        .route("/jobs/{id}", get(status))
        .with_state(Arc::new(App {
            store: store.clone(),
            queue,
        }))
        .instrument_all();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker_store = store.clone();
    let mut worker_stopped = stopped.clone();
    let worker = Worker::new(client, QUEUE).max_retries(MAX_RETRIES).run(
        move |message| work(worker_store.clone(), message),
        async move {
            let _ = worker_stopped.wait_for(|stop| *stop).await;
        },
    );

    let listener = example_support::bind(example_support::listen_addr("127.0.0.1:3000")).await;
    let mut server_stopped = stopped;
    let server = tracewire_axum::serve_until(listener, app, async move {
        let _ = server_stopped.wait_for(|stop| *stop).await;
    });
    let signal = async move {
        example_support::shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight jobs");
        let _ = stop.send(true);
    };
    let (served, worked, ()) = tokio::join!(server, worker, signal);
    if let Err(e) = served {
        tracing::error!("server error: {e}");
    }
    if let Err(e) = worked {
        tracing::error!("worker error: {e}");
    }
    telemetry.shutdown();
}
