//! RabbitMQ through lapin, against the broker in `AMQP_URL` (default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`). Under `CI=true` an unreachable
//! broker fails; elsewhere it is a loud skip.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tracewire::otel::trace::{SpanKind, Status};
use tracewire::testing::{TestTelemetry, assert_child_of, attribute};
use tracewire_queue::amqp::Amqp;

async fn connect(test: &str) -> Option<Connection> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    match Connection::connect(&url, ConnectionProperties::default()).await {
        Ok(conn) => Some(conn),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "RabbitMQ at {url} is required in CI: {e}"
            );
            eprintln!("\n*** SKIPPED {test}: no RabbitMQ at {url} ({e}) ***\n");
            None
        }
    }
}

#[tokio::test]
async fn a_published_message_is_processed_in_the_same_trace() {
    let t = TestTelemetry::start();
    let Some(conn) = connect("a_published_message_is_processed_in_the_same_trace").await else {
        return;
    };
    let channel = conn.create_channel().await.unwrap();
    let queue = format!("tracewire-test-{}", std::process::id());
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let amqp = Amqp::with(
        Some(t.tracer("tracewire-queue")),
        &t.telemetry.meter("tracewire-queue"),
    );

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
    let failed = spans
        .iter()
        .find(|s| s.name == format!("process {queue}") && matches!(s.status, Status::Error { .. }));
    assert!(failed.is_some(), "the refused message's span is an error");
    let metrics = t.metrics_text();
    assert!(
        metrics.contains("tracewire_message_outcome=\"dead_lettered\""),
        "{metrics}"
    );
    let _ = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
}
