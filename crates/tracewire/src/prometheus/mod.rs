//! Prometheus exposition of the OpenTelemetry metrics, rendered with
//! `prometheus-client`.
//!
//! One metrics API (OpenTelemetry instruments), two outputs: OTLP push and this
//! pull endpoint. Names follow the specification's translation
//! (`http.server.request.duration` in `s` → `http_server_request_duration_seconds`,
//! counters get `_total`, the resource becomes one `target_info`, scopes become
//! `otel_scope_*` labels), and histograms and counters recorded through
//! [`crate::metrics`] inside sampled spans carry OpenMetrics exemplars with
//! `trace_id` and `span_id`.
//!
//! Three ways to serve it:
//! - [`render`] / [`render_for_accept`]: the text, for any HTTP stack;
//! - `tracewire_axum::metrics_handler` for axum (`instrument_all()` mounts it);
//! - [`serve`]: a standalone listener (`OTEL_METRICS_EXPORTER=prometheus`
//!   starts one on `OTEL_EXPORTER_PROMETHEUS_HOST:PORT`, default `localhost:9464`).
//!
//! A short job that nobody scrapes pushes instead: [`Pushgateway`] (on
//! shutdown), or OTLP (the final export of `Telemetry::shutdown`).

mod encode;
mod push;
mod reader;
mod translate;

use std::net::SocketAddr;
use std::sync::Arc;

pub use encode::Format;
pub use push::Pushgateway;
pub(crate) use reader::PullReader;

/// A handle on the pull side of a meter provider.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    reader: PullReader,
}

impl Exposition {
    pub(crate) fn new(reader: PullReader) -> Self {
        Self { reader }
    }

    /// Collects now and renders in `format`.
    pub fn render(&self, format: Format) -> String {
        encode::render(self.reader.collect_now().as_ref(), format)
    }
}

static ACTIVE: crate::installed::Installed<Arc<Exposition>> = crate::installed::Installed::new();

pub(crate) fn set_active(exposition: Option<Exposition>) {
    ACTIVE.set(exposition.map(Arc::new));
}

fn active() -> Option<Arc<Exposition>> {
    ACTIVE.get()
}

/// Renders the metrics of the provider installed by [`crate::init`] in
/// OpenMetrics text. Before `init` (or with metrics disabled) it renders an
/// empty exposition.
pub fn render() -> String {
    render_format(Format::OpenMetrics)
}

/// Renders in the given format.
pub fn render_format(format: Format) -> String {
    match active() {
        Some(exposition) => exposition.render(format),
        None => encode::render(None, format),
    }
}

/// Negotiates the format from an `Accept` header value; returns the
/// `Content-Type` and the body.
pub fn render_for_accept(accept: Option<&str>) -> (&'static str, String) {
    let format = Format::from_accept(accept);
    (format.content_type(), render_format(format))
}

/// Serves `GET /metrics` on `addr` until the runtime stops. Returns the bound
/// address (port 0 picks a free one). Needs a Tokio runtime.
pub async fn serve(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    serve_exposition(addr, None).await
}

/// Serves `exposition` (or the active one when `None`).
pub(crate) async fn serve_exposition(
    addr: SocketAddr,
    exposition: Option<Exposition>,
) -> std::io::Result<SocketAddr> {
    let exposition = exposition.map(Arc::new);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(respond(stream, exposition.clone()));
        }
    });
    Ok(local)
}

/// A minimal HTTP/1.1 exchange: read the request head, answer, close. Enough
/// for Prometheus and curl, with no server framework in the core crate.
async fn respond(mut stream: tokio::net::TcpStream, exposition: Option<Arc<Exposition>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 && head.len() + n <= 16 * 1024 => head.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let path = request_line.split(' ').nth(1).unwrap_or("");
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.trim().to_owned());
    if request_line.starts_with("GET ") {
        // The trace browser, when on, shares this admin listener.
        if let Some(page) = crate::view::respond(path) {
            let mut head = format!(
                "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
                page.status,
                match page.status {
                    200 => "OK",
                    400 => "Bad Request",
                    _ => "Not Found",
                },
                page.content_type,
                page.body.len()
            );
            for (name, value) in page.headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&page.body).await;
            let _ = stream.shutdown().await;
            return;
        }
    }
    let (status, content_type, body) = if request_line.starts_with("GET ")
        && (path == "/metrics" || path.starts_with("/metrics?"))
    {
        let format = Format::from_accept(accept.as_deref());
        let body = match &exposition {
            Some(e) => e.render(format),
            None => render_format(format),
        };
        ("200 OK", format.content_type(), body)
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found\n".to_owned(),
        )
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
