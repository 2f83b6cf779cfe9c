//! Helpers for the current trace context.
//!
//! ```
//! # async fn demo() {
//! if let Some(trace_id) = tracewire::context::current_trace_id() {
//!     println!("handling request in trace {trace_id}");
//! }
//! // Background work that stays in the request's trace:
//! let handle = tracewire::context::spawn(async { 42 });
//! assert_eq!(handle.await.unwrap(), 42);
//! # }
//! ```

use std::future::Future;

use opentelemetry::trace::{FutureExt as _, TraceContextExt};
use opentelemetry::{Context, ContextGuard};
use tracing::Instrument as _;

/// The current trace id as 32 lowercase hex digits, if a span is current.
pub fn current_trace_id() -> Option<String> {
    crate::logging::current_trace_fields().map(|(trace_id, _, _)| trace_id)
}

/// The current span id as 16 lowercase hex digits, if a span is current.
pub fn current_span_id() -> Option<String> {
    crate::logging::current_trace_fields().map(|(_, span_id, _)| span_id)
}

/// Whether the current span is sampled.
pub fn is_sampled() -> bool {
    Context::map_current(|cx| cx.span().span_context().is_sampled())
}

/// Makes `cx` current until the guard is dropped (e.g. a context extracted
/// from a message before processing it).
#[must_use = "the context is current only while the guard lives"]
pub fn attach(cx: Context) -> ContextGuard {
    cx.attach()
}

/// Wraps `future` so that it runs in the current `tracing` span and the
/// current OpenTelemetry context wherever it is polled.
pub fn in_current_context<F: Future>(future: F) -> impl Future<Output = F::Output> {
    future
        .instrument(tracing::Span::current())
        .with_context(Context::current())
}

/// `tokio::spawn` that keeps the task in the current trace: spans it starts
/// are children of the current span.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(in_current_context(future))
}
