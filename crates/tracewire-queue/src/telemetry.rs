//! Messaging semantic conventions (semconv 1.44 §5) for the queue crate:
//! span starts, instruments, attribute names.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use tracewire::instrumentation::Operation;
use tracewire::metrics::{Counter, DURATION_BUCKETS, Histogram, counter, duration_histogram};
use tracewire::otel::trace::{Link, SpanBuilder, SpanKind, TraceContextExt as _};
use tracewire::otel::{Context, KeyValue};

/// Attribute keys.
pub mod attr {
    #![allow(missing_docs)]
    // One definition for every integration (`tracewire::instrumentation`).
    pub use tracewire::instrumentation::{ERROR_TYPE, SERVER_ADDRESS, SERVER_PORT};
    pub const SYSTEM: &str = "messaging.system";
    pub const OPERATION_NAME: &str = "messaging.operation.name";
    pub const OPERATION_TYPE: &str = "messaging.operation.type";
    pub const DESTINATION_NAME: &str = "messaging.destination.name";
    pub const MESSAGE_ID: &str = "messaging.message.id";
    pub const CONSUMER_GROUP_NAME: &str = "messaging.consumer.group.name";
    pub const CLIENT_ID: &str = "messaging.client.id";
    pub const BATCH_MESSAGE_COUNT: &str = "messaging.batch.message_count";
    /// Project attribute of `tracewire.messaging.processed.messages`: what
    /// became of a delivered message — `success`, `retried`, `dead_lettered`,
    /// or `error` (settling it failed). Semconv has no such attribute, so it
    /// is on a project metric, never on `messaging.client.consumed.messages`.
    pub const OUTCOME: &str = "tracewire.messaging.outcome";
}

pub(crate) const SCOPE: &str = "tracewire-queue";

/// The backlog gauge (project metric).
pub(crate) const QUEUE_DEPTH: &str = "tracewire.messaging.queue.depth";
/// Delivered messages by what became of them (project metric).
pub(crate) const PROCESSED: &str = "tracewire.messaging.processed.messages";

/// How a consumer span relates to the producer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextMode {
    /// The producer's span is the parent: one trace from request to worker
    /// (the default; the ambient span, if any, becomes a link).
    #[default]
    Parent,
    /// The producer's span is only a link; the parent is the ambient context.
    Link,
}

/// Declares a transport adapter: its telemetry handles, context mode and
/// server attributes, `Debug`, `Default` (the global tracewire providers),
/// `with` (explicit tracer and meter), `context_mode` and `server` — the same
/// for every transport.
#[cfg(any(feature = "amqp", feature = "nats", feature = "apalis"))]
macro_rules! adapter {
    ($(#[$doc:meta])* pub struct $name:ident;) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            instruments: std::sync::Arc<$crate::telemetry::Instruments>,
            mode: $crate::telemetry::ContextMode,
            /// `server.address` / `server.port`, when the application said.
            server: Vec<tracewire::otel::KeyValue>,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("mode", &self.mode)
                    .finish_non_exhaustive()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::with(
                    tracewire::instrumentation::Tracer::installed($crate::telemetry::SCOPE),
                    &tracewire::otel::global::meter($crate::telemetry::SCOPE),
                )
            }
        }

        impl $name {
            /// With an explicit tracer and meter.
            pub fn with(
                tracer: Option<tracewire::instrumentation::Tracer>,
                meter: &tracewire::otel::metrics::Meter,
            ) -> Self {
                Self {
                    instruments: $crate::telemetry::Instruments::new(tracer, meter),
                    mode: $crate::telemetry::ContextMode::Parent,
                    server: Vec::new(),
                }
            }

            /// The broker as the application dialled it (host name or IP, and
            /// port), recorded as `server.address` / `server.port` on every
            /// span and metric. The client libraries do not report the address
            /// they connected to, so without this call neither is recorded.
            pub fn server(mut self, address: impl Into<String>, port: u16) -> Self {
                self.server = vec![
                    tracewire::otel::KeyValue::new(
                        $crate::telemetry::attr::SERVER_ADDRESS,
                        address.into(),
                    ),
                    tracewire::otel::KeyValue::new(
                        $crate::telemetry::attr::SERVER_PORT,
                        i64::from(port),
                    ),
                ];
                self
            }

            /// How consumer spans relate to the producer's.
            pub fn context_mode(mut self, mode: $crate::telemetry::ContextMode) -> Self {
                self.mode = mode;
                self
            }
        }
    };
}
#[cfg(any(feature = "amqp", feature = "nats", feature = "apalis"))]
pub(crate) use adapter;

/// Backlog cells keyed by (messaging system, destination).
pub(crate) type DepthCells = HashMap<(&'static str, String), Arc<AtomicI64>>;

/// Instruments shared by producers and workers of one process.
pub(crate) struct Instruments {
    pub(crate) tracer: Option<tracewire::instrumentation::Tracer>,
    pub(crate) sent: Counter,
    pub(crate) consumed: Counter,
    pub(crate) processed: Counter,
    pub(crate) process_duration: Histogram,
    pub(crate) operation_duration: Histogram,
    /// Last observed backlog per (messaging system, destination).
    pub(crate) depth: Arc<RwLock<DepthCells>>,
    _depth_gauge: tracewire::otel::metrics::ObservableGauge<i64>,
}

impl Instruments {
    pub(crate) fn new(
        tracer: Option<tracewire::instrumentation::Tracer>,
        meter: &tracewire::otel::metrics::Meter,
    ) -> Arc<Self> {
        let depth: Arc<RwLock<DepthCells>> = Arc::default();
        let observed = Arc::clone(&depth);
        // The gauge is read at collection time; a background task refreshes
        // the numbers with LLEN, XINFO GROUPS, the AMQP queue's message_count or the
        // JetStream consumer's num_pending (the SDK's callbacks cannot do I/O).
        let depth_gauge = meter
            // Not a semconv metric (there is none for backlog): a project one.
            .i64_observable_gauge(QUEUE_DEPTH)
            .with_unit("{message}")
            .with_description("Messages waiting in the queue, refreshed in the background.")
            .with_callback(move |observer| {
                if let Ok(queues) = observed.read() {
                    for ((system, queue), depth) in queues.iter() {
                        observer.observe(
                            depth.load(Ordering::Relaxed),
                            &[
                                KeyValue::new(attr::SYSTEM, *system),
                                KeyValue::new(attr::DESTINATION_NAME, queue.clone()),
                            ],
                        );
                    }
                }
            })
            .build();
        Arc::new(Self {
            tracer,
            sent: counter(
                meter,
                "messaging.client.sent.messages",
                "{message}",
                "Messages the producer attempted to send.",
            ),
            consumed: counter(
                meter,
                "messaging.client.consumed.messages",
                "{message}",
                "Messages delivered to the handler.",
            ),
            processed: counter(
                meter,
                PROCESSED,
                "{message}",
                "Delivered messages by outcome: success, retried, dead_lettered or error.",
            ),
            process_duration: duration_histogram(
                meter,
                "messaging.process.duration",
                "Duration of processing one message.",
                DURATION_BUCKETS,
            ),
            operation_duration: duration_histogram(
                meter,
                "messaging.client.operation.duration",
                "Duration of messaging operations (send, receive, settle).",
                DURATION_BUCKETS,
            ),
            depth,
            _depth_gauge: depth_gauge,
        })
    }

    /// The depth cell of `queue` on `system`, created on first use.
    pub(crate) fn depth_of(&self, system: &'static str, queue: &str) -> Arc<AtomicI64> {
        let key = (system, queue.to_owned());
        if let Some(cell) = self.depth.read().ok().and_then(|q| q.get(&key).cloned()) {
            return cell;
        }
        let mut queues = match self.depth.write() {
            Ok(q) => q,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(queues.entry(key).or_default())
    }

    /// Starts a `process {destination}` CONSUMER operation under `parent`:
    /// `attributes` go on the span and the processing metrics,
    /// `span_attributes` (type, message id…) on the span only.
    pub(crate) fn start_process(
        &self,
        name: String,
        attributes: Vec<KeyValue>,
        span_attributes: Vec<KeyValue>,
        parent: &Context,
        links: Vec<Link>,
    ) -> Operation {
        self.start(
            name,
            SpanKind::Consumer,
            attributes,
            span_attributes,
            parent,
            links,
        )
    }

    fn start(
        &self,
        name: String,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        span_attributes: Vec<KeyValue>,
        parent: &Context,
        links: Vec<Link>,
    ) -> Operation {
        let builder = self.tracer.as_ref().map(|_| {
            let mut all = attributes.clone();
            all.extend(span_attributes);
            SpanBuilder::from_name(name)
                .with_kind(kind)
                .with_attributes(all)
                .with_links(links)
        });
        Operation::start_with(self.tracer.as_ref(), builder, parent, attributes)
    }

    /// Starts the `{operation} {destination}` PRODUCER operation under the
    /// current context. `metric_attributes` (e.g. `server.*`) go on the span
    /// and the metrics, `span_attributes` (e.g. the message id) on the span
    /// only. Finish it with [`Self::finish_send`].
    pub(crate) fn start_send(
        &self,
        system: &'static str,
        operation: &'static str,
        destination: &str,
        metric_attributes: Vec<KeyValue>,
        span_attributes: Vec<KeyValue>,
    ) -> Operation {
        let mut attributes = vec![
            KeyValue::new(attr::SYSTEM, system),
            KeyValue::new(attr::OPERATION_NAME, operation),
            KeyValue::new(attr::DESTINATION_NAME, destination.to_owned()),
        ];
        attributes.extend(metric_attributes);
        let mut on_span = vec![KeyValue::new(attr::OPERATION_TYPE, "send")];
        on_span.extend(span_attributes);
        self.start(
            format!("{operation} {destination}"),
            SpanKind::Producer,
            attributes,
            on_span,
            &Context::current(),
            Vec::new(),
        )
    }

    /// Runs the broker call `send` under the producer operation `op` and
    /// finishes it with [`Self::finish_send`]; any failure is `publish_failed`
    /// (the client libraries' errors carry no stable code).
    #[cfg(any(feature = "amqp", feature = "nats", feature = "apalis"))]
    pub(crate) async fn publish<T, E>(
        &self,
        op: Operation,
        send: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        use tracewire::otel::trace::FutureExt as _;
        let result = send.with_context(op.context().clone()).await;
        let error_type = result.as_ref().err().map(|_| "publish_failed".to_owned());
        self.finish_send(op, error_type);
        result
    }

    /// Ends the producer operation: a failed send puts `error_type` on the
    /// span and the metrics; the send is counted and timed linked to the
    /// span (so a sampled span becomes the exemplar).
    pub(crate) fn finish_send(&self, mut op: Operation, error_type: Option<String>) {
        if let Some(kind) = error_type {
            op.fail(kind, "");
        }
        self.sent.add_in(op.exemplar_context(), 1, op.attributes());
        op.finish(Some(&self.operation_duration));
    }

    /// `failure` of [`finish_process`](Self::finish_process) for a handler
    /// that returned an error.
    #[cfg(any(feature = "amqp", feature = "nats", feature = "apalis"))]
    pub(crate) fn handler_failure(error: &impl std::fmt::Display) -> (&'static str, String) {
        ("handler_error", error.to_string())
    }

    /// Ends a `process` operation: the processing duration and the consumed
    /// message (with `error.type` when `failure` — the handler's
    /// (`error.type`, description) — says it failed), and the message's
    /// `outcome`, each linked to the span as its exemplar.
    pub(crate) fn finish_process(
        &self,
        mut op: Operation,
        failure: Option<(&'static str, String)>,
        outcome: &'static str,
    ) {
        if let Some((kind, description)) = failure {
            op.fail(kind, description);
        }
        let exemplar = op.exemplar_context();
        self.consumed.add_in(exemplar, 1, op.attributes());
        let mut with_outcome = op.attributes().to_vec();
        with_outcome.push(KeyValue::new(attr::OUTCOME, outcome));
        self.processed.add_in(exemplar, 1, &with_outcome);
        op.finish(Some(&self.process_duration));
    }

    /// Records the `receive {destination}` CLIENT span of a pull that
    /// returned a message (from `started`, `elapsed` long, blocking wait
    /// included) and returns a link to it for the process span. Empty polls
    /// record nothing: a blocking poll every few seconds per worker would
    /// otherwise flood the trace store with spans that carry no message.
    pub(crate) fn receive(
        &self,
        destination: &str,
        mut attributes: Vec<KeyValue>,
        started: std::time::SystemTime,
        elapsed: std::time::Duration,
    ) -> Option<Link> {
        attributes.push(KeyValue::new(attr::OPERATION_NAME, "receive"));
        attributes.push(KeyValue::new(
            attr::DESTINATION_NAME,
            destination.to_owned(),
        ));
        let builder = self.tracer.as_ref().map(|_| {
            let mut span_attributes = attributes.clone();
            span_attributes.push(KeyValue::new(attr::OPERATION_TYPE, "receive"));
            span_attributes.push(KeyValue::new(attr::BATCH_MESSAGE_COUNT, 1));
            SpanBuilder::from_name(format!("receive {destination}"))
                .with_kind(SpanKind::Client)
                .with_start_time(started)
                .with_attributes(span_attributes)
        });
        let mut op = Operation::start_with(
            self.tracer.as_ref(),
            builder,
            &Context::current(),
            attributes,
        );
        let span_context = op.context().span().span_context().clone();
        let ours = op.is_recording();
        op.finish_after(Some(&self.operation_duration), elapsed, started + elapsed);
        (ours && span_context.is_sampled()).then(|| Link::with_context(span_context))
    }

    /// Runs `settle` (an ack or nack round trip) in a `{operation} {destination}`
    /// CLIENT span of type `settle` under `parent` (the process span), and
    /// records it in `messaging.client.operation.duration`.
    #[cfg(any(feature = "amqp", feature = "nats"))]
    pub(crate) async fn settle<T, E: std::fmt::Display>(
        &self,
        system: &'static str,
        operation: &'static str,
        destination: &str,
        parent: &Context,
        settle: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let attributes = vec![
            KeyValue::new(attr::SYSTEM, system),
            KeyValue::new(attr::OPERATION_NAME, operation),
            KeyValue::new(attr::DESTINATION_NAME, destination.to_owned()),
        ];
        let mut op = self.start(
            format!("{operation} {destination}"),
            SpanKind::Client,
            attributes,
            vec![KeyValue::new(attr::OPERATION_TYPE, "settle")],
            parent,
            Vec::new(),
        );
        let result = settle.await;
        if let Err(e) = &result {
            op.fail("settle_failed", e.to_string());
        }
        op.finish(Some(&self.operation_duration));
        result
    }
}

/// The parent and links of a consumer span for a message whose producer
/// context is `producer`, per the mode.
pub(crate) fn consumer_relations(mode: ContextMode, producer: Context) -> (Context, Vec<Link>) {
    let ambient = Context::current();
    let producer_sc = producer.span().span_context().clone();
    let ambient_sc = ambient.span().span_context().clone();
    match mode {
        ContextMode::Parent if producer_sc.is_valid() => {
            let links = if ambient_sc.is_valid() {
                vec![Link::with_context(ambient_sc)]
            } else {
                Vec::new()
            };
            (producer, links)
        }
        _ => {
            let links = if producer_sc.is_valid() {
                vec![Link::with_context(producer_sc)]
            } else {
                Vec::new()
            };
            (ambient, links)
        }
    }
}
