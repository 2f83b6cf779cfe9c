//! The tree printer's text, its timing rules, and the store's bounds.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::console::Printer;
use super::record::FinishedSpan;
use super::store::{LogLine, TraceStore};
use super::tree::Style;

const TRACE: u128 = 0x4bf92f3577b34da6a3ce929d0e0e4736;

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_micros(ms * 1000)
}

#[allow(clippy::too_many_arguments)]
fn span(
    trace: u128,
    id: u64,
    parent: u64,
    remote_parent: bool,
    name: &'static str,
    kind: SpanKind,
    service: &str,
    start_ms: u64,
    end_ms: u64,
    error: bool,
    attributes: Vec<KeyValue>,
) -> FinishedSpan {
    FinishedSpan {
        data: SpanData {
            span_context: SpanContext::new(
                TraceId::from(trace),
                SpanId::from(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: if parent == 0 {
                SpanId::INVALID
            } else {
                SpanId::from(parent)
            },
            parent_span_is_remote: remote_parent,
            span_kind: kind,
            name: Cow::Borrowed(name),
            start_time: at(start_ms),
            end_time: at(end_ms),
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: if error {
                Status::error("boom")
            } else {
                Status::Unset
            },
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        },
        service: Arc::from(service),
    }
}

/// An order through the shop: gateway → orders → SQL and a queue send.
fn order_trace() -> Vec<FinishedSpan> {
    vec![
        span(
            TRACE,
            4,
            3,
            false,
            "INSERT orders",
            SpanKind::Client,
            "orders",
            12,
            16,
            false,
            vec![KeyValue::new("db.query.summary", "INSERT orders")],
        ),
        span(
            TRACE,
            5,
            3,
            false,
            "send orders",
            SpanKind::Producer,
            "orders",
            17,
            18,
            false,
            vec![KeyValue::new("messaging.destination.name", "orders")],
        ),
        span(
            TRACE,
            3,
            2,
            true,
            "POST /orders",
            SpanKind::Server,
            "orders",
            10,
            20,
            true,
            vec![
                KeyValue::new("http.route", "/orders"),
                KeyValue::new("http.response.status_code", 500),
                KeyValue::new("error.type", "500"),
            ],
        ),
        span(
            TRACE,
            2,
            1,
            false,
            "POST",
            SpanKind::Client,
            "gateway",
            5,
            22,
            true,
            vec![
                KeyValue::new("http.response.status_code", 500),
                KeyValue::new("error.type", "500"),
            ],
        ),
        span(
            TRACE,
            1,
            0,
            false,
            "POST /checkout",
            SpanKind::Server,
            "gateway",
            0,
            24,
            true,
            vec![
                KeyValue::new("http.route", "/checkout"),
                KeyValue::new("http.response.status_code", 502),
                KeyValue::new("error.type", "502"),
            ],
        ),
    ]
}

const ORDER_TREE: &str = "\
trace 4bf92f3577b34da6a3ce929d0e0e4736 · gateway, orders · 5 spans · 24.00 ms · 3 errors
POST /checkout          SERVER    gateway   24.00 ms  ████████████████████████  error  http.route=/checkout  http.response.status_code=502  error.type=502
└─ POST                 CLIENT    gateway   17.00 ms       █████████████████    error  http.response.status_code=500  error.type=500
   └─ POST /orders      SERVER    orders    10.00 ms            ██████████      error  http.route=/orders  http.response.status_code=500  error.type=500
      ├─ INSERT orders  CLIENT    orders     4.00 ms              ████          ok     db.query.summary=INSERT orders
      └─ send orders    PRODUCER  orders     1.00 ms                   █        ok     messaging.destination.name=orders

";

#[test]
fn a_finished_trace_prints_as_one_tree_when_its_root_ends() {
    let mut printer = Printer::new(Style { color: false }, Duration::from_secs(30));
    let now = Instant::now();
    let mut out = String::new();
    for s in order_trace() {
        out.push_str(&printer.add(s, now));
    }
    assert_eq!(out, "", "nothing is printed from inside add");
    assert_eq!(
        printer.due(now + Duration::from_millis(100)),
        "",
        "a moment for queued work"
    );
    assert_eq!(printer.due(now + Duration::from_millis(150)), ORDER_TREE);
    assert_eq!(
        printer.due(now + Duration::from_secs(60)),
        "",
        "printed once"
    );
}

#[test]
fn a_late_span_prints_under_a_continuation_line_on_the_same_axis() {
    let mut printer = Printer::new(Style { color: false }, Duration::from_secs(30));
    let now = Instant::now();
    for s in order_trace() {
        printer.add(s, now);
    }
    assert!(!printer.due(now + Duration::from_millis(150)).is_empty());
    let late = span(
        TRACE,
        6,
        5,
        false,
        "process orders",
        SpanKind::Consumer,
        "worker",
        30,
        48,
        false,
        vec![KeyValue::new("messaging.destination.name", "orders")],
    );
    printer.add(late, now + Duration::from_millis(10));
    assert_eq!(
        printer.due(now + Duration::from_millis(100)),
        "",
        "late spans are gathered a moment"
    );
    let text = printer.due(now + Duration::from_millis(400));
    assert_eq!(
        text,
        "┄ trace 4bf92f3577b34da6a3ce929d0e0e4736, 1 late span:\n\
         process orders  CONSUMER  worker   18.00 ms                 █████████  ok     messaging.destination.name=orders\n\n"
    );
}

#[test]
fn a_trace_rooted_in_another_process_waits_for_quiet_then_prints() {
    let mut printer = Printer::new(Style { color: false }, Duration::from_secs(30));
    let now = Instant::now();
    for s in order_trace().into_iter().take(3) {
        printer.add(s, now);
    }
    assert_eq!(printer.due(now + Duration::from_millis(100)), "");
    let text = printer.due(now + Duration::from_millis(350));
    assert!(
        text.starts_with("trace 4bf92f3577b34da6a3ce929d0e0e4736 · orders · 3 spans"),
        "{text}"
    );
    assert!(text.contains("\nPOST /orders "), "{text}");
}

#[test]
fn an_unfinished_trace_is_flushed_after_the_timeout() {
    let mut printer = Printer::new(Style { color: false }, Duration::from_secs(30));
    let now = Instant::now();
    // Only the SQL span: its parent never ends in this process.
    printer.add(order_trace().remove(0), now);
    assert_eq!(printer.due(now + Duration::from_secs(29)), "");
    let text = printer.due(now + Duration::from_secs(30));
    assert!(
        text.starts_with(
            "trace 4bf92f3577b34da6a3ce929d0e0e4736 · orders · 1 span · 4.00 ms · unfinished\n"
        ),
        "{text}"
    );
}

#[test]
fn flush_prints_everything_pending() {
    let mut printer = Printer::new(Style { color: false }, Duration::from_secs(30));
    let now = Instant::now();
    printer.add(order_trace().remove(0), now);
    assert!(printer.flush().contains("INSERT orders"));
    assert_eq!(printer.flush(), "");
}

#[test]
fn colour_only_when_asked() {
    let mut printer = Printer::new(Style { color: true }, Duration::from_secs(30));
    let now = Instant::now();
    for s in order_trace() {
        printer.add(s, now);
    }
    let text = printer.due(now + Duration::from_secs(1));
    assert!(text.contains("\x1b[31merror\x1b[0m"), "{text}");
}

fn trace_of(n: u128, spans: usize) -> Vec<FinishedSpan> {
    (0..spans as u64)
        .map(|i| {
            span(
                n,
                i + 1,
                if i == 0 { 0 } else { 1 },
                false,
                "GET /x",
                SpanKind::Server,
                "svc",
                0,
                1,
                false,
                vec![],
            )
        })
        .collect()
}

#[test]
fn the_store_keeps_at_most_its_count_evicting_the_oldest() {
    let store = TraceStore::new(3, usize::MAX);
    for n in 1..=5u128 {
        for s in trace_of(n, 2) {
            store.add_span(s);
        }
    }
    let kept: Vec<TraceId> = store.recent(|id, _| Some(id));
    assert_eq!(
        kept,
        vec![
            TraceId::from(5u128),
            TraceId::from(4u128),
            TraceId::from(3u128)
        ]
    );
    assert_eq!(store.usage().0, 3);
    assert_eq!(store.usage().2, 2, "two evicted");
    assert!(store.trace(TraceId::from(1u128)).is_none());
    assert_eq!(
        store.trace(TraceId::from(5u128)).map(|t| t.spans.len()),
        Some(2)
    );
}

#[test]
fn the_store_keeps_at_most_its_bytes() {
    let one = trace_of(1, 1).remove(0).approximate_bytes();
    // Room for about four spans.
    let store = TraceStore::new(1000, one * 4 + one / 2);
    for n in 1..=10u128 {
        store.add_span(trace_of(n, 1).remove(0));
    }
    let (traces, bytes, evicted) = store.usage();
    assert_eq!(traces, 4);
    assert!(bytes <= one * 4 + one / 2);
    assert_eq!(evicted, 6);
    let kept: Vec<TraceId> = store.recent(|id, _| Some(id));
    assert_eq!(
        kept.first(),
        Some(&TraceId::from(10u128)),
        "the newest stays"
    );
    // One trace larger than the whole store keeps its beginning.
    for s in trace_of(99, 10) {
        store.add_span(s);
    }
    let big = store.trace(TraceId::from(99u128)).expect("kept");
    assert_eq!(big.spans.len(), 4);
    assert_eq!(big.dropped, 6);
    assert!(store.usage().1 <= one * 4 + one / 2);
}

#[test]
fn log_lines_join_their_trace_and_are_bounded_per_trace() {
    let store = TraceStore::new(10, usize::MAX);
    for i in 0..250 {
        store.add_log(
            TraceId::from(7u128),
            LogLine {
                time: at(i),
                level: "INFO",
                target: "t".into(),
                message: format!("line {i}"),
                span_id: SpanId::from(1u64),
                fields: vec![],
            },
        );
    }
    let trace = store.trace(TraceId::from(7u128)).expect("kept");
    assert_eq!(trace.logs.len(), 200);
    assert_eq!(trace.dropped, 50);
}

#[test]
fn the_api_lists_filters_and_shows_one_trace() {
    let store = TraceStore::new(10, usize::MAX);
    for s in order_trace() {
        store.add_span(s);
    }
    for s in trace_of(2, 1) {
        store.add_span(s);
    }
    let json = |path: &str| -> serde_json::Value {
        let response = super::api::answer(&store, path);
        assert_eq!(response.status, 200, "{path}");
        serde_json::from_slice(&response.body).expect("json")
    };
    let all = json("/_tracewire/api/traces");
    assert_eq!(all["traces"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        all["traces"][0]["trace_id"],
        "00000000000000000000000000000002"
    );
    let errors = json("/_tracewire/api/traces?status=error");
    assert_eq!(errors["traces"].as_array().map(Vec::len), Some(1));
    let order = &errors["traces"][0];
    assert_eq!(order["root_name"], "POST /checkout");
    assert_eq!(order["services"], serde_json::json!(["gateway", "orders"]));
    assert_eq!(order["span_count"], 5);
    assert_eq!(order["status"], "error");
    assert_eq!(order["duration_ms"], 24.0);
    let routed = json("/_tracewire/api/traces?route=%2Forders");
    assert_eq!(routed["traces"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        json("/_tracewire/api/traces?route=/nope")["traces"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let one = json("/_tracewire/api/traces/4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(one["spans"][0]["name"], "POST /checkout");
    assert_eq!(one["spans"][0]["parent_span_id"], serde_json::Value::Null);
    assert_eq!(one["spans"][1]["parent_span_id"], "0000000000000001");
    assert_eq!(one["spans"][2]["attributes"]["http.route"], "/orders");
    assert_eq!(one["spans"][2]["service"], "orders");
    assert_eq!(one["spans"][2]["status_message"], "boom");
    assert_eq!(
        super::api::answer(&store, "/_tracewire/api/traces/zz").status,
        400
    );
    assert_eq!(
        super::api::answer(
            &store,
            "/_tracewire/api/traces/0000000000000000000000000000abcd"
        )
        .status,
        404
    );
    let page = super::api::answer(
        &store,
        "/_tracewire/traces/4bf92f3577b34da6a3ce929d0e0e4736",
    );
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert!(String::from_utf8_lossy(&page.body).contains("<script>"));
}

#[test]
fn a_parent_cycle_neither_loops_nor_overflows() {
    let spans = [
        span(
            TRACE,
            1,
            2,
            false,
            "a",
            SpanKind::Internal,
            "svc",
            0,
            2,
            false,
            vec![],
        ),
        span(
            TRACE,
            2,
            1,
            false,
            "b",
            SpanKind::Internal,
            "svc",
            0,
            1,
            false,
            vec![],
        ),
        span(
            TRACE,
            3,
            3,
            false,
            "self",
            SpanKind::Internal,
            "svc",
            0,
            1,
            false,
            vec![],
        ),
    ];
    let refs: Vec<&FinishedSpan> = spans.iter().collect();
    let axis = super::tree::Axis::of(&refs);
    let lines = super::tree::lines(&refs, &axis, Style { color: false }, "");
    assert_eq!(lines.len(), 3, "{lines:#?}");
}
