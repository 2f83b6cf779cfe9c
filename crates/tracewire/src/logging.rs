//! Log lines on stdout that carry the trace they were written in.
//!
//! [`JsonFormat`] writes one JSON object per event with `timestamp`, `level`,
//! `target`, the message and fields, the current span's name, and — whenever
//! an OpenTelemetry span is current — top-level `trace_id`, `span_id` (lowercase
//! hex) and `trace_flags` (two hex digits), the names the OpenTelemetry log
//! data model gives JSON logs. They are read from the current OpenTelemetry
//! context, so they are right both for `tracing` spans and for spans our
//! integration crates start directly with the SDK.
//!
//! Records of the `log` crate (which many libraries use) come in through
//! [`capture_log_records`] as `tracing` events: the same filter, the same
//! lines, the same OTLP log records, with their own target (not `log`) and
//! without the `log.*` bookkeeping fields `tracing-log` adds.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON event format; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonFormat {
    _private: (),
}

impl JsonFormat {
    /// Creates the format.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Collects an event's fields into a JSON map.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), Value::from(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

/// The fields `tracing-log` adds to a `log` record's event: its metadata,
/// already shown as the line's target.
pub(crate) fn is_log_metadata_field(name: &str) -> bool {
    matches!(
        name,
        "log.target" | "log.module_path" | "log.file" | "log.line"
    )
}

/// Routes records of the `log` crate into `tracing`, up to `max_level`
/// (`RUST_LOG` still filters them like any event). `init` calls it; it fails
/// when another `log` logger was installed first.
pub fn capture_log_records(max_level: tracing::level_filters::LevelFilter) -> Result<(), String> {
    use tracing_log::AsLog as _;
    tracing_log::LogTracer::builder()
        .with_max_level(max_level.as_log())
        .init()
        .map_err(|e| e.to_string())
}

/// `trace_id`, `span_id`, `trace_flags` of the current OpenTelemetry span.
pub(crate) fn current_trace_fields() -> Option<(String, String, String)> {
    opentelemetry::Context::map_current(|cx| {
        if !cx.has_active_span() {
            return None;
        }
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| {
            (
                sc.trace_id().to_string(),
                sc.span_id().to_string(),
                format!("{:02x}", sc.trace_flags().to_u8()),
            )
        })
    })
}

/// The line's timestamp (RFC 3339, UTC) and the event's fields; for a `log`
/// record (`from_log`), without `tracing-log`'s bookkeeping fields — its own
/// target and level come from the normalized metadata instead.
fn timestamp_and_fields(
    event: &Event<'_>,
    from_log: bool,
) -> Result<(String, Map<String, Value>), fmt::Error> {
    let mut timestamp = String::new();
    SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
    let mut fields = Map::new();
    event.record(&mut JsonVisitor(&mut fields));
    if from_log {
        fields.retain(|name, _| !is_log_metadata_field(name));
    }
    Ok((timestamp, fields))
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let normalized = tracing_log::NormalizeEvent::normalized_metadata(event);
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let (timestamp, mut fields) = timestamp_and_fields(event, normalized.is_some())?;

        let mut line = Map::new();
        line.insert("timestamp".into(), Value::from(timestamp));
        line.insert("level".into(), Value::from(meta.level().as_str()));
        line.insert("target".into(), Value::from(meta.target()));
        if let Some(message) = fields.remove("message") {
            line.insert("message".into(), message);
        }
        if !fields.is_empty() {
            line.insert("fields".into(), Value::Object(fields));
        }
        if let Some(span) = ctx.lookup_current() {
            line.insert("span".into(), Value::from(span.name()));
        }
        if let Some((trace_id, span_id, flags)) = current_trace_fields() {
            line.insert("trace_id".into(), Value::from(trace_id));
            line.insert("span_id".into(), Value::from(span_id));
            line.insert("trace_flags".into(), Value::from(flags));
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// The readable line format (`TRACEWIRE_LOG_FORMAT=text`, the default on a
/// terminal): `11:02:03.123  INFO target: message key=value  trace=4bf92f35
/// span=00f067aa` — UTC time of day, level, target, message, fields, and the
/// first 8 hex digits of the trace and span ids when a span is current (the
/// trace browser and the terminal tree show the same ids in full).
#[derive(Debug, Clone, Copy, Default)]
pub struct TextFormat {
    color: bool,
}

impl TextFormat {
    /// The format, with ANSI colours when `color`.
    pub fn new(color: bool) -> Self {
        Self { color }
    }
}

impl<S, N> FormatEvent<S, N> for TextFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let normalized = tracing_log::NormalizeEvent::normalized_metadata(event);
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let (timestamp, mut fields) = timestamp_and_fields(event, normalized.is_some())?;
        // RFC 3339 `2026-12-01T11:02:03.123456Z`: the time of day, to the ms.
        let time = timestamp.get(11..23).unwrap_or(&timestamp);
        let message = match fields.remove("message") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let level = meta.level();
        let (paint, reset) = match (self.color, *level) {
            (false, _) => ("", ""),
            (true, tracing::Level::ERROR) => ("\x1b[31m", "\x1b[0m"),
            (true, tracing::Level::WARN) => ("\x1b[33m", "\x1b[0m"),
            (true, tracing::Level::INFO) => ("\x1b[32m", "\x1b[0m"),
            (true, _) => ("\x1b[2m", "\x1b[0m"),
        };
        let dim = |text: &str| {
            if self.color {
                format!("\x1b[2m{text}\x1b[0m")
            } else {
                text.to_owned()
            }
        };
        write!(
            writer,
            "{}  {paint}{:>5}{reset} {}: {message}",
            dim(time),
            level.as_str(),
            dim(meta.target())
        )?;
        for (name, value) in &fields {
            match value {
                Value::String(s) => write!(writer, " {name}={s}")?,
                other => write!(writer, " {name}={other}")?,
            }
        }
        if let Some((trace_id, span_id, _)) = current_trace_fields() {
            let short = |id: &str| id.get(..8).unwrap_or(id).to_owned();
            write!(
                writer,
                "  {}",
                dim(&format!(
                    "trace={} span={}",
                    short(&trace_id),
                    short(&span_id)
                ))
            )?;
        }
        writeln!(writer)
    }
}
