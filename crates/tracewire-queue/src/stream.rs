//! Redis Streams: trace context as entry fields next to the payload, and a
//! consumer-group worker (`XREADGROUP` / `XACK`) that reclaims entries a
//! dead consumer left pending (`XAUTOCLAIM`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::AsyncCommands as _;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamInfoGroupsReply,
    StreamReadOptions, StreamReadReply,
};
use tracewire::otel::KeyValue;
use tracewire::otel::trace::{FutureExt as _, Link, TraceContextExt as _};
use tracewire_redis::{ServerInfo, TracedConnection};

use crate::queue::RedisQueue;
use crate::telemetry::{ContextMode, Instruments, SCOPE, attr, consumer_relations};
use crate::worker::{HandlerError, Message};

/// The entry field holding the payload.
pub const PAYLOAD_FIELD: &str = "payload";

/// Sends messages to Redis streams (`XADD`), each in a PRODUCER span
/// (`send {stream}`) whose context travels as entry fields.
#[derive(Clone)]
pub struct RedisStream {
    /// The same traced connection, instruments and server as a list producer.
    redis: RedisQueue,
}

impl std::fmt::Debug for RedisStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStream")
            .field("redis", &self.redis)
            .finish()
    }
}

impl RedisStream {
    /// Connects with an explicit tracer and meter (`tracewire::sdk_tracer` /
    /// the global meter for the defaults).
    pub async fn connect_with(
        client: &redis::Client,
        tracer: Option<tracewire::instrumentation::Tracer>,
        meter: &tracewire::otel::metrics::Meter,
    ) -> redis::RedisResult<Self> {
        let redis = RedisQueue::connect_with(client, tracer, meter).await?;
        Ok(Self { redis })
    }

    /// Connects with the tracer `tracewire::init` installed.
    pub async fn connect(client: &redis::Client) -> redis::RedisResult<Self> {
        let redis = RedisQueue::connect(client).await?;
        Ok(Self { redis })
    }

    /// Appends `payload` to `stream`; returns the entry id.
    pub async fn send(
        &self,
        stream: &str,
        payload: impl Into<String>,
    ) -> redis::RedisResult<String> {
        let mut server = Vec::new();
        RedisQueue::server_attributes(&self.redis.server, &mut server);
        let op = self
            .redis
            .instruments
            .start_send("redis", "send", stream, server, Vec::new());
        let cx = op.context().clone();
        let mut fields: HashMap<String, String> = HashMap::new();
        tracewire::propagation::inject_into(&cx, &mut fields);
        let mut entry: Vec<(String, String)> = vec![(PAYLOAD_FIELD.to_owned(), payload.into())];
        entry.extend(fields);
        let mut conn = self.redis.conn.clone();
        let result: redis::RedisResult<String> = async { conn.xadd(stream, "*", &entry).await }
            .with_context(cx.clone())
            .await;
        if let Ok(id) = &result {
            cx.span()
                .set_attribute(KeyValue::new(attr::MESSAGE_ID, id.clone()));
        }
        let error_type = RedisQueue::send_error_type(&result);
        self.redis.instruments.finish_send(op, error_type);
        result
    }
}

/// A consumer-group worker over one stream.
#[derive(Clone)]
pub struct StreamWorker {
    client: redis::Client,
    stream: String,
    group: String,
    consumer: String,
    max_retries: u32,
    claim_after: Duration,
    poll: Duration,
    mode: ContextMode,
    tracer: Option<tracewire::instrumentation::Tracer>,
    meter: tracewire::otel::metrics::Meter,
}

impl std::fmt::Debug for StreamWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWorker")
            .field("stream", &self.stream)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl StreamWorker {
    /// A worker in consumer group `group` (created if missing); consumer
    /// `default`, 3 retries, entries idle for 60 s reclaimed.
    pub fn new(client: redis::Client, stream: impl Into<String>, group: impl Into<String>) -> Self {
        Self {
            client,
            stream: stream.into(),
            group: group.into(),
            consumer: "default".to_owned(),
            max_retries: 3,
            claim_after: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            mode: ContextMode::Parent,
            tracer: tracewire::instrumentation::Tracer::installed(SCOPE),
            meter: tracewire::otel::global::meter(SCOPE),
        }
    }

    /// This consumer's name in the group.
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = name.into();
        self
    }

    /// Handler attempts per entry before it goes to `{stream}:dead` (and is acknowledged).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Entries pending (delivered, not acknowledged) this long are taken over.
    pub fn claim_after(mut self, idle: Duration) -> Self {
        self.claim_after = idle;
        self
    }

    /// How long one `XREADGROUP` blocks before checking for shutdown again.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// How the process span relates to the producer's span.
    pub fn context_mode(mut self, mode: ContextMode) -> Self {
        self.mode = mode;
        self
    }

    /// Uses this tracer and meter.
    pub fn telemetry(
        mut self,
        tracer: Option<tracewire::instrumentation::Tracer>,
        meter: tracewire::otel::metrics::Meter,
    ) -> Self {
        self.tracer = tracer;
        self.meter = meter;
        self
    }

    /// Runs until `shutdown` resolves; the entry in hand finishes first.
    pub async fn run<F, Fut>(
        self,
        handler: F,
        shutdown: impl Future<Output = ()>,
    ) -> redis::RedisResult<()>
    where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let instruments = Instruments::new(self.tracer.clone(), &self.meter);
        let server = ServerInfo::of(&self.client);
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
        let mut poller = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let created: redis::RedisResult<()> = poller
            .xgroup_create_mkstream(&self.stream, &self.group, "0")
            .await;
        if let Err(e) = created
            && e.code() != Some("BUSYGROUP")
        {
            return Err(e);
        }
        let mut traced = TracedConnection::with(
            self.client.get_multiplexed_async_connection().await?,
            server.clone(),
            self.tracer.clone(),
            &self.meter,
        );
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let depth = instruments.depth_of("redis", &self.stream);
        let handler = Arc::new(handler);
        let work = async {
            let mut claim_cursor = "0-0".to_owned();
            while !*stop_rx.borrow() {
                let (started, clock) = (std::time::SystemTime::now(), Instant::now());
                // First what others left behind, then new entries.
                let claimed: redis::RedisResult<StreamAutoClaimReply> = poller
                    .xautoclaim_options(
                        &self.stream,
                        &self.group,
                        &self.consumer,
                        self.claim_after.as_millis() as u64,
                        &claim_cursor,
                        StreamAutoClaimOptions::default().count(1),
                    )
                    .await;
                let mut entries: Vec<StreamId> = match claimed {
                    Ok(reply) => {
                        claim_cursor = reply.next_stream_id.clone();
                        reply.claimed
                    }
                    Err(_) => Vec::new(),
                };
                if entries.is_empty() {
                    let options = StreamReadOptions::default()
                        .group(&self.group, &self.consumer)
                        .count(1)
                        .block(self.poll.as_millis() as usize);
                    let read: redis::RedisResult<Option<StreamReadReply>> = poller
                        .xread_options(&[&self.stream], &[">"], &options)
                        .await;
                    entries = read
                        .ok()
                        .flatten()
                        .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
                        .unwrap_or_default();
                }
                if let Some(n) = self.backlog(&mut poller).await {
                    depth.store(n, Ordering::Relaxed);
                }
                let received = if entries.is_empty() {
                    None
                } else {
                    let mut attributes = vec![
                        KeyValue::new(attr::SYSTEM, "redis"),
                        KeyValue::new(attr::CONSUMER_GROUP_NAME, self.group.clone()),
                    ];
                    RedisQueue::server_attributes(&server, &mut attributes);
                    instruments.receive(&self.stream, attributes, started, clock.elapsed())
                };
                for entry in entries {
                    self.process(
                        entry,
                        received.clone(),
                        &mut traced,
                        &handler,
                        &instruments,
                        &server,
                    )
                    .await;
                }
            }
        };
        tokio::join!(work, async {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        Ok(())
    }

    /// Entries this group has not finished: its `lag` (not yet delivered)
    /// plus `pending` (delivered, not acknowledged), from `XINFO GROUPS`.
    /// `XLEN` would keep counting acknowledged entries the stream retains.
    /// Where the server cannot tell the lag (before Redis 7, or after
    /// deletions in the middle of the stream), `XLEN` is the fallback.
    async fn backlog(&self, conn: &mut redis::aio::MultiplexedConnection) -> Option<i64> {
        let groups: StreamInfoGroupsReply = conn.xinfo_groups(&self.stream).await.ok()?;
        let group = groups.groups.iter().find(|g| g.name == self.group)?;
        match group.lag {
            Some(lag) => i64::try_from(lag + group.pending).ok(),
            None => conn.xlen(&self.stream).await.ok(),
        }
    }

    async fn process<F, Fut>(
        &self,
        entry: StreamId,
        received: Option<Link>,
        traced: &mut TracedConnection<redis::aio::MultiplexedConnection>,
        handler: &Arc<F>,
        instruments: &Instruments,
        server: &ServerInfo,
    ) where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let fields: HashMap<String, String> = entry
            .map
            .iter()
            .filter_map(|(k, v)| {
                redis::from_redis_value_ref::<String>(v)
                    .ok()
                    .map(|v| (k.clone(), v))
            })
            .collect();
        let payload = fields.get(PAYLOAD_FIELD).cloned().unwrap_or_default();
        let producer = tracewire::propagation::extract_from(&fields);
        let (parent, mut links) = consumer_relations(self.mode, producer);
        links.extend(received);
        let mut attributes = vec![
            KeyValue::new(attr::SYSTEM, "redis"),
            KeyValue::new(attr::OPERATION_NAME, "process"),
            KeyValue::new(attr::DESTINATION_NAME, self.stream.clone()),
            KeyValue::new(attr::CONSUMER_GROUP_NAME, self.group.clone()),
        ];
        RedisQueue::server_attributes(server, &mut attributes);
        let span_attributes = vec![
            KeyValue::new(attr::OPERATION_TYPE, "process"),
            KeyValue::new(attr::MESSAGE_ID, entry.id.clone()),
            KeyValue::new(attr::CLIENT_ID, self.consumer.clone()),
        ];
        let op = instruments.start_process(
            format!("process {}", self.stream),
            attributes,
            span_attributes,
            &parent,
            links,
        );
        let cx = op.context().clone();
        let mut attempt = 0;
        // Retries happen here, in hand: a stream entry has no attempt counter.
        let failure = loop {
            let message = Message {
                id: entry.id.clone(),
                payload: payload.clone(),
                attempt,
                queue: self.stream.clone(),
            };
            let failed = match tokio::spawn(handler(message).with_context(cx.clone())).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(("handler_error", e.to_string())),
                Err(_) => Some((
                    tracewire::PANIC_ERROR_TYPE,
                    "the handler panicked".to_owned(),
                )),
            };
            if failed.is_none() || attempt >= self.max_retries {
                break failed;
            }
            attempt += 1;
        };
        let dead = format!("{}:dead", self.stream);
        let settled: redis::RedisResult<&'static str> = async {
            if failure.is_some() {
                let _: String = traced
                    .xadd(
                        &dead,
                        "*",
                        &[
                            (PAYLOAD_FIELD, payload.as_str()),
                            ("source_id", entry.id.as_str()),
                        ],
                    )
                    .await?;
            }
            let _: i64 = traced.xack(&self.stream, &self.group, &[&entry.id]).await?;
            Ok(match (&failure, attempt) {
                (None, 0) => "success",
                (None, _) => "retried",
                (Some(_), _) => "dead_lettered",
            })
        }
        .with_context(cx.clone())
        .await;
        instruments.finish_process(op, failure, settled.unwrap_or("error"));
    }
}
