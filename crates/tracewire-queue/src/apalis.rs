//! apalis 1.x jobs (feature `apalis`): [`Apalis::push`] puts the trace
//! context in the task's metadata (persisted by the apalis backends), and
//! [`ApalisLayer`] runs each job in a `process {queue}` CONSUMER span that
//! continues it, with the messaging metrics.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as PollContext, Poll};

use apalis_core::backend::{TaskSink, TaskSinkError};
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::metadata::MetadataStore;
use tracewire::otel::KeyValue;
use tracewire::otel::propagation::{Extractor, Injector};
use tracewire::otel::trace::FutureExt as _;

use crate::telemetry::{Instruments, attr, consumer_relations};

/// `messaging.system` of apalis jobs (semconv allows custom values).
const SYSTEM: &str = "apalis";

/// Task metadata as a propagation carrier (existing keys are kept).
struct MetadataCarrier<'a>(&'a mut MetadataStore);

impl Injector for MetadataCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        // A caller-supplied field of the same name wins over ours.
        let _ = self.0.insert_if_absent(key.to_owned(), value);
    }
}

/// Reads propagation fields from task metadata.
struct MetadataRef<'a>(&'a MetadataStore);

impl Extractor for MetadataRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

crate::telemetry::adapter! {
    /// A traced producer of apalis jobs, and the factory of [`ApalisLayer`].
    pub struct Apalis;
}

impl Apalis {
    /// Pushes `args` to `sink` in a `send {queue}` PRODUCER span whose
    /// context travels in the task's metadata.
    pub async fn push<B, Args, Kind>(
        &self,
        sink: &mut B,
        queue: &str,
        args: Args,
    ) -> Result<(), TaskSinkError<B::Error>>
    where
        B: TaskSink<Args, Kind>,
    {
        let op =
            self.instruments
                .start_send(SYSTEM, "send", queue, self.server.clone(), Vec::new());
        let cx = op.context().clone();
        let mut metadata = MetadataStore::new();
        tracewire::propagation::inject_into(&cx, &mut MetadataCarrier(&mut metadata));
        let task = TaskBuilder::new(args).with_metadata(metadata).build();
        self.instruments.publish(op, sink.push_task(task)).await
    }

    /// A tower layer for `WorkerBuilder::layer` that runs each job of
    /// `queue` in a `process {queue}` CONSUMER span continuing the producer's
    /// trace.
    pub fn layer(&self, queue: impl Into<String>) -> ApalisLayer {
        ApalisLayer {
            apalis: self.clone(),
            queue: Arc::from(queue.into()),
        }
    }
}

/// Wraps an apalis job service with tracewire's consumer telemetry.
#[derive(Debug, Clone)]
pub struct ApalisLayer {
    apalis: Apalis,
    queue: Arc<str>,
}

impl<S> tower::Layer<S> for ApalisLayer {
    type Service = ApalisService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApalisService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ApalisLayer`] produces.
#[derive(Debug, Clone)]
pub struct ApalisService<S> {
    inner: S,
    layer: ApalisLayer,
}

impl<S, Args> tower::Service<Task<Args>> for ApalisService<S>
where
    S: tower::Service<Task<Args>>,
    S::Error: Display,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut PollContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let ApalisLayer { apalis, queue } = self.layer.clone();
        let ctx = task.ctx();
        let producer = tracewire::propagation::extract_from(&MetadataRef(ctx.metadata()));
        let (parent, links) = consumer_relations(apalis.mode, producer);
        let mut attributes = vec![
            KeyValue::new(attr::SYSTEM, SYSTEM),
            KeyValue::new(attr::OPERATION_NAME, "process"),
            KeyValue::new(attr::DESTINATION_NAME, queue.to_string()),
        ];
        attributes.extend(apalis.server.iter().cloned());
        let mut span_attributes = Vec::new();
        span_attributes.push(KeyValue::new(attr::OPERATION_TYPE, "process"));
        if let Some(id) = ctx.task_id() {
            span_attributes.push(KeyValue::new(attr::MESSAGE_ID, id.to_string()));
        }
        let attempt = ctx.attempt();
        span_attributes.push(KeyValue::new(
            "messaging.delivery.attempt",
            i64::try_from(attempt).unwrap_or(i64::MAX),
        ));
        let retries_left = ctx.max_attempts().is_some_and(|max| attempt < max);
        let op = apalis.instruments.start_process(
            format!("process {queue}"),
            attributes,
            span_attributes,
            &parent,
            links,
        );
        let future = self.inner.call(task).with_context(op.context().clone());
        Box::pin(async move {
            let result = future.await;
            let outcome = match &result {
                Ok(_) => "success",
                Err(_) if retries_left => "retried",
                Err(_) => "error",
            };
            apalis.instruments.finish_process(
                op,
                result.as_ref().err().map(Instruments::handler_failure),
                outcome,
            );
            result
        })
    }
}
