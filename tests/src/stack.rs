//! The parts of `deploy/` that run natively, for tests: Debian's Prometheus,
//! Alertmanager and Pushgateway on free loopback ports, each in a temporary
//! directory and killed on drop, and a webhook receiver that records what
//! Alertmanager delivers.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{free_port, http_get, wait_for};

/// A native server of the stack.
#[derive(Debug)]
pub struct Native {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its temporary directory (configuration, data).
    pub dir: PathBuf,
}

impl Drop for Native {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tracewire-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `program` with `args` (which may name `{dir}` and `{addr}`) and
/// waits until `health` answers 200.
fn start(
    name: &str,
    program: &str,
    args: &[String],
    files: &[(&str, &str)],
    health: &str,
) -> Native {
    let dir = temp_dir(name);
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("{dir}", &dir.display().to_string())
                .replace("{addr}", &addr.to_string())
        })
        .collect();
    let log = std::fs::File::create(dir.join("log.txt")).unwrap();
    let child = Command::new(program)
        .args(&args)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {program}: {e}"));
    let native = Native { child, addr, dir };
    let ready = wait_for(Duration::from_secs(30), || {
        std::panic::catch_unwind(|| http_get(addr, health, &[]).status == 200)
            .ok()
            .filter(|ok| *ok)
    });
    assert!(
        ready.is_some(),
        "{program} never became healthy: {}",
        std::fs::read_to_string(native.dir.join("log.txt")).unwrap_or_default()
    );
    native
}

/// Prometheus with `config` (`prometheus.yml`) and further files beside it.
pub fn prometheus(config: &str, files: &[(&str, &str)]) -> Native {
    let mut all = vec![("prometheus.yml", config)];
    all.extend_from_slice(files);
    start(
        "prometheus",
        "prometheus",
        &[
            "--config.file={dir}/prometheus.yml".into(),
            "--storage.tsdb.path={dir}/data".into(),
            "--web.listen-address={addr}".into(),
            "--enable-feature=exemplar-storage".into(),
        ],
        &all,
        "/-/ready",
    )
}

/// Alertmanager with `config`, no clustering.
pub fn alertmanager(config: &str) -> Native {
    start(
        "alertmanager",
        "prometheus-alertmanager",
        &[
            "--config.file={dir}/alertmanager.yml".into(),
            "--storage.path={dir}/data".into(),
            "--web.listen-address={addr}".into(),
            "--cluster.listen-address=".into(),
        ],
        &[("alertmanager.yml", config)],
        "/-/ready",
    )
}

/// A Pushgateway.
pub fn pushgateway() -> Native {
    start(
        "pushgateway",
        "prometheus-pushgateway",
        &["--web.listen-address={addr}".into()],
        &[],
        "/-/ready",
    )
}

/// Runs a PromQL instant query; the decoded JSON answer.
pub fn query(prometheus: SocketAddr, promql: &str) -> serde_json::Value {
    let mut encoded = String::new();
    for byte in promql.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    let response = http_get(prometheus, &format!("/api/v1/query?query={encoded}"), &[]);
    serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("{promql}: {e}: {}", response.body))
}

/// What a webhook receiver was sent: each request's JSON body.
#[derive(Debug, Clone, Default)]
pub struct Webhook {
    /// Where it listens (`http://{addr}/alerts`).
    pub addr: Option<SocketAddr>,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Webhook {
    /// Listens on a free loopback port, answering 200 to every POST.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let hook = Self {
            addr: Some(listener.local_addr().unwrap()),
            bodies: Arc::default(),
        };
        let bodies = Arc::clone(&hook.bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("content-length")
                    {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok()
                    && let Ok(json) = serde_json::from_slice(&body)
                {
                    bodies.lock().unwrap().push(json);
                }
                let mut stream = reader.into_inner();
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        hook
    }

    /// The URL Alertmanager posts to.
    pub fn url(&self) -> String {
        format!("http://{}/alerts", self.addr.unwrap())
    }

    /// Every notification received so far.
    pub fn notifications(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}
