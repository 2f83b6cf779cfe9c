//! The HTTP duration and active-request instruments, created once.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, UpDownCounter};

use super::metric;
use crate::metrics::{DURATION_BUCKETS, Histogram, duration_histogram, histogram};

/// Body-size buckets in bytes (no semconv advice): powers of 4 from 64 B to 64 MiB.
const SIZE_BUCKETS: &[f64] = &[
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];

/// Server-side instruments.
#[derive(Debug, Clone)]
pub struct ServerInstruments {
    /// `http.server.request.duration` (s).
    pub duration: Histogram,
    /// `http.server.active_requests`.
    pub active: UpDownCounter<i64>,
    /// `http.server.request.body.size` (opt-in).
    pub request_body_size: Histogram,
    /// `http.server.response.body.size` (opt-in).
    pub response_body_size: Histogram,
}

impl ServerInstruments {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            duration: duration_histogram(
                meter,
                metric::SERVER_REQUEST_DURATION,
                "Duration of HTTP server requests.",
                DURATION_BUCKETS,
            ),
            active: meter
                .i64_up_down_counter(metric::SERVER_ACTIVE_REQUESTS)
                .with_unit("{request}")
                .with_description("Number of active HTTP server requests.")
                .build(),
            request_body_size: histogram(
                meter,
                metric::SERVER_REQUEST_BODY_SIZE,
                "By",
                "Size of HTTP server request bodies.",
                SIZE_BUCKETS,
            ),
            response_body_size: histogram(
                meter,
                metric::SERVER_RESPONSE_BODY_SIZE,
                "By",
                "Size of HTTP server response bodies.",
                SIZE_BUCKETS,
            ),
        }
    }

    /// Counts a request in (`+1`) or out (`-1`).
    pub fn active(&self, delta: i64, attributes: &[KeyValue]) {
        self.active.add(delta, attributes);
    }
}

/// Client-side instruments.
#[derive(Debug, Clone)]
pub struct ClientInstruments {
    /// `http.client.request.duration` (s).
    pub duration: Histogram,
}

impl ClientInstruments {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            duration: duration_histogram(
                meter,
                metric::CLIENT_REQUEST_DURATION,
                "Duration of HTTP client requests.",
                DURATION_BUCKETS,
            ),
        }
    }
}
