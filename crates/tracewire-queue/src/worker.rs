//! [`Worker`]: a Redis list consumer that loses nothing and records everything.
//!
//! Each message moves atomically from the queue to this consumer's
//! processing list (`BLMOVE`), is handed to the handler in a CONSUMER span
//! (`process {queue}`), and only then leaves the processing list: on success
//! it is removed, on failure it goes back to the queue with its attempt
//! count raised (after an exponential backoff), and past `max_retries` it
//! moves to the dead-letter list. A worker that dies mid-message leaves it in
//! its processing list; the next worker with the same consumer name puts it
//! back in the queue before starting.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::AsyncCommands as _;
use tracewire::otel::KeyValue;
use tracewire::otel::trace::{FutureExt as _, Link, SpanKind};
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
    mode: ContextMode,
    tracer: Option<tracewire::otel_sdk::trace::SdkTracer>,
    meter: tracewire::otel::metrics::Meter,
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
    /// A worker for `queue`: concurrency 4, 3 retries from 100 ms, consumer
    /// `default`, producer's span as parent.
    pub fn new(client: redis::Client, queue: impl Into<String>) -> Self {
        Self {
            client,
            queue: queue.into(),
            consumer: "default".to_owned(),
            concurrency: 4,
            max_retries: 3,
            backoff: Duration::from_millis(100),
            poll: Duration::from_secs(1),
            depth_interval: Duration::from_secs(5),
            mode: ContextMode::Parent,
            tracer: tracewire::sdk_tracer(SCOPE),
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
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = name.into();
        self
    }

    /// How the process span relates to the producer's span.
    pub fn context_mode(mut self, mode: ContextMode) -> Self {
        self.mode = mode;
        self
    }

    /// How often `messaging.queue.depth` is refreshed with `LLEN`.
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
        tracer: Option<tracewire::otel_sdk::trace::SdkTracer>,
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
        // A previous run that died mid-message left it here: back to the queue.
        loop {
            let moved: Option<String> =
                admin.rpoplpush(self.processing_list(), &self.queue).await?;
            if moved.is_none() {
                break;
            }
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let depth = instruments.depth_of("redis", &self.queue);
        let depth_task = {
            let (mut conn, queue, every, mut stop) = (
                admin.clone(),
                self.queue.clone(),
                self.depth_interval,
                stop_rx.clone(),
            );
            tokio::spawn(async move {
                loop {
                    if let Ok(n) = conn.llen::<_, i64>(&queue).await {
                        depth.store(n, Ordering::Relaxed);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return,
                    }
                }
            })
        };
        let handler = Arc::new(handler);
        let worker = Arc::new(self);
        let mut loops = Vec::with_capacity(worker.concurrency);
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
            loops.push(tokio::spawn(async move {
                worker
                    .consume(poller, traced, handler, instruments, server, stop)
                    .await;
            }));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        for task in loops {
            let _ = task.await;
        }
        let _ = depth_task.await;
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
        let mut span_attributes = attributes.clone();
        span_attributes.push(KeyValue::new(attr::OPERATION_TYPE, "process"));
        span_attributes.push(KeyValue::new(attr::CLIENT_ID, self.consumer.clone()));
        if !envelope.id.is_empty() {
            span_attributes.push(KeyValue::new(attr::MESSAGE_ID, envelope.id.clone()));
        }
        let cx = instruments.start_span(
            format!("process {}", self.queue),
            SpanKind::Consumer,
            span_attributes,
            &parent,
            links,
        );
        let start = Instant::now();
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
            Err(_) => Some(("handler_panic", "the handler panicked".to_owned())),
        };
        let processing = self.processing_list();
        let settled: redis::RedisResult<&'static str> = async {
            match failed {
                None => {
                    let _: i64 = traced.lrem(&processing, 1, raw).await?;
                    Ok("success")
                }
                Some(_) if envelope.attempt < self.max_retries => {
                    let factor = 1u32 << envelope.attempt.min(6);
                    tokio::time::sleep(self.backoff * factor).await;
                    envelope.attempt += 1;
                    let _: () = redis::pipe()
                        .atomic()
                        .lrem(&processing, 1, raw)
                        .ignore()
                        .rpush(&self.queue, envelope.encode())
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
        instruments.finish_process(&cx, attributes, start, failed, settled.unwrap_or("error"));
    }
}

/// Keeps `messaging.queue.depth` of `queues` current (every `every`) without
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
