//! # tracewire-queue
//!
//! Trace context through worker queues, and a Redis worker runtime that
//! records what a queue dashboard shows: messages processed per second by
//! outcome, processing latency, and backlog.
//!
//! ```no_run
//! # async fn run() -> redis::RedisResult<()> {
//! let _telemetry = tracewire::init();
//! let client = redis::Client::open("redis://127.0.0.1:6379")?;
//!
//! // Producer (e.g. in a request handler): a `send jobs` PRODUCER span whose
//! // context travels in the message.
//! let queue = tracewire_queue::RedisQueue::connect(&client).await?;
//! let id = queue.send("jobs", r#"{"email":"ada@example.com"}"#).await?;
//!
//! // Worker: each message in a `process jobs` CONSUMER span, child of the
//! // producer's span; retries, dead letters, graceful shutdown.
//! tracewire_queue::Worker::new(client, "jobs")
//!     .concurrency(8)
//!     .max_retries(3)
//!     .run(|message| async move {
//!         tracing::info!(payload = %message.payload, "sending email");
//!         Ok(())
//!     }, async { let _ = tokio::signal::ctrl_c().await; })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Messages are envelopes `{"id", "headers", "attempt", "payload"}` (Redis
//! lists have no metadata); entries that are not envelopes are processed as
//! bare payloads in a new trace.
//!
//! Metrics (Prometheus names): `messaging_client_sent_messages_total`,
//! `messaging_client_consumed_messages_total` (with `error.type` when the handler failed),
//! `tracewire_messaging_processed_messages_total{tracewire_messaging_outcome=success|retried|dead_lettered|error}`,
//! `messaging_process_duration_seconds`, `messaging_client_operation_duration_seconds`,
//! `tracewire_messaging_queue_depth` (LLEN, refreshed in the background).
//!
//! The same spans and metrics cover Redis streams ([`RedisStream`],
//! [`StreamWorker`]), RabbitMQ (module `amqp`, feature `amqp`), NATS and
//! JetStream (module `nats`, feature `nats`) and apalis 1.x jobs (module
//! `apalis`, feature `apalis`).

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "amqp")]
#[cfg_attr(docsrs, doc(cfg(feature = "amqp")))]
pub mod amqp;
#[cfg(feature = "apalis")]
#[cfg_attr(docsrs, doc(cfg(feature = "apalis")))]
pub mod apalis;
mod envelope;
#[cfg(feature = "nats")]
#[cfg_attr(docsrs, doc(cfg(feature = "nats")))]
pub mod nats;
mod queue;
mod stream;
mod telemetry;
mod worker;

pub use envelope::Envelope;
pub use queue::RedisQueue;
pub use stream::{PAYLOAD_FIELD, RedisStream, StreamWorker};
pub use telemetry::{ContextMode, attr};
pub use worker::{HandlerError, Message, Worker, observe_depth};
