//! Helpers for end-to-end tests: run an example binary, talk HTTP to it, and
//! require external tools (a missing tool fails under `CI=true`, and is a loud
//! skip elsewhere).

// Test support: a failed step here is a failed test, so unwrapping is the point.
#![allow(clippy::unwrap_used)]

pub mod receiver;
pub mod stack;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("workspace root")
                .join("target")
        })
}

/// Whether a missing dependency must fail the test run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Finds `tool` on `PATH`. Under CI a missing tool panics; elsewhere the test
/// prints a loud skip naming it and the caller returns.
pub fn require_tool(tool: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !in_ci(),
            "{tool} is required for {test} (CI=true): install it (its Debian package: prometheus, chromium, …)"
        );
        eprintln!(
            "\n*** SKIPPED {test}: `{tool}` is not installed (apt-get install its package) ***\n"
        );
    }
    found
}

/// Whether `python3` can import every module of `modules`. Under CI a
/// missing one panics; elsewhere the test prints a loud skip naming them
/// (`pip install -r tests/python/requirements.txt`) and the caller returns.
pub fn require_python_modules(modules: &[&str], test: &str) -> bool {
    let imports = format!("import {}", modules.join(", "));
    let found = Command::new("python3")
        .args(["-c", &imports])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            !in_ci(),
            "python3 with {modules:?} is required for {test} (CI=true): pip install -r tests/python/requirements.txt"
        );
        eprintln!(
            "\n*** SKIPPED {test}: python3 cannot import {modules:?} (pip install -r tests/python/requirements.txt) ***\n"
        );
    }
    found
}

/// A running example process, killed on drop.
#[derive(Debug)]
pub struct Example {
    child: Child,
    /// The address it printed in `listening on http://…`.
    pub addr: SocketAddr,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Example {
    /// Builds (if needed) and starts `example-{name}` on a free port with
    /// extra environment variables.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let package = format!("example-{name}");
        let binary = target_dir().join("debug").join(&package);
        // One build at a time: tests run in parallel and would race on it.
        static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _building = BUILD
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", &package])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building {package}");
        drop(_building);
        let mut child = Command::new(&binary)
            .arg("127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = std::sync::Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(addr.to_owned());
                }
                sink.lock().expect("lines").push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{package} never printed `listening on`"))
            .parse()
            .expect("an address");
        Self {
            child,
            addr,
            stdout: lines,
        }
    }

    /// Lines printed on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("lines").clone()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.stop()
    }

    /// Sends SIGTERM and waits for the exit status, keeping the handle.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the example did not exit on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status code, headers (lowercased names), body.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines.
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

/// A minimal HTTP/1.1 GET (`Connection: close`), enough for local tests.
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    http_request(addr, "GET", path, headers, None)
}

/// A minimal HTTP/1.1 POST with a JSON body.
pub fn http_post_json(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    http_request(addr, "POST", path, headers, Some(body))
}

/// Sends one request over a fresh connection and reads the whole response.
/// Headers are sent exactly as given: repeated names stay repeated.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    match body {
        Some(body) => request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => request.push_str("\r\n"),
    }
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The worker example, started against a flushed Redis database (`REDIS_URL`,
/// database `redis_db`) and a fresh SQLite file, exporting to an OTLP/HTTP
/// receiver every 100 ms.
pub struct Worker {
    /// The running example.
    pub app: Example,
    /// What the example exported.
    pub received: std::sync::Arc<receiver::Received>,
    /// A connection to the same Redis database.
    pub redis: redis::Connection,
    /// The SQLite file (remove it when done).
    pub db: PathBuf,
    /// The environment it was started with.
    env: Vec<(&'static str, String)>,
}

impl Worker {
    /// Stops the example with SIGTERM (returning its exit status), then
    /// starts it again with the same database, Redis database and collector.
    pub fn restart(&mut self) -> std::process::ExitStatus {
        let status = self.app.stop();
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.app = Example::start("worker", &env);
        status
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("app", &self.app)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// Starts [`Worker`]; `None` when Redis is not reachable, after
/// [`tracewire::testing::service_unavailable`] (a failure under CI, a loud
/// skip elsewhere) named `test`.
pub fn start_worker(test: &str, redis_db: u8) -> Option<Worker> {
    let redis_url = format!(
        "{}/{redis_db}",
        std::env::var("REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
            .trim_end_matches('/')
    );
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut redis = match client.get_connection() {
        Ok(conn) => conn,
        Err(e) => {
            tracewire::testing::service_unavailable("Redis", &redis_url, test, &e);
            return None;
        }
    };
    let _: () = redis::cmd("FLUSHDB").query(&mut redis).unwrap();
    let (collector, received) = receiver::http_receiver(200);
    let db = std::env::temp_dir().join(format!(
        "tracewire-worker-{redis_db}-{}.db",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&db);
    let database_url = format!("sqlite://{}?mode=rwc", db.display());
    let env = vec![
        ("DATABASE_URL", database_url),
        ("REDIS_URL", redis_url),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    let borrowed: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = Example::start("worker", &borrowed);
    Some(Worker {
        app,
        received,
        redis,
        db,
        env,
    })
}
