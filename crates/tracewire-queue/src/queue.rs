//! [`RedisQueue`]: the producer side of a Redis list queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redis::AsyncCommands as _;
use tracewire::otel::KeyValue;
use tracewire_redis::{ServerInfo, TracedConnection};

use crate::envelope::Envelope;
use crate::telemetry::{Instruments, SCOPE, attr};

/// A fresh message id: random per process, then a counter.
pub(crate) fn message_id() -> String {
    static PREFIX: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    });
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}{:08x}",
        *PREFIX,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Sends messages to Redis lists, each in a PRODUCER span (`send {queue}`)
/// whose context travels in the message's envelope.
#[derive(Clone)]
pub struct RedisQueue {
    pub(crate) conn: TracedConnection<redis::aio::MultiplexedConnection>,
    pub(crate) instruments: Arc<Instruments>,
    pub(crate) server: ServerInfo,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// Connects with the tracer `tracewire::init` installed and the global meter.
    pub async fn connect(client: &redis::Client) -> redis::RedisResult<Self> {
        Self::connect_with(
            client,
            tracewire::instrumentation::Tracer::installed(SCOPE),
            &tracewire::otel::global::meter(SCOPE),
        )
        .await
    }

    /// Connects with an explicit tracer and meter.
    pub async fn connect_with(
        client: &redis::Client,
        tracer: Option<tracewire::instrumentation::Tracer>,
        meter: &tracewire::otel::metrics::Meter,
    ) -> redis::RedisResult<Self> {
        let server = ServerInfo::of(client);
        let conn = TracedConnection::with(
            client.get_multiplexed_async_connection().await?,
            server.clone(),
            tracer.clone(),
            meter,
        );
        Ok(Self {
            conn,
            instruments: Instruments::new(tracer, meter),
            server,
        })
    }

    /// `error.type` of a failed send: the Redis error code, or `send_failed`.
    pub(crate) fn send_error_type<T>(result: &redis::RedisResult<T>) -> Option<String> {
        result
            .as_ref()
            .err()
            .map(|e| e.code().unwrap_or("send_failed").to_owned())
    }

    pub(crate) fn server_attributes(server: &ServerInfo, into: &mut Vec<KeyValue>) {
        if let Some(address) = &server.address {
            into.push(KeyValue::new(attr::SERVER_ADDRESS, address.clone()));
        }
        if let Some(port) = server.port {
            into.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
        }
    }

    /// Sends `payload` to `queue`; returns the message id.
    ///
    /// The message can be processed before this returns. To record anything
    /// a handler will read (a job's status, say), take an id with
    /// [`new_message_id`](Self::new_message_id), write the state under it,
    /// then [`send_with_id`](Self::send_with_id).
    pub async fn send(
        &self,
        queue: &str,
        payload: impl Into<String>,
    ) -> redis::RedisResult<String> {
        let id = message_id();
        self.send_with_id(queue, &id, payload).await?;
        Ok(id)
    }

    /// A fresh message id (unique per process run: a random prefix, then a
    /// counter), for [`send_with_id`](Self::send_with_id).
    pub fn new_message_id(&self) -> String {
        message_id()
    }

    /// Sends `payload` to `queue` as message `id` (`messaging.message.id`,
    /// and [`Message::id`](crate::Message::id) for the handler). The caller
    /// chooses the id, so state keyed by it can be written before the
    /// message exists for any worker.
    pub async fn send_with_id(
        &self,
        queue: &str,
        id: &str,
        payload: impl Into<String>,
    ) -> redis::RedisResult<()> {
        let id = id.to_owned();
        let mut server = Vec::new();
        Self::server_attributes(&self.server, &mut server);
        let op = self.instruments.start_send(
            "redis",
            "send",
            queue,
            server,
            vec![KeyValue::new(attr::MESSAGE_ID, id.clone())],
        );
        let cx = op.context().clone();
        let envelope = Envelope::new(id.clone(), payload.into(), &cx);
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<()> = tracewire::otel::trace::FutureExt::with_context(
            async { conn.lpush(queue, envelope.encode()).await },
            cx.clone(),
        )
        .await;
        let error_type = Self::send_error_type(&result);
        self.instruments.finish_send(op, error_type);
        result
    }
}
