//! The HTTP duration and active-request instruments, created once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, ObservableUpDownCounter};

use super::method::KnownMethod;
use super::{attr, metric};
use crate::metrics::{DURATION_BUCKETS, Histogram, duration_histogram, histogram};

/// Body-size buckets in bytes (no semconv advice): powers of 4 from 64 B to 64 MiB.
const SIZE_BUCKETS: &[f64] = &[
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];

/// `http.server.active_requests`, counted in atomics per method and scheme
/// (two atomic operations per request) and observed by the SDK only when
/// metrics are collected.
#[derive(Debug)]
struct ActiveRequests {
    /// `[method index][0 = http, 1 = https]`
    counts: [[AtomicI64; 2]; KnownMethod::COUNT],
    /// Series seen at least once (so idle ones report 0, unseen ones nothing).
    seen: [[AtomicBool; 2]; KnownMethod::COUNT],
}

impl ActiveRequests {
    fn slot(method: KnownMethod, scheme: &str) -> (usize, usize) {
        (method.index(), usize::from(scheme == "https"))
    }
}

/// Server-side instruments.
#[derive(Debug, Clone)]
pub struct ServerInstruments {
    /// `http.server.request.duration` (s).
    pub duration: Histogram,
    active: Arc<ActiveRequests>,
    _active_observer: ObservableUpDownCounter<i64>,
    /// `http.server.request.body.size` (opt-in).
    pub request_body_size: Histogram,
    /// `http.server.response.body.size` (opt-in).
    pub response_body_size: Histogram,
}

impl ServerInstruments {
    /// Creates the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        let active = Arc::new(ActiveRequests {
            counts: std::array::from_fn(|_| [AtomicI64::new(0), AtomicI64::new(0)]),
            seen: std::array::from_fn(|_| [AtomicBool::new(false), AtomicBool::new(false)]),
        });
        let observed = Arc::clone(&active);
        let active_observer = meter
            .i64_observable_up_down_counter(metric::SERVER_ACTIVE_REQUESTS)
            .with_unit("{request}")
            .with_description("Number of active HTTP server requests.")
            .with_callback(move |observer| {
                for (m, (counts, seen)) in observed.counts.iter().zip(&observed.seen).enumerate() {
                    for (s, scheme) in ["http", "https"].into_iter().enumerate() {
                        if seen[s].load(Ordering::Relaxed) {
                            observer.observe(
                                counts[s].load(Ordering::Relaxed),
                                &[
                                    KeyValue::new(
                                        attr::HTTP_REQUEST_METHOD,
                                        KnownMethod::from_index(m).as_str(),
                                    ),
                                    KeyValue::new(attr::URL_SCHEME, scheme),
                                ],
                            );
                        }
                    }
                }
            })
            .build();
        Self {
            duration: duration_histogram(
                meter,
                metric::SERVER_REQUEST_DURATION,
                "Duration of HTTP server requests.",
                DURATION_BUCKETS,
            ),
            active,
            _active_observer: active_observer,
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

    /// Counts a request in (`+1`) or out (`-1`) of `http.server.active_requests`.
    pub fn active(&self, delta: i64, method: KnownMethod, scheme: &str) {
        let (m, s) = ActiveRequests::slot(method, scheme);
        self.active.counts[m][s].fetch_add(delta, Ordering::Relaxed);
        if !self.active.seen[m][s].load(Ordering::Relaxed) {
            self.active.seen[m][s].store(true, Ordering::Relaxed);
        }
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
