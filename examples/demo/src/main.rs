//! A small shop of three services in one process — `gateway` → `orders` →
//! `worker` — with traffic, so that a first run shows whole traces across
//! HTTP, SQL and a queue with nothing installed.
//!
//! ```text
//! cargo run -p example-demo                 # 40 orders, then keeps serving
//! cargo run -p example-demo -- --traffic 0  # no traffic (or DEMO_TRAFFIC=0); send your own
//! curl -X POST localhost:3000/checkout -H 'content-type: application/json' \
//!      -d '{"item":"teapot","quantity":1}'
//! open http://127.0.0.1:3000/_tracewire/
//! ```
//!
//! - One trace per order: gateway SERVER → CLIENT → orders SERVER → SQL →
//!   PRODUCER → worker CONSUMER → SQL. `discontinued-…` items fail in SQL
//!   (the gateway answers 502); `gift-card` orders fail in the worker,
//!   are retried and then dead-lettered.
//! - Each trace is printed as a tree on stdout (`OTEL_TRACES_EXPORTER`
//!   defaults to `console` here), and every service serves the trace browser
//!   at `/_tracewire/` and Prometheus at `/metrics`.
//! - SQLite (a temp file) unless `DATABASE_URL=postgres://…`; an in-memory
//!   apalis queue unless `REDIS_URL` answers (then the Redis list worker).
//! - `LISTEN_ADDR` (or the first argument that is not a flag) is the
//!   gateway's address (default `127.0.0.1:3000`, port 0 = any); the line
//!   `listening on http://IP:PORT` is printed once it is bound. SIGTERM or
//!   Ctrl-C stops all three and flushes telemetry.

mod db;
mod jobs;
mod progress;
mod services;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use progress::Progress;
use tracewire::ExporterKind;

/// What the command line says.
struct Args {
    listen: SocketAddr,
    traffic: usize,
}

fn args() -> Args {
    let mut listen = std::env::var("LISTEN_ADDR").ok();
    let mut traffic = std::env::var("DEMO_TRAFFIC")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let mut all = std::env::args().skip(1);
    while let Some(arg) = all.next() {
        match arg.as_str() {
            "--traffic" => match all.next().and_then(|n| n.parse().ok()) {
                Some(n) => traffic = n,
                None => exit_usage("--traffic needs a number"),
            },
            "-h" | "--help" => {
                println!("usage: example-demo [LISTEN_ADDR] [--traffic N]");
                std::process::exit(0);
            }
            other if other.starts_with('-') => exit_usage(&format!("unknown option {other}")),
            other => listen = Some(other.to_owned()),
        }
    }
    let raw = listen.unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listen = raw
        .parse()
        .unwrap_or_else(|e| exit_usage(&format!("invalid listen address {raw:?}: {e}")));
    Args { listen, traffic }
}

fn exit_usage(message: &str) -> ! {
    eprintln!("{message}\nusage: example-demo [LISTEN_ADDR] [--traffic N]");
    std::process::exit(2);
}

/// A runtime whose threads' spans belong to `service`.
fn runtime(service: &'static str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(service)
        .on_thread_start(move || tracewire::view::set_thread_service(service))
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("cannot start the {service} runtime: {e}");
            std::process::exit(1);
        })
}

fn bind(addr: SocketAddr) -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind(addr).unwrap_or_else(|e| {
        eprintln!("cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let _ = listener.set_nonblocking(true);
    listener
}

fn local(listener: &std::net::TcpListener) -> SocketAddr {
    listener.local_addr().unwrap_or_else(|e| {
        eprintln!("no local address: {e}");
        std::process::exit(1);
    })
}

fn main() {
    let args = args();
    let progress = Progress::new();
    let browser_unset = std::env::var_os("TRACEWIRE_TRACE_BROWSER").is_none();
    let traces_unset = std::env::var_os("OTEL_TRACES_EXPORTER").is_none();
    let telemetry = tracewire::builder()
        .default_service_name("example-demo")
        .console_writer(progress.writer())
        .configure(|config| {
            // The demo shows everything by default; any OTEL_* variable wins.
            if browser_unset {
                config.trace_browser = true;
            }
            if traces_unset && !config.traces_exporters.contains(&ExporterKind::Console) {
                config.traces_exporters.push(ExporterKind::Console);
            }
        })
        .init();

    let gateway_listener = bind(args.listen);
    let orders_listener = bind(SocketAddr::new(args.listen.ip(), 0));
    let worker_listener = bind(SocketAddr::new(args.listen.ip(), 0));
    let (gateway_addr, orders_addr, worker_addr) = (
        local(&gateway_listener),
        local(&orders_listener),
        local(&worker_listener),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };

    // Storage and queue first: `orders` needs both, the worker the queue.
    let orders_rt = runtime("orders");
    let (db, db_name, queue, consumer, queue_name) = orders_rt.block_on(async {
        let (db, db_name) = db::Db::open().await.unwrap_or_else(|e| {
            eprintln!("cannot open the database: {e}");
            std::process::exit(1);
        });
        let (queue, consumer, queue_name) = jobs::open().await;
        (db, db_name, queue, consumer, queue_name)
    });

    let worker_rt = runtime("worker");
    worker_rt.spawn(jobs::run_worker(consumer, queue.clone(), db.clone()));
    serve(
        &worker_rt,
        worker_listener,
        services::worker_admin(),
        until_stopped(),
    );
    serve(
        &orders_rt,
        orders_listener,
        services::orders(db, queue),
        until_stopped(),
    );
    let gateway_rt = runtime("gateway");
    serve(
        &gateway_rt,
        gateway_listener,
        services::gateway(format!("http://{orders_addr}")),
        until_stopped(),
    );

    println!("listening on http://{gateway_addr}");
    println!("  gateway  http://{gateway_addr}  (POST /checkout, GET /orders/{{id}})");
    println!("  orders   http://{orders_addr}  ({db_name})");
    println!("  worker   http://{worker_addr}  ({queue_name})");
    println!();

    // The traffic generator and the signal run on a runtime of their own,
    // whose spans (none: its client is not traced) belong to no service.
    let main_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("cannot start a runtime: {e}");
            std::process::exit(1);
        });
    main_rt.block_on(async {
        if args.traffic > 0 {
            let summary = tokio::select! {
                summary = traffic(gateway_addr, args.traffic, &progress) => Some(summary),
                () = tracewire_axum::shutdown_signal() => None,
            };
            let Some(summary) = summary else {
                return;
            };
            // Let the worker finish the last jobs, and the tree printer print them.
            tokio::time::sleep(Duration::from_millis(800)).await;
            tracewire::flush();
            progress.finish();
            println!("{summary}");
        }
        println!("where to look:");
        println!("  traces     http://{gateway_addr}/_tracewire/   (errors: http://{gateway_addr}/_tracewire/?status=error)");
        println!("  metrics    http://{gateway_addr}/metrics");
        println!("  the stack  OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run -p example-demo   (with deploy/ running)");
        println!("serving until Ctrl-C");
        tracewire_axum::shutdown_signal().await;
    });
    let _ = stop.send(true);
    // Each server drains its requests and flushes; then everything stops.
    for rt in [gateway_rt, orders_rt, worker_rt] {
        rt.shutdown_timeout(Duration::from_secs(5));
    }
    telemetry.shutdown();
    db::remove_sqlite_files();
}

fn serve(
    rt: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    router: axum::Router,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) {
    rt.spawn(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("cannot serve: {e}");
                return;
            }
        };
        if let Err(e) = tracewire_axum::serve_until(listener, router, signal).await {
            eprintln!("server error: {e}");
        }
    });
}

/// Items the traffic orders, in turn.
const ITEMS: &[&str] = &["teapot", "kettle", "mug", "tea-towel", "strainer"];

/// Sends `count` orders (and reads some back); returns the `summary:` line.
async fn traffic(gateway: SocketAddr, count: usize, progress: &Progress) -> String {
    let client = reqwest::Client::new();
    let base = format!("http://{gateway}");
    let mut latencies = Vec::with_capacity(count * 2);
    let mut errors = 0usize;
    progress.start(count);
    for i in 0..count {
        let item = if i % 9 == 4 {
            "discontinued-lamp"
        } else if i % 7 == 3 {
            "gift-card"
        } else {
            ITEMS[i % ITEMS.len()]
        };
        let body = serde_json::json!({ "item": item, "quantity": 1 + i % 3 }).to_string();
        let started = Instant::now();
        let sent = client
            .post(format!("{base}/checkout"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        latencies.push(started.elapsed());
        let id = match sent {
            Ok(response) if response.status().is_server_error() => {
                errors += 1;
                None
            }
            Ok(response) => response
                .bytes()
                .await
                .ok()
                .and_then(|body| serde_json::from_slice::<serde_json::Value>(&body).ok())
                .and_then(|v| v["id"].as_i64()),
            Err(_) => {
                errors += 1;
                None
            }
        };
        if let Some(id) = id.filter(|_| i % 4 == 0) {
            let started = Instant::now();
            match client.get(format!("{base}/orders/{id}")).send().await {
                Ok(r) if !r.status().is_server_error() => {}
                _ => errors += 1,
            }
            latencies.push(started.elapsed());
        }
        progress.set(i + 1, errors);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    latencies.sort();
    let pct = |p: f64| {
        let index = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index].as_secs_f64() * 1e3
    };
    format!(
        "summary: {} requests, {errors} errors, p50 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        pct(0.50),
        pct(0.99)
    )
}
