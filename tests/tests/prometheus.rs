//! The `/metrics` exposition against the real Prometheus tools: `promtool
//! check metrics` finds nothing to complain about, and a real Prometheus
//! scrape of the quickstart stores the expected series and exemplars.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use tracewire::prometheus::Format;
use tracewire::testing::TestTelemetry;
use tracewire_e2e::{Example, free_port, http_get, require_tool, wait_for};

fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool exits");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The semantic conventions name two process metrics `….count`, which
    // translate to a `_count` suffix promtool's lint reserves for histograms
    // and summaries: the conventions' names win (docs/configuration.md).
    // Exactly those two lines are tolerated.
    const TOLERATED: [&str; 2] = [
        "process_thread_count non-histogram and non-summary metrics should not have \"_count\" suffix",
        "process_unix_file_descriptor_count non-histogram and non-summary metrics should not have \"_count\" suffix",
    ];
    let rest: Vec<&str> = said
        .lines()
        .filter(|line| !TOLERATED.contains(&line.trim()))
        .collect();
    let only_tolerated = rest.iter().all(|l| l.trim().is_empty());
    (out.status.success() || only_tolerated, rest.join("\n"))
}

#[test]
fn every_instrument_kind_passes_promtool_without_complaint() {
    if require_tool(
        "promtool",
        "every_instrument_kind_passes_promtool_without_complaint",
    )
    .is_none()
    {
        return;
    }
    let t = TestTelemetry::start();
    let meter = t.telemetry.meter("promtool-check");
    let duration = tracewire::metrics::duration_histogram(
        &meter,
        "http.server.request.duration",
        "Duration of HTTP server requests.",
        tracewire::metrics::DURATION_BUCKETS,
    );
    let requests =
        tracewire::metrics::counter(&meter, "app.requests", "{request}", "Requests handled.");
    let span = t.tracer("promtool").start("request");
    {
        let _cx = opentelemetry::Context::current_with_span(span).attach();
        duration.record(
            0.042,
            &[
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.route", "/users/{id}"),
            ],
        );
        requests.add(1, &[KeyValue::new("outcome", "ok")]);
    }
    meter
        .i64_up_down_counter("http.server.active_requests")
        .with_unit("{request}")
        .with_description("Active requests.")
        .build()
        .add(1, &[]);
    meter
        .f64_gauge("queue.depth")
        .with_unit("{message}")
        .with_description("Messages waiting.")
        .build()
        .record(3.0, &[KeyValue::new("queue", "jobs")]);
    meter
        .f64_counter("process.cpu.time")
        .with_unit("s")
        .with_description("CPU time.")
        .build()
        .add(1.5, &[]);
    let text = t
        .telemetry
        .exposition()
        .expect("prometheus exporter on")
        .render(Format::Classic);
    let (ok, said) = promtool_check(&text);
    assert!(
        ok && said.trim().is_empty(),
        "promtool said:\n{said}\nfor:\n{text}"
    );
    for series in [
        "http_server_request_duration_seconds_bucket",
        "app_requests_total",
        "http_server_active_requests",
        "queue_depth",
        "process_cpu_time_seconds_total",
        "target_info",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
}

#[test]
fn quickstart_metrics_pass_promtool() {
    if require_tool("promtool", "quickstart_metrics_pass_promtool").is_none() {
        return;
    }
    let app = Example::start("quickstart", &[]);
    assert_eq!(http_get(app.addr, "/hello/ada", &[]).status, 200);
    let response = http_get(app.addr, "/metrics", &[]);
    assert_eq!(response.status, 200);
    assert!(
        response
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/plain; version=0.0.4"))
    );
    let (ok, said) = promtool_check(&response.body);
    assert!(
        ok && said.trim().is_empty(),
        "promtool said:\n{said}\nfor:\n{}",
        response.body
    );
    let om = http_get(
        app.addr,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert!(
        om.headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/openmetrics-text"))
    );
    assert!(om.body.ends_with("# EOF\n"));
}

#[test]
fn a_real_prometheus_scrapes_series_and_exemplars() {
    if require_tool(
        "prometheus",
        "a_real_prometheus_scrapes_series_and_exemplars",
    )
    .is_none()
    {
        return;
    }
    let app = Example::start("quickstart", &[]);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    for _ in 0..3 {
        let r = http_get(
            app.addr,
            "/hello/grace",
            &[("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))],
        );
        assert_eq!(r.status, 200);
    }
    let dir = std::env::temp_dir().join(format!("tracewire-prom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: quickstart\n    static_configs:\n      - targets: ['{}']\n",
            app.addr
        ),
    )
    .expect("config");
    let port = free_port();
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--enable-feature=exemplar-storage")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let prom: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let value = wait_for(Duration::from_secs(60), || {
        let r = std::panic::catch_unwind(|| {
            http_get(prom, "/api/v1/query?query=quickstart_greetings_total", &[])
        })
        .ok()?;
        let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
        let result = v["data"]["result"].as_array()?.first()?.clone();
        Some(result)
    });
    let exemplars = wait_for(Duration::from_secs(30), || {
        let r = std::panic::catch_unwind(|| {
            http_get(
                prom,
                "/api/v1/query_exemplars?query=quickstart_greetings_total&start=0&end=4102444800",
                &[],
            )
        })
        .ok()?;
        let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
        let first = v["data"].as_array()?.first()?["exemplars"]
            .as_array()?
            .first()?
            .clone();
        Some(first)
    });
    let up = http_get(prom, "/api/v1/query?query=up", &[]).body;
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let result = value
        .unwrap_or_else(|| panic!("Prometheus never stored quickstart_greetings_total; up = {up}"));
    assert_eq!(result["metric"]["job"], "quickstart");
    assert_eq!(result["metric"]["greeting_kind"], "hello");
    assert_eq!(result["value"][1], "3");
    let exemplar = exemplars.expect("Prometheus stored no exemplar");
    assert_eq!(exemplar["labels"]["trace_id"], trace_id, "{exemplar}");
}
