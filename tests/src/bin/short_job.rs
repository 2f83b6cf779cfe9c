//! A batch job as the stack test runs it: it counts what it did and exits;
//! `Telemetry::shutdown` pushes the metrics to the Pushgateway named by
//! `TRACEWIRE_PUSHGATEWAY_URL` before the process ends.

fn main() {
    let telemetry = tracewire::builder()
        .default_service_name("nightly-report")
        .init();
    let meter = telemetry.meter("nightly-report");
    let rows = tracewire::metrics::counter(&meter, "report.rows", "{row}", "Rows the report wrote");
    rows.add(
        42,
        &[tracewire::otel::KeyValue::new("report.kind", "daily")],
    );
    telemetry.shutdown();
}
