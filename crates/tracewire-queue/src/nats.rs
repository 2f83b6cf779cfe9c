//! NATS through `async-nats` (feature `nats`): trace context in message
//! headers, PRODUCER spans around core and JetStream publishes, CONSUMER
//! spans around handling, and JetStream ack/nak as settlement.

use std::future::Future;

use async_nats::HeaderMap;
use tracewire::instrumentation::Operation;
use tracewire::otel::KeyValue;
use tracewire::otel::propagation::{Extractor, Injector};
use tracewire::otel::trace::FutureExt as _;

use crate::telemetry::{Instruments, attr, consumer_relations};
use crate::worker::HandlerError;

/// JetStream's de-duplication id header, recorded as `messaging.message.id`.
const MESSAGE_ID_HEADER: &str = "Nats-Msg-Id";

/// NATS headers as a propagation carrier.
#[derive(Debug)]
pub struct Headers<'a>(pub &'a mut HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

/// Reads propagation fields from NATS headers.
#[derive(Debug)]
pub struct HeadersRef<'a>(pub &'a HeaderMap);

impl Extractor for HeadersRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

crate::telemetry::adapter! {
    /// NATS publish and process helpers with tracewire's telemetry.
    pub struct Nats;
}

/// Starts a `publish {subject}` span and the headers carrying its context.
fn producer(
    instruments: &Instruments,
    server: &[KeyValue],
    subject: &str,
    mut headers: HeaderMap,
) -> (Operation, HeaderMap) {
    let message_id = headers
        .get(MESSAGE_ID_HEADER)
        .map(|id| KeyValue::new(attr::MESSAGE_ID, id.as_str().to_owned()));
    let op = instruments.start_send(
        "nats",
        "publish",
        subject,
        server.to_vec(),
        message_id.into_iter().collect(),
    );
    tracewire::propagation::inject_into(op.context(), &mut Headers(&mut headers));
    (op, headers)
}

impl Nats {
    /// Publishes on core NATS in a PRODUCER span; its context goes in the headers.
    pub async fn publish(
        &self,
        client: &async_nats::Client,
        subject: &str,
        payload: bytes::Bytes,
    ) -> Result<(), async_nats::PublishError> {
        self.publish_with_headers(client, subject, HeaderMap::new(), payload)
            .await
    }

    /// [`publish`](Self::publish) keeping the caller's `headers`; the trace
    /// context fields are added to them.
    pub async fn publish_with_headers(
        &self,
        client: &async_nats::Client,
        subject: &str,
        headers: HeaderMap,
        payload: bytes::Bytes,
    ) -> Result<(), async_nats::PublishError> {
        let (op, headers) = producer(&self.instruments, &self.server, subject, headers);
        self.instruments
            .publish(
                op,
                client.publish_with_headers(subject.to_owned(), headers, payload),
            )
            .await
    }

    /// Publishes to JetStream and waits for the stream's acknowledgement.
    pub async fn publish_jetstream(
        &self,
        context: &async_nats::jetstream::Context,
        subject: &str,
        payload: bytes::Bytes,
    ) -> Result<(), async_nats::jetstream::context::PublishError> {
        self.publish_jetstream_with_headers(context, subject, HeaderMap::new(), payload)
            .await
    }

    /// [`publish_jetstream`](Self::publish_jetstream) keeping the caller's
    /// `headers` (e.g. `Nats-Msg-Id` for de-duplication, which also becomes
    /// `messaging.message.id`).
    pub async fn publish_jetstream_with_headers(
        &self,
        context: &async_nats::jetstream::Context,
        subject: &str,
        headers: HeaderMap,
        payload: bytes::Bytes,
    ) -> Result<(), async_nats::jetstream::context::PublishError> {
        let (op, headers) = producer(&self.instruments, &self.server, subject, headers);
        self.instruments
            .publish(op, async {
                context
                    .publish_with_headers(subject.to_owned(), headers, payload)
                    .await?
                    .await
                    .map(|_| ())
            })
            .await
    }

    fn begin(&self, message: &async_nats::Message, group: Option<&str>) -> Operation {
        let producer = message
            .headers
            .as_ref()
            .map(|h| tracewire::propagation::extract_from(&HeadersRef(h)))
            .unwrap_or_default();
        let (parent, links) = consumer_relations(self.mode, producer);
        let mut attributes = vec![
            KeyValue::new(attr::SYSTEM, "nats"),
            KeyValue::new(attr::OPERATION_NAME, "process"),
            KeyValue::new(attr::DESTINATION_NAME, message.subject.to_string()),
        ];
        attributes.extend(self.server.iter().cloned());
        if let Some(group) = group {
            attributes.push(KeyValue::new(attr::CONSUMER_GROUP_NAME, group.to_owned()));
        }
        let mut span_attributes = Vec::new();
        span_attributes.push(KeyValue::new(attr::OPERATION_TYPE, "process"));
        if let Some(id) = message
            .headers
            .as_ref()
            .and_then(|h| h.get(MESSAGE_ID_HEADER))
        {
            span_attributes.push(KeyValue::new(attr::MESSAGE_ID, id.as_str().to_owned()));
        }
        self.instruments.start_process(
            format!("process {}", message.subject),
            attributes,
            span_attributes,
            &parent,
            links,
        )
    }

    /// Handles a core NATS message in a `process {subject}` CONSUMER span;
    /// `queue_group` is recorded as `messaging.consumer.group.name`.
    pub async fn process<F, Fut>(
        &self,
        message: async_nats::Message,
        queue_group: Option<&str>,
        handler: F,
    ) -> Result<(), HandlerError>
    where
        F: FnOnce(async_nats::Message) -> Fut,
        Fut: Future<Output = Result<(), HandlerError>>,
    {
        let op = self.begin(&message, queue_group);
        let cx = op.context().clone();
        let result = handler(message).with_context(cx.clone()).await;
        let outcome = if result.is_ok() { "success" } else { "error" };
        self.instruments.finish_process(
            op,
            result.as_ref().err().map(Instruments::handler_failure),
            outcome,
        );
        result
    }

    /// Handles a JetStream message; acks on success, naks (for redelivery) on failure.
    /// `consumer` (the durable name) is recorded as `messaging.consumer.group.name`.
    pub async fn process_jetstream<F, Fut>(
        &self,
        message: async_nats::jetstream::Message,
        consumer: &str,
        handler: F,
    ) -> Result<(), HandlerError>
    where
        F: FnOnce(async_nats::Message) -> Fut,
        Fut: Future<Output = Result<(), HandlerError>>,
    {
        let op = self.begin(&message.message, Some(consumer));
        let cx = op.context().clone();
        let result = handler(message.message.clone())
            .with_context(cx.clone())
            .await;
        let subject = message.subject.to_string();
        let settled = match &result {
            Ok(()) => self
                .instruments
                .settle("nats", "ack", &subject, &cx, message.ack())
                .await
                .map(|()| "success"),
            Err(_) => self
                .instruments
                .settle(
                    "nats",
                    "nak",
                    &subject,
                    &cx,
                    message.ack_with(async_nats::jetstream::AckKind::Nak(None)),
                )
                .await
                .map(|()| "retried"),
        };
        self.instruments.finish_process(
            op,
            result.as_ref().err().map(Instruments::handler_failure),
            settled.unwrap_or("error"),
        );
        result
    }

    /// Keeps `tracewire.messaging.queue.depth` of the consumer's stream current (every
    /// `every`) with the consumer's `num_pending`: messages in the stream not
    /// yet delivered to it. Runs until the returned task is aborted.
    pub fn observe_depth(
        &self,
        mut consumer: async_nats::jetstream::consumer::PullConsumer,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let instruments = std::sync::Arc::clone(&self.instruments);
        tokio::spawn(async move {
            loop {
                if let Ok(info) = consumer.info().await {
                    let pending = i64::try_from(info.num_pending).unwrap_or(i64::MAX);
                    instruments
                        .depth_of("nats", &info.stream_name)
                        .store(pending, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}
