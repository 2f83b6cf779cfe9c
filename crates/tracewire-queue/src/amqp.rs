//! RabbitMQ through `lapin` (feature `amqp`): trace context in the AMQP
//! header table, a PRODUCER span around `basic_publish`, a CONSUMER span
//! around the handling of a delivery, and the ack/nack as its settlement.

use std::future::Future;

use lapin::options::{BasicAckOptions, BasicNackOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel};
use tracewire::otel::propagation::{Extractor, Injector};
use tracewire::otel::trace::FutureExt as _;
use tracewire::otel::{Context, KeyValue};

use crate::telemetry::{Instruments, attr, consumer_relations};
use crate::worker::HandlerError;

/// An AMQP header table as a propagation carrier (values as long strings).
#[derive(Debug)]
pub struct HeaderTable<'a>(pub &'a mut FieldTable);

impl Injector for HeaderTable<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(
            ShortString::from(key.to_owned()),
            AMQPValue::LongString(LongString::from(value)),
        );
    }
}

/// Reads propagation fields from an AMQP header table.
#[derive(Debug)]
pub struct HeaderTableRef<'a>(pub &'a FieldTable);

fn text(value: &AMQPValue) -> Option<&str> {
    match value {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str()),
        _ => None,
    }
}

impl Extractor for HeaderTableRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .inner()
            .iter()
            .find(|(k, _)| k.as_str().eq_ignore_ascii_case(key))
            .and_then(|(_, v)| text(v))
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(ShortString::as_str).collect()
    }
}

/// `messaging.destination.name` for a publish: `{exchange}:{routing key}`,
/// either alone when the other is empty, `amq.default` for the default
/// exchange without a key.
fn publish_destination(exchange: &str, routing_key: &str) -> String {
    match (exchange.is_empty(), routing_key.is_empty()) {
        (true, true) => "amq.default".to_owned(),
        (true, false) => routing_key.to_owned(),
        (false, true) => exchange.to_owned(),
        (false, false) => format!("{exchange}:{routing_key}"),
    }
}

crate::telemetry::adapter! {
    /// A RabbitMQ publisher and consumer helper with tracewire's telemetry.
    pub struct Amqp;
}

impl Amqp {
    /// Publishes `payload` in a `publish {destination}` PRODUCER span whose
    /// context goes into the message's headers (existing headers are kept).
    pub async fn publish(
        &self,
        channel: &Channel,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> lapin::Result<()> {
        let destination = publish_destination(exchange, routing_key);
        let mut span_attributes = Vec::new();
        if !routing_key.is_empty() {
            span_attributes.push(KeyValue::new(
                "messaging.rabbitmq.destination.routing_key",
                routing_key.to_owned(),
            ));
        }
        if let Some(id) = properties.message_id() {
            span_attributes.push(KeyValue::new(attr::MESSAGE_ID, id.as_str().to_owned()));
        }
        let op = self.instruments.start_send(
            "rabbitmq",
            "publish",
            &destination,
            self.server.clone(),
            span_attributes,
        );
        let cx = op.context().clone();
        let mut headers = properties.headers().clone().unwrap_or_default();
        tracewire::propagation::inject_into(&cx, &mut HeaderTable(&mut headers));
        let properties = properties.with_headers(headers);
        self.instruments
            .publish(op, async {
                channel
                    .basic_publish(
                        ShortString::from(exchange.to_owned()),
                        ShortString::from(routing_key.to_owned()),
                        BasicPublishOptions::default(),
                        payload,
                        properties,
                    )
                    .await?
                    .await
                    .map(|_| ())
            })
            .await
    }

    /// Handles one delivery from `queue` in a `process {queue}` CONSUMER span
    /// (parented to the producer's context), then acks it — or nacks it
    /// without requeue when the handler fails (the queue's dead-letter
    /// exchange, if any, takes it).
    pub async fn process<F, Fut>(
        &self,
        queue: &str,
        delivery: lapin::message::Delivery,
        handler: F,
    ) -> lapin::Result<()>
    where
        F: FnOnce(Vec<u8>) -> Fut,
        Fut: Future<Output = Result<(), HandlerError>>,
    {
        let producer = match delivery.properties.headers() {
            Some(headers) => tracewire::propagation::extract_from(&HeaderTableRef(headers)),
            None => Context::new(),
        };
        let (parent, links) = consumer_relations(self.mode, producer);
        let destination = [
            delivery.exchange.as_str(),
            delivery.routing_key.as_str(),
            queue,
        ]
        .iter()
        .filter(|p| !p.is_empty())
        .fold(Vec::<&str>::new(), |mut parts, p| {
            if parts.last() != Some(p) {
                parts.push(p);
            }
            parts
        })
        .join(":");
        let mut attributes = vec![
            KeyValue::new(attr::SYSTEM, "rabbitmq"),
            KeyValue::new(attr::OPERATION_NAME, "process"),
            KeyValue::new(attr::DESTINATION_NAME, destination),
        ];
        attributes.extend(self.server.iter().cloned());
        let mut span_attributes = Vec::new();
        span_attributes.push(KeyValue::new(attr::OPERATION_TYPE, "process"));
        span_attributes.push(KeyValue::new(
            "messaging.rabbitmq.message.delivery_tag",
            delivery.delivery_tag as i64,
        ));
        if let Some(id) = delivery.properties.message_id() {
            span_attributes.push(KeyValue::new(attr::MESSAGE_ID, id.as_str().to_owned()));
        }
        let op = self.instruments.start_process(
            format!("process {queue}"),
            attributes,
            span_attributes,
            &parent,
            links,
        );
        let cx = op.context().clone();
        let outcome = handler(delivery.data.clone())
            .with_context(cx.clone())
            .await;
        let settled = match &outcome {
            Ok(()) => self
                .instruments
                .settle(
                    "rabbitmq",
                    "ack",
                    queue,
                    &cx,
                    delivery.ack(BasicAckOptions::default()),
                )
                .await
                .map(|_| "success"),
            Err(_) => self
                .instruments
                .settle(
                    "rabbitmq",
                    "nack",
                    queue,
                    &cx,
                    delivery.nack(BasicNackOptions {
                        requeue: false,
                        ..Default::default()
                    }),
                )
                .await
                .map(|_| "dead_lettered"),
        };
        self.instruments.finish_process(
            op,
            outcome.as_ref().err().map(Instruments::handler_failure),
            settled.as_ref().ok().copied().unwrap_or("error"),
        );
        settled.map(|_| ())
    }

    /// Keeps `tracewire.messaging.queue.depth` of `queues` current (every `every`)
    /// with each queue's `message_count` (a passive `queue.declare`: ready
    /// messages, not the unacked ones). Give it a channel of its own: the
    /// broker closes a channel whose passive declare names a missing queue,
    /// after which the task stops. Runs until the returned task is aborted.
    pub fn observe_depth(
        &self,
        channel: Channel,
        queues: Vec<String>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let instruments = std::sync::Arc::clone(&self.instruments);
        tokio::spawn(async move {
            loop {
                for queue in &queues {
                    let declared = channel
                        .queue_declare(
                            queue.as_str().into(),
                            lapin::options::QueueDeclareOptions {
                                passive: true,
                                ..Default::default()
                            },
                            FieldTable::default(),
                        )
                        .await;
                    match declared {
                        Ok(q) => instruments.depth_of("rabbitmq", queue).store(
                            i64::from(q.message_count()),
                            std::sync::atomic::Ordering::Relaxed,
                        ),
                        Err(_) if !channel.status().connected() => return,
                        Err(_) => {}
                    }
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}
