//! Log lines for the trace browser: each `tracing` event written while an
//! OpenTelemetry span is current is kept with its trace.

use std::fmt;
use std::sync::Arc;

use opentelemetry::trace::TraceContextExt as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;

use super::store::{LogLine, TraceStore};

/// The layer; added by `Telemetry::layers` when the trace browser is on.
pub(crate) struct CaptureLogs {
    pub(crate) store: Arc<TraceStore>,
}

#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            name if crate::logging::is_log_metadata_field(name) => {}
            name => self.fields.push((name.to_owned(), value)),
        }
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for CaptureLogs {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let ids = opentelemetry::Context::map_current(|cx| {
            let sc = cx.span().span_context().clone();
            sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
        });
        let Some((trace_id, span_id)) = ids else {
            return;
        };
        let normalized = tracing_log::NormalizeEvent::normalized_metadata(event);
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.store.add_log(
            trace_id,
            LogLine {
                time: std::time::SystemTime::now(),
                level: meta.level().as_str(),
                target: meta.target().to_owned(),
                message: fields.message,
                span_id,
                fields: fields.fields,
            },
        );
    }
}
