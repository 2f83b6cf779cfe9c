//! The tasks themselves.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::services::{SERVICES, Status};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    c.current_dir(workspace_root());
    c
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    eprintln!("xtask: {what}");
    let status = command.status().map_err(|e| format!("{what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// `cargo xtask test [-- extra cargo test args]`
pub fn test(extra: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let ci = in_ci();
    let mut missing = Vec::new();
    let mut env: Vec<(&str, String)> = Vec::new();
    for service in SERVICES {
        let needed = service.is_needed(&root);
        let status = service.ensure();
        let url = service.url();
        match (&status, needed) {
            (Status::Up, _) => {
                eprintln!("xtask: {:<10} up       {}={url}", service.name, service.env)
            }
            (Status::Started, _) => {
                eprintln!("xtask: {:<10} started  {}={url}", service.name, service.env)
            }
            (Status::Missing(why), true) => {
                missing.push(format!("{} ({}): {why}", service.name, service.env))
            }
            (Status::Missing(why), false) => {
                eprintln!(
                    "xtask: {:<10} absent   ({why}); no current crate needs it",
                    service.name
                )
            }
        }
        env.push((service.env, url));
    }
    for (tool, package, test) in [
        ("promtool", "prometheus", "tests/tests/prometheus.rs"),
        ("prometheus", "prometheus", "tests/tests/prometheus.rs"),
        (
            "chromium",
            "chromium",
            "tests/tests/demo.rs (the trace browser page)",
        ),
    ] {
        if !on_path(tool) {
            missing.push(format!(
                "`{tool}` (apt-get install {package}), used by {test}"
            ));
        }
    }
    // The cross-language gRPC test calls Python's OpenTelemetry gRPC stack.
    let python_grpc = std::process::Command::new("python3")
        .args([
            "-c",
            "import grpc, grpc_tools, opentelemetry.sdk, opentelemetry.instrumentation.grpc",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !python_grpc {
        missing.push(
            "Python's grpcio + opentelemetry-instrumentation-grpc (pip install -r tests/python/requirements.txt), used by tests/tests/grpc.rs".to_owned(),
        );
    }
    if !missing.is_empty() {
        let list = missing.join("\n  - ");
        if ci {
            return Err(format!("CI=true and these are missing:\n  - {list}"));
        }
        eprintln!("\n**********************************************************************");
        eprintln!("xtask: SKIPPING the tests that need:\n  - {list}");
        eprintln!("**********************************************************************\n");
    }

    let mut tests = cargo();
    tests
        .args(["test", "--workspace", "--all-targets"])
        .args(extra)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    run(tests, "cargo test --workspace --all-targets")?;
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--doc"])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    run(doc, "cargo test --workspace --doc")
}

/// The crates users depend on, in dependency order (`cargo package` order).
const PUBLISHED: [&str; 7] = [
    "tracewire",
    "tracewire-axum",
    "tracewire-reqwest",
    "tracewire-sqlx",
    "tracewire-redis",
    "tracewire-queue",
    "tracewire-tonic",
];

/// Whether `name` is one of the crates users depend on.
pub fn is_published(name: &str) -> bool {
    PUBLISHED.contains(&name)
}

/// `cargo xtask lint`: formatting; clippy with every feature on and with each
/// feature alone (cargo-hack); rustdoc; each published crate's rust-version
/// against its dependencies'; `cargo package` for every published crate.
pub fn lint() -> Result<(), String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run(fmt, "cargo fmt --all --check")?;
    let circles = crate::cycles::import_circles(&workspace_root());
    if !circles.is_empty() {
        return Err(format!(
            "import circles between modules:\n  {}",
            circles.join("\n  ")
        ));
    }
    eprintln!("xtask: no import circle between the modules of crates/*");
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]);
    run(
        clippy,
        "cargo clippy --workspace --all-targets --all-features -- -D warnings",
    )?;
    feature_matrix()?;
    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings");
    run(
        doc,
        "cargo doc --workspace --no-deps --all-features (RUSTDOCFLAGS=-D warnings)",
    )?;
    crate::msrv::check(&workspace_root())?;
    let mut package = cargo();
    package.args(["package", "--no-verify", "--allow-dirty"]);
    for name in PUBLISHED {
        package.args(["-p", name]);
    }
    run(
        package,
        "cargo package (every published crate, in dependency order)",
    )
}

/// Each crate with no features, each feature alone, and all features:
/// code behind a feature that is off must compile too.
fn feature_matrix() -> Result<(), String> {
    if !on_path("cargo-hack") {
        let why = "cargo-hack is not installed (cargo install cargo-hack --locked)";
        if in_ci() {
            return Err(format!("CI=true and {why}"));
        }
        eprintln!("\n**********************************************************************");
        eprintln!("xtask: SKIPPING the feature matrix: {why}");
        eprintln!("**********************************************************************\n");
        return Ok(());
    }
    let mut hack = cargo();
    hack.args([
        "hack",
        "clippy",
        "--workspace",
        "--exclude",
        "xtask",
        "--each-feature",
        "--no-dev-deps",
        "--",
        "-D",
        "warnings",
    ]);
    run(
        hack,
        "cargo hack clippy --workspace --each-feature --no-dev-deps -- -D warnings",
    )
}

/// `cargo xtask fuzz [--cases N] [--seed S] [--only TARGET]`: the fuzz job
/// (a dev build: the test run has built its dependencies already).
pub fn fuzz(args: &[String]) -> Result<(), String> {
    let mut fuzz = cargo();
    fuzz.args([
        "run",
        "--quiet",
        "-p",
        "tracewire-e2e",
        "--bin",
        "fuzz",
        "--",
    ])
    .args(args);
    run(fuzz, &format!("fuzz {}", args.join(" ")))
}
