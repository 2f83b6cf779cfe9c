//! `cargo xtask bench http`: the HTTP benchmark of issue 3, in one run.
//!
//! For each stack (bare router, our layer in six configurations, the peer
//! stacks) it measures, in the same run:
//! - instructions per request under `valgrind --tool=callgrind` (the
//!   difference between two runs of N1 and N2 requests, so start-up cancels),
//!   which repeats within 1% on these shared machines;
//! - allocations per request (a counting allocator in the harness);
//! - a native loopback load run with `wrk`, server and load generator pinned
//!   to different cores with `taskset`: throughput, p50/p99 latency and CPU
//!   time per request — reported only as ratios to the bare router.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const STACKS: &[(&str, &str)] = &[
    ("bare", "bare axum route"),
    (
        "noop-layer",
        "a do-nothing tower layer (axum's own cost of any layer)",
    ),
    ("tracewire", "tracewire, 100% sampled, batch → discard"),
    ("tracewire-1pct", "tracewire, 1% sampled"),
    (
        "tracewire-browser",
        "tracewire, 100% sampled, batch → discard, trace browser on",
    ),
    (
        "tracewire-metrics",
        "tracewire layer, metrics only, SDK tracer set up by hand (no `init`)",
    ),
    (
        "tracewire-metrics-init",
        "tracewire, metrics only through `init` (OTEL_TRACES_EXPORTER=none, OTEL_TRACES_SAMPLER=always_off)",
    ),
    (
        "tracewire-no-exporter",
        "tracewire, default init with no trace exporter (OTEL_TRACES_EXPORTER=none)",
    ),
    (
        "outer",
        "tracewire around the whole router (any tower service: no route), 100% sampled",
    ),
    ("outer-1pct", "… the same, 1% sampled"),
    (
        "tracewire-otlp",
        "tracewire, default init, OTLP/HTTP → local receiver",
    ),
    (
        "fastrace",
        "fastrace + fastrace-axum (the fastest peer; requests carry a traceparent, without which it records nothing)",
    ),
    (
        "fastrace-no-caller",
        "fastrace + fastrace-axum, requests without a traceparent (it records nothing: its not-sampled set-up)",
    ),
    (
        "raw-sdk",
        "a minimal hand-written layer on the raw OTel SDK (span, W3C parent, one histogram record), 100% sampled, batch → discard",
    ),
    (
        "tower-http",
        "tower-http TraceLayer (semconv fields) + tracing-opentelemetry",
    ),
    ("axum-tracing-opentelemetry", "axum-tracing-opentelemetry"),
    (
        "axum-tracing-opentelemetry-otlp",
        "axum-tracing-opentelemetry, OTLP/HTTP (opentelemetry-otlp) → local receiver",
    ),
];

/// The harness function that runs the counted requests (the request
/// thread's future, `count` in benches/http).
const REQUEST_LOOP: &str = "http_bench::count::{{closure}}";

/// Where every Rust thread starts — `main` and each spawned thread (export
/// threads, the telemetry runtime, fastrace's collector) — but not what runs
/// before `main`: collecting inside it counts every thread's work except
/// start-up constructors (fastrace's clock calibration spins on the wall
/// clock there).
const EVERY_THREAD: &str = "std::sys::backtrace::__rust_begin_short_backtrace";

struct Row {
    stack: &'static str,
    label: &'static str,
    instructions: Option<f64>,
    allocations: Option<f64>,
    rps: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    cpu_us: Option<f64>,
}

fn harness_dir(root: &Path) -> PathBuf {
    root.join("benches/http")
}

fn binary(root: &Path) -> PathBuf {
    harness_dir(root).join("target/release/http-bench")
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts `http-bench <args>` and waits for its `listening on` line.
fn start_listening(mut command: Command) -> Result<(Child, String), String> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = BufReader::new(stdout);
    // Log lines may come first (a service's start-up lines).
    let mut line = String::new();
    let addr = loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("exited before `listening on`".into());
        }
        if let Some(addr) = line.trim().strip_prefix("listening on http://") {
            break addr.to_owned();
        }
    };
    // Keep reading what it prints, so a full pipe never blocks it.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    Ok((child, addr))
}

fn stop(mut child: Child) {
    stop_and_wait(&mut child, Duration::from_millis(300));
}

/// The instructions of one run under callgrind that each thread executes
/// while inside function `only` (`--toggle-collect`).
fn callgrind(
    bin: &Path,
    stack: &str,
    requests: u64,
    otlp: &str,
    only: &str,
) -> Result<(f64, Option<f64>), String> {
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect={only}"))
        .arg(bin)
        .args(["count", stack, &requests.to_string()])
        .env("BENCH_OTLP", otlp)
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let collected = stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("no callgrind total for {stack}:\n{stderr}"))?;
    let allocations = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("allocations_per_request "))
        .and_then(|n| n.trim().parse().ok());
    Ok((collected, allocations))
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of /proc/pid/stat (1-based), i.e.
    // 11 and 12 after the command name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn parse_duration_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, factor) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().ok().map(|n| n * factor)
}

fn load(bin: &Path, stack: &str, seconds: u64, otlp: &str) -> Result<(f64, f64, f64, f64), String> {
    let mut command = Command::new("taskset");
    command
        .args(["-c", "0"])
        .arg(bin)
        .args(["serve", stack, "127.0.0.1:0"])
        .env("BENCH_OTLP", otlp);
    let (child, addr) = start_listening(command)?;
    let pid = child.id();
    // Warm-up.
    let _ = Command::new("taskset")
        .args([
            "-c",
            "1",
            "wrk",
            "-t1",
            "-c16",
            "-d1s",
            &format!("http://{addr}/users/42"),
        ])
        .stdout(Stdio::null())
        .status();
    let before = cpu_ticks(pid).ok_or("no /proc stat")?;
    // fastrace-axum traces only requests with a caller's context.
    let header: &[&str] = if stack == "fastrace" {
        &[
            "-H",
            "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ]
    } else {
        &[]
    };
    let out = Command::new("taskset")
        .args([
            "-c",
            "1",
            "wrk",
            "-t1",
            "-c16",
            &format!("-d{seconds}s"),
            "--latency",
        ])
        .args(header)
        .arg(format!("http://{addr}/users/42"))
        .output()
        .map_err(|e| e.to_string())?;
    let after = cpu_ticks(pid).ok_or("no /proc stat")?;
    stop(child);
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("wrk output:\n{text}"))?;
    let total = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .ok_or("no request count")?;
    let percentile = |p: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(p))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(parse_duration_ms)
    };
    let cpu_us = (after - before) as f64 / clock_ticks_per_second() / total * 1e6;
    Ok((
        rps,
        percentile("50%").unwrap_or(f64::NAN),
        percentile("99%").unwrap_or(f64::NAN),
        cpu_us,
    ))
}

fn ratio(value: Option<f64>, base: Option<f64>) -> String {
    match (value, base) {
        (Some(v), Some(b)) if b > 0.0 => format!("{:.2}×", v / b),
        _ => "—".to_owned(),
    }
}

pub fn http(root: &Path, args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let all_threads = args.iter().any(|a| a == "--all-threads");
    // `--only a,b`: those stacks (the bare route is always measured: it is the base).
    let only: Option<Vec<&str>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').collect());
    let seconds = if quick { 3 } else { 10 };
    let (n1, n2) = if quick {
        (200u64, 1200u64)
    } else {
        (500, 5500)
    };
    for tool in ["valgrind", "wrk", "taskset"] {
        if !on_path(tool) {
            return Err(format!(
                "`{tool}` is needed (apt-get install valgrind wrk util-linux)"
            ));
        }
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet"])
        .current_dir(harness_dir(root))
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("building benches/http failed".into());
    }
    let bin = binary(root);
    let mut receiver = Command::new("taskset");
    receiver
        .args(["-c", "1"])
        .arg(&bin)
        .args(["receive", "127.0.0.1:0"]);
    let (receiver, receiver_addr) = start_listening(receiver)?;
    let otlp = format!("http://{receiver_addr}");

    let mut rows = Vec::new();
    for (stack, label) in STACKS {
        if *stack != "bare" && only.as_ref().is_some_and(|only| !only.contains(stack)) {
            continue;
        }
        eprintln!("xtask: bench {stack}");
        // The request loop's thread only: fastrace's clock (linked into the
        // harness) calibrates itself before main by spinning on the wall
        // clock, a start-up cost that moved whole runs by 2× with the
        // machine's load; export threads are left out with it.
        // `--all-threads` counts every thread from `main` on, the export
        // threads included: tracewire's rows repeat within 0.01%;
        // fastrace's do not (its collector thread's work depends on how
        // valgrind schedules it), so compare with it on the request thread.
        let only = if all_threads {
            EVERY_THREAD
        } else {
            REQUEST_LOOP
        };
        let small = callgrind(&bin, stack, n1, &otlp, only);
        let big = callgrind(&bin, stack, n2, &otlp, only);
        let (instructions, allocations) = match (small, big) {
            (Ok((a, _)), Ok((b, allocs))) => (Some((b - a) / (n2 - n1) as f64), allocs),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("xtask: callgrind {stack}: {e}");
                (None, None)
            }
        };
        let (rps, p50_ms, p99_ms, cpu_us) = match load(&bin, stack, seconds, &otlp) {
            Ok((r, p50, p99, cpu)) => (Some(r), Some(p50), Some(p99), Some(cpu)),
            Err(e) => {
                eprintln!("xtask: load {stack}: {e}");
                (None, None, None, None)
            }
        };
        rows.push(Row {
            stack,
            label,
            instructions,
            allocations,
            rps,
            p50_ms,
            p99_ms,
            cpu_us,
        });
    }
    stop(receiver);

    let base = &rows[0];
    let (base_instr, base_allocs) = (base.instructions, base.allocations);
    let (base_rps, base_p50, base_p99, base_cpu) =
        (base.rps, base.p50_ms, base.p99_ms, base.cpu_us);
    println!(
        "| stack | instructions/request | added | allocations/request | added | throughput | p50 | p99 | CPU/request |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in &rows {
        let added_instr = match (row.instructions, base_instr) {
            (Some(v), Some(b)) => format!("{:+.1}k", (v - b) / 1000.0),
            _ => "—".into(),
        };
        let added_allocs = match (row.allocations, base_allocs) {
            (Some(v), Some(b)) => format!("{:+.1}", v - b),
            _ => "—".into(),
        };
        println!(
            "| {} (`{}`) | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.label,
            row.stack,
            row.instructions
                .map_or("—".into(), |v| format!("{:.1}k", v / 1000.0)),
            added_instr,
            row.allocations.map_or("—".into(), |v| format!("{v:.1}")),
            added_allocs,
            ratio(row.rps, base_rps),
            ratio(row.p50_ms, base_p50),
            ratio(row.p99_ms, base_p99),
            ratio(row.cpu_us, base_cpu),
        );
    }
    println!(
        "\nbare: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {:.1} µs CPU/request (absolute figures vary with the machine's load; compare ratios)",
        base_rps.unwrap_or(f64::NAN),
        base_p50.unwrap_or(f64::NAN),
        base_p99.unwrap_or(f64::NAN),
        base_cpu.unwrap_or(f64::NAN)
    );
    Ok(())
}

/// The stacks of `cargo xtask bench grpc`, both sides of each call instrumented.
const GRPC_STACKS: &[(&str, &str)] = &[
    ("bare", "bare tonic client → server"),
    (
        "tracewire",
        "tracewire-tonic client and server layers, 100% sampled, batch → discard, RPC duration metrics",
    ),
    (
        "tonic-tracing-opentelemetry",
        "tonic-tracing-opentelemetry client and server layers + tracing-opentelemetry, 100% sampled, batch → discard (no metrics)",
    ),
];

/// `cargo xtask bench grpc [--quick]`: instructions (callgrind, the
/// difference of two call counts) and allocations per unary call, client
/// and server in one process over an in-memory HTTP/2 connection.
pub fn grpc(root: &Path, args: &[String]) -> Result<(), String> {
    instruction_table(root, args, "grpc", "grpc-bench", GRPC_STACKS, "call")
}

/// The stacks of `cargo xtask bench client`.
const CLIENT_STACKS: &[(&str, &str)] = &[
    (
        "bare",
        "bare reqwest (through reqwest-middleware, no middleware)",
    ),
    (
        "tracewire",
        "tracewire-reqwest, `tracewire::init` 100% sampled, batch → discard, `http.client.request.duration`",
    ),
    (
        "reqwest-tracing",
        "reqwest-tracing (OpenTelemetry 0.32) + tracing-opentelemetry, 100% sampled, batch → discard, W3C propagator (no metrics)",
    ),
];

/// `cargo xtask bench client [--quick]`: instructions and allocations per
/// request of an instrumented reqwest client against a local hyper server
/// (the same server for every stack).
pub fn client(root: &Path, args: &[String]) -> Result<(), String> {
    instruction_table(
        root,
        args,
        "client",
        "client-bench",
        CLIENT_STACKS,
        "request",
    )
}

/// The stacks of `cargo xtask bench data`.
const DATA_STACKS: &[(&str, &str)] = &[
    ("bare", "bare sqlx pool"),
    (
        "tracewire",
        "tracewire-sqlx, `tracewire::init` 100% sampled, batch → discard, `db.client.operation.duration` and pool metrics",
    ),
    (
        "sqlx-otel",
        "sqlx-otel (OpenTelemetry 0.32), 100% sampled, batch → discard, its operation and pool metrics",
    ),
];

/// `cargo xtask bench data [--quick]`: instructions and allocations per
/// query through an instrumented sqlx SQLite pool (in memory).
pub fn data(root: &Path, args: &[String]) -> Result<(), String> {
    instruction_table(root, args, "data", "data-bench", DATA_STACKS, "query")
}

/// Builds `benches/{harness}` and prints, for each stack, instructions
/// (callgrind on the main thread: the difference of two runs) and
/// allocations per `unit`, and what each adds to the first stack.
fn instruction_table(
    root: &Path,
    args: &[String],
    harness: &str,
    binary: &str,
    stacks: &[(&str, &str)],
    unit: &str,
) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let (n1, n2) = if quick {
        (200u64, 1200u64)
    } else {
        (500, 5500)
    };
    if !on_path("valgrind") {
        return Err("`valgrind` is needed (apt-get install valgrind)".into());
    }
    let dir = root.join("benches").join(harness);
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet"])
        .current_dir(&dir)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("building benches/{harness} failed"));
    }
    let bin = dir.join("target/release").join(binary);
    let mut rows = Vec::new();
    for (stack, label) in stacks {
        eprintln!("xtask: bench {harness} {stack}");
        // The main thread only (the harness's runtime: the calls, and the
        // server's tasks where it runs in-process): how often it parks while
        // another thread works (SQLite's worker, the export thread) depends
        // on scheduling, and counting every thread moved the same run by up
        // to 20%; this way two runs agree within 0.5%. Export threads are
        // outside the count, for every stack alike.
        let main = format!("{}::main", binary.replace('-', "_"));
        let small = callgrind(&bin, stack, n1, "", &main);
        let big = callgrind(&bin, stack, n2, "", &main);
        let (instructions, allocations) = match (small, big) {
            (Ok((a, _)), Ok((b, allocs))) => (Some((b - a) / (n2 - n1) as f64), allocs),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("xtask: callgrind {stack}: {e}");
                (None, None)
            }
        };
        rows.push((*stack, *label, instructions, allocations));
    }
    let (_, _, base_instr, base_allocs) = rows[0];
    println!("| stack | instructions/{unit} | added | allocations/{unit} | added |");
    println!("| --- | --- | --- | --- | --- |");
    for (stack, label, instructions, allocations) in &rows {
        let added_instr = match (instructions, base_instr) {
            (Some(v), Some(b)) => format!("{:+.1}k", (v - b) / 1000.0),
            _ => "—".into(),
        };
        let added_allocs = match (allocations, base_allocs) {
            (Some(v), Some(b)) => format!("{:+.1}", v - b),
            _ => "—".into(),
        };
        println!(
            "| {label} (`{stack}`) | {} | {added_instr} | {} | {added_allocs} |",
            instructions.map_or("—".into(), |v| format!("{:.1}k", v / 1000.0)),
            allocations.map_or("—".into(), |v| format!("{v:.1}")),
        );
    }
    Ok(())
}

/// A do-nothing OTLP/HTTP receiver on a thread: answers every request 200
/// after reading its body (what a collector costs the sender, no more).
fn otlp_sink() -> Result<String, String> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 16 * 1024];
                loop {
                    // One request: the head, then Content-Length bytes.
                    let head_end = buffer.windows(4).position(|w| w == b"\r\n\r\n");
                    if let Some(end) = head_end {
                        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buffer.len() >= end + 4 + length {
                            buffer.drain(..end + 4 + length);
                            let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                            if stream.write_all(answer).is_err() {
                                return;
                            }
                            continue;
                        }
                    }
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    Ok(format!("http://{addr}"))
}

/// Makes at least 100 users exist and writes the wrk script asking for ids
/// 1..=2×newest: half exist (a Redis hit after the first read), half do not
/// (a Redis miss, then SQL) — on a fresh database and after any number of
/// earlier runs alike. Every request is a server span with children.
fn seed_users(addr: &str, script: &Path) -> Result<(), String> {
    let create = |i: u64| -> Option<u64> {
        let out = Command::new("curl")
            .args(["-s", "-H", "content-type: application/json"])
            .args(["-d", &format!("{{\"name\":\"user{i}\"}}")])
            .arg(format!("http://{addr}/users"))
            .output()
            .ok()?;
        let body = String::from_utf8_lossy(&out.stdout);
        body.split("\"id\":")
            .nth(1)?
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let mut newest = create(0).ok_or("creating a user failed")?;
    while newest < 100 {
        newest = create(newest).ok_or("creating a user failed")?;
    }
    std::fs::write(
        script,
        format!(
            "math.randomseed(7)\nrequest = function()\n  return wrk.format(\"GET\", \"/users/\" .. math.random(1, {}))\nend\n",
            2 * newest
        ),
    )
    .map_err(|e| e.to_string())
}

/// Switches callgrind's instrumentation of process `pid` on or off.
fn callgrind_control(pid: u32, state: &str) -> Result<(), String> {
    let status = Command::new("callgrind_control")
        .args(["-i", state, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("callgrind_control -i {state} failed"))
    }
}

/// The instructions a callgrind profile counted (its `totals:` line; its
/// `summary:` line is written before instrumentation was switched on).
fn callgrind_total(profile: &Path) -> Result<f64, String> {
    let text = std::fs::read_to_string(profile).map_err(|e| e.to_string())?;
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no totals in {}", profile.display()))
}

/// Stops `child` with SIGINT and waits up to `timeout` for it to exit (a
/// profiled process writes its profile on the way out), then kills it.
fn stop_and_wait(child: &mut Child, timeout: Duration) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// One set-up of `bench service`: name, label, environment.
type ServiceConfig = (&'static str, &'static str, Vec<(&'static str, String)>);

/// `cargo xtask bench service [--rounds N] [--seconds S] [--instructions]`: the users example
/// (axum + sqlx on PostgreSQL + Redis) under a wrk load, the same release
/// binary with full telemetry (100% sampled traces, metrics and logs over
/// OTLP/HTTP to a local sink, JSON log lines) and with telemetry off
/// (`OTEL_SDK_DISABLED=true`, no log lines), in interleaved runs; CPU time
/// per request of the server process, as a ratio. With `--instructions`:
/// the server under callgrind instead, instructions per request over every
/// thread (repeatable where CPU time on a shared VM is not), counted only
/// during the measured load.
pub fn service(root: &Path, args: &[String]) -> Result<(), String> {
    let value = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let instructions = args.iter().any(|a| a == "--instructions");
    let rounds = value("--rounds", if instructions { 2 } else { 5 });
    let seconds = value("--seconds", if instructions { 20 } else { 5 });
    let callgrind_out =
        instructions.then(|| std::env::temp_dir().join("tracewire-bench-users.callgrind"));
    if instructions && !on_path("valgrind") {
        return Err("`valgrind` is needed (apt-get install valgrind)".into());
    }
    for tool in ["wrk", "taskset"] {
        if !on_path(tool) {
            return Err(format!(
                "`{tool}` is needed (apt-get install wrk util-linux)"
            ));
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "-p", "example-users"])
        .current_dir(root)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("building example-users failed".into());
    }
    let bin = root.join("target/release/example-users");
    let database = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let sink = otlp_sink()?;
    // Written once the newest user's id is known (below).
    let script = std::env::temp_dir().join("tracewire-bench-users.lua");

    let full = |sampler: &str, arg: &str| {
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", sink.clone()),
            ("OTEL_METRICS_EXPORTER", "otlp".into()),
            ("OTEL_LOGS_EXPORTER", "otlp".into()),
            ("OTEL_TRACES_SAMPLER", sampler.into()),
            ("OTEL_TRACES_SAMPLER_ARG", arg.into()),
            ("TRACEWIRE_LOG_FORMAT", "json".into()),
        ]
    };
    let configs: [ServiceConfig; 3] = [
        (
            "off",
            "telemetry off (`OTEL_SDK_DISABLED=true`, no log lines)",
            vec![
                ("OTEL_SDK_DISABLED", "true".into()),
                ("TRACEWIRE_LOG_FORMAT", "off".into()),
            ],
        ),
        (
            "full",
            "full telemetry: traces 100%, metrics and logs over OTLP/HTTP, JSON log lines",
            full("parentbased_always_on", "1"),
        ),
        (
            "full-10pct",
            "the same, traces 10% sampled (`parentbased_traceidratio`, 0.1)",
            full("parentbased_traceidratio", "0.1"),
        ),
    ];
    let mut seeded = false;
    let mut samples: Vec<(usize, f64, f64)> = Vec::new(); // (config, cpu µs/request, req/s)
    for round in 0..rounds {
        for (index, (name, _, env)) in configs.iter().enumerate() {
            let mut command = Command::new("taskset");
            command.args(["-c", "0"]);
            if let Some(profile) = &callgrind_out {
                // Instrumented only between `callgrind_control -i on` and
                // `-i off`: start-up and warm-up run at native speed.
                command
                    .args(["valgrind", "-q", "--tool=callgrind", "--instr-atstart=no"])
                    .arg(format!("--callgrind-out-file={}", profile.display()));
            }
            command
                .arg(&bin)
                .arg("127.0.0.1:0")
                .env("DATABASE_URL", &database)
                .env("REDIS_URL", &redis)
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
            let (mut child, addr) = start_listening(command)?;
            if !seeded {
                seed_users(&addr, &script)?;
                seeded = true;
            }
            let url = format!("http://{addr}/users/1");
            let wrk = |duration: u64| {
                Command::new("taskset")
                    .args([
                        "-c",
                        "1",
                        "wrk",
                        "-t1",
                        "-c16",
                        &format!("-d{duration}s"),
                        "-s",
                    ])
                    .arg(&script)
                    .arg(&url)
                    .output()
            };
            let served = |out: std::io::Result<std::process::Output>| {
                let out = out.map_err(|e| e.to_string())?;
                let text = String::from_utf8_lossy(&out.stdout);
                text.lines()
                    .find(|l| l.contains("requests in"))
                    .and_then(|l| l.split_whitespace().next())
                    .and_then(|n| n.parse::<f64>().ok())
                    .ok_or_else(|| format!("wrk output:\n{text}"))
            };
            if let Some(profile) = &callgrind_out {
                // Counted from here: connections, caches and interning warm.
                let _ = wrk(5);
                callgrind_control(child.id(), "on")?;
                let total = served(wrk(seconds));
                callgrind_control(child.id(), "off")?;
                stop_and_wait(&mut child, Duration::from_secs(120));
                let total = total?;
                let instructions = callgrind_total(profile)?;
                let per_request = instructions / total;
                eprintln!(
                    "xtask: round {round} {name}: {total} requests, {per_request:.0} instructions/request"
                );
                samples.push((index, per_request, total / seconds as f64));
                continue;
            }
            let _ = wrk(1); // warm-up: connections, caches, interning
            let before = cpu_ticks(child.id()).ok_or("no /proc stat")?;
            let total = served(wrk(seconds));
            let after = cpu_ticks(child.id()).ok_or("no /proc stat")?;
            stop(child);
            let total = total?;
            let cpu_us = (after - before) as f64 / clock_ticks_per_second() / total * 1e6;
            let rps = total / seconds as f64;
            eprintln!("xtask: round {round} {name}: {rps:.0} req/s, {cpu_us:.1} µs CPU/request");
            samples.push((index, cpu_us, rps));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let per_config = |index: usize, pick: fn(&(usize, f64, f64)) -> f64| {
        median(samples.iter().filter(|s| s.0 == index).map(pick).collect())
    };
    // A round's runs are back to back: their ratio to the round's `off` run
    // cancels the machine's drift between rounds; the median of those is
    // the figure.
    let paired = |index: usize, pick: fn(&(usize, f64, f64)) -> f64| {
        median(
            samples
                .chunks(configs.len())
                .filter(|round| round.len() == configs.len())
                .map(|round| pick(&round[index]) / pick(&round[0]))
                .collect(),
        )
    };
    if instructions {
        println!(
            "| users example, GET /users/{{id}}, half the ids existing, {rounds} interleaved rounds under callgrind | instructions/request, every thread (median) | ratio to off (median of the rounds' ratios) |"
        );
        println!("| --- | --- | --- |");
        for (index, (name, label, _)) in configs.iter().enumerate() {
            println!(
                "| {label} (`{name}`) | {:.1}k | **{:.3}×** |",
                per_config(index, |s| s.1) / 1000.0,
                paired(index, |s| s.1),
            );
        }
        return Ok(());
    }
    println!(
        "| users example, GET /users/{{id}}, half the ids existing, {rounds} interleaved rounds | CPU/request (median) | ratio to off (median of the rounds' ratios) | throughput ratio |"
    );
    println!("| --- | --- | --- | --- |");
    for (index, (name, label, _)) in configs.iter().enumerate() {
        println!(
            "| {label} (`{name}`) | {:.1} µs | **{:.3}×** | {:.3}× |",
            per_config(index, |s| s.1),
            paired(index, |s| s.1),
            paired(index, |s| s.2),
        );
    }
    Ok(())
}
