//! # tracewire-redis
//!
//! Every redis-rs command, pipeline and transaction as an OpenTelemetry
//! CLIENT span (semconv §4) with `db.client.operation.duration` — and values
//! never recorded.
//!
//! ```no_run
//! # async fn run() -> redis::RedisResult<()> {
//! use redis::AsyncCommands as _;
//!
//! let _telemetry = tracewire::init();
//! let client = redis::Client::open("redis://127.0.0.1:6379")?;
//! let mut redis = tracewire_redis::connect(&client).await?;
//! let _: () = redis.set_ex("user:1", "{\"name\":\"ada\"}", 60).await?; // span `SET`, text `SET user:1 ? ?`
//! let name: Option<String> = redis.get("user:1").await?;
//! # Ok(()) }
//! ```
//!
//! Spans: name = the command as sent (`EVALSHA {sha}`, `FCALL {function}`;
//! `PIPELINE {cmd}` / `MULTI {cmd}` when a batch repeats one command, else
//! `PIPELINE` / `MULTI`), kind CLIENT, `db.system.name=redis`,
//! `db.operation.name`, `db.namespace` (the db index), `db.query.text` in CLI
//! syntax with key and field names kept and every value `?` (arguments of
//! `AUTH`, `HELLO`, `MIGRATE` never recorded), `db.operation.batch.size` for
//! batches of two or more, `server.address`/`server.port`. An error reply sets
//! status Error with its prefix (`WRONGTYPE`, `ERR`…) as
//! `db.response.status_code` and `error.type`.
//!
//! Blocking commands (`BLPOP`, `BRPOP`, `BLMOVE`, `XREAD … BLOCK`, `WAIT`…)
//! measure how long the server waited for data, not how fast it answered: they
//! get a span with their real duration but are **left out of
//! `db.client.operation.duration`**, so a worker waiting on a queue does not
//! make the database look slow.

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod connection;
mod sanitize;

pub use connection::{ServerInfo, TracedConnection};

/// The `db.query.text` recorded for one command (`args[0]` is its name): CLI
/// syntax, key and field names kept, every value `?`, nothing after `AUTH`,
/// `HELLO` or `MIGRATE`. Public for fuzzing and for adapters of other clients.
pub fn query_text(args: &[&[u8]]) -> String {
    let command = sanitize::CommandName::of(args.first().copied().unwrap_or_default());
    sanitize::query_text(&command, args)
}

/// Opens a multiplexed connection from `client`, traced.
pub async fn connect(
    client: &redis::Client,
) -> redis::RedisResult<TracedConnection<redis::aio::MultiplexedConnection>> {
    let connection = client.get_multiplexed_async_connection().await?;
    Ok(TracedConnection::new(connection, ServerInfo::of(client)))
}

/// A `ConnectionManager` (reconnects on failure) from `client`, traced.
pub async fn connection_manager(
    client: &redis::Client,
) -> redis::RedisResult<TracedConnection<redis::aio::ConnectionManager>> {
    let manager = redis::aio::ConnectionManager::new(client.clone()).await?;
    Ok(TracedConnection::new(manager, ServerInfo::of(client)))
}
