//! RabbitMQ through lapin, against the broker in `AMQP_URL` (default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`). Under `CI=true` an unreachable
//! broker fails; elsewhere it is a loud skip.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tracewire::otel::propagation::Injector as _;
use tracewire::otel::trace::{SpanKind, Status};
use tracewire::testing::{
    TestTelemetry, assert_child_of, assert_linked_to, assert_new_trace, attribute,
};
use tracewire_queue::ContextMode;
use tracewire_queue::amqp::{Amqp, HeaderTable};

async fn connect(test: &str) -> Option<Connection> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    match Connection::connect(&url, ConnectionProperties::default()).await {
        Ok(conn) => Some(conn),
        Err(e) => {
            tracewire::testing::service_unavailable("RabbitMQ", &url, test, &e);
            None
        }
    }
}

/// Declares `queue` (durable until the test deletes it).
async fn declare(channel: &Channel, queue: &str) {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_published_message_is_processed_in_the_same_trace() {
    let t = TestTelemetry::start();
    let Some(conn) = connect("a_published_message_is_processed_in_the_same_trace").await else {
        return;
    };
    let channel = conn.create_channel().await.unwrap();
    let queue = format!("tracewire-test-{}", std::process::id());
    declare(&channel, &queue).await;
    let amqp = Amqp::with(
        Some(t.own_tracer("tracewire-queue").into()),
        &t.telemetry.meter("tracewire-queue"),
    )
    .server("127.0.0.1", 5672);

    let properties = BasicProperties::default().with_message_id("m-1".into());
    tracing::Instrument::instrument(
        amqp.publish(&channel, "", &queue, b"hello", properties),
        tracing::info_span!("POST /orders"),
    )
    .await
    .unwrap();
    amqp.publish(&channel, "", &queue, b"fail", BasicProperties::default())
        .await
        .unwrap();

    for _ in 0..2 {
        let got = loop {
            if let Some(got) = channel
                .basic_get(queue.as_str().into(), BasicGetOptions::default())
                .await
                .unwrap()
            {
                break got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let _ = amqp
            .process(&queue, got.delivery, |data| async move {
                if data == b"fail" {
                    Err("refused".into())
                } else {
                    Ok(())
                }
            })
            .await;
    }

    let spans = t.spans();
    let publish = spans
        .iter()
        .find(|s| {
            s.name == format!("publish {queue}") && attribute(s, "messaging.message.id").is_some()
        })
        .unwrap();
    let process = spans
        .iter()
        .find(|s| {
            s.name == format!("process {queue}") && attribute(s, "messaging.message.id").is_some()
        })
        .unwrap();
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert_eq!(process.span_kind, SpanKind::Consumer);
    assert_child_of(publish, &t.span("POST /orders"));
    assert_child_of(process, publish);
    assert_eq!(
        attribute(process, "messaging.system").unwrap().to_string(),
        "rabbitmq"
    );
    assert_eq!(
        attribute(process, "messaging.destination.name")
            .unwrap()
            .to_string(),
        queue,
        "default exchange, key = queue: one part"
    );
    assert_eq!(
        attribute(process, "messaging.message.id")
            .unwrap()
            .to_string(),
        "m-1"
    );
    for span in [publish, process] {
        assert_eq!(
            attribute(span, "server.address").unwrap().to_string(),
            "127.0.0.1"
        );
        assert_eq!(attribute(span, "server.port").unwrap().to_string(), "5672");
    }
    let failed = spans
        .iter()
        .find(|s| s.name == format!("process {queue}") && matches!(s.status, Status::Error { .. }));
    assert!(failed.is_some(), "the refused message's span is an error");
    let ack = t.span(&format!("ack {queue}"));
    let nack = t.span(&format!("nack {queue}"));
    assert_eq!(ack.span_kind, SpanKind::Client);
    assert_child_of(&ack, process);
    assert_child_of(&nack, failed.unwrap());
    assert_eq!(
        attribute(&nack, "messaging.operation.type")
            .unwrap()
            .to_string(),
        "settle"
    );
    let metrics = t.metrics_text();
    assert!(
        metrics.contains("tracewire_messaging_outcome=\"dead_lettered\""),
        "{metrics}"
    );
    let _ = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
}

async fn get(channel: &Channel, queue: &str) -> lapin::message::BasicGetMessage {
    loop {
        if let Some(got) = channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .unwrap()
        {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn depth_link_mode_and_malformed_headers() {
    let t = TestTelemetry::start();
    let Some(conn) = connect("depth_link_mode_and_malformed_headers").await else {
        return;
    };
    let channel = conn.create_channel().await.unwrap();
    let queue = format!("tracewire-test-depth-{}", std::process::id());
    declare(&channel, &queue).await;
    let amqp = Amqp::with(
        Some(t.own_tracer("tracewire-queue").into()),
        &t.telemetry.meter("tracewire-queue"),
    )
    .context_mode(ContextMode::Link);

    tracing::Instrument::instrument(
        amqp.publish(&channel, "", &queue, b"linked", BasicProperties::default()),
        tracing::info_span!("POST /orders"),
    )
    .await
    .unwrap();
    let mut headers = FieldTable::default();
    HeaderTable(&mut headers).set("traceparent", "00-not-a-trace-context".into());
    HeaderTable(&mut headers).set("baggage", "=;;%%".into());
    channel
        .basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            b"malformed",
            BasicProperties::default().with_headers(headers),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    // The backlog, read on a channel of its own.
    let observer = amqp.observe_depth(
        conn.create_channel().await.unwrap(),
        vec![queue.clone()],
        Duration::from_millis(50),
    );
    let depth = t
        .wait_for_metric_line(|l| {
            l.starts_with("tracewire_messaging_queue_depth{")
                && l.contains(&queue)
                && l.ends_with(" 2")
        })
        .await
        .unwrap_or_else(|| panic!("two messages wait: {}", t.metrics_text()));
    assert!(depth.contains("messaging_system=\"rabbitmq\""), "{depth}");
    observer.abort();

    for _ in 0..2 {
        let got = get(&channel, &queue).await;
        amqp.process(&queue, got.delivery, |_| async { Ok(()) })
            .await
            .unwrap();
    }
    let publish = t.span(&format!("publish {queue}"));
    let spans = t.spans();
    let processes: Vec<_> = spans
        .iter()
        .filter(|s| s.name == format!("process {queue}"))
        .collect();
    assert_eq!(processes.len(), 2);
    let (linked, malformed) = (processes[0], processes[1]);
    assert_linked_to(linked, &publish);
    assert_new_trace(malformed);
    let _ = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
}
