//! Baggage members copied onto spans, as the Python contrib's baggage span
//! processor does — but only the keys of an allow-list, never by default:
//! baggage comes from callers, and a span attribute is exported to every
//! backend that stores traces.

use std::time::Duration;

use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

/// Sets the allowed baggage members of a span's parent context as its
/// attributes (same key, the member's value) when it starts.
#[derive(Debug, Clone)]
pub(crate) struct BaggageSpanProcessor {
    keys: Vec<String>,
}

impl BaggageSpanProcessor {
    pub(crate) fn new(keys: Vec<String>) -> Self {
        Self { keys }
    }

    /// Copies the allowed members of `cx`'s baggage onto `span` (an SDK
    /// span at its start, or one of tracewire's own).
    pub(crate) fn copy_onto(&self, span: &mut impl opentelemetry::trace::Span, cx: &Context) {
        let baggage = cx.baggage();
        if baggage.is_empty() {
            return;
        }
        for key in &self.keys {
            if let Some(value) = baggage.get(key.as_str()) {
                span.set_attribute(KeyValue::new(key.clone(), value.clone()));
            }
        }
    }
}

impl SpanProcessor for BaggageSpanProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.copy_onto(span, cx);
    }

    fn on_end(&self, _: SpanData) {}

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}
