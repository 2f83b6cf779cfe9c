//! The queue between `orders` and `worker`: apalis with its in-memory
//! backend by default, the tracewire-queue Redis list worker when `REDIS_URL`
//! answers. Either way the job's trace context travels with it, and the
//! worker's CONSUMER span continues the order's trace.

use std::sync::Arc;
use std::time::Duration;

use apalis_core::backend::memory::{MemorySink, MemoryStorage, MemoryStorageError};
use apalis_core::error::BoxDynError;
use apalis_core::task::Task;
use apalis_core::worker::builder::WorkerBuilder;
use futures_util::{SinkExt as _, StreamExt as _};
use tracewire_queue::apalis::Apalis;

use crate::db::Db;

/// The queue's name (`messaging.destination.name`).
pub const QUEUE: &str = "orders";
/// Where jobs go after their last failed attempt.
pub const DEAD_LETTERS: &str = "orders.dead";
/// Deliveries of a job before it is dead-lettered.
pub const ATTEMPTS: u32 = 3;

/// A fulfilment job.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub order_id: i64,
    /// `gift-card` orders fail at the payment provider every time: retried,
    /// then dead-lettered.
    pub item: String,
    /// Deliveries so far (apalis backend; the Redis worker counts its own).
    #[serde(default)]
    pub attempt: u32,
}

impl Job {
    fn declined(&self) -> bool {
        self.item.starts_with("gift-card")
    }
}

/// The producer side, shared by `orders` and the worker (for retries).
#[derive(Clone)]
pub enum Queue {
    Memory {
        apalis: Apalis,
        sink: Arc<tokio::sync::Mutex<MemoryStorage<Job>>>,
        /// The dead letters: kept in memory, consumed by nobody.
        dead: Arc<tokio::sync::Mutex<MemoryStorage<Job>>>,
    },
    Redis(tracewire_queue::RedisQueue),
}

/// What the worker consumes.
pub enum Consumer {
    Memory(MemoryStorage<Job>),
    Redis(redis::Client),
}

/// The queue: Redis when `REDIS_URL` is set and answers, else in memory.
pub async fn open() -> (Queue, Consumer, String) {
    if let Ok(url) = std::env::var("REDIS_URL") {
        match connect_redis(&url).await {
            Ok((client, queue)) => {
                return (
                    Queue::Redis(queue),
                    Consumer::Redis(client),
                    format!("Redis list worker at {url}"),
                );
            }
            Err(e) => {
                tracing::warn!(%url, error = %e, "Redis does not answer; using the in-memory queue")
            }
        }
    }
    // Producer and worker each get their own sink on one channel: apalis'
    // memory sink locks its mutex in `poll_ready` without keeping the lock
    // future, so a worker polling while a producer holds a shared lock would
    // never be woken again.
    let (sender, receiver) = futures_channel::mpsc::unbounded::<Task<Job>>();
    let producer = MemoryStorage::new_with(
        memory_sink(sender.clone()),
        futures_util::stream::empty().boxed(),
    );
    let consumer = MemoryStorage::new_with(memory_sink(sender), receiver.boxed());
    (
        Queue::Memory {
            apalis: Apalis::default(),
            sink: Arc::new(tokio::sync::Mutex::new(producer)),
            dead: Arc::new(tokio::sync::Mutex::new(MemoryStorage::new())),
        },
        Consumer::Memory(consumer),
        "in-memory apalis queue".to_owned(),
    )
}

/// An apalis memory sink of its own on `sender`'s channel.
fn memory_sink(sender: futures_channel::mpsc::UnboundedSender<Task<Job>>) -> MemorySink<Job> {
    let sink: Box<
        dyn futures_util::Sink<Task<Job>, Error = MemoryStorageError> + Send + Sync + Unpin,
    > = Box::new(sender.sink_map_err(MemoryStorageError::SendError));
    MemorySink::new(Arc::new(futures_util::lock::Mutex::new(sink)))
}

async fn connect_redis(
    url: &str,
) -> redis::RedisResult<(redis::Client, tracewire_queue::RedisQueue)> {
    let client = redis::Client::open(url)?;
    let queue = tokio::time::timeout(
        Duration::from_secs(2),
        tracewire_queue::RedisQueue::connect(&client),
    )
    .await
    .map_err(|_| redis::RedisError::from(std::io::Error::other("timed out")))??;
    Ok((client, queue))
}

impl Queue {
    /// Sends `job` to `queue` in a PRODUCER span under the current context.
    pub async fn send(&self, queue: &str, job: &Job) -> Result<(), String> {
        match self {
            Self::Memory { apalis, sink, dead } => {
                let mut sink = if queue == DEAD_LETTERS {
                    dead.lock().await
                } else {
                    sink.lock().await
                };
                apalis
                    .push(&mut *sink, queue, job.clone())
                    .await
                    .map_err(|e| e.to_string())
            }
            Self::Redis(redis) => {
                let payload = serde_json::to_string(job).map_err(|e| e.to_string())?;
                redis
                    .send(&format!("demo:{queue}"), payload)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Fulfils one job: marks the order done, or fails for declined payments.
async fn fulfil(db: &Db, job: &Job, attempt: u32) -> Result<(), BoxDynError> {
    if job.declined() {
        tracing::warn!(order_id = job.order_id, attempt, "payment declined");
        let last = attempt + 1 >= ATTEMPTS;
        db.set_status(
            job.order_id,
            if last { "dead_lettered" } else { "retrying" },
        )
        .await?;
        return Err("payment declined".into());
    }
    tokio::time::sleep(Duration::from_millis(3)).await;
    db.set_status(job.order_id, "done").await?;
    tracing::info!(order_id = job.order_id, "order fulfilled");
    Ok(())
}

/// Runs the worker until the process ends.
pub async fn run_worker(consumer: Consumer, queue: Queue, db: Db) {
    match consumer {
        Consumer::Memory(storage) => {
            let Queue::Memory { apalis, .. } = &queue else {
                return;
            };
            let layer = apalis.layer(QUEUE);
            let worker = WorkerBuilder::new("demo-worker")
                .backend(storage)
                .layer(layer)
                .build(move |job: Job| handle_memory_job(db.clone(), queue.clone(), job));
            if let Err(e) = worker.run().await {
                tracing::error!(error = %e, "the worker stopped");
            }
        }
        Consumer::Redis(client) => {
            let result = tracewire_queue::Worker::new(client, format!("demo:{QUEUE}"))
                .concurrency(4)
                .max_retries(ATTEMPTS - 1)
                .run(
                    move |message| handle_redis_message(db.clone(), message),
                    std::future::pending(),
                )
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "the worker stopped");
            }
        }
    }
}

async fn handle_memory_job(db: Db, queue: Queue, job: Job) -> Result<(), BoxDynError> {
    let result = fulfil(&db, &job, job.attempt).await;
    if result.is_err() {
        // apalis' memory backend does not redeliver: a failed job is sent
        // again (a PRODUCER span in this trace), and to the dead letters
        // after its last attempt.
        let next = Job {
            attempt: job.attempt + 1,
            ..job
        };
        let target = if next.attempt >= ATTEMPTS {
            DEAD_LETTERS
        } else {
            QUEUE
        };
        if target == QUEUE {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Err(e) = queue.send(target, &next).await {
            tracing::error!(error = %e, "cannot requeue the job");
        }
    }
    result
}

async fn handle_redis_message(
    db: Db,
    message: tracewire_queue::Message,
) -> Result<(), tracewire_queue::HandlerError> {
    let job: Job = serde_json::from_str(&message.payload)?;
    match fulfil(&db, &job, message.attempt).await {
        Ok(()) => Ok(()),
        Err(e) => Err(e.to_string().into()),
    }
}
