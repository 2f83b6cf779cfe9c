//! Project tasks: `cargo xtask <task>`.
//!
//! - `test`  — find the backing services (starting local ones that are
//!   installed but stopped), then run the whole test suite;
//! - `lint`  — `cargo fmt --check`, clippy with `-D warnings`, docs with `-D warnings`;
//! - `ci`    — `lint`, then `test`;
//! - `bench http` — the HTTP benchmark (callgrind + wrk), see `bench.rs`;
//! - `bench grpc` — instructions per unary gRPC call (callgrind), see `bench.rs`;
//! - `bench client` — instructions per reqwest request, tracewire-reqwest vs reqwest-tracing;
//! - `bench data` — instructions per SQL query, tracewire-sqlx vs sqlx-otel;
//! - `bench service` — the users example under load, telemetry on vs off
//!   (CPU time, or instructions under callgrind with `--instructions`);
//! - `stack [down]` — `deploy/` with Docker Compose, waited until healthy;
//! - `fuzz` — generated and mutated inputs for every parser of untrusted
//!   input (`tests/src/bin/fuzz.rs`), 10⁶ cases per target by default.

mod bench;
mod cycles;
mod msrv;
mod services;
mod stack;
mod tasks;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <task>

tasks:
  test    find services (DATABASE_URL, MYSQL_URL, REDIS_URL, AMQP_URL, NATS_URL), start
          stopped local ones, run every test (with CI=true a missing service fails)
  lint    cargo fmt --check; no import circle between modules; clippy -D warnings with all features and with each feature
          alone (cargo-hack); rustdoc -D warnings; rust-version checks; cargo package
  ci      lint, then test
  fuzz [--cases N] [--seed S] [--only TARGET]
          10^6 generated and mutated inputs (default) for traceparent, tracestate, baggage,
          OTEL_* parsing, the SQL and the Redis sanitizers: no panic, bounded output, round trips
  stack [down]
          docker compose up deploy/ (images in deploy/.env), wait for every health check,
          then check each service's health endpoint from the host; `down` stops it
  bench http [--quick] [--only STACK,…] [--all-threads]
  bench grpc [--quick]
  bench client [--quick]
  bench data [--quick]
  bench service [--rounds N] [--seconds S] [--instructions]
          instructions and allocations per request (callgrind) and a pinned wrk load run,
          our layer vs the bare router and the peer stacks, as ratios (needs valgrind, wrk)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => tasks::test(&args[1..]),
        Some("lint") => tasks::lint(),
        Some("fuzz") => tasks::fuzz(&args[1..]),
        Some("ci") => tasks::lint().and_then(|()| tasks::test(&[])),
        Some("stack") => stack::stack(&tasks::workspace_root(), &args[1..]),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("http") => bench::http(&tasks::workspace_root(), &args[2..]),
            Some("grpc") => bench::grpc(&tasks::workspace_root(), &args[2..]),
            Some("service") => bench::service(&tasks::workspace_root(), &args[2..]),
            Some("client") => bench::client(&tasks::workspace_root(), &args[2..]),
            Some("data") => bench::data(&tasks::workspace_root(), &args[2..]),
            _ => Err(format!(
                "usage: cargo xtask bench http|grpc|client|data|service\n\n{HELP}"
            )),
        },
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
