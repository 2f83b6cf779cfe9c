//! The quickstart as a user runs it: JSON logs with trace ids on stdout, OTLP
//! export when an endpoint is set, a graceful SIGTERM that flushes.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use tracewire_e2e::receiver::{hex, http_receiver};
use tracewire_e2e::{Example, http_get};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[test]
fn quickstart_logs_exports_and_flushes_on_sigterm() {
    let (collector, received) = http_receiver(200);
    let endpoint = format!("http://{collector}");
    let app = Example::start(
        "quickstart",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "quickstart-e2e"),
            ("RUST_LOG", "info"),
        ],
    );
    let response = http_get(
        app.addr,
        "/hello/ada",
        &[("traceparent", &format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))],
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "Hello, ada!\n");

    let status = app_terminate_and_collect(app, |lines| {
        let hello = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["message"] == "saying hello")
            .expect("a JSON log line for the request");
        assert_eq!(hello["trace_id"], TRACE_ID, "{hello}");
        assert_eq!(hello["fields"]["name"], "ada");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("telemetry configured") && l.contains("otlp"))
        );
    });
    assert!(status.success(), "exit status {status:?}");

    // Everything was flushed before exit: no sleep, no polling.
    let names = received.span_names();
    assert!(
        names.contains(&"GET /hello/{name}".to_owned()) && names.contains(&"greet".to_owned()),
        "{names:?}"
    );
    let spans = received.spans();
    for span in &spans {
        assert_eq!(
            hex(&span.trace_id),
            TRACE_ID,
            "{} continues the caller's trace",
            span.name
        );
    }
    let request = spans
        .iter()
        .find(|s| s.name == "GET /hello/{name}")
        .unwrap();
    let greet = spans.iter().find(|s| s.name == "greet").unwrap();
    assert_eq!(
        greet.parent_span_id, request.span_id,
        "the instrumented function is a child of the request span"
    );
    assert!(received.log_bodies().contains(&"saying hello".to_owned()));
    assert!(
        received
            .metric_names()
            .contains(&"quickstart.greetings".to_owned())
    );
    assert!(
        received
            .service_names()
            .iter()
            .all(|n| n == "quickstart-e2e")
    );
}

fn app_terminate_and_collect(
    app: Example,
    check: impl FnOnce(&[String]),
) -> std::process::ExitStatus {
    // The log line is written before the response; its reader thread may lag.
    let lines = tracewire_e2e::wait_for(std::time::Duration::from_secs(10), || {
        let lines = app.stdout_lines();
        lines
            .iter()
            .any(|l| l.contains("saying hello"))
            .then_some(lines)
    })
    .unwrap_or_else(|| app.stdout_lines());
    check(&lines);
    app.terminate()
}

/// The trace browser, on: mounted on the router by `instrument_all`, and
/// served by the standalone admin listener beside `/metrics`.
#[test]
fn the_trace_browser_is_served_on_the_router_and_the_admin_listener() {
    let admin_port = tracewire_e2e::free_port();
    let admin_port_text = admin_port.to_string();
    let app = Example::start(
        "quickstart",
        &[
            ("TRACEWIRE_TRACE_BROWSER", "true"),
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", &admin_port_text),
            ("TRACEWIRE_LOG_FORMAT", "off"),
        ],
    );
    let response = http_get(
        app.addr,
        "/hello/ada",
        &[("traceparent", &format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))],
    );
    assert_eq!(response.status, 200);
    let admin: std::net::SocketAddr = format!("127.0.0.1:{admin_port}").parse().unwrap();
    for addr in [app.addr, admin] {
        let listed = tracewire_e2e::wait_for(std::time::Duration::from_secs(5), || {
            let list = http_get(addr, "/_tracewire/api/traces", &[]);
            assert_eq!(list.status, 200, "{addr}: {}", list.body);
            let list: serde_json::Value = serde_json::from_str(&list.body).unwrap();
            list["traces"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["trace_id"] == TRACE_ID)
                .cloned()
        })
        .unwrap_or_else(|| panic!("{addr} lists the request's trace"));
        assert_eq!(listed["root_name"], "GET /hello/{name}");
        let page = http_get(addr, &format!("/_tracewire/traces/{TRACE_ID}"), &[]);
        assert_eq!(page.status, 200);
        assert!(page.body.contains("<script>"));
        assert!(
            page.headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == "text/html; charset=utf-8"),
            "{:?}",
            page.headers
        );
    }
    // Browsing is not traced: the list holds the one request only.
    let list = http_get(app.addr, "/_tracewire/api/traces", &[]);
    let list: serde_json::Value = serde_json::from_str(&list.body).unwrap();
    assert_eq!(list["traces"].as_array().unwrap().len(), 1, "{list:#}");
    let metrics = http_get(admin, "/metrics", &[]);
    assert_eq!(metrics.status, 200);
}
