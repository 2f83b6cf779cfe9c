//! `cargo xtask stack [down]`: starts `deploy/` with Docker Compose, waits
//! for every container's health check (`--wait`), then checks each service's
//! health endpoint from the host — the list docs/stack.md gives.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// (service, host address, path) of every health endpoint the stack serves
/// on loopback.
pub const HEALTH_ENDPOINTS: &[(&str, &str, &str)] = &[
    ("otel-collector", "127.0.0.1:13133", "/"),
    ("tempo", "127.0.0.1:3200", "/ready"),
    ("jaeger", "127.0.0.1:16686", "/"),
    ("prometheus", "127.0.0.1:9090", "/-/healthy"),
    ("alertmanager", "127.0.0.1:9093", "/-/healthy"),
    ("pushgateway", "127.0.0.1:9091", "/-/healthy"),
    ("loki", "127.0.0.1:3100", "/ready"),
    ("grafana", "127.0.0.1:3001", "/api/health"),
];

/// A `GET` answered 200.
fn healthy(addr: &str, path: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(addr) = addr.parse() else {
        return false;
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok()
        && (head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"))
}

pub fn stack(root: &Path, args: &[String]) -> Result<(), String> {
    let compose = |extra: &[&str]| -> Result<(), String> {
        let status = Command::new("docker")
            .args([
                "compose",
                "--env-file",
                "deploy/.env",
                "-f",
                "deploy/compose.yaml",
            ])
            .args(extra)
            .current_dir(root)
            .status()
            .map_err(|e| format!("docker: {e} (the stack needs Docker with Compose v2)"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("docker compose {extra:?} failed ({status})"))
        }
    };
    if args.first().map(String::as_str) == Some("down") {
        return compose(&["down"]);
    }
    compose(&["up", "-d", "--wait", "--wait-timeout", "180"])?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut waiting: Vec<_> = HEALTH_ENDPOINTS.to_vec();
    while !waiting.is_empty() && Instant::now() < deadline {
        waiting.retain(|(_, addr, path)| !healthy(addr, path));
        if !waiting.is_empty() {
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    for (service, addr, path) in HEALTH_ENDPOINTS {
        let state = if waiting.iter().any(|(s, _, _)| s == service) {
            "NOT healthy"
        } else {
            "healthy"
        };
        eprintln!("xtask: {service:<15} {state:<12} http://{addr}{path}");
    }
    if waiting.is_empty() {
        eprintln!(
            "xtask: the stack is up — Grafana http://127.0.0.1:3001, send telemetry to http://127.0.0.1:4318"
        );
        Ok(())
    } else {
        Err("some services did not report healthy in time (docker compose logs <service>)".into())
    }
}
