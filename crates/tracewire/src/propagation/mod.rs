//! Context propagation: our own W3C `tracecontext` and `baggage` propagators,
//! B3, the configured composite, and helpers to inject into / extract from
//! HTTP headers and any string map.
//!
//! ```
//! use tracewire::propagation;
//!
//! // Server side: continue the caller's trace.
//! let mut incoming = http::HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! let cx = propagation::extract(&incoming);
//!
//! // Client side: send it on.
//! let mut outgoing = http::HeaderMap::new();
//! propagation::inject(&cx, &mut outgoing);
//! assert!(outgoing["traceparent"].to_str().unwrap().starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
//! ```
//!
//! The helpers use the propagators chosen by [`init`](crate::init) from
//! `OTEL_PROPAGATORS` (W3C trace context + baggage until then), so they work
//! without any global OpenTelemetry setup.

mod b3;
mod baggage;
mod carrier;
mod fields;
mod trace_context;

use std::sync::{Arc, LazyLock, RwLock};

use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapCompositePropagator, TextMapPropagator,
};

pub use b3::{B3Encoding, B3Propagator};
pub use baggage::{
    BaggagePropagator, decode_value as decode_baggage_value, encode_value as encode_baggage_value,
};
pub use carrier::{HeaderExtractor, HeaderInjector};
pub use trace_context::{
    TRACEPARENT, TRACESTATE, TraceContextPropagator, Traceparent, parse_tracestate,
};

/// A propagator name accepted by `OTEL_PROPAGATORS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropagatorKind {
    /// W3C `traceparent` / `tracestate`.
    TraceContext,
    /// W3C `baggage`.
    Baggage,
    /// Zipkin B3, single header.
    B3,
    /// Zipkin B3, multiple headers.
    B3Multi,
}

impl PropagatorKind {
    /// The name used in `OTEL_PROPAGATORS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TraceContext => "tracecontext",
            Self::Baggage => "baggage",
            Self::B3 => "b3",
            Self::B3Multi => "b3multi",
        }
    }

    fn build(self) -> Box<dyn TextMapPropagator + Send + Sync> {
        match self {
            Self::TraceContext => Box::new(TraceContextPropagator::new()),
            Self::Baggage => Box::new(BaggagePropagator::new()),
            Self::B3 => Box::new(B3Propagator::new(B3Encoding::SingleHeader)),
            Self::B3Multi => Box::new(B3Propagator::new(B3Encoding::MultipleHeader)),
        }
    }
}

/// Builds the composite propagator for `kinds`, in order. An empty list is the
/// `none` propagator.
pub fn composite(kinds: &[PropagatorKind]) -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(kinds.iter().map(|k| k.build()).collect())
}

/// The configured composite and the header names it reads.
struct Active {
    propagator: Arc<TextMapCompositePropagator>,
    fields: Vec<http::HeaderName>,
}

impl Active {
    fn new(kinds: &[PropagatorKind]) -> Self {
        let propagator = Arc::new(composite(kinds));
        let fields = propagator
            .fields()
            .filter_map(|f| http::HeaderName::from_bytes(f.as_bytes()).ok())
            .collect();
        Self { propagator, fields }
    }

    /// Whether `headers` holds any field the propagators read. When none is
    /// there (the edge of the system, probes) extraction is skipped.
    fn reads_any(&self, headers: &http::HeaderMap) -> bool {
        if headers.len() <= 16 {
            headers.keys().any(|k| self.fields.contains(k))
        } else {
            self.fields.iter().any(|f| headers.contains_key(f))
        }
    }
}

static ACTIVE: LazyLock<RwLock<Active>> = LazyLock::new(|| {
    RwLock::new(Active::new(&[
        PropagatorKind::TraceContext,
        PropagatorKind::Baggage,
    ]))
});

/// Replaces the propagators the helpers of this module use.
pub(crate) fn set_active(kinds: &[PropagatorKind]) {
    let propagator = Active::new(kinds);
    match ACTIVE.write() {
        Ok(mut active) => *active = propagator,
        Err(poisoned) => *poisoned.into_inner() = propagator,
    }
}

/// The propagator the helpers use: configured by `init`, W3C by default.
pub fn active() -> Arc<TextMapCompositePropagator> {
    match ACTIVE.read() {
        Ok(active) => Arc::clone(&active.propagator),
        Err(poisoned) => Arc::clone(&poisoned.into_inner().propagator),
    }
}

/// Injects `cx` into HTTP headers.
pub fn inject(cx: &Context, headers: &mut http::HeaderMap) {
    active().inject_context(cx, &mut HeaderInjector(headers));
}

/// Injects the current context into HTTP headers.
pub fn inject_current(headers: &mut http::HeaderMap) {
    inject(&Context::current(), headers);
}

/// Extracts a remote context from HTTP headers. Malformed headers are ignored
/// per the specifications: the result then holds no remote span.
pub fn extract(headers: &http::HeaderMap) -> Context {
    extract_with_parent(&Context::new(), headers)
}

/// Like [`extract`], adding to `parent` (whose values survive).
pub fn extract_with_parent(parent: &Context, headers: &http::HeaderMap) -> Context {
    let Ok(active) = ACTIVE.read() else {
        return parent.clone();
    };
    if !active.reads_any(headers) {
        return parent.clone();
    }
    active
        .propagator
        .extract_with_context(parent, &HeaderExtractor(headers))
}

/// Injects `cx` into any string map, e.g. message headers
/// (`HashMap<String, String>` implements [`Injector`]).
pub fn inject_into(cx: &Context, carrier: &mut dyn Injector) {
    active().inject_context(cx, carrier);
}

/// Extracts a remote context from any string map.
pub fn extract_from(carrier: &dyn Extractor) -> Context {
    active().extract_with_context(&Context::new(), carrier)
}
