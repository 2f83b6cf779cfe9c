//! `tracing` events to OTLP log records, without invented event names.
//!
//! opentelemetry-appender-tracing sets every record's `EventName` to the
//! `tracing` event's metadata name, which for an event the user did not name
//! is `event {file}:{line}` — a name the log data model reserves for events
//! of a defined schema (semconv checks flag it). [`NamedEventsOnly`] wraps
//! the SDK's logger provider and drops exactly those generated names; a name
//! given with `tracing::info!(name: "order.placed", …)` is kept.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::logs::{AnyValue, LogRecord, Logger, LoggerProvider, Severity};
use opentelemetry::{InstrumentationScope, Key, SpanId, TraceFlags, TraceId};
use opentelemetry_sdk::logs::{SdkLogRecord, SdkLogger, SdkLoggerProvider};

/// The logger provider handed to the bridge; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct NamedEventsOnly(pub(crate) SdkLoggerProvider);

/// Its logger.
#[derive(Debug)]
pub(crate) struct NamedEventsLogger(SdkLogger);

/// Its log record: the SDK's, with generated event names refused.
#[derive(Debug)]
pub(crate) struct NamedEventsRecord(SdkLogRecord);

/// Whether `name` is `tracing`'s generated `event {file}:{line}`, or the
/// `log event` of a record from the `log` crate.
fn is_generated(name: &str) -> bool {
    name == "log event"
        || name
            .strip_prefix("event ")
            .and_then(|location| location.rsplit_once(':'))
            .is_some_and(|(_, line)| !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()))
}

impl LoggerProvider for NamedEventsOnly {
    type Logger = NamedEventsLogger;

    fn logger_with_scope(&self, scope: InstrumentationScope) -> Self::Logger {
        NamedEventsLogger(self.0.logger_with_scope(scope))
    }
}

impl Logger for NamedEventsLogger {
    type LogRecord = NamedEventsRecord;

    fn create_log_record(&self) -> Self::LogRecord {
        NamedEventsRecord(self.0.create_log_record())
    }

    fn emit(&self, record: Self::LogRecord) {
        self.0.emit(record.0);
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.0.event_enabled(level, target, name)
    }
}

impl LogRecord for NamedEventsRecord {
    fn set_event_name(&mut self, name: &'static str) {
        if !is_generated(name) {
            self.0.set_event_name(name);
        }
    }

    fn set_target<T>(&mut self, target: T)
    where
        T: Into<Cow<'static, str>>,
    {
        self.0.set_target(target);
    }

    fn set_timestamp(&mut self, timestamp: SystemTime) {
        self.0.set_timestamp(timestamp);
    }

    fn set_observed_timestamp(&mut self, timestamp: SystemTime) {
        self.0.set_observed_timestamp(timestamp);
    }

    fn set_severity_text(&mut self, text: &'static str) {
        self.0.set_severity_text(text);
    }

    fn set_severity_number(&mut self, number: Severity) {
        self.0.set_severity_number(number);
    }

    fn set_body(&mut self, body: AnyValue) {
        self.0.set_body(body);
    }

    fn add_attributes<I, K, V>(&mut self, attributes: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Key>,
        V: Into<AnyValue>,
    {
        self.0.add_attributes(attributes);
    }

    fn add_attribute<K, V>(&mut self, key: K, value: V)
    where
        K: Into<Key>,
        V: Into<AnyValue>,
    {
        // A `log` record's metadata, as `tracing-log` passes it: its target
        // becomes the record's, the rest is no convention.
        let key = key.into();
        if crate::logging::is_log_metadata_field(key.as_str()) {
            if key.as_str() == "log.target" {
                if let AnyValue::String(target) = value.into() {
                    self.0.set_target(target.to_string());
                }
            }
            return;
        }
        self.0.add_attribute(key, value);
    }

    fn set_trace_context(
        &mut self,
        trace_id: TraceId,
        span_id: SpanId,
        trace_flags: Option<TraceFlags>,
    ) {
        self.0.set_trace_context(trace_id, span_id, trace_flags);
    }
}

#[cfg(test)]
mod tests {
    use super::is_generated;

    #[test]
    fn only_tracing_generated_names_are_dropped() {
        assert!(is_generated("event crates/tracewire/src/telemetry.rs:769"));
        assert!(is_generated("event src/main.rs:1"));
        assert!(!is_generated("order.placed"));
        assert!(!is_generated("event"));
        assert!(!is_generated("event order:placed"));
        assert!(!is_generated("event src/main.rs:"));
        assert!(is_generated("log event"));
    }
}
