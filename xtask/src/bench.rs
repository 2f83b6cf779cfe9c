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
    ("tracewire-metrics", "tracewire, metrics only"),
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
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .ok_or_else(|| format!("unexpected output {line:?}"))?
        .to_owned();
    Ok((child, addr))
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
}

/// Total instructions of one run under callgrind; with `only`, those of the
/// calling thread while inside that function (`--toggle-collect`).
fn callgrind(
    bin: &Path,
    stack: &str,
    requests: u64,
    otlp: &str,
    only: Option<&str>,
) -> Result<(f64, Option<f64>), String> {
    let mut valgrind = Command::new("valgrind");
    valgrind.args(["--tool=callgrind", "--callgrind-out-file=/dev/null"]);
    if let Some(function) = only {
        valgrind
            .arg("--collect-atstart=no")
            .arg(format!("--toggle-collect={function}"));
    }
    let out = valgrind
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
        let small = callgrind(&bin, stack, n1, &otlp, Some(REQUEST_LOOP));
        let big = callgrind(&bin, stack, n2, &otlp, Some(REQUEST_LOOP));
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
    let quick = args.iter().any(|a| a == "--quick");
    let (n1, n2) = if quick {
        (200u64, 1200u64)
    } else {
        (500, 5500)
    };
    if !on_path("valgrind") {
        return Err("`valgrind` is needed (apt-get install valgrind)".into());
    }
    let dir = root.join("benches/grpc");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet"])
        .current_dir(&dir)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("building benches/grpc failed".into());
    }
    let bin = dir.join("target/release/grpc-bench");
    let mut rows = Vec::new();
    for (stack, label) in GRPC_STACKS {
        eprintln!("xtask: bench grpc {stack}");
        // Every thread: the server's task and the export threads count
        // (nothing here spins on the wall clock: two runs agree within 0.3%).
        let small = callgrind(&bin, stack, n1, "", None);
        let big = callgrind(&bin, stack, n2, "", None);
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
    println!("| stack | instructions/call | added | allocations/call | added |");
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
