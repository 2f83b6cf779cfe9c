//! Users with a cache: one trace per request across axum, SQL and Redis.
//!
//! Run with:
//! ```text
//! cargo run -p example-users                           # SQLite file users.db, Redis if it answers
//! DATABASE_URL=postgres://postgres@127.0.0.1/test cargo run -p example-users
//! curl -X POST localhost:3000/users -H 'content-type: application/json' -d '{"name":"ada"}'
//! curl localhost:3000/users/1                          # SQL on a miss, then Redis
//! ```
//!
//! `DATABASE_URL` picks PostgreSQL (`postgres://…`), MySQL/MariaDB
//! (`mysql://…`) or SQLite (default `sqlite://users.db?mode=rwc`);
//! `REDIS_URL` defaults to `redis://127.0.0.1:6379` and, when Redis does not
//! answer, the cache is skipped with one warning. `LISTEN_ADDR` (or the first
//! argument) picks the address (default `127.0.0.1:3000`, port 0 = any);
//! `listening on http://IP:PORT` is printed once bound; SIGTERM or Ctrl-C
//! shuts down gracefully, flushing telemetry.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use redis::AsyncCommands as _;
use serde_json::json;
use tracewire_axum::InstrumentAll as _;
use tracewire_redis::TracedConnection;
use tracewire_sqlx::TracedPool;

/// The database, whichever `DATABASE_URL` names.
#[derive(Clone)]
enum Store {
    Postgres(TracedPool<sqlx::Postgres>),
    MySql(TracedPool<sqlx::MySql>),
    Sqlite(TracedPool<sqlx::Sqlite>),
}

impl Store {
    async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let store = if url.starts_with("postgres") {
            Self::Postgres(tracewire_sqlx::instrument(
                sqlx::PgPool::connect(url).await?,
            ))
        } else if url.starts_with("mysql") || url.starts_with("mariadb") {
            Self::MySql(tracewire_sqlx::instrument(
                sqlx::MySqlPool::connect(url).await?,
            ))
        } else {
            Self::Sqlite(tracewire_sqlx::instrument(
                sqlx::SqlitePool::connect(url).await?,
            ))
        };
        store.create_table().await?;
        Ok(store)
    }

    async fn create_table(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(pool) => {
                sqlx::query("CREATE TABLE IF NOT EXISTS users (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL)").execute(pool).await?;
            }
            Self::MySql(pool) => {
                sqlx::query("CREATE TABLE IF NOT EXISTS users (id BIGINT AUTO_INCREMENT PRIMARY KEY, name TEXT NOT NULL)").execute(pool).await?;
            }
            Self::Sqlite(pool) => {
                sqlx::query("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)").execute(pool).await?;
            }
        }
        Ok(())
    }

    async fn insert(&self, name: &str) -> Result<i64, sqlx::Error> {
        Ok(match self {
            Self::Postgres(pool) => {
                sqlx::query_scalar("INSERT INTO users (name) VALUES ($1) RETURNING id")
                    .bind(name)
                    .fetch_one(pool)
                    .await?
            }
            Self::MySql(pool) => {
                let done = sqlx::query("INSERT INTO users (name) VALUES (?)")
                    .bind(name)
                    .execute(pool)
                    .await?;
                i64::try_from(done.last_insert_id()).unwrap_or(i64::MAX)
            }
            Self::Sqlite(pool) => {
                sqlx::query_scalar("INSERT INTO users (name) VALUES (?) RETURNING id")
                    .bind(name)
                    .fetch_one(pool)
                    .await?
            }
        })
    }

    async fn name(&self, id: i64) -> Result<Option<String>, sqlx::Error> {
        match self {
            Self::Postgres(pool) => {
                sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
            }
            Self::MySql(pool) => {
                sqlx::query_scalar("SELECT name FROM users WHERE id = ?")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
            }
            Self::Sqlite(pool) => {
                sqlx::query_scalar("SELECT name FROM users WHERE id = ?")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
            }
        }
    }
}

struct App {
    store: Store,
    cache: Option<TracedConnection<redis::aio::MultiplexedConnection>>,
}

const CACHE_TTL_SECONDS: u64 = 60;

#[derive(serde::Deserialize)]
struct NewUser {
    name: String,
}

fn server_error(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "internal error" })),
    )
        .into_response()
}

async fn create_user(State(app): State<Arc<App>>, Json(user): Json<NewUser>) -> Response {
    match app.store.insert(&user.name).await {
        Ok(id) => {
            tracing::info!(id, "user created");
            (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
        }
        Err(e) => server_error(e),
    }
}

async fn get_user(State(app): State<Arc<App>>, Path(id): Path<i64>) -> Response {
    let key = format!("user:{id}");
    if let Some(mut cache) = app.cache.clone() {
        match cache.get::<_, Option<String>>(&key).await {
            Ok(Some(name)) => return Json(json!({ "id": id, "name": name })).into_response(),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cache read failed"),
        }
    }
    match app.store.name(id).await {
        Ok(Some(name)) => {
            if let Some(mut cache) = app.cache.clone()
                && let Err(e) = cache
                    .set_ex::<_, _, ()>(&key, &name, CACHE_TTL_SECONDS)
                    .await
            {
                tracing::warn!(error = %e, "cache write failed");
            }
            Json(json!({ "id": id, "name": name })).into_response()
        }
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such user" })),
        )
            .into_response(),
        Err(e) => server_error(e),
    }
}

async fn open_cache(url: &str) -> Option<TracedConnection<redis::aio::MultiplexedConnection>> {
    let attempt = async {
        let client = redis::Client::open(url)?;
        tracewire_redis::connect(&client).await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), attempt).await {
        Ok(Ok(connection)) => Some(connection),
        Ok(Err(e)) => {
            tracing::warn!(%url, error = %e, "Redis is unreachable: running without the cache");
            None
        }
        Err(_) => {
            tracing::warn!(%url, "Redis did not answer in 2 s: running without the cache");
            None
        }
    }
}

#[tokio::main]
async fn main() {
    let telemetry = tracewire::builder().default_service_name("users").init();

    let database_url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://users.db?mode=rwc".to_owned());
    let store = match Store::open(&database_url).await {
        Ok(store) => store,
        Err(e) => {
            tracing::error!(error = %e, "cannot open the database");
            std::process::exit(1);
        }
    };
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let cache = open_cache(&redis_url).await;
    let app = Router::new()
        .route("/users", post(create_user))
        .route("/users/{id}", get(get_user))
        .with_state(Arc::new(App { store, cache }))
        .instrument_all();

    let addr = example_support::listen_addr("127.0.0.1:3000");
    let listener = example_support::bind(addr).await;
    // Peer address on the span, graceful shutdown on SIGTERM/Ctrl-C, flush.
    if let Err(e) = tracewire_axum::serve(listener, app).await {
        tracing::error!("server error: {e}");
    }
    telemetry.shutdown();
}
