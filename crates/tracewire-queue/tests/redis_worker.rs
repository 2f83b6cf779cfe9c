//! The Redis queue and worker against the real Redis in `REDIS_URL` (default
//! `redis://127.0.0.1:6379`). Under `CI=true` an unreachable server fails;
//! elsewhere it is a loud skip.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use redis::AsyncCommands as _;
use tracewire::otel::trace::{SpanKind, Status};
use tracewire::testing::{TestTelemetry, assert_child_of, assert_linked_to, attribute};
use tracewire_queue::{ContextMode, RedisQueue, Worker};

async fn client(test: &str) -> Option<redis::Client> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str()).unwrap();
    match client.get_multiplexed_async_connection().await {
        Ok(_) => Some(client),
        Err(e) => {
            tracewire::testing::service_unavailable("Redis", &url, test, &e);
            None
        }
    }
}

fn queue_name(test: &str) -> String {
    format!("tracewire:test:{}:{test}", std::process::id())
}

async fn clean(client: &redis::Client, queue: &str) {
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = conn.keys(format!("{queue}*")).await.unwrap();
    for key in keys {
        let _: () = conn.del(key).await.unwrap();
    }
}

fn worker(t: &TestTelemetry, client: &redis::Client, queue: &str) -> Worker {
    Worker::new(client.clone(), queue)
        .telemetry(
            Some(t.own_tracer("tracewire-queue").into()),
            t.telemetry.meter("tracewire-queue"),
        )
        .poll_interval(Duration::from_millis(100))
        .backoff(Duration::from_millis(10))
}

async fn producer(t: &TestTelemetry, client: &redis::Client) -> RedisQueue {
    RedisQueue::connect_with(
        client,
        Some(t.own_tracer("tracewire-queue").into()),
        &t.telemetry.meter("tracewire-queue"),
    )
    .await
    .unwrap()
}

/// Runs `worker` until `done` says so (or 10 s pass).
async fn run_until<F, Fut>(worker: Worker, handler: F, done: impl Fn() -> bool + Send + 'static)
where
    F: Fn(tracewire_queue::Message) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), tracewire_queue::HandlerError>> + Send + 'static,
{
    let stop = async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    worker.run(handler, stop).await.unwrap();
}

/// Runs `worker` with a handler that never finishes until its message is in
/// flight, then kills it (aborts the run: every task of it stops, as when the
/// process dies). Returns with the message left in its processing list.
async fn take_one_and_die(worker: Worker, client: &redis::Client, check: impl AsyncFnOnce()) {
    let processing = worker.processing_list();
    let running = tokio::spawn(worker.run(
        |_| async { std::future::pending::<Result<(), tracewire_queue::HandlerError>>().await },
        std::future::pending(),
    ));
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for _ in 0..100 {
        if conn.llen::<_, i64>(&processing).await.unwrap() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        conn.llen::<_, i64>(&processing).await.unwrap(),
        1,
        "in flight"
    );
    check().await;
    running.abort();
    let _ = running.await;
}

#[tokio::test]
async fn a_message_sent_in_a_span_is_processed_in_the_same_trace() {
    let t = TestTelemetry::start();
    let Some(client) = client("a_message_sent_in_a_span_is_processed_in_the_same_trace").await
    else {
        return;
    };
    let queue = queue_name("trace");
    clean(&client, &queue).await;
    let producer = producer(&t, &client).await;
    let id = tracing::Instrument::instrument(
        producer.send(&queue, "hello"),
        tracing::info_span!("POST /jobs"),
    )
    .await
    .unwrap();

    let handled = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&handled);
    let count = Arc::clone(&handled);
    run_until(
        worker(&t, &client, &queue),
        move |message| {
            let seen = Arc::clone(&seen);
            async move {
                assert_eq!(message.payload, "hello");
                tracing::info_span!("handle job").in_scope(|| {});
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        },
        move || count.load(Ordering::SeqCst) == 1,
    )
    .await;

    let request = t.span("POST /jobs");
    let send = t.span(&format!("send {queue}"));
    let process = t.span(&format!("process {queue}"));
    assert_child_of(&send, &request);
    assert_child_of(&process, &send);
    assert_child_of(&t.span("handle job"), &process);
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(process.span_kind, SpanKind::Consumer);
    for span in [&send, &process] {
        assert_eq!(
            attribute(span, "messaging.system").unwrap().to_string(),
            "redis"
        );
        assert_eq!(
            attribute(span, "messaging.destination.name")
                .unwrap()
                .to_string(),
            queue
        );
        assert_eq!(
            attribute(span, "messaging.message.id").unwrap().to_string(),
            id
        );
    }
    assert_eq!(
        attribute(&process, "messaging.operation.type")
            .unwrap()
            .to_string(),
        "process"
    );
    assert_eq!(
        attribute(&send, "messaging.operation.name")
            .unwrap()
            .to_string(),
        "send"
    );
    // The Redis commands of the settle step are children of the process span.
    let lrem = t.spans().into_iter().find(|s| s.name == "LREM").unwrap();
    assert_child_of(&lrem, &process);
    let metrics = t.metrics_text();
    assert!(
        metrics.contains("messaging_client_sent_messages_total{"),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(
            |l| l.starts_with("tracewire_messaging_processed_messages_total{")
                && l.contains("tracewire_messaging_outcome=\"success\"")
        ),
        "{metrics}"
    );
    // The semconv counter carries only semconv attributes.
    let consumed: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("messaging_client_consumed_messages_total{"))
        .collect();
    assert_eq!(consumed.len(), 1, "{metrics}");
    assert!(!consumed[0].contains("tracewire_"), "{}", consumed[0]);
    assert!(!consumed[0].contains("error_type"), "{}", consumed[0]);
    assert!(metrics.contains("messaging_process_duration_seconds_bucket{"));
    clean(&client, &queue).await;
}

#[tokio::test]
async fn link_mode_keeps_the_producer_as_a_link() {
    let t = TestTelemetry::start();
    let Some(client) = client("link_mode_keeps_the_producer_as_a_link").await else {
        return;
    };
    let queue = queue_name("link");
    clean(&client, &queue).await;
    producer(&t, &client).await.send(&queue, "x").await.unwrap();
    let done = Arc::new(AtomicU32::new(0));
    let (seen, count) = (Arc::clone(&done), Arc::clone(&done));
    run_until(
        worker(&t, &client, &queue).context_mode(ContextMode::Link),
        move |_| {
            let seen = Arc::clone(&seen);
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        },
        move || count.load(Ordering::SeqCst) == 1,
    )
    .await;
    let send = t.span(&format!("send {queue}"));
    let process = t.span(&format!("process {queue}"));
    assert_ne!(
        process.span_context.trace_id(),
        send.span_context.trace_id()
    );
    let receive = t.span(&format!("receive {queue}"));
    assert_eq!(receive.span_kind, SpanKind::Client);
    assert_eq!(
        attribute(&receive, "messaging.operation.type")
            .unwrap()
            .to_string(),
        "receive"
    );
    let linked: Vec<_> = process
        .links
        .links
        .iter()
        .map(|l| l.span_context.span_id())
        .collect();
    assert_eq!(
        linked,
        vec![send.span_context.span_id(), receive.span_context.span_id()],
        "the producer's span, then the receive that fetched it"
    );
    clean(&client, &queue).await;
}

#[tokio::test]
async fn failing_messages_retry_then_land_in_the_dead_letter_list() {
    let t = TestTelemetry::start();
    let Some(client) = client("failing_messages_retry_then_land_in_the_dead_letter_list").await
    else {
        return;
    };
    let queue = queue_name("dlq");
    clean(&client, &queue).await;
    producer(&t, &client)
        .await
        .send(&queue, "fail please")
        .await
        .unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let (seen, count) = (Arc::clone(&attempts), Arc::clone(&attempts));
    let worker = worker(&t, &client, &queue).max_retries(2);
    let dead = worker.dead_letter_list();
    let client_for_check = client.clone();
    let dead_for_check = dead.clone();
    run_until(
        worker,
        move |message| {
            let seen = Arc::clone(&seen);
            async move {
                assert_eq!(message.attempt, seen.fetch_add(1, Ordering::SeqCst));
                Err("boom".into())
            }
        },
        move || {
            count.load(Ordering::SeqCst) == 3
                && redis::Client::get_connection(&client_for_check)
                    .ok()
                    .and_then(|mut c| {
                        redis::cmd("LLEN")
                            .arg(&dead_for_check)
                            .query::<i64>(&mut c)
                            .ok()
                    })
                    == Some(1)
        },
    )
    .await;
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3,
        "one delivery and two retries"
    );
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    assert_eq!(conn.llen::<_, i64>(&dead).await.unwrap(), 1);
    assert_eq!(conn.llen::<_, i64>(&queue).await.unwrap(), 0);
    let process = t
        .spans()
        .into_iter()
        .find(|s| s.name == format!("process {queue}"))
        .unwrap();
    assert!(matches!(process.status, Status::Error { .. }));
    let metrics = t.metrics_text();
    let count_of = |outcome: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("tracewire_messaging_processed_messages_total{")
                    && l.contains(&format!("tracewire_messaging_outcome=\"{outcome}\""))
            })
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    assert_eq!(count_of("retried"), Some(2), "{metrics}");
    assert!(
        metrics.lines().any(
            |l| l.starts_with("messaging_client_consumed_messages_total{")
                && l.contains("error_type=\"handler_error\"")
                && !l.contains("tracewire_")
                && l.split_whitespace().nth(1) == Some("3")
        ),
        "every failed delivery counted with error.type: {metrics}"
    );
    assert_eq!(count_of("dead_lettered"), Some(1), "{metrics}");
    clean(&client, &queue).await;
}

#[tokio::test]
async fn a_worker_killed_mid_message_loses_nothing() {
    let t = TestTelemetry::start();
    let Some(client) = client("a_worker_killed_mid_message_loses_nothing").await else {
        return;
    };
    let queue = queue_name("crash");
    clean(&client, &queue).await;
    producer(&t, &client)
        .await
        .send(&queue, "precious")
        .await
        .unwrap();

    // First worker: takes the message and never finishes; then it is killed.
    let first = worker(&t, &client, &queue).consumer("w1");
    let processing = first.processing_list();
    take_one_and_die(first, &client, async || {}).await;
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();

    // The restarted worker recovers it.
    let done = Arc::new(AtomicU32::new(0));
    let (seen, count) = (Arc::clone(&done), Arc::clone(&done));
    run_until(
        worker(&t, &client, &queue).consumer("w1"),
        move |message| {
            let seen = Arc::clone(&seen);
            async move {
                assert_eq!(message.payload, "precious");
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        },
        move || count.load(Ordering::SeqCst) == 1,
    )
    .await;
    assert_eq!(done.load(Ordering::SeqCst), 1);
    assert_eq!(conn.llen::<_, i64>(&processing).await.unwrap(), 0);
    clean(&client, &queue).await;
}

#[tokio::test]
async fn queue_depth_matches_llen_and_malformed_messages_are_processed() {
    let t = TestTelemetry::start();
    let Some(client) =
        client("queue_depth_matches_llen_and_malformed_messages_are_processed").await
    else {
        return;
    };
    let queue = queue_name("depth");
    clean(&client, &queue).await;
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for i in 0..5 {
        let _: () = conn
            .lpush(&queue, format!("plain message {i}"))
            .await
            .unwrap();
    }
    let observer = tracewire_queue::observe_depth(
        client.clone(),
        vec![queue.clone()],
        Duration::from_millis(50),
        &t.telemetry.meter("tracewire-queue"),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let metrics = t.metrics_text();
    let depth = metrics
        .lines()
        .find(|l| l.starts_with("tracewire_messaging_queue_depth{") && l.contains(&queue))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(depth.ends_with(" 5"), "{depth}");
    observer.abort();

    // Not envelopes: processed as bare payloads, in new traces, without panics.
    let done = Arc::new(AtomicU32::new(0));
    let (seen, count) = (Arc::clone(&done), Arc::clone(&done));
    run_until(
        worker(&t, &client, &queue),
        move |message| {
            let seen = Arc::clone(&seen);
            async move {
                assert!(message.payload.starts_with("plain message"));
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        },
        move || count.load(Ordering::SeqCst) == 5,
    )
    .await;
    let processed: Vec<_> = t
        .spans()
        .into_iter()
        .filter(|s| s.name == format!("process {queue}"))
        .collect();
    assert_eq!(processed.len(), 5);
    assert!(
        processed
            .iter()
            .all(|s| s.parent_span_id == tracewire::otel::trace::SpanId::INVALID),
        "no trace context: each message starts a new trace"
    );
    clean(&client, &queue).await;
}

#[tokio::test]
async fn stream_entries_carry_context_and_are_acknowledged_or_dead_lettered() {
    let t = TestTelemetry::start();
    let Some(client) =
        client("stream_entries_carry_context_and_are_acknowledged_or_dead_lettered").await
    else {
        return;
    };
    let stream = queue_name("stream");
    clean(&client, &stream).await;
    let producer = tracewire_queue::RedisStream::connect_with(
        &client,
        Some(t.own_tracer("tracewire-queue").into()),
        &t.telemetry.meter("tracewire-queue"),
    )
    .await
    .unwrap();
    let ok_id = tracing::Instrument::instrument(
        producer.send(&stream, "fine"),
        tracing::info_span!("request"),
    )
    .await
    .unwrap();
    producer.send(&stream, "fail always").await.unwrap();

    let handled = Arc::new(AtomicU32::new(0));
    let (seen, count) = (Arc::clone(&handled), Arc::clone(&handled));
    let worker = tracewire_queue::StreamWorker::new(client.clone(), &stream, "workers")
        .telemetry(
            Some(t.own_tracer("tracewire-queue").into()),
            t.telemetry.meter("tracewire-queue"),
        )
        .poll_interval(Duration::from_millis(100))
        .max_retries(1);
    let stop = async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while count.load(Ordering::SeqCst) < 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    worker
        .run(
            move |message| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    if message.payload.starts_with("fail") {
                        Err("no".into())
                    } else {
                        Ok(())
                    }
                }
            },
            stop,
        )
        .await
        .unwrap();
    assert_eq!(
        handled.load(Ordering::SeqCst),
        3,
        "one success, one failure retried once"
    );
    let spans = t.spans();
    let send = spans
        .iter()
        .find(|s| {
            s.name == format!("send {stream}")
                && attribute(s, "messaging.message.id").map(|v| v.to_string())
                    == Some(ok_id.clone())
        })
        .unwrap();
    let process = spans
        .iter()
        .find(|s| {
            s.name == format!("process {stream}")
                && attribute(s, "messaging.message.id").map(|v| v.to_string())
                    == Some(ok_id.clone())
        })
        .unwrap();
    assert_child_of(process, send);
    assert_child_of(send, &t.span("request"));
    assert_eq!(
        attribute(process, "messaging.consumer.group.name")
            .unwrap()
            .to_string(),
        "workers"
    );
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pending: redis::streams::StreamPendingReply =
        conn.xpending(&stream, "workers").await.unwrap();
    assert_eq!(pending.count(), 0, "everything acknowledged");
    assert_eq!(
        conn.xlen::<_, i64>(&stream).await.unwrap(),
        2,
        "the stream keeps its entries"
    );
    let depth = t
        .metrics_text()
        .lines()
        .find(|l| {
            l.starts_with("tracewire_messaging_queue_depth{")
                && l.contains(&format!("\"{stream}\""))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{}", t.metrics_text()));
    assert!(
        depth.ends_with(" 0"),
        "nothing left for the group, whatever XLEN says: {depth}"
    );
    assert_eq!(
        conn.xlen::<_, i64>(format!("{stream}:dead")).await.unwrap(),
        1
    );
    clean(&client, &stream).await;
}

#[tokio::test]
async fn stream_link_mode_keeps_the_producer_as_a_link() {
    let t = TestTelemetry::start();
    let Some(client) = client("stream_link_mode_keeps_the_producer_as_a_link").await else {
        return;
    };
    let stream = queue_name("stream-link");
    clean(&client, &stream).await;
    let producer = tracewire_queue::RedisStream::connect_with(
        &client,
        Some(t.own_tracer("tracewire-queue").into()),
        &t.telemetry.meter("tracewire-queue"),
    )
    .await
    .unwrap();
    tracing::Instrument::instrument(producer.send(&stream, "x"), tracing::info_span!("request"))
        .await
        .unwrap();
    let handled = Arc::new(AtomicU32::new(0));
    let (seen, count) = (Arc::clone(&handled), Arc::clone(&handled));
    tracewire_queue::StreamWorker::new(client.clone(), &stream, "workers")
        .telemetry(
            Some(t.own_tracer("tracewire-queue").into()),
            t.telemetry.meter("tracewire-queue"),
        )
        .context_mode(ContextMode::Link)
        .poll_interval(Duration::from_millis(100))
        .run(
            move |_| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            },
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while count.load(Ordering::SeqCst) < 1 && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        )
        .await
        .unwrap();
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    let send = t.span(&format!("send {stream}"));
    let process = t.span(&format!("process {stream}"));
    assert_linked_to(&process, &send);
    assert_linked_to(&process, &t.span(&format!("receive {stream}")));
    clean(&client, &stream).await;
}

#[tokio::test]
async fn a_consumer_that_never_returns_strands_nothing() {
    let t = TestTelemetry::start();
    let Some(client) = client("a_consumer_that_never_returns_strands_nothing").await else {
        return;
    };
    let queue = queue_name("orphan");
    clean(&client, &queue).await;
    producer(&t, &client)
        .await
        .send(&queue, "precious")
        .await
        .unwrap();

    // A consumer takes the message, then is killed and never comes back.
    let ghost = worker(&t, &client, &queue)
        .consumer("ghost")
        .heartbeat(Duration::from_millis(300));
    let (ghost_list, ghost_beat, consumers) = (
        ghost.processing_list(),
        ghost.heartbeat_key("ghost"),
        ghost.consumers_set(),
    );
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let beat = ghost_beat.clone();
    let mut alive = conn.clone();
    take_one_and_die(ghost, &client, async move || {
        assert!(alive.exists::<_, bool>(&beat).await.unwrap(), "alive");
    })
    .await;

    // Another consumer, under another name, picks it up once the heartbeat lapses.
    let handled_by = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (seen, check) = (Arc::clone(&handled_by), Arc::clone(&handled_by));
    run_until(
        worker(&t, &client, &queue)
            .consumer("survivor")
            .heartbeat(Duration::from_millis(300)),
        move |message| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().unwrap().push(message.payload);
                Ok(())
            }
        },
        move || !check.lock().unwrap().is_empty(),
    )
    .await;
    assert_eq!(*handled_by.lock().unwrap(), ["precious"]);
    assert_eq!(conn.llen::<_, i64>(&ghost_list).await.unwrap(), 0);
    assert!(!conn.exists::<_, bool>(&ghost_beat).await.unwrap());
    let members: Vec<String> = conn.smembers(&consumers).await.unwrap();
    assert!(!members.contains(&"ghost".to_owned()), "{members:?}");
    clean(&client, &queue).await;
}

#[tokio::test]
async fn a_message_in_flight_at_shutdown_finishes_and_is_acknowledged_once() {
    let t = TestTelemetry::start();
    let Some(client) =
        client("a_message_in_flight_at_shutdown_finishes_and_is_acknowledged_once").await
    else {
        return;
    };
    let queue = queue_name("drain");
    clean(&client, &queue).await;
    producer(&t, &client)
        .await
        .send(&queue, "slow")
        .await
        .unwrap();
    let finished = Arc::new(AtomicU32::new(0));
    let started = Arc::new(tokio::sync::Notify::new());
    let first = worker(&t, &client, &queue).consumer("draining");
    let processing = first.processing_list();
    let (done, begun) = (Arc::clone(&finished), Arc::clone(&started));
    let shutdown = {
        let started = Arc::clone(&started);
        async move { started.notified().await }
    };
    first
        .run(
            move |_| {
                let (done, begun) = (Arc::clone(&done), Arc::clone(&begun));
                async move {
                    begun.notify_one();
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    done.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            },
            shutdown,
        )
        .await
        .unwrap();
    // run returned only after the handler finished and the message was acked.
    assert_eq!(finished.load(Ordering::SeqCst), 1);
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    assert_eq!(conn.llen::<_, i64>(&processing).await.unwrap(), 0);
    assert_eq!(conn.llen::<_, i64>(&queue).await.unwrap(), 0);

    // Nothing comes back to a later worker.
    let again = Arc::clone(&finished);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(700);
    worker(&t, &client, &queue)
        .run(
            move |_| {
                let again = Arc::clone(&again);
                async move {
                    again.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            },
            tokio::time::sleep_until(deadline),
        )
        .await
        .unwrap();
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "acknowledged exactly once"
    );
    clean(&client, &queue).await;
}

#[tokio::test]
async fn a_retry_waiting_for_its_backoff_holds_no_concurrency_slot() {
    let t = TestTelemetry::start();
    let Some(client) = client("a_retry_waiting_for_its_backoff_holds_no_concurrency_slot").await
    else {
        return;
    };
    let queue = queue_name("backoff");
    clean(&client, &queue).await;
    let producer = producer(&t, &client).await;
    producer.send(&queue, "fail once").await.unwrap();
    producer.send(&queue, "fine").await.unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (seen, check) = (Arc::clone(&order), Arc::clone(&order));
    let one_slot = worker(&t, &client, &queue)
        .concurrency(1)
        .backoff(Duration::from_millis(500));
    let delayed = one_slot.delayed_set();
    run_until(
        one_slot,
        move |message| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock()
                    .unwrap()
                    .push(format!("{}#{}", message.payload, message.attempt));
                if message.payload.starts_with("fail") && message.attempt == 0 {
                    return Err("first attempt fails".into());
                }
                Ok(())
            }
        },
        move || check.lock().unwrap().len() == 3,
    )
    .await;
    // With the backoff slept inside the only slot, the retry came first.
    assert_eq!(
        *order.lock().unwrap(),
        ["fail once#0", "fine#0", "fail once#1"]
    );
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    assert_eq!(conn.zcard::<_, i64>(&delayed).await.unwrap(), 0);
    clean(&client, &queue).await;
}

#[tokio::test]
async fn send_with_id_lets_state_be_written_before_the_message_exists() {
    let t = TestTelemetry::start();
    let Some(client) = client("send_with_id_lets_state_be_written_before_the_message_exists").await
    else {
        return;
    };
    let queue = queue_name("preallocated");
    clean(&client, &queue).await;
    let producer = producer(&t, &client).await;
    let state = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = producer.new_message_id();
        state.lock().unwrap().insert(id.clone(), "queued");
        producer
            .send_with_id(&queue, &id, format!("job {i}"))
            .await
            .unwrap();
        ids.push(id);
    }
    let (seen, check) = (Arc::clone(&state), Arc::clone(&state));
    run_until(
        worker(&t, &client, &queue),
        move |message| {
            let seen = Arc::clone(&seen);
            async move {
                let mut jobs = seen.lock().unwrap();
                // The state written before the send is there, under the same id.
                assert_eq!(jobs.get(&message.id), Some(&"queued"), "{}", message.id);
                jobs.insert(message.id, "done");
                Ok(())
            }
        },
        move || check.lock().unwrap().values().all(|s| *s == "done"),
    )
    .await;
    {
        let state = state.lock().unwrap();
        assert!(ids.iter().all(|id| state[id] == "done"), "{state:?}");
    }
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        20
    );
    clean(&client, &queue).await;
}

#[tokio::test]
async fn a_panicking_handler_leaves_an_error_span_with_the_panic_message() {
    tracewire::install_panic_hook();
    let t = TestTelemetry::start();
    let Some(client) =
        client("a_panicking_handler_leaves_an_error_span_with_the_panic_message").await
    else {
        return;
    };
    let queue = queue_name("panic");
    clean(&client, &queue).await;
    producer(&t, &client)
        .await
        .send(&queue, "explode")
        .await
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let (seen, count) = (Arc::clone(&calls), Arc::clone(&calls));
    run_until(
        worker(&t, &client, &queue).max_retries(0),
        move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
            async { panic!("the payload is cursed") }
        },
        move || count.load(Ordering::SeqCst) == 1,
    )
    .await;
    let mut process = None;
    for _ in 0..50 {
        process = t
            .spans()
            .into_iter()
            .find(|s| s.name == format!("process {queue}"));
        if process.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let process = process.expect("the process span ended");
    assert!(matches!(process.status, Status::Error { .. }));
    assert_eq!(
        attribute(&process, "error.type").unwrap().to_string(),
        "panic"
    );
    assert!(
        matches!(&process.status, Status::Error { description } if description.contains("the payload is cursed")),
        "the hook's description stays: {:?}",
        process.status
    );
    assert_eq!(
        process
            .attributes
            .iter()
            .filter(|kv| kv.key.as_str() == "error.type")
            .count(),
        1
    );
    let event = process
        .events
        .iter()
        .find(|e| e.name == "exception")
        .expect("the panic hook's exception event");
    assert!(
        event
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "exception.message"
                && kv.value.to_string() == "the payload is cursed")
    );
    clean(&client, &queue).await;
}
