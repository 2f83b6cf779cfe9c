//! A finished span as the local views keep it: the SDK's own span data (what
//! the exporters receive, after the same value-length limit) and the service
//! it belongs to.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, Value};
use opentelemetry_sdk::trace::SpanData;

thread_local! {
    /// The service the spans ended on this thread belong to, when one
    /// process runs several (see [`set_thread_service`]).
    static THREAD_SERVICE: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Names the service that spans ending on the current thread belong to, for
/// the terminal tree and the trace browser, when one process runs several
/// services (the demo runs each on its own runtime and calls this from the
/// runtime's `on_thread_start`). Without it a span's service is the
/// resource's `service.name`. Exported telemetry is not changed: the OTLP
/// resource stays the process's own.
pub fn set_thread_service(name: &str) {
    THREAD_SERVICE.with(|service| *service.borrow_mut() = Some(Arc::from(name)));
}

/// The service named for this thread, if any.
pub(crate) fn thread_service() -> Option<Arc<str>> {
    THREAD_SERVICE.with(|service| service.borrow().clone())
}

/// A finished span and its service.
#[derive(Debug, Clone)]
pub(crate) struct FinishedSpan {
    pub(crate) data: SpanData,
    pub(crate) service: Arc<str>,
}

impl FinishedSpan {
    pub(crate) fn has_parent(&self) -> bool {
        self.data.parent_span_id != SpanId::INVALID
    }

    /// A root of this process's part of the trace: no parent, or a parent
    /// in another process.
    pub(crate) fn is_local_root(&self) -> bool {
        !self.has_parent() || self.data.parent_span_is_remote
    }

    pub(crate) fn is_error(&self) -> bool {
        matches!(self.data.status, Status::Error { .. })
    }

    pub(crate) fn duration_nanos(&self) -> u64 {
        nanos_between(self.data.start_time, self.data.end_time)
    }

    /// The value of attribute `key`, if set.
    pub(crate) fn attribute(&self, key: &str) -> Option<&Value> {
        self.data
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    /// An estimate of the memory the span holds, for the store's byte bound.
    pub(crate) fn approximate_bytes(&self) -> usize {
        let attributes = |list: &[opentelemetry::KeyValue]| -> usize {
            list.iter()
                .map(|kv| 48 + kv.key.as_str().len() + value_bytes(&kv.value))
                .sum()
        };
        std::mem::size_of::<SpanData>()
            + self.data.name.len()
            + attributes(&self.data.attributes)
            + self
                .data
                .events
                .events
                .iter()
                .map(|e| 64 + e.name.len() + attributes(&e.attributes))
                .sum::<usize>()
            + self.data.links.links.len() * 96
            + match &self.data.status {
                Status::Error { description } => description.len(),
                _ => 0,
            }
    }
}

fn value_bytes(value: &Value) -> usize {
    match value {
        Value::String(s) => s.as_str().len(),
        Value::Array(Array::String(list)) => list.iter().map(|s| s.as_str().len() + 24).sum(),
        Value::Array(Array::Bool(list)) => list.len(),
        Value::Array(Array::I64(list)) => list.len() * 8,
        Value::Array(Array::F64(list)) => list.len() * 8,
        _ => 0,
    }
}

/// `SERVER`, `CLIENT`, … as the conventions write kinds.
pub(crate) fn kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Server => "SERVER",
        SpanKind::Client => "CLIENT",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
        SpanKind::Internal => "INTERNAL",
    }
}

pub(crate) fn unix_nanos(time: SystemTime) -> u64 {
    nanos_between(UNIX_EPOCH, time)
}

pub(crate) fn nanos_between(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
