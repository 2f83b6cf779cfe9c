//! With tracing set up but nowhere for spans to go (no trace exporter, no
//! local view), integrations build no span: they get no tracer, and an
//! operation runs in a context with new ids — the caller's trace id, a new
//! span id, the sampler's decision, the caller's tracestate — so the next
//! hop still sees a new parent. (Its own process: `init` is global.)

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;

use opentelemetry::trace::{
    SpanContext, SpanKind, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, KeyValue};
use tracewire::instrumentation::Operation;
use tracewire::{Config, LogFormat, TelemetryBuilder};

#[test]
fn without_a_span_consumer_operations_mint_ids_instead_of_building_spans() {
    let mut config = Config::default();
    config.traces_exporters = vec![];
    config.log_format = LogFormat::Off;
    let _telemetry = TelemetryBuilder::from_config(config).init();
    assert!(
        tracewire::sdk_tracer("test").is_none(),
        "no tracer: no span is built"
    );

    let caller = SpanContext::new(
        TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736u128),
        opentelemetry::trace::SpanId::from(0x00f067aa0ba902b7u64),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("vendor", "v1")]).unwrap(),
    );
    let parent = Context::new().with_remote_span_context(caller.clone());
    let op: Operation = Operation::start(
        None,
        "GET",
        SpanKind::Client,
        &parent,
        Vec::<KeyValue>::new(),
        |_| {},
    );
    assert!(!op.is_recording());
    let minted = op.context().span().span_context().clone();
    assert_eq!(minted.trace_id(), caller.trace_id(), "the caller's trace");
    assert_ne!(
        minted.span_id(),
        caller.span_id(),
        "a new parent for the next hop"
    );
    assert!(
        minted.is_sampled(),
        "ParentBased(AlwaysOn) follows the sampled caller"
    );
    assert_eq!(minted.trace_state().get("vendor"), Some("v1"));

    let mut headers = HashMap::new();
    tracewire::propagation::inject_into(op.context(), &mut headers);
    assert_eq!(
        headers["traceparent"],
        format!("00-{}-{}-01", caller.trace_id(), minted.span_id())
    );
    assert_eq!(headers["tracestate"], "vendor=v1");

    // A root gets a trace of its own, sampled by the root sampler.
    let root: Operation = Operation::start(
        None,
        "GET",
        SpanKind::Client,
        &Context::new(),
        Vec::<KeyValue>::new(),
        |_| {},
    );
    let root_sc = root.context().span().span_context().clone();
    assert!(root_sc.is_valid() && root_sc.is_sampled());
    assert_ne!(root_sc.trace_id(), caller.trace_id());

    // An unsampled caller stays unsampled downstream.
    let unsampled = Context::new().with_remote_span_context(SpanContext::new(
        caller.trace_id(),
        caller.span_id(),
        TraceFlags::default(),
        true,
        TraceState::default(),
    ));
    let op: Operation = Operation::start(
        None,
        "GET",
        SpanKind::Client,
        &unsampled,
        Vec::<KeyValue>::new(),
        |_| {},
    );
    assert!(!op.context().span().span_context().is_sampled());
}
