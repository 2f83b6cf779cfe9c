//! Delivering a short job's metrics before it exits: a PUT of the text
//! exposition to a Prometheus Pushgateway at `{url}/metrics/job/{job}`
//! (`TRACEWIRE_PUSHGATEWAY_URL`, `TRACEWIRE_PUSHGATEWAY_JOB`, or
//! [`TelemetryBuilder::pushgateway`](crate::TelemetryBuilder::pushgateway)),
//! done by `Telemetry::shutdown` within its deadline.
//!
//! PUT replaces the job's whole group, so a job that ran twice shows its last
//! run, not the sum of both. Plain `http://` only: a Pushgateway is reached
//! inside the cluster; put a proxy in front of it for TLS. No HTTP stack is
//! needed for one request: it is written on a `TcpStream`.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::{Duration, Instant};

use crate::error::Error;

/// Where to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushgateway {
    host: String,
    port: u16,
    /// The path prefix of the Pushgateway (usually empty).
    base_path: String,
    job: String,
}

impl Pushgateway {
    /// Parses `http://host[:port][/path]`; `job` names the group.
    pub fn new(url: &str, job: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::Exporter(format!("Pushgateway URL {url:?}: {why}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| invalid("only http:// is supported"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (
                host,
                port.parse()
                    .map_err(|_| invalid("the port is not a number"))?,
            ),
            _ => (authority, 9091),
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        if job.is_empty() {
            return Err(invalid("the job name is empty"));
        }
        Ok(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            base_path: path.trim_end_matches('/').to_owned(),
            job: job.to_owned(),
        })
    }

    /// The path the group is PUT to; the job name is percent-encoded.
    fn path(&self) -> String {
        let mut job = String::new();
        for byte in self.job.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
                job.push(char::from(byte));
            } else {
                job.push_str(&format!("%{byte:02X}"));
            }
        }
        if self.base_path.is_empty() {
            format!("/metrics/job/{job}")
        } else {
            format!("/{}/metrics/job/{job}", self.base_path)
        }
    }

    /// PUTs `body` (text format 0.0.4), giving up after `timeout`.
    pub(crate) fn push(&self, body: &str, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let failed = |why: String| {
            Error::Exporter(format!(
                "pushing metrics to the Pushgateway at {}:{}: {why}",
                self.host, self.port
            ))
        };
        let left = || {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        };
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| failed(e.to_string()))?
            .next()
            .ok_or_else(|| failed("no address".into()))?;
        let mut stream =
            TcpStream::connect_timeout(&addr, left()).map_err(|e| failed(e.to_string()))?;
        stream
            .set_write_timeout(Some(left()))
            .map_err(|e| failed(e.to_string()))?;
        let head = format!(
            "PUT {} HTTP/1.1\r\nhost: {}:{}\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            self.path(),
            self.host,
            self.port,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()))
            .map_err(|e| failed(e.to_string()))?;
        stream
            .set_read_timeout(Some(left()))
            .map_err(|e| failed(e.to_string()))?;
        let mut response = Vec::new();
        let _ = stream.take(64 * 1024).read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response);
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| failed("no HTTP response".into()))?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            let reason = response.split("\r\n\r\n").nth(1).unwrap_or("").trim();
            Err(failed(format!("HTTP {status}: {reason}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_bad_ones_are_clear_errors() {
        let p = Pushgateway::new("http://pg.internal:9091", "nightly report").unwrap();
        assert_eq!(p.path(), "/metrics/job/nightly%20report");
        let p = Pushgateway::new("http://pg/prefix/", "j").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.path().as_str()),
            ("pg", 9091, "/prefix/metrics/job/j")
        );
        let p = Pushgateway::new("http://[::1]:9999", "j").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 9999));
        for (url, job, why) in [
            ("https://pg:9091", "j", "only http://"),
            ("http://:9091", "j", "no host"),
            ("http://pg:port", "j", "not a number"),
            ("http://pg:9091", "", "empty"),
        ] {
            let e = Pushgateway::new(url, job).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn a_refused_push_is_an_error_within_the_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let p = Pushgateway::new(&format!("http://127.0.0.1:{port}"), "j").unwrap();
        let started = Instant::now();
        assert!(p.push("x 1\n", Duration::from_millis(500)).is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
