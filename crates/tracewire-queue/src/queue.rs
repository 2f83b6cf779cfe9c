//! [`RedisQueue`]: the producer side of a Redis list queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use redis::AsyncCommands as _;
use tracewire::otel::trace::{SpanKind, Status, TraceContextExt as _};
use tracewire::otel::{Context, KeyValue};
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
    conn: TracedConnection<redis::aio::MultiplexedConnection>,
    instruments: Arc<Instruments>,
    server: ServerInfo,
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
            tracewire::sdk_tracer(SCOPE),
            &tracewire::otel::global::meter(SCOPE),
        )
        .await
    }

    /// Connects with an explicit tracer and meter.
    pub async fn connect_with(
        client: &redis::Client,
        tracer: Option<tracewire::otel_sdk::trace::SdkTracer>,
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

    pub(crate) fn server_attributes(server: &ServerInfo, into: &mut Vec<KeyValue>) {
        if let Some(address) = &server.address {
            into.push(KeyValue::new(attr::SERVER_ADDRESS, address.clone()));
        }
        if let Some(port) = server.port {
            into.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
        }
    }

    /// Sends `payload` to `queue`; returns the message id.
    pub async fn send(
        &self,
        queue: &str,
        payload: impl Into<String>,
    ) -> redis::RedisResult<String> {
        let id = message_id();
        let mut attributes = vec![
            KeyValue::new(attr::SYSTEM, "redis"),
            KeyValue::new(attr::OPERATION_NAME, "send"),
            KeyValue::new(attr::DESTINATION_NAME, queue.to_owned()),
        ];
        Self::server_attributes(&self.server, &mut attributes);
        let mut span_attributes = attributes.clone();
        span_attributes.push(KeyValue::new(attr::OPERATION_TYPE, "send"));
        span_attributes.push(KeyValue::new(attr::MESSAGE_ID, id.clone()));
        let cx = self.instruments.start_span(
            format!("send {queue}"),
            SpanKind::Producer,
            span_attributes,
            &Context::current(),
            Vec::new(),
        );
        let envelope = Envelope::new(id.clone(), payload.into(), &cx);
        let start = Instant::now();
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<()> = tracewire::otel::trace::FutureExt::with_context(
            async { conn.lpush(queue, envelope.encode()).await },
            cx.clone(),
        )
        .await;
        if let Err(e) = &result {
            let kind = e.code().unwrap_or("send_failed").to_owned();
            attributes.push(KeyValue::new(attr::ERROR_TYPE, kind.clone()));
            cx.span()
                .set_attribute(KeyValue::new(attr::ERROR_TYPE, kind));
            cx.span().set_status(Status::error(""));
        }
        {
            let _current = cx.clone().attach();
            self.instruments
                .operation_duration
                .record(start.elapsed().as_secs_f64(), &attributes);
            self.instruments.sent.add(1, &attributes);
        }
        cx.span().end();
        result.map(|()| id)
    }
}
