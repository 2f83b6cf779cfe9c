//! The demo as a process: three services in one trace per order (the right
//! parents across HTTP and the queue), failing orders marked, the trace tree
//! on stdout, the trace browser's API on every service — and its page
//! rendered by headless Chromium, asserted on the DOM.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tracewire_e2e::{Example, http_get, require_tool, wait_for};

/// Starts the demo with `orders` of traffic and waits for its `summary:` line.
fn demo(orders: &str) -> Example {
    let app = Example::start(
        "demo",
        &[
            ("DEMO_TRAFFIC", orders),
            ("TRACEWIRE_LOG_FORMAT", "json"),
            // The default queue and database: in memory and SQLite.
            ("REDIS_URL", ""),
            ("DATABASE_URL", ""),
        ],
    );
    wait_for(Duration::from_secs(60), || {
        app.stdout_lines()
            .iter()
            .any(|l| l.starts_with("summary: "))
            .then_some(())
    })
    .expect("the traffic ends with a summary line");
    app
}

fn json(addr: SocketAddr, path: &str) -> Value {
    let response = http_get(addr, path, &[]);
    assert_eq!(response.status, 200, "{path}: {}", response.body);
    serde_json::from_str(&response.body).unwrap()
}

/// The address a service line of the banner names (`  orders   http://…`).
fn service_addr(app: &Example, service: &str) -> SocketAddr {
    let lines = app.stdout_lines();
    let line = lines
        .iter()
        .find(|l| l.trim_start().starts_with(service) && l.contains("http://"))
        .unwrap_or_else(|| panic!("no {service} line in {lines:#?}"));
    let url = line.split_whitespace().nth(1).unwrap();
    url.trim_start_matches("http://").parse().unwrap()
}

fn span<'a>(spans: &'a [Value], name: &str, kind: &str, service: &str) -> &'a Value {
    spans
        .iter()
        .find(|s| s["name"] == name && s["kind"] == kind && s["service"] == service)
        .unwrap_or_else(|| panic!("no {kind} span {name:?} of {service} in {spans:#?}"))
}

fn assert_parent(child: &Value, parent: &Value) {
    assert_eq!(
        child["parent_span_id"], parent["span_id"],
        "{} is a child of {}",
        child["name"], parent["name"]
    );
}

/// Waits until a listed trace matching `pick` has its worker spans too.
fn find_trace(app: &Example, query: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let addr = app.addr;
    let mut last = Value::Null;
    wait_for(Duration::from_secs(15), || {
        last = json(addr, &format!("/_tracewire/api/traces{query}"));
        last["traces"]
            .as_array()?
            .iter()
            .find(|t| pick(t))
            .map(|t| {
                json(
                    addr,
                    &format!("/_tracewire/api/traces/{}", t["trace_id"].as_str().unwrap()),
                )
            })
    })
    .unwrap_or_else(|| {
        let lines = app.stdout_lines();
        let tail = &lines[lines.len().saturating_sub(40)..];
        panic!(
            "no trace for {query} in {last:#}\nthe demo's last lines:\n{}",
            tail.join("\n")
        )
    })
}

#[test]
fn demo_orders_are_one_trace_across_gateway_orders_and_worker() {
    let app = demo("14");
    let gateway = app.addr;

    let order = find_trace(&app, "?status=ok&route=/checkout", |t| {
        t["services"] == serde_json::json!(["gateway", "orders", "worker"])
    });
    let spans = order["spans"].as_array().unwrap();
    let root = span(spans, "POST /checkout", "SERVER", "gateway");
    assert_eq!(root["parent_span_id"], Value::Null);
    assert_eq!(root["attributes"]["http.route"], "/checkout");
    assert_eq!(root["attributes"]["http.response.status_code"], 201);
    assert!(
        root["attributes"]["client.address"].is_string(),
        "serve() gives the layer the peer: {root:#}"
    );
    let call = span(spans, "POST", "CLIENT", "gateway");
    assert_parent(call, root);
    let server = span(spans, "POST /orders", "SERVER", "orders");
    assert_parent(server, call);
    assert_eq!(server["parent_is_remote"], true, "context crossed HTTP");
    let insert = span(spans, "INSERT demo_orders", "CLIENT", "orders");
    assert_parent(insert, server);
    assert_eq!(insert["attributes"]["db.system.name"], "sqlite");
    let send = span(spans, "send orders", "PRODUCER", "orders");
    assert_parent(send, server);
    let process = span(spans, "process orders", "CONSUMER", "worker");
    assert_parent(process, send);
    assert_eq!(process["status"], "ok");
    let update = span(spans, "UPDATE demo_orders", "CLIENT", "worker");
    assert_parent(update, process);
    assert!(
        order["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"] == "order fulfilled"),
        "the worker's log line is kept with its trace: {:#}",
        order["logs"]
    );

    // A discontinued item: SQL fails in orders, the gateway answers 502.
    let failed = find_trace(&app, "?status=error&route=/checkout", |t| {
        t["services"] == serde_json::json!(["gateway", "orders"])
    });
    let spans = failed["spans"].as_array().unwrap();
    let root = span(spans, "POST /checkout", "SERVER", "gateway");
    assert_eq!(root["status"], "error");
    assert_eq!(root["attributes"]["http.response.status_code"], 502);
    let server = span(spans, "POST /orders", "SERVER", "orders");
    assert_eq!(server["status"], "error");
    assert_eq!(server["attributes"]["error.type"], "500");
    assert!(
        spans
            .iter()
            .any(|s| s["kind"] == "CLIENT" && s["service"] == "orders" && s["status"] == "error"),
        "the failing query is marked"
    );

    // A gift card: the worker fails, retries, then dead-letters — in the trace.
    let declined = find_trace(&app, "?status=error", |t| {
        t["services"] == serde_json::json!(["gateway", "orders", "worker"])
    });
    let spans = declined["spans"].as_array().unwrap();
    let processes: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"] == "process orders")
        .collect();
    assert_eq!(processes.len(), 3, "three deliveries");
    assert!(processes.iter().all(|p| p["status"] == "error"));
    let dead = span(spans, "send orders.dead", "PRODUCER", "worker");
    assert_eq!(
        dead["attributes"]["messaging.destination.name"],
        "orders.dead"
    );

    // Every service serves every trace of the process.
    let total = json(gateway, "/_tracewire/api/traces")["traces"]
        .as_array()
        .unwrap()
        .len();
    for service in ["orders", "worker"] {
        let addr = service_addr(&app, service);
        let seen = json(addr, "/_tracewire/api/traces")["traces"]
            .as_array()
            .unwrap()
            .len();
        assert!(seen >= total, "{service} lists {seen} of {total}");
    }

    // The terminal tree: a multi-service order as one tree, and the summary.
    let out = app.stdout_lines();
    let header = out
        .iter()
        .position(|l| l.starts_with("trace ") && l.contains("gateway, orders, worker"))
        .unwrap_or_else(|| panic!("a tree with all three services: {out:#?}"));
    let tree: Vec<&String> = out[header + 1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        tree[0].starts_with("POST /checkout ")
            && tree[0].contains("SERVER")
            && tree[0].contains("gateway"),
        "{tree:#?}"
    );
    assert!(
        tree.iter()
            .any(|l| l.contains("└─ POST /orders") && l.contains("orders")),
        "{tree:#?}"
    );
    assert!(
        tree.iter().any(|l| l.contains("process orders")
            && l.contains("CONSUMER")
            && l.contains("worker")),
        "{tree:#?}"
    );
    let summary = out.iter().find(|l| l.starts_with("summary: ")).unwrap();
    assert!(
        summary.contains(" requests, ")
            && summary.contains(" errors, p50 ")
            && summary.contains(" p99 "),
        "{summary}"
    );
    assert!(
        out.iter().any(|l| l.contains("/_tracewire/")),
        "it says where to look"
    );

    // SIGTERM: the servers drain, the telemetry flushes, the process exits 0.
    assert!(app.terminate().success());
}

/// `chromium --headless --dump-dom` after the page's script has run.
fn rendered_dom(chromium: &std::path::Path, url: &str) -> String {
    let profile = std::env::temp_dir().join(format!("tracewire-chromium-{}", std::process::id()));
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_trace_browser_page_renders_in_chromium() {
    let Some(chromium) = require_tool("chromium", "the_trace_browser_page_renders_in_chromium")
    else {
        return;
    };
    let app = demo("10");
    let base = format!("http://{}/_tracewire/", app.addr);
    let order = find_trace(&app, "?status=ok&route=/checkout", |t| {
        t["services"] == serde_json::json!(["gateway", "orders", "worker"])
    });
    let listed = json(app.addr, "/_tracewire/api/traces")["traces"]
        .as_array()
        .unwrap()
        .len();

    let list = rendered_dom(&chromium, &base);
    let rows = list.matches("class=\"trace-row\"").count();
    assert_eq!(rows, listed, "one row per trace:\n{list}");
    assert!(
        list.contains("<td class=\"status ok\">ok</td>"),
        "rows say ok in words"
    );
    assert!(
        list.contains("<td class=\"status error\">error</td>"),
        "and error"
    );
    assert!(list.contains("POST /checkout"));
    assert!(
        list.contains("class=\"mono exemplar-trace\" href=\"/_tracewire/traces/"),
        "metric exemplars link to their traces:\n{list}"
    );

    let errors = rendered_dom(&chromium, &format!("{base}?status=error"));
    assert!(errors.matches("class=\"trace-row\"").count() > 0);
    assert!(
        !errors.contains("<td class=\"status ok\">"),
        "the filter keeps errors only"
    );

    let id = order["trace_id"].as_str().unwrap();
    let page = rendered_dom(&chromium, &format!("{base}traces/{id}"));
    let spans = order["spans"].as_array().unwrap();
    assert_eq!(
        page.matches("class=\"span-row").count(),
        spans.len(),
        "one waterfall row per span:\n{page}"
    );
    for s in spans {
        let marker = format!("data-span-id=\"{}\"", s["span_id"].as_str().unwrap());
        assert!(page.contains(&marker), "span {} is drawn", s["name"]);
    }
    for service in ["gateway", "orders", "worker"] {
        assert!(
            page.contains(&format!("data-service=\"{service}\"")),
            "{service} in the waterfall"
        );
    }
    assert!(page.contains("class=\"span-bar\""));

    let declined = find_trace(&app, "?status=error", |t| {
        t["services"] == serde_json::json!(["gateway", "orders", "worker"])
    });
    let page = rendered_dom(
        &chromium,
        &format!("{base}traces/{}", declined["trace_id"].as_str().unwrap()),
    );
    assert!(
        page.contains("class=\"span-row error\""),
        "error spans are marked:\n{page}"
    );
    assert!(
        page.contains("payment declined"),
        "the trace's log lines are shown"
    );
}

/// With `DATABASE_URL` (PostgreSQL) and `REDIS_URL` set, the same shop runs
/// on them: the Redis list worker retries a declined payment three times.
#[test]
fn demo_runs_on_postgresql_and_the_redis_worker_when_they_are_set() {
    let test = "demo_runs_on_postgresql_and_the_redis_worker_when_they_are_set";
    let database = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis_url = format!(
        "{}/13",
        std::env::var("REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
            .trim_end_matches('/')
    );
    match redis::Client::open(redis_url.as_str()).and_then(|c| c.get_connection()) {
        Ok(mut conn) => {
            let _: () = redis::cmd("FLUSHDB").query(&mut conn).unwrap();
        }
        Err(e) => return tracewire::testing::service_unavailable("Redis", &redis_url, test, &e),
    }
    if let Err(e) = std::net::TcpStream::connect("127.0.0.1:5432") {
        return tracewire::testing::service_unavailable("PostgreSQL", &database, test, &e);
    }
    let app = Example::start(
        "demo",
        &[
            ("DEMO_TRAFFIC", "12"),
            ("TRACEWIRE_LOG_FORMAT", "json"),
            ("REDIS_URL", &redis_url),
            ("DATABASE_URL", &database),
        ],
    );
    // The banner's service lines follow `listening on`: wait for them.
    let banner = wait_for(Duration::from_secs(10), || {
        let lines = app.stdout_lines();
        lines
            .iter()
            .any(|l| l.trim_start().starts_with("worker "))
            .then_some(lines)
    })
    .unwrap_or_else(|| panic!("no banner: {:#?}", app.stdout_lines()));
    assert!(
        banner.iter().any(|l| l.contains("Redis list worker at")),
        "{banner:#?}"
    );
    assert!(
        banner.iter().any(|l| l.contains("postgres://")),
        "{banner:#?}"
    );
    let declined = find_trace(&app, "?status=error", |t| {
        t["services"] == serde_json::json!(["gateway", "orders", "worker"])
    });
    // Retries wait in the delayed set: the trace grows as they run.
    let id = declined["trace_id"].as_str().unwrap().to_owned();
    let declined = wait_for(Duration::from_secs(30), || {
        let trace = json(app.addr, &format!("/_tracewire/api/traces/{id}"));
        let deliveries = trace["spans"]
            .as_array()?
            .iter()
            .filter(|s| s["name"] == "process demo:orders")
            .count();
        (deliveries >= 3).then_some(trace)
    })
    .unwrap_or_else(|| {
        panic!(
            "three deliveries of {id}: {:#}",
            json(app.addr, &format!("/_tracewire/api/traces/{id}"))
        )
    });
    let spans = declined["spans"].as_array().unwrap();
    let send = span(spans, "send demo:orders", "PRODUCER", "orders");
    assert_eq!(send["attributes"]["messaging.system"], "redis");
    let processes: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"] == "process demo:orders")
        .collect();
    assert_eq!(processes.len(), 3, "three deliveries, then dead-lettered");
    assert!(
        processes
            .iter()
            .all(|p| p["status"] == "error" && p["kind"] == "CONSUMER")
    );
    let insert = span(spans, "INSERT demo_orders", "CLIENT", "orders");
    assert_eq!(insert["attributes"]["db.system.name"], "postgresql");
}
