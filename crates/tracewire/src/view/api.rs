//! The trace browser's HTTP surface, framework-free: the page and its JSON
//! API under [`PREFIX`], answered by [`respond`](super::respond).
//!
//! | path | answer |
//! |---|---|
//! | `/_tracewire/` (`?status=ok\|error`, `?route=/orders/{id}`) | the list page |
//! | `/_tracewire/traces/{trace_id}` | one trace's waterfall |
//! | `/_tracewire/api/traces` (same filters, `?limit=N`) | `{"traces": [summary…]}`, newest first |
//! | `/_tracewire/api/traces/{trace_id}` | `{"trace_id", "spans": […], "logs": […]}` |
//! | `/_tracewire/api/exemplars` | `{"exemplars": [{"metric", "labels", "value", "trace_id", "span_id"}]}` |

use serde_json::{Map, Value, json};

use opentelemetry::trace::TraceId;

use super::record::{FinishedSpan, kind_name, nanos_between, unix_nanos};
use super::store::{StoredTrace, TraceStore};

/// Where the trace browser lives.
pub const PREFIX: &str = "/_tracewire/";

/// The page: HTML and a small script, no external assets.
const PAGE: &str = include_str!("page.html");

/// An HTTP answer: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `content-type` header value.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// Extra headers (`cache-control`, `content-security-policy`).
    pub headers: &'static [(&'static str, &'static str)],
}

const HTML_HEADERS: &[(&str, &str)] = &[
    ("cache-control", "no-store"),
    (
        "content-security-policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
    ),
    ("x-content-type-options", "nosniff"),
];
const JSON_HEADERS: &[(&str, &str)] = &[
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
];

fn json_response(status: u16, value: &Value) -> Response {
    Response {
        status,
        content_type: "application/json",
        body: serde_json::to_vec(value).unwrap_or_default(),
        headers: JSON_HEADERS,
    }
}

fn not_found(what: &str) -> Response {
    json_response(404, &json!({ "error": format!("{what} not found") }))
}

/// The answer for `path_and_query` (which starts with [`PREFIX`]).
pub(crate) fn answer(store: &TraceStore, path_and_query: &str) -> Response {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let rest = path.strip_prefix(PREFIX).unwrap_or("");
    let query = Query::parse(query);
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [""] | ["traces", _] => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: PAGE.as_bytes().to_vec(),
            headers: HTML_HEADERS,
        },
        ["api", "traces"] => json_response(200, &json!({ "traces": list(store, &query) })),
        ["api", "traces", id] => match TraceId::from_hex(id)
            .ok()
            .filter(|id| *id != TraceId::INVALID)
        {
            Some(trace_id) => match store.trace(trace_id) {
                Some(trace) => json_response(200, &trace_json(trace_id, &trace)),
                None => not_found("trace"),
            },
            None => json_response(
                400,
                &json!({ "error": "a trace id is 32 lowercase hex digits" }),
            ),
        },
        ["api", "exemplars"] => json_response(200, &json!({ "exemplars": exemplars() })),
        _ => not_found("page"),
    }
}

/// The list filters.
#[derive(Debug, Default)]
struct Query {
    status: Option<String>,
    route: Option<String>,
    limit: Option<usize>,
}

impl Query {
    fn parse(query: &str) -> Self {
        let mut parsed = Self::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = crate::env::percent_decode(&value.replace('+', " ")).unwrap_or_default();
            match key {
                "status" if !value.is_empty() => parsed.status = Some(value),
                "route" if !value.is_empty() => parsed.route = Some(value),
                "limit" => parsed.limit = value.parse().ok(),
                _ => {}
            }
        }
        parsed
    }
}

/// The span a trace is listed by: the root, else the earliest local root.
fn root_of(spans: &[FinishedSpan]) -> Option<&FinishedSpan> {
    spans
        .iter()
        .filter(|s| !s.has_parent())
        .min_by_key(|s| s.data.start_time)
        .or_else(|| {
            spans
                .iter()
                .filter(|s| s.is_local_root())
                .min_by_key(|s| s.data.start_time)
        })
        .or_else(|| spans.iter().min_by_key(|s| s.data.start_time))
}

fn route_of(span: &FinishedSpan) -> Option<String> {
    span.attribute("http.route")
        .map(|v| v.as_str().into_owned())
}

fn list(store: &TraceStore, query: &Query) -> Vec<Value> {
    let limit = query.limit.unwrap_or(200);
    let mut out = store.recent(|trace_id, trace| {
        let root = root_of(&trace.spans)?;
        let error = trace.spans.iter().any(FinishedSpan::is_error);
        let status = if error { "error" } else { "ok" };
        if query.status.as_deref().is_some_and(|s| s != status) {
            return None;
        }
        let routes: Vec<String> = trace.spans.iter().filter_map(route_of).collect();
        if let Some(route) = &query.route {
            if !routes.iter().any(|r| r == route) {
                return None;
            }
        }
        let start = trace.spans.iter().map(|s| s.data.start_time).min()?;
        let end = trace.spans.iter().map(|s| s.data.end_time).max()?;
        let mut services: Vec<&str> = trace.spans.iter().map(|s| &*s.service).collect();
        services.sort_unstable();
        services.dedup();
        Some(json!({
            "trace_id": trace_id.to_string(),
            "root_name": root.data.name,
            "root_service": &*root.service,
            "route": route_of(root).or_else(|| routes.first().cloned()),
            "services": services,
            "start_unix_nano": unix_nanos(start),
            "duration_ms": nanos_between(start, end) as f64 / 1e6,
            "status": status,
            "span_count": trace.spans.len(),
            "error_count": trace.spans.iter().filter(|s| s.is_error()).count(),
        }))
    });
    out.truncate(limit);
    out
}

fn attributes_json(list: &[opentelemetry::KeyValue]) -> Value {
    let mut map = Map::new();
    for kv in list {
        map.insert(kv.key.as_str().to_owned(), value_json(&kv.value));
    }
    Value::Object(map)
}

fn value_json(value: &opentelemetry::Value) -> Value {
    use opentelemetry::{Array, Value as V};
    match value {
        V::Bool(b) => json!(b),
        V::I64(i) => json!(i),
        V::F64(f) => json!(f),
        V::String(s) => json!(s.as_str()),
        V::Array(Array::Bool(a)) => json!(a),
        V::Array(Array::I64(a)) => json!(a),
        V::Array(Array::F64(a)) => json!(a),
        V::Array(Array::String(a)) => json!(a.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
        other => json!(other.to_string()),
    }
}

fn trace_json(trace_id: TraceId, trace: &StoredTrace) -> Value {
    let mut spans: Vec<&FinishedSpan> = trace.spans.iter().collect();
    spans.sort_by_key(|s| s.data.start_time);
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let d = &s.data;
            let (status, message) = match &d.status {
                opentelemetry::trace::Status::Error { description } => {
                    ("error", description.to_string())
                }
                _ => ("ok", String::new()),
            };
            json!({
                "span_id": d.span_context.span_id().to_string(),
                "parent_span_id": s.has_parent().then(|| d.parent_span_id.to_string()),
                "parent_is_remote": d.parent_span_is_remote,
                "name": d.name,
                "kind": kind_name(&d.span_kind),
                "service": &*s.service,
                "scope": d.instrumentation_scope.name(),
                "start_unix_nano": unix_nanos(d.start_time),
                "end_unix_nano": unix_nanos(d.end_time),
                "duration_ms": s.duration_nanos() as f64 / 1e6,
                "status": status,
                "status_message": message,
                "attributes": attributes_json(&d.attributes),
                "events": d.events.events.iter().map(|e| json!({
                    "name": e.name,
                    "time_unix_nano": unix_nanos(e.timestamp),
                    "attributes": attributes_json(&e.attributes),
                })).collect::<Vec<_>>(),
                "links": d.links.links.iter().map(|l| json!({
                    "trace_id": l.span_context.trace_id().to_string(),
                    "span_id": l.span_context.span_id().to_string(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let logs: Vec<Value> = trace
        .logs
        .iter()
        .map(|l| {
            json!({
                "time_unix_nano": unix_nanos(l.time),
                "level": l.level,
                "target": l.target,
                "message": l.message,
                "span_id": l.span_id.to_string(),
                "fields": l.fields.iter()
                    .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                    .collect::<Map<String, Value>>(),
            })
        })
        .collect();
    json!({
        "trace_id": trace_id.to_string(),
        "spans": spans,
        "logs": logs,
        "dropped": trace.dropped,
    })
}

/// The exemplars of the current Prometheus exposition, each linking a
/// metric sample to the trace it was recorded in.
fn exemplars() -> Vec<Value> {
    let text = crate::prometheus::render_format(crate::prometheus::Format::OpenMetrics);
    text.lines().filter_map(exemplar).collect()
}

/// `name{labels} value # {trace_id="…",span_id="…"} value [timestamp]`.
fn exemplar(line: &str) -> Option<Value> {
    let (sample, exemplar) = line.split_once(" # ")?;
    let (labels_part, rest) = exemplar.strip_prefix('{')?.split_once('}')?;
    let label = |name: &str| {
        labels_part.split(',').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"').to_owned())
        })
    };
    let trace_id = label("trace_id")?;
    let (metric, sample_labels) = match sample.split_once('{') {
        Some((name, labels)) => (name, labels.rsplit_once('}').map(|(l, _)| l).unwrap_or("")),
        None => (sample.split(' ').next().unwrap_or(""), ""),
    };
    Some(json!({
        "metric": metric,
        "labels": sample_labels,
        "value": rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()),
        "trace_id": trace_id,
        "span_id": label("span_id"),
    }))
}
