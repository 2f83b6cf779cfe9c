//! The backing services tests talk to: where they are, whether they answer,
//! and how to start a local one that is installed but stopped.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One service the test suite may need.
pub struct Service {
    pub name: &'static str,
    /// The variable that points at it, and its default.
    pub env: &'static str,
    pub default_url: &'static str,
    pub default_port: u16,
    /// The binary that must exist for us to start it, and how.
    pub binary: &'static str,
    start: fn() -> Command,
    /// Crates whose tests need it (a service no current crate needs is
    /// reported, never required).
    pub needed_by: &'static [&'static str],
}

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

pub const SERVICES: &[Service] = &[
    Service {
        name: "PostgreSQL",
        env: "DATABASE_URL",
        default_url: "postgres://postgres@127.0.0.1:5432/test",
        default_port: 5432,
        binary: "/usr/bin/pg_ctlcluster",
        start: || {
            let version = std::fs::read_dir("/etc/postgresql")
                .ok()
                .and_then(|mut d| d.next())
                .and_then(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .unwrap_or_else(|| "15".to_owned());
            cmd(
                "pg_ctlcluster",
                &["--skip-systemctl-redirect", &version, "main", "start"],
            )
        },
        needed_by: &["crates/tracewire-sqlx"],
    },
    Service {
        name: "MariaDB",
        env: "MYSQL_URL",
        default_url: "mysql://root@127.0.0.1:3306/test",
        default_port: 3306,
        binary: "/usr/sbin/mariadbd",
        start: || {
            cmd(
                "start-stop-daemon",
                &[
                    "--start",
                    "--oknodo",
                    "--background",
                    "--exec",
                    "/usr/sbin/mariadbd",
                ],
            )
        },
        needed_by: &["crates/tracewire-sqlx"],
    },
    Service {
        name: "Redis",
        env: "REDIS_URL",
        default_url: "redis://127.0.0.1:6379",
        default_port: 6379,
        binary: "/usr/bin/redis-server",
        start: || {
            cmd(
                "redis-server",
                &[
                    "--daemonize",
                    "yes",
                    "--bind",
                    "127.0.0.1",
                    "-::1",
                    "--port",
                    "6379",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
            )
        },
        needed_by: &["crates/tracewire-redis", "crates/tracewire-queue"],
    },
    Service {
        name: "RabbitMQ",
        env: "AMQP_URL",
        default_url: "amqp://guest:guest@127.0.0.1:5672/%2f",
        default_port: 5672,
        binary: "/usr/sbin/rabbitmq-server",
        start: || cmd("rabbitmq-server", &["-detached"]),
        needed_by: &["crates/tracewire-queue"],
    },
    Service {
        name: "NATS",
        env: "NATS_URL",
        default_url: "nats://127.0.0.1:4222",
        default_port: 4222,
        binary: "/usr/sbin/nats-server",
        start: || {
            cmd(
                "start-stop-daemon",
                &[
                    "--start",
                    "--oknodo",
                    "--background",
                    "--exec",
                    "/usr/sbin/nats-server",
                    "--",
                    "-a",
                    "127.0.0.1",
                    "-p",
                    "4222",
                    "-js",
                    "-sd",
                    "/var/lib/nats-server",
                ],
            )
        },
        needed_by: &["crates/tracewire-queue"],
    },
];

/// `host:port` of a service URL (`scheme://user:pass@host:port/path`).
pub fn host_port(url: &str, default_port: u16) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = hostport.strip_prefix('[') {
        let (host, port) = v6.split_once(']')?;
        let port = port
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(default_port);
        return Some((host.to_owned(), port));
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => Some((h.to_owned(), p.parse().ok()?)),
        None => Some((hostport.to_owned(), default_port)),
    }
}

fn answers(host: &str, port: u16) -> bool {
    (host, port)
        .to_socket_addrs()
        .map(|mut addrs| {
            addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
        })
        .unwrap_or(false)
}

fn is_local(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

/// What became of one service.
pub enum Status {
    Up,
    Started,
    Missing(String),
}

impl Service {
    pub fn url(&self) -> String {
        std::env::var(self.env)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| self.default_url.to_owned())
    }

    pub fn is_needed(&self, workspace: &Path) -> bool {
        self.needed_by.iter().any(|c| workspace.join(c).is_dir())
    }

    /// Checks the service, starting it when it is local, installed and down.
    pub fn ensure(&self) -> Status {
        let url = self.url();
        let Some((host, port)) = host_port(&url, self.default_port) else {
            return Status::Missing(format!("{}={url:?} is not a URL", self.env));
        };
        if answers(&host, port) {
            return Status::Up;
        }
        if !is_local(&host) {
            return Status::Missing(format!("{host}:{port} does not answer"));
        }
        if !Path::new(self.binary).exists() {
            return Status::Missing(format!(
                "nothing answers on {host}:{port} and {} is not installed",
                self.binary
            ));
        }
        eprintln!(
            "xtask: {} is installed but not answering on {host}:{port}; starting it",
            self.name
        );
        let started = (self.start)()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !started.is_ok_and(|s| s.success()) {
            return Status::Missing(format!("starting {} failed", self.name));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if answers(&host, port) {
                return Status::Started;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        Status::Missing(format!(
            "{} was started but {host}:{port} still does not answer",
            self.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn urls_give_host_and_port() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/test", 1),
            Some(("127.0.0.1".into(), 5432))
        );
        assert_eq!(
            host_port("amqp://guest:guest@localhost/%2f", 5672),
            Some(("localhost".into(), 5672))
        );
        assert_eq!(
            host_port("redis://[::1]:6380", 6379),
            Some(("::1".into(), 6380))
        );
        assert_eq!(
            host_port("nats://127.0.0.1", 4222),
            Some(("127.0.0.1".into(), 4222))
        );
        assert_eq!(host_port("not a url", 1), None);
    }
}
