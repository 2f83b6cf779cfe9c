//! Seeing traces with nothing installed: the terminal tree
//! (`OTEL_TRACES_EXPORTER=console`) and the trace browser inside the service
//! (`TRACEWIRE_TRACE_BROWSER=true` / [`TelemetryBuilder::trace_browser`]).
//!
//! Both are fed by one span processor that sees every finished span — the
//! same span data the exporters get, after the same attribute-value limit, so
//! the page shows exactly what would be exported and nothing more. When
//! neither is on, the processor is not installed and costs nothing.
//!
//! The trace browser keeps the most recent traces in memory, bounded by
//! count and bytes (oldest evicted), with the log lines written in them.
//! `tracewire_axum::InstrumentAll::instrument_all` mounts it at
//! `/_tracewire/` when it is on; the standalone metrics listener
//! (`OTEL_METRICS_EXPORTER=prometheus`, `OTEL_EXPORTER_PROMETHEUS_HOST/PORT`)
//! serves it too, for services whose router faces the public. Any other
//! server can answer with [`respond`]. See [`api`] for the addresses.
//!
//! [`TelemetryBuilder::trace_browser`]: crate::TelemetryBuilder::trace_browser

pub mod api;
mod console;
mod logs;
mod record;
mod store;
#[cfg(test)]
mod tests;
mod tree;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

pub use crate::config::{DEFAULT_TRACE_BROWSER_MAX_BYTES, DEFAULT_TRACE_BROWSER_MAX_TRACES};
pub use api::{PREFIX, Response};
pub use record::set_thread_service;

pub(crate) use console::{ConsoleTree, Sink};
pub(crate) use logs::CaptureLogs;
pub(crate) use record::FinishedSpan;
pub(crate) use store::TraceStore;
pub(crate) use tree::Style;

/// The store of the telemetry `init` installed, when its browser is on.
static ACTIVE_STORE: crate::installed::Installed<Arc<TraceStore>> =
    crate::installed::Installed::new();

pub(crate) fn set_active(store: Option<Arc<TraceStore>>) {
    ACTIVE_STORE.set(store);
}

fn active() -> Option<Arc<TraceStore>> {
    ACTIVE_STORE.get()
}

/// Whether the installed telemetry has the trace browser on.
pub fn is_enabled() -> bool {
    active().is_some()
}

/// The trace browser's answer to `GET {path_and_query}`, when the path is
/// under [`PREFIX`] (`None` otherwise); 404 when the browser is off.
pub fn respond(path_and_query: &str) -> Option<Response> {
    if !path_and_query.starts_with(PREFIX) {
        return None;
    }
    Some(match active() {
        Some(store) => api::answer(&store, path_and_query),
        None => Response {
            status: 404,
            content_type: "text/plain; charset=utf-8",
            body: b"the trace browser is off (TRACEWIRE_TRACE_BROWSER=true turns it on)\n".to_vec(),
            headers: &[],
        },
    })
}

/// (traces kept, bytes held, traces evicted) of the installed trace browser.
pub fn usage() -> Option<(usize, usize, u64)> {
    active().map(|store| store.usage())
}

/// The span processor behind both views.
#[derive(Debug)]
pub(crate) struct ViewProcessor {
    store: Option<Arc<TraceStore>>,
    console: Option<ConsoleTree>,
    default_service: Arc<str>,
    value_length_limit: Option<usize>,
}

impl ViewProcessor {
    pub(crate) fn new(
        store: Option<Arc<TraceStore>>,
        console: Option<ConsoleTree>,
        value_length_limit: Option<usize>,
    ) -> Self {
        Self {
            store,
            console,
            default_service: Arc::from("unknown_service"),
            value_length_limit,
        }
    }
}

impl SpanProcessor for ViewProcessor {
    fn on_start(&self, _: &mut Span, _: &Context) {}

    fn on_end(&self, mut data: SpanData) {
        if !data.span_context.is_sampled() {
            return;
        }
        if let Some(limit) = self.value_length_limit {
            for kv in &mut data.attributes {
                crate::export::accounting::truncate_value(&mut kv.value, limit);
            }
        }
        let span = FinishedSpan {
            data,
            service: record::thread_service().unwrap_or_else(|| Arc::clone(&self.default_service)),
        };
        match (&self.store, &self.console) {
            (Some(store), Some(console)) => {
                console.send(span.clone());
                store.add_span(span);
            }
            (Some(store), None) => store.add_span(span),
            (None, Some(console)) => console.send(span),
            (None, None) => {}
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        if let Some(console) = &self.console {
            console.flush(Duration::from_secs(1));
        }
        Ok(())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if let Some(console) = &self.console {
            console.stop(timeout);
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.default_service = Arc::from(crate::resource::service_name(resource));
    }
}
