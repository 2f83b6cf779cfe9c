//! Records of the `log` crate through tracewire's pipeline: JSON lines with
//! the trace ids, OTLP log records, `RUST_LOG` filtering, and nothing from
//! the exporter stack's own libraries in OTLP.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use tracewire::testing::TestTelemetry;

/// A dependency that logs through `log`.
mod pool_client {
    pub fn checkout() {
        log::warn!("pool exhausted, waiting for a connection");
        log::debug!("debug detail nobody asked for");
    }
}

#[test]
fn log_records_become_json_lines_and_otlp_records_in_the_request_trace() {
    tracewire::logging::capture_log_records(tracing::level_filters::LevelFilter::TRACE).unwrap();
    let t = TestTelemetry::start_with(
        tracewire::TelemetryBuilder::from_config(tracewire::Config::default())
            .sampler(tracewire::SamplerConfig::AlwaysOn)
            .log_filter("info,log_bridge::pool_client=warn"),
    );
    let tracer = t.tracer("test");
    let request = tracer.start("GET /checkout");
    let cx = opentelemetry::Context::current_with_span(request);
    let trace_id = cx.span().span_context().trace_id().to_string();
    {
        let _attached = cx.clone().attach();
        pool_client::checkout();
        log::info!(target: "reqwest::connect", "connecting to the collector");
    }

    let lines = t.log_lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "pool exhausted, waiting for a connection")
        .unwrap_or_else(|| panic!("no JSON line: {lines:?}"));
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["target"], "log_bridge::pool_client");
    assert_eq!(line["trace_id"], trace_id.as_str());
    assert!(line.get("fields").is_none(), "no log.* fields: {line}");
    assert!(
        !lines
            .iter()
            .any(|l| l["message"] == "debug detail nobody asked for"),
        "RUST_LOG filters log records by their target"
    );

    let records = t.log_records();
    let record = records
        .iter()
        .find(|r| format!("{:?}", r.body()).contains("pool exhausted"))
        .unwrap_or_else(|| panic!("no OTLP record: {records:?}"));
    assert_eq!(
        record.trace_context().map(|c| c.trace_id.to_string()),
        Some(trace_id)
    );
    assert_eq!(record.event_name(), None);
    assert_eq!(
        record.target().map(|t| t.to_string()).as_deref(),
        Some("log_bridge::pool_client")
    );
    assert_eq!(record.attributes_iter().count(), 0, "no log.* attributes");
    assert!(
        !records
            .iter()
            .any(|r| format!("{:?}", r.body()).contains("connecting to the collector")),
        "the exporter stack's own logs never become OTLP records"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "connecting to the collector"),
        "but they are still logged"
    );
}
