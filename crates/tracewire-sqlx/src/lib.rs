//! # tracewire-sqlx
//!
//! Wrap the sqlx pool you already have, keep calling
//! `sqlx::query(…).fetch_*(&pool)` as before, and every operation becomes an
//! OpenTelemetry CLIENT span (semconv 1.44 §3) with
//! `db.client.operation.duration`, plus the pool metrics of §3.4.
//!
//! ```no_run
//! # async fn run() -> Result<(), sqlx::Error> {
//! let _telemetry = tracewire::init();
//! let pool = tracewire_sqlx::instrument(sqlx::PgPool::connect("postgres://localhost/app").await?);
//! let name: (String,) = sqlx::query_as("SELECT name FROM users WHERE id = $1").bind(7).fetch_one(&pool).await?;
//! let mut tx = pool.begin().await?;
//! sqlx::query("UPDATE users SET seen = now() WHERE id = $1").bind(7).execute(&mut tx).await?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```
//!
//! Each span: name = `db.query.summary` (`SELECT users`), kind CLIENT,
//! `db.system.name` (`postgresql`, `mysql` — `Options::system("mariadb")` —,
//! `sqlite`), `db.namespace` (the database; for SQLite the file's stem),
//! `db.query.summary`, `db.query.text` (parameterized text as written, text
//! without bound values only after literals are replaced by `?`; off with
//! `Options::record_query_text(false)`), `server.address`/`server.port`
//! (port only when not the default), `db.response.returned_rows`, and on
//! failure status Error with `db.response.status_code` (PostgreSQL SQLSTATE,
//! MySQL error number, SQLite result code) and `error.type`. A streamed fetch
//! ends its span when the stream ends or is dropped, not at the first row.
//! Spans are children of the caller's current span (the request span in a handler).
//!
//! Pool metrics, with `db.client.connection.pool.name` =
//! `server.address:server.port/db.namespace` unless set:
//! `db.client.connection.count{db.client.connection.state=idle|used}`,
//! `.max`, `.pending_requests`, `.timeouts`, `.wait_time`, `.use_time`.

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod operation;
mod pool;
pub mod sanitize;
mod target;
mod transaction;

pub use pool::{Options, TracedPool};
pub use target::{DatabaseTarget, Target};
pub use transaction::TracedTransaction;

/// Wraps `pool` with the default options.
pub fn instrument<DB: DatabaseTarget>(pool: sqlx::Pool<DB>) -> TracedPool<DB> {
    TracedPool::new(pool)
}
