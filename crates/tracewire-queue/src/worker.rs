//! [`Worker`]: a Redis list consumer that loses nothing and records everything.
//!
//! Each message moves atomically from the queue to this consumer's
//! processing list (`BLMOVE`), is handed to the handler in a CONSUMER span
//! (`process {queue}`), and only then leaves the processing list: on success
//! it is removed; on failure it moves, in one transaction, to the delayed set
//! `{queue}:delayed` (a sorted set scored by the time it is due, exponential
//! backoff) with its attempt count raised, and past `max_retries` to the
//! dead-letter list. Waiting for a retry holds no concurrency slot: every
//! worker moves due messages back to the queue in one atomic script.
//!
//! **Crashed consumers.** Every worker registers its consumer name in
//! `{queue}:consumers` and keeps a heartbeat key `{queue}:consumer:{name}`
//! alive with a TTL ([`Worker::heartbeat`], default 30 s, refreshed every
//! third of it). Every worker, at start and once per TTL, moves the
//! processing lists of consumers whose heartbeat has expired back to the
//! queue, so a consumer that dies and never returns (a pod with a random
//! name) strands nothing. A restart under the same name also re-queues its
//! own list at once.
//!
//! **Delivery is at least once.** A message is processed again when its
//! consumer crashed after the handler's side effects but before the
//! acknowledgement, or when a live consumer could not refresh its heartbeat
//! for longer than the TTL while handling it (a stalled process, a network
//! partition from Redis): that is the duplicate window. Handlers should be
//! idempotent (the message id is stable across deliveries). Retry due times
//! are the workers' clocks; clock skew between them shifts a delay by the
//! skew.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::AsyncCommands as _;
use tracewire::otel::KeyValue;
use tracewire::otel::trace::{FutureExt as _, Link};
use tracewire_redis::{ServerInfo, TracedConnection};

use crate::envelope::Envelope;
use crate::queue::RedisQueue;
use crate::telemetry::{ContextMode, Instruments, SCOPE, attr, consumer_relations};

/// What a handler gets.
#[derive(Debug, Clone)]
pub struct Message {
    /// `messaging.message.id` (empty for messages not written by [`RedisQueue`]).
    pub id: String,
    /// The payload as sent.
    pub payload: String,
    /// Earlier failed deliveries of this message.
    pub attempt: u32,
    /// The queue it came from.
    pub queue: String,
}

/// A handler's error.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// A worker over one Redis list; see the module docs.
#[derive(Clone)]
pub struct Worker {
    client: redis::Client,
    queue: String,
    consumer: String,
    concurrency: usize,
    max_retries: u32,
    backoff: Duration,
    poll: Duration,
    depth_interval: Duration,
    heartbeat: Duration,
    mode: ContextMode,
    tracer: Option<tracewire::instrumentation::Tracer>,
    meter: tracewire::otel::metrics::Meter,
}

/// Moves up to 100 due entries of the delayed set (KEYS\[1\]) to the queue
/// (KEYS\[2\]) in one step: concurrent workers never move one twice, and a
/// crash between the two commands cannot lose one.
const PROMOTE_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('RPUSH', KEYS[2], member)
end
return #due
";

/// A consumer name no other live worker has: host, process id and a random part.
fn unique_consumer_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    // RandomState is seeded randomly per process and per instance.
    let mut random = std::collections::hash_map::RandomState::new().build_hasher();
    random.write_u32(std::process::id());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        random.finish() as u32
    )
}

/// Milliseconds since the Unix epoch (the delayed set's scores).
fn now_millis() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0)
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("queue", &self.queue)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker for `queue`: concurrency 4, 3 retries from 100 ms, a consumer
    /// name unique to this worker (`{host}-{pid}-{random}`), a 30 s heartbeat,
    /// producer's span as parent.
    pub fn new(client: redis::Client, queue: impl Into<String>) -> Self {
        Self {
            client,
            queue: queue.into(),
            consumer: unique_consumer_name(),
            concurrency: 4,
            max_retries: 3,
            backoff: Duration::from_millis(100),
            poll: Duration::from_secs(1),
            depth_interval: Duration::from_secs(5),
            heartbeat: Duration::from_secs(30),
            mode: ContextMode::Parent,
            tracer: tracewire::instrumentation::Tracer::installed(SCOPE),
            meter: tracewire::otel::global::meter(SCOPE),
        }
    }

    /// Messages handled at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Failed deliveries before a message goes to the dead-letter list.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The first retry delay; each next one doubles (capped at 64×).
    pub fn backoff(mut self, delay: Duration) -> Self {
        self.backoff = delay;
        self
    }

    /// This consumer's name (its processing list is `{queue}:processing:{name}`).
    /// Two live workers must not share one: at start a worker re-queues what
    /// its name's processing list holds.
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = name.into();
        self
    }

    /// How long this consumer counts as alive without refreshing its
    /// heartbeat (refreshed every third of it); past it, any worker of the
    /// queue re-queues its in-flight messages. Longer means a crashed
    /// consumer's messages wait longer; shorter means a stalled one is more
    /// likely to see its message processed twice. At least 100 ms.
    pub fn heartbeat(mut self, ttl: Duration) -> Self {
        self.heartbeat = ttl.max(Duration::from_millis(100));
        self
    }

    /// How the process span relates to the producer's span.
    pub fn context_mode(mut self, mode: ContextMode) -> Self {
        self.mode = mode;
        self
    }

    /// How often `tracewire.messaging.queue.depth` is refreshed with `LLEN`.
    pub fn depth_interval(mut self, every: Duration) -> Self {
        self.depth_interval = every;
        self
    }

    /// How long one `BLMOVE` waits before checking for shutdown again.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every;
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

    /// The processing list of this consumer.
    pub fn processing_list(&self) -> String {
        format!("{}:processing:{}", self.queue, self.consumer)
    }

    /// The dead-letter list.
    pub fn dead_letter_list(&self) -> String {
        format!("{}:dead", self.queue)
    }

    /// The sorted set of messages waiting for a retry, scored by when they
    /// are due (milliseconds since the Unix epoch).
    pub fn delayed_set(&self) -> String {
        format!("{}:delayed", self.queue)
    }

    /// The set of registered consumer names.
    pub fn consumers_set(&self) -> String {
        format!("{}:consumers", self.queue)
    }

    /// The heartbeat key of consumer `name`.
    pub fn heartbeat_key(&self, name: &str) -> String {
        format!("{}:consumer:{name}", self.queue)
    }

    /// Registers this consumer and (re)sets its heartbeat.
    async fn beat(&self, conn: &mut redis::aio::MultiplexedConnection) -> redis::RedisResult<()> {
        redis::pipe()
            .sadd(self.consumers_set(), &self.consumer)
            .ignore()
            .pset_ex(
                self.heartbeat_key(&self.consumer),
                1,
                self.heartbeat.as_millis() as u64,
            )
            .ignore()
            .query_async(conn)
            .await
    }

    /// Moves every message of `list` back to the queue, one atomic move at a
    /// time (a concurrent reclaimer takes each message at most once).
    async fn requeue_all(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        list: &str,
    ) -> redis::RedisResult<usize> {
        let mut moved = 0;
        while conn
            .rpoplpush::<_, _, Option<String>>(list, &self.queue)
            .await?
            .is_some()
        {
            moved += 1;
        }
        Ok(moved)
    }

    /// Re-queues the in-flight messages of registered consumers whose
    /// heartbeat has expired, and forgets those consumers.
    async fn reclaim_expired(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> redis::RedisResult<usize> {
        let consumers: Vec<String> = conn.smembers(self.consumers_set()).await?;
        let mut moved = 0;
        for name in consumers.iter().filter(|n| **n != self.consumer) {
            if conn.exists::<_, bool>(self.heartbeat_key(name)).await? {
                continue;
            }
            let list = format!("{}:processing:{name}", self.queue);
            moved += self.requeue_all(conn, &list).await?;
            let _: () = conn.srem(self.consumers_set(), name).await?;
        }
        Ok(moved)
    }

    /// Moves due retries from the delayed set to the queue.
    async fn promote_due(
        &self,
        script: &redis::Script,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> redis::RedisResult<i64> {
        script
            .key(self.delayed_set())
            .key(&self.queue)
            .arg(now_millis())
            .invoke_async(conn)
            .await
    }

    /// Heartbeat, due retries and reclaiming, until `stop`; then the
    /// heartbeat is dropped so the others know this consumer has left.
    async fn upkeep(
        self: Arc<Self>,
        mut conn: redis::aio::MultiplexedConnection,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let script = redis::Script::new(PROMOTE_DUE);
        let tick = (self.heartbeat / 3)
            .min(self.poll)
            .min(self.backoff)
            .max(Duration::from_millis(10));
        let (mut last_beat, mut last_reclaim) = (Instant::now(), Instant::now());
        loop {
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => break,
            }
            // Failures here (Redis briefly away) are retried on the next tick.
            if last_beat.elapsed() >= self.heartbeat / 3 && self.beat(&mut conn).await.is_ok() {
                last_beat = Instant::now();
            }
            let _ = self.promote_due(&script, &mut conn).await;
            if last_reclaim.elapsed() >= self.heartbeat {
                last_reclaim = Instant::now();
                let _ = self.reclaim_expired(&mut conn).await;
            }
        }
    }

    /// Runs until `shutdown` resolves; in-flight messages finish first.
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
        let mut admin = self.client.get_multiplexed_async_connection().await?;
        self.beat(&mut admin).await?;
        // A previous run under this name that died mid-message left it here.
        self.requeue_all(&mut admin, &self.processing_list())
            .await?;
        // Consumers that died and never came back left theirs.
        self.reclaim_expired(&mut admin).await?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        // Every task of this run lives in `tasks`: dropping the run (a killed
        // worker) stops them all, the heartbeat included.
        let mut tasks = tokio::task::JoinSet::new();
        let depth = instruments.depth_of("redis", &self.queue);
        {
            let (mut conn, queue, every, mut stop) = (
                admin.clone(),
                self.queue.clone(),
                self.depth_interval,
                stop_rx.clone(),
            );
            tasks.spawn(async move {
                loop {
                    if let Ok(n) = conn.llen::<_, i64>(&queue).await {
                        depth.store(n, Ordering::Relaxed);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return,
                    }
                }
            });
        }
        let handler = Arc::new(handler);
        let worker = Arc::new(self);
        let mut loops = tokio::task::JoinSet::new();
        for _ in 0..worker.concurrency {
            // BLMOVE blocks up to the poll interval: no client-side response
            // timeout on this connection, or a timed-out call would leave the
            // moved message behind in the processing list.
            let poller = worker
                .client
                .get_multiplexed_async_connection_with_config(
                    &redis::AsyncConnectionConfig::new().set_response_timeout(None),
                )
                .await?;
            let traced = TracedConnection::with(
                worker.client.get_multiplexed_async_connection().await?,
                server.clone(),
                worker.tracer.clone(),
                &worker.meter,
            );
            let (worker, handler, instruments, server, stop) = (
                Arc::clone(&worker),
                Arc::clone(&handler),
                Arc::clone(&instruments),
                server.clone(),
                stop_rx.clone(),
            );
            loops.spawn(async move {
                worker
                    .consume(poller, traced, handler, instruments, server, stop)
                    .await;
            });
        }
        // The heartbeat outlives the consumer loops: in-flight messages
        // finish and are settled while this consumer still counts as alive.
        let (leave_tx, leave_rx) = tokio::sync::watch::channel(false);
        tasks.spawn(Arc::clone(&worker).upkeep(admin.clone(), leave_rx));
        shutdown.await;
        let _ = stop_tx.send(true);
        while loops.join_next().await.is_some() {}
        let _ = leave_tx.send(true);
        while tasks.join_next().await.is_some() {}
        let _: redis::RedisResult<()> = admin.del(worker.heartbeat_key(&worker.consumer)).await;
        Ok(())
    }

    async fn consume<F, Fut>(
        &self,
        mut poller: redis::aio::MultiplexedConnection,
        mut traced: TracedConnection<redis::aio::MultiplexedConnection>,
        handler: Arc<F>,
        instruments: Arc<Instruments>,
        server: ServerInfo,
        stop: tokio::sync::watch::Receiver<bool>,
    ) where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let processing = self.processing_list();
        while !*stop.borrow() {
            let (started, clock) = (std::time::SystemTime::now(), Instant::now());
            let raw: Option<String> = match redis::cmd("BLMOVE")
                .arg(&self.queue)
                .arg(&processing)
                .arg("RIGHT")
                .arg("LEFT")
                .arg(self.poll.as_secs_f64())
                .query_async(&mut poller)
                .await
            {
                Ok(raw) => raw,
                Err(_) => {
                    tokio::time::sleep(self.poll).await;
                    continue;
                }
            };
            if let Some(raw) = raw {
                let mut attributes = vec![KeyValue::new(attr::SYSTEM, "redis")];
                RedisQueue::server_attributes(&server, &mut attributes);
                let received =
                    instruments.receive(&self.queue, attributes, started, clock.elapsed());
                self.process(&raw, received, &mut traced, &handler, &instruments, &server)
                    .await;
            }
        }
    }

    async fn process<F, Fut>(
        &self,
        raw: &str,
        received: Option<Link>,
        traced: &mut TracedConnection<redis::aio::MultiplexedConnection>,
        handler: &Arc<F>,
        instruments: &Instruments,
        server: &ServerInfo,
    ) where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let mut envelope = Envelope::decode(raw);
        let (parent, mut links) = consumer_relations(self.mode, envelope.context());
        links.extend(received);
        let mut attributes = vec![
            KeyValue::new(attr::SYSTEM, "redis"),
            KeyValue::new(attr::OPERATION_NAME, "process"),
            KeyValue::new(attr::DESTINATION_NAME, self.queue.clone()),
        ];
        RedisQueue::server_attributes(server, &mut attributes);
        let mut span_attributes = Vec::new();
        span_attributes.push(KeyValue::new(attr::OPERATION_TYPE, "process"));
        span_attributes.push(KeyValue::new(attr::CLIENT_ID, self.consumer.clone()));
        if !envelope.id.is_empty() {
            span_attributes.push(KeyValue::new(attr::MESSAGE_ID, envelope.id.clone()));
        }
        let op = instruments.start_process(
            format!("process {}", self.queue),
            attributes,
            span_attributes,
            &parent,
            links,
        );
        let cx = op.context().clone();
        let message = Message {
            id: envelope.id.clone(),
            payload: envelope.payload.clone(),
            attempt: envelope.attempt,
            queue: self.queue.clone(),
        };
        // Spawned: a panicking handler fails this message, not the worker.
        let outcome = tokio::spawn(handler(message).with_context(cx.clone())).await;
        let failed = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(("handler_error", e.to_string())),
            Err(_) => Some((
                tracewire::PANIC_ERROR_TYPE,
                "the handler panicked".to_owned(),
            )),
        };
        let processing = self.processing_list();
        let settled: redis::RedisResult<&'static str> = async {
            match failed {
                None => {
                    let _: i64 = traced.lrem(&processing, 1, raw).await?;
                    Ok("success")
                }
                Some(_) if envelope.attempt < self.max_retries => {
                    // Parked in the delayed set, not slept on: the slot is free
                    // for the next message while the backoff runs.
                    let factor = 1u32 << envelope.attempt.min(6);
                    let due = now_millis() + (self.backoff * factor).as_millis() as f64;
                    envelope.attempt += 1;
                    let _: () = redis::pipe()
                        .atomic()
                        .lrem(&processing, 1, raw)
                        .ignore()
                        .zadd(self.delayed_set(), envelope.encode(), due)
                        .ignore()
                        .query_async(traced)
                        .await?;
                    Ok("retried")
                }
                Some(_) => {
                    let _: () = redis::pipe()
                        .atomic()
                        .lrem(&processing, 1, raw)
                        .ignore()
                        .lpush(self.dead_letter_list(), raw)
                        .ignore()
                        .query_async(traced)
                        .await?;
                    Ok("dead_lettered")
                }
            }
        }
        .with_context(cx.clone())
        .await;
        instruments.finish_process(op, failed, settled.unwrap_or("error"));
    }
}

/// Keeps `tracewire.messaging.queue.depth` of `queues` current (every `every`) without
/// a worker, e.g. on the producer side. Runs until the returned task is aborted.
pub fn observe_depth(
    client: redis::Client,
    queues: Vec<String>,
    every: Duration,
    meter: &tracewire::otel::metrics::Meter,
) -> tokio::task::JoinHandle<()> {
    let instruments = Instruments::new(None, meter);
    tokio::spawn(async move {
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            return;
        };
        loop {
            for queue in &queues {
                if let Ok(n) = conn.llen::<_, i64>(queue).await {
                    instruments
                        .depth_of("redis", queue)
                        .store(n, Ordering::Relaxed);
                }
            }
            tokio::time::sleep(every).await;
        }
    })
}
