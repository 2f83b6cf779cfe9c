//! NATS through async-nats, core and JetStream, against the server in
//! `NATS_URL` (default `nats://127.0.0.1:4222`). Under `CI=true` an
//! unreachable server fails; elsewhere it is a loud skip.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt;
use tracewire::otel::trace::{SpanKind, Status};
use tracewire::testing::{
    TestTelemetry, assert_child_of, assert_linked_to, assert_new_trace, attribute,
};
use tracewire_queue::ContextMode;
use tracewire_queue::nats::Nats;

async fn connect(test: &str) -> Option<async_nats::Client> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let options = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(2));
    match options.connect(&url).await {
        Ok(client) => Some(client),
        Err(e) => {
            tracewire::testing::service_unavailable("NATS", &url, test, &e);
            None
        }
    }
}

/// A fresh stream `name` over `subject` with a durable pull consumer `workers`.
async fn stream_with_consumer(
    js: &jetstream::Context,
    name: &str,
    subject: &str,
) -> jetstream::consumer::PullConsumer {
    let _ = js.delete_stream(name).await;
    let stream = js
        .create_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec![subject.to_owned()],
            ..Default::default()
        })
        .await
        .unwrap();
    stream
        .create_consumer(pull::Config {
            durable_name: Some("workers".into()),
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .unwrap()
}

fn nats(t: &TestTelemetry) -> Nats {
    Nats::with(
        Some(t.own_tracer("tracewire-queue").into()),
        &t.telemetry.meter("tracewire-queue"),
    )
}

#[tokio::test]
async fn a_core_message_is_processed_in_the_publishers_trace() {
    let t = TestTelemetry::start();
    let Some(client) = connect("a_core_message_is_processed_in_the_publishers_trace").await else {
        return;
    };
    let subject = format!("tracewire.test.core.{}", std::process::id());
    let mut subscriber = client
        .queue_subscribe(subject.clone(), "workers".into())
        .await
        .unwrap();
    let nats = nats(&t).server("127.0.0.1", 4222);

    tracing::Instrument::instrument(
        nats.publish(&client, &subject, "hello".into()),
        tracing::info_span!("POST /orders"),
    )
    .await
    .unwrap();
    client.flush().await.unwrap();

    let message = tokio::time::timeout(Duration::from_secs(5), subscriber.next())
        .await
        .unwrap()
        .unwrap();
    let traceparent = message
        .headers
        .as_ref()
        .and_then(|h| h.get("traceparent"))
        .map(|v| v.as_str().to_owned())
        .unwrap();
    nats.process(message, Some("workers"), |m| async move {
        assert_eq!(&m.payload[..], b"hello");
        Ok(())
    })
    .await
    .unwrap();

    let publish = t.span(&format!("publish {subject}"));
    let process = t.span(&format!("process {subject}"));
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert_eq!(process.span_kind, SpanKind::Consumer);
    assert_child_of(&publish, &t.span("POST /orders"));
    assert_child_of(&process, &publish);
    assert_eq!(
        traceparent,
        format!(
            "00-{}-{}-01",
            publish.span_context.trace_id(),
            publish.span_context.span_id()
        ),
        "the header on the wire names the producer span"
    );
    assert_eq!(
        attribute(&process, "messaging.system").unwrap().to_string(),
        "nats"
    );
    for span in [&publish, &process] {
        assert_eq!(
            attribute(span, "server.address").unwrap().to_string(),
            "127.0.0.1"
        );
    }
    assert_eq!(
        attribute(&process, "messaging.consumer.group.name")
            .unwrap()
            .to_string(),
        "workers"
    );
    let metrics = t.metrics_text();
    assert!(
        metrics.contains("messaging_client_sent_messages"),
        "{metrics}"
    );
    assert!(
        metrics.contains("messaging_client_consumed_messages"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_jetstream_message_is_acked_on_success_and_redelivered_on_failure() {
    let t = TestTelemetry::start();
    let Some(client) =
        connect("a_jetstream_message_is_acked_on_success_and_redelivered_on_failure").await
    else {
        return;
    };
    let js = jetstream::new(client);
    let name = format!("TRACEWIRE_TEST_{}", std::process::id());
    let subject = format!("tracewire.test.js.{}", std::process::id());
    let consumer = stream_with_consumer(&js, &name, &subject).await;
    let nats = nats(&t);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "order-7");

    tracing::Instrument::instrument(
        nats.publish_jetstream_with_headers(&js, &subject, headers, "flaky".into()),
        tracing::info_span!("POST /orders"),
    )
    .await
    .unwrap();

    // First delivery fails and is nak'ed, the redelivery succeeds and is acked.
    // A nak redelivers at once; without it the retry would wait out ack_wait
    // (30 s), past the five fetches allowed here.
    let mut attempts = 0;
    for _ in 0..5 {
        if attempts == 2 {
            break;
        }
        let mut batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .unwrap();
        let Some(message) = batch.next().await else {
            continue;
        };
        attempts += 1;
        let fail = attempts == 1;
        let _ = nats
            .process_jetstream(message.unwrap(), "workers", |_| async move {
                if fail { Err("not yet".into()) } else { Ok(()) }
            })
            .await;
    }

    // An ack is a fire-and-forget publish: give the server a moment to apply it.
    assert_eq!(attempts, 2, "the nak'ed message was redelivered");
    let mut consumer = consumer;
    let mut info = consumer.info().await.unwrap().clone();
    for _ in 0..100 {
        if info.num_ack_pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        info = consumer.info().await.unwrap().clone();
    }
    assert_eq!(info.num_ack_pending, 0, "the second delivery was acked");
    assert_eq!(info.num_pending, 0, "nothing left to deliver");

    let spans = t.spans();
    let publish = t.span(&format!("publish {subject}"));
    let processes: Vec<_> = spans
        .iter()
        .filter(|s| s.name == format!("process {subject}"))
        .collect();
    assert_eq!(processes.len(), 2, "one process span per delivery");
    assert_eq!(
        attribute(&publish, "messaging.message.id")
            .unwrap()
            .to_string(),
        "order-7"
    );
    for process in &processes {
        assert_eq!(process.span_kind, SpanKind::Consumer);
        assert_child_of(process, &publish);
        assert_eq!(
            attribute(process, "messaging.message.id")
                .unwrap()
                .to_string(),
            "order-7",
            "the caller's headers travel with the context"
        );
    }
    let nak = t.span(&format!("nak {subject}"));
    let ack = t.span(&format!("ack {subject}"));
    assert_eq!(nak.span_kind, SpanKind::Client);
    assert_child_of(&nak, processes[0]);
    assert_child_of(&ack, processes[1]);
    assert_eq!(
        attribute(&ack, "messaging.operation.type")
            .unwrap()
            .to_string(),
        "settle"
    );
    assert!(matches!(processes[0].status, Status::Error { .. }));
    assert!(!matches!(processes[1].status, Status::Error { .. }));
    let metrics = t.metrics_text();
    assert!(
        metrics.contains("tracewire_messaging_outcome=\"retried\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("tracewire_messaging_outcome=\"success\""),
        "{metrics}"
    );
    js.delete_stream(&name).await.unwrap();
}

#[tokio::test]
async fn depth_link_mode_and_malformed_headers() {
    let t = TestTelemetry::start();
    let Some(client) = connect("depth_link_mode_and_malformed_headers").await else {
        return;
    };
    let js = jetstream::new(client.clone());
    let name = format!("TRACEWIRE_DEPTH_{}", std::process::id());
    let subject = format!("tracewire.test.depth.{}", std::process::id());
    let consumer = stream_with_consumer(&js, &name, &subject).await;
    let nats = nats(&t).context_mode(ContextMode::Link);

    tracing::Instrument::instrument(
        nats.publish_jetstream(&js, &subject, "linked".into()),
        tracing::info_span!("POST /orders"),
    )
    .await
    .unwrap();
    let mut malformed = async_nats::HeaderMap::new();
    malformed.insert("traceparent", "00-ffffffffffffffffffffffffffffffff-zz-01");
    malformed.insert("tracestate", "=,=,=");
    js.publish_with_headers(subject.clone(), malformed, "malformed".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let observer = nats.observe_depth(consumer.clone(), Duration::from_millis(50));
    let depth = t
        .wait_for_metric_line(|l| {
            l.starts_with("tracewire_messaging_queue_depth{")
                && l.contains(&name)
                && l.ends_with(" 2")
        })
        .await
        .unwrap_or_else(|| panic!("two messages wait: {}", t.metrics_text()));
    assert!(depth.contains("messaging_system=\"nats\""), "{depth}");
    observer.abort();

    let mut batch = consumer
        .fetch()
        .max_messages(2)
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .unwrap();
    while let Some(message) = batch.next().await {
        nats.process_jetstream(message.unwrap(), "workers", |_| async { Ok(()) })
            .await
            .unwrap();
    }

    let publish = t.span(&format!("publish {subject}"));
    let spans = t.spans();
    let processes: Vec<_> = spans
        .iter()
        .filter(|s| s.name == format!("process {subject}"))
        .collect();
    assert_eq!(processes.len(), 2);
    let (linked, malformed) = (processes[0], processes[1]);
    assert_linked_to(linked, &publish);
    assert_new_trace(malformed);
    js.delete_stream(&name).await.unwrap();
}
