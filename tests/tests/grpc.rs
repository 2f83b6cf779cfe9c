//! examples/grpc against another language's OpenTelemetry gRPC stack:
//! Python's grpcio with opentelemetry-instrumentation-grpc (PyPI) calls the
//! example with its trace context, and the example's traced client calls a
//! Python server — one trace across both languages, both ways.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tracewire_e2e::receiver::{attr, hex, http_receiver, int_attr};
use tracewire_e2e::{Example, require_python_modules, wait_for};

const MODULES: &[&str] = &[
    "grpc",
    "grpc_tools",
    "opentelemetry.sdk",
    "opentelemetry.instrumentation.grpc",
];
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const METHOD: &str = "helloworld.Greeter/SayHello";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/grpc_interop.py")
}

/// What the Python client printed: its reply (or status code) and its spans.
struct PythonCall {
    outcome: serde_json::Value,
    spans: Vec<serde_json::Value>,
}

/// Calls SayHello(`name`) at `target` with Python's instrumented client,
/// inside a span continuing `traceparent`.
fn python_call(target: std::net::SocketAddr, name: &str, traceparent: Option<&str>) -> PythonCall {
    let mut command = Command::new("python3");
    command
        .arg(script())
        .args(["client", &target.to_string(), name]);
    if let Some(tp) = traceparent {
        command.arg(tp);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcome = lines
        .iter()
        .find(|l| l.get("name").is_none())
        .unwrap()
        .clone();
    let spans = lines
        .into_iter()
        .filter(|l| l.get("name").is_some())
        .collect();
    PythonCall { outcome, spans }
}

fn python_client_span(call: &PythonCall) -> &serde_json::Value {
    call.spans.iter().find(|s| s["kind"] == "CLIENT").unwrap()
}

fn server_span<'a>(spans: &'a [Span], trace_id: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32 && hex(&s.trace_id) == trace_id)
        .unwrap_or_else(|| {
            panic!(
                "no SERVER span in trace {trace_id}: {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
}

#[test]
fn a_python_client_s_trace_continues_in_the_tonic_server() {
    let test = "a_python_client_s_trace_continues_in_the_tonic_server";
    if !require_python_modules(MODULES, test) {
        return;
    }
    let (collector, received) = http_receiver(200);
    let endpoint = format!("http://{collector}");
    let app = Example::start(
        "grpc",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "greeter-e2e"),
        ],
    );
    let ok = python_call(
        app.addr,
        "world",
        Some(&format!("00-{TRACE_ID}-00f067aa0ba902b7-01")),
    );
    assert_eq!(ok.outcome["reply"], "Hello, world!");
    let missing = python_call(app.addr, "missingno", None);
    assert_eq!(missing.outcome["code"], "NOT_FOUND");
    let failed = python_call(app.addr, "failure", None);
    assert_eq!(failed.outcome["code"], "INTERNAL");
    assert!(app.terminate().success());

    let spans = received.spans();
    let caller = python_client_span(&ok);
    assert_eq!(
        caller["trace_id"], TRACE_ID,
        "Python continued the given trace"
    );
    let server = server_span(&spans, TRACE_ID);
    assert_eq!(server.name, METHOD);
    assert_eq!(
        hex(&server.parent_span_id),
        caller["span_id"].as_str().unwrap(),
        "the server span's parent is Python's CLIENT span"
    );
    assert_eq!(
        attr(&server.attributes, "rpc.system.name").as_deref(),
        Some("grpc")
    );
    assert_eq!(
        attr(&server.attributes, "rpc.method").as_deref(),
        Some(METHOD)
    );
    assert_eq!(
        attr(&server.attributes, "rpc.response.status_code").as_deref(),
        Some("OK")
    );
    assert_eq!(
        attr(&server.attributes, "network.peer.address").as_deref(),
        Some("127.0.0.1")
    );

    // NOT_FOUND is the caller's problem; INTERNAL the server's.
    let not_found = server_span(
        &spans,
        python_client_span(&missing)["trace_id"].as_str().unwrap(),
    );
    assert_eq!(
        attr(&not_found.attributes, "rpc.response.status_code").as_deref(),
        Some("NOT_FOUND")
    );
    assert_eq!(attr(&not_found.attributes, "error.type"), None);
    let internal = server_span(
        &spans,
        python_client_span(&failed)["trace_id"].as_str().unwrap(),
    );
    assert_eq!(
        attr(&internal.attributes, "rpc.response.status_code").as_deref(),
        Some("INTERNAL")
    );
    assert_eq!(
        attr(&internal.attributes, "error.type").as_deref(),
        Some("INTERNAL")
    );
    assert_eq!(internal.status.as_ref().unwrap().code, 2, "status Error");
    assert_eq!(python_client_span(&failed)["status"], "ERROR");
}

/// The Python server: its address and the JSON span lines it printed.
struct PythonServer {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl PythonServer {
    fn start() -> Self {
        let mut child = Command::new("python3")
            .arg(script())
            .arg("server")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(addr.parse::<std::net::SocketAddr>().unwrap());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the Python server started");
        Self { child, addr, lines }
    }

    fn spans(&self) -> Vec<serde_json::Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_tonic_client_s_trace_continues_in_a_python_server() {
    let test = "the_tonic_client_s_trace_continues_in_a_python_server";
    if !require_python_modules(MODULES, test) {
        return;
    }
    let python = PythonServer::start();
    let (collector, received) = http_receiver(200);
    let endpoint = format!("http://{collector}");
    let downstream = format!("http://{}", python.addr);
    let app = Example::start(
        "grpc",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "greeter-e2e"),
            ("DOWNSTREAM_GRPC", &downstream),
        ],
    );
    let call = python_call(
        app.addr,
        "ada",
        Some(&format!("00-{TRACE_ID}-00f067aa0ba902b7-01")),
    );
    assert_eq!(
        call.outcome["reply"], "Hello from Python, ada!",
        "the example called the Python server"
    );
    let missing = python_call(app.addr, "missing", None);
    assert_eq!(
        missing.outcome["code"], "NOT_FOUND",
        "the downstream's status came back"
    );
    assert!(app.terminate().success());

    let spans = received.spans();
    let server = server_span(&spans, TRACE_ID);
    let client = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32 && hex(&s.trace_id) == TRACE_ID)
        .unwrap();
    assert_eq!(client.name, METHOD);
    assert_eq!(
        client.parent_span_id, server.span_id,
        "the CLIENT span is a child of the SERVER span"
    );
    assert_eq!(
        attr(&client.attributes, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        int_attr(&client.attributes, "server.port"),
        Some(i64::from(python.addr.port()))
    );
    assert_eq!(
        attr(&client.attributes, "rpc.response.status_code").as_deref(),
        Some("OK")
    );

    let python_server = wait_for(Duration::from_secs(10), || {
        python
            .spans()
            .into_iter()
            .find(|s| s["kind"] == "SERVER" && s["trace_id"] == TRACE_ID)
    })
    .expect("the Python server's span");
    assert_eq!(
        python_server["parent_span_id"],
        hex(&client.span_id),
        "Python's span continues tracewire's CLIENT span"
    );
    assert_eq!(python_server["parent_is_remote"], true);

    // The downstream's NOT_FOUND: an error for the example's client.
    let missing_trace = python_client_span(&missing)["trace_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed_client = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32 && hex(&s.trace_id) == missing_trace)
        .unwrap();
    assert_eq!(
        attr(&failed_client.attributes, "rpc.response.status_code").as_deref(),
        Some("NOT_FOUND")
    );
    assert_eq!(
        attr(&failed_client.attributes, "error.type").as_deref(),
        Some("NOT_FOUND")
    );
}
