//! The trace browser's memory: the most recent traces, bounded by count and
//! by bytes, the oldest evicted first; with the log lines written in them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

use opentelemetry::trace::{SpanId, TraceId};

use super::record::FinishedSpan;

/// Log lines kept per trace; later ones are counted, not kept.
const MAX_LOGS_PER_TRACE: usize = 200;

/// A log line written inside a trace.
#[derive(Debug, Clone)]
pub(crate) struct LogLine {
    pub(crate) time: SystemTime,
    pub(crate) level: &'static str,
    pub(crate) target: String,
    pub(crate) message: String,
    pub(crate) span_id: SpanId,
    pub(crate) fields: Vec<(String, String)>,
}

impl LogLine {
    fn approximate_bytes(&self) -> usize {
        96 + self.target.len()
            + self.message.len()
            + self
                .fields
                .iter()
                .map(|(k, v)| 48 + k.len() + v.len())
                .sum::<usize>()
    }
}

/// One kept trace.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredTrace {
    pub(crate) spans: Vec<FinishedSpan>,
    pub(crate) logs: Vec<LogLine>,
    /// Spans and log lines not kept because the trace alone exceeded the
    /// byte bound, or because of the per-trace log limit.
    pub(crate) dropped: usize,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Traces {
    by_id: HashMap<TraceId, StoredTrace>,
    /// Trace ids by first arrival, oldest first.
    order: VecDeque<TraceId>,
    bytes: usize,
    evicted: u64,
}

/// The bounded store. Every method takes the lock briefly and never blocks
/// on anything else.
#[derive(Debug)]
pub(crate) struct TraceStore {
    traces: Mutex<Traces>,
    max_traces: usize,
    max_bytes: usize,
}

impl TraceStore {
    pub(crate) fn new(max_traces: usize, max_bytes: usize) -> Self {
        Self {
            traces: Mutex::new(Traces::default()),
            max_traces: max_traces.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    pub(crate) fn add_span(&self, span: FinishedSpan) {
        let bytes = span.approximate_bytes();
        self.add(span.data.span_context.trace_id(), bytes, |trace| {
            trace.spans.push(span)
        });
    }

    pub(crate) fn add_log(&self, trace_id: TraceId, line: LogLine) {
        let bytes = line.approximate_bytes();
        self.add(trace_id, bytes, |trace| {
            if trace.logs.len() < MAX_LOGS_PER_TRACE {
                trace.logs.push(line);
            } else {
                trace.dropped += 1;
            }
        });
    }

    fn add(&self, trace_id: TraceId, bytes: usize, put: impl FnOnce(&mut StoredTrace)) {
        let Ok(mut traces) = self.traces.lock() else {
            return;
        };
        let traces = &mut *traces;
        if !traces.by_id.contains_key(&trace_id) {
            traces.order.push_back(trace_id);
        }
        let trace = traces.by_id.entry(trace_id).or_default();
        if trace.bytes + bytes > self.max_bytes {
            // One trace larger than the whole store keeps its beginning.
            trace.dropped += 1;
            return;
        }
        put(trace);
        trace.bytes += bytes;
        traces.bytes += bytes;
        // Evict the oldest traces (never the one just written to).
        while traces.order.len() > self.max_traces || traces.bytes > self.max_bytes {
            let Some(oldest) = traces.order.front().copied() else {
                break;
            };
            if oldest == trace_id && traces.order.len() == 1 {
                break;
            }
            traces.order.pop_front();
            if oldest == trace_id {
                traces.order.push_back(oldest);
                continue;
            }
            if let Some(gone) = traces.by_id.remove(&oldest) {
                traces.bytes -= gone.bytes;
                traces.evicted += 1;
            }
        }
    }

    /// `summarize` applied to each kept trace, newest first (by first
    /// arrival), under the lock: nothing is copied but what it returns.
    pub(crate) fn recent<R>(
        &self,
        mut summarize: impl FnMut(TraceId, &StoredTrace) -> Option<R>,
    ) -> Vec<R> {
        let Ok(traces) = self.traces.lock() else {
            return Vec::new();
        };
        traces
            .order
            .iter()
            .rev()
            .filter_map(|id| traces.by_id.get(id).and_then(|t| summarize(*id, t)))
            .collect()
    }

    pub(crate) fn trace(&self, trace_id: TraceId) -> Option<StoredTrace> {
        self.traces.lock().ok()?.by_id.get(&trace_id).cloned()
    }

    /// (traces kept, bytes held, traces evicted so far).
    pub(crate) fn usage(&self) -> (usize, usize, u64) {
        self.traces
            .lock()
            .map(|t| (t.order.len(), t.bytes, t.evicted))
            .unwrap_or_default()
    }
}
