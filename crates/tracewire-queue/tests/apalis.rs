//! apalis 1.x jobs on the apalis-redis backend, against the Redis in
//! `REDIS_URL` (default `redis://127.0.0.1:6379`). Under `CI=true` an
//! unreachable server fails; elsewhere it is a loud skip.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use apalis_core::backend::TaskSink as _;
use apalis_core::error::BoxDynError;
use apalis_core::worker::builder::WorkerBuilder;
use apalis_core::worker::context::WorkerContext;
use apalis_redis::{Config, RedisStorage};
use serde::{Deserialize, Serialize};
use tracewire::otel::trace::{SpanId, SpanKind, Status};
use tracewire::testing::{TestTelemetry, assert_child_of, assert_linked_to, attribute};
use tracewire_queue::ContextMode;
use tracewire_queue::apalis::Apalis;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Email {
    to: String,
}

async fn connect(test: &str) -> Option<redis::aio::ConnectionManager> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let connected = async {
        let client = redis::Client::open(url.as_str())?;
        tokio::time::timeout(Duration::from_secs(2), client.get_connection_manager())
            .await
            .map_err(|_| redis::RedisError::from(std::io::Error::other("timed out")))?
    };
    match connected.await {
        Ok(conn) => Some(conn),
        Err(e) => {
            tracewire::testing::service_unavailable("Redis", &url, test, &e);
            None
        }
    }
}

/// Runs a worker over `storage` with `layer` until it has handled `jobs`
/// jobs; emails to `fail…` fail.
async fn work(
    storage: RedisStorage<Email, redis::aio::ConnectionManager>,
    layer: tracewire_queue::apalis::ApalisLayer,
    jobs: u32,
) {
    let seen = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&seen);
    // Worker names are registered in Redis: one per worker, never reused.
    static WORKERS: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "worker-{}-{}",
        std::process::id(),
        WORKERS.fetch_add(1, Ordering::SeqCst)
    );
    let worker = WorkerBuilder::new(name)
        .backend(storage)
        .layer(layer)
        .build(move |email: Email, worker: WorkerContext| {
            let counter = Arc::clone(&counter);
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) + 1 == jobs {
                    let _ = worker.stop();
                }
                if email.to.starts_with("fail") {
                    Err::<(), BoxDynError>("mailbox full".into())
                } else {
                    Ok(())
                }
            }
        });
    tokio::time::timeout(Duration::from_secs(20), worker.run())
        .await
        .expect("the worker stops once it has handled every job")
        .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), jobs);
}

/// Deletes the keys apalis-redis made for `queue`.
async fn clean(admin: &mut redis::aio::ConnectionManager, queue: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("*{queue}*"))
        .query_async(admin)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(admin)
            .await
            .unwrap();
    }
}

/// A queue of this process named after `test`: its storage, and a second
/// connection to clean up with.
fn storage(
    conn: redis::aio::ConnectionManager,
    test: &str,
) -> (
    String,
    redis::aio::ConnectionManager,
    RedisStorage<Email, redis::aio::ConnectionManager>,
) {
    let queue = format!("tracewire-test-apalis-{test}-{}", std::process::id());
    let storage = RedisStorage::new(conn.clone()).with_config(Config::default().queue(&queue));
    (queue, conn, storage)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_job_is_processed_in_the_producers_trace() {
    let t = TestTelemetry::start();
    let Some(conn) = connect("a_pushed_job_is_processed_in_the_producers_trace").await else {
        return;
    };
    let (queue, mut admin, mut storage) = storage(conn, "parent");
    let apalis = Apalis::with(
        Some(t.own_tracer("tracewire-queue").into()),
        &t.telemetry.meter("tracewire-queue"),
    );

    tracing::Instrument::instrument(
        apalis.push(
            &mut storage,
            &queue,
            Email {
                to: "ada@example.com".into(),
            },
        ),
        tracing::info_span!("POST /signup"),
    )
    .await
    .unwrap();
    // A job pushed without tracewire: no context, processed in a new trace.
    storage
        .push(Email {
            to: "fail@example.com".into(),
        })
        .await
        .unwrap();

    work(storage, apalis.layer(&queue), 2).await;

    let send = t.span(&format!("send {queue}"));
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_child_of(&send, &t.span("POST /signup"));
    let spans = t.spans();
    let processes: Vec<_> = spans
        .iter()
        .filter(|s| s.name == format!("process {queue}"))
        .collect();
    assert_eq!(
        processes.len(),
        2,
        "{:#?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let traced = processes
        .iter()
        .find(|s| s.span_context.trace_id() == send.span_context.trace_id())
        .expect("the traced job continues the producer's trace");
    assert_eq!(traced.span_kind, SpanKind::Consumer);
    assert_child_of(traced, &send);
    assert_eq!(
        attribute(traced, "messaging.system").unwrap().to_string(),
        "apalis"
    );
    assert!(attribute(traced, "messaging.message.id").is_some());
    let untraced = processes
        .iter()
        .find(|s| s.span_context.trace_id() != send.span_context.trace_id())
        .unwrap();
    assert_eq!(untraced.parent_span_id, SpanId::INVALID);
    assert!(matches!(untraced.status, Status::Error { .. }));
    let metrics = t.metrics_text();
    assert!(
        metrics.contains("messaging_client_consumed_messages_total{")
            && metrics.contains("messaging_system=\"apalis\""),
        "{metrics}"
    );
    clean(&mut admin, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_mode_links_the_job_to_its_producer() {
    let t = TestTelemetry::start();
    let Some(conn) = connect("link_mode_links_the_job_to_its_producer").await else {
        return;
    };
    let (queue, mut admin, mut storage) = storage(conn, "link");
    let apalis = Apalis::with(
        Some(t.own_tracer("tracewire-queue").into()),
        &t.telemetry.meter("tracewire-queue"),
    )
    .context_mode(ContextMode::Link);
    let to = "ada@example.com".to_owned();
    apalis
        .push(&mut storage, &queue, Email { to })
        .await
        .unwrap();
    work(storage, apalis.layer(&queue), 1).await;
    assert_linked_to(
        &t.span(&format!("process {queue}")),
        &t.span(&format!("send {queue}")),
    );
    clean(&mut admin, &queue).await;
}
