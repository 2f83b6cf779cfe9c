//! Metric instruments that also keep exemplars.
//!
//! The Rust SDK records no exemplars, so a spike on a dashboard cannot lead to
//! a trace. These thin wrappers record into the ordinary OpenTelemetry
//! instrument and, when the measurement is taken inside a sampled span (the
//! `trace_based` filter of `OTEL_METRICS_EXEMPLAR_FILTER`), remember the latest
//! `(value, trace_id, span_id, time)` per attribute set and bucket. The
//! Prometheus exposition ([`crate::prometheus`]) prints them as OpenMetrics
//! exemplars. Outside a sampled span the extra cost is one thread-local read.
//!
//! ```
//! let meter = opentelemetry::global::meter("my-service");
//! let duration = tracewire::metrics::duration_histogram(
//!     &meter,
//!     "jobs.duration",
//!     "Time to run one job",
//!     tracewire::metrics::DURATION_BUCKETS,
//! );
//! duration.record(0.042, &[opentelemetry::KeyValue::new("job.kind", "email")]);
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::SystemTime;

use opentelemetry::metrics::Meter;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue, Value};

use crate::config::ExemplarFilter;

/// Advised boundaries for HTTP and messaging durations, in seconds.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Advised boundaries for `db.client.operation.duration`, in seconds.
pub const DB_DURATION_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// Attribute sets per instrument that keep exemplars; the SDK's own
/// cardinality limit is 2000 as well.
const MAX_EXEMPLAR_SERIES: usize = 2000;

static FILTER: AtomicU8 = AtomicU8::new(0);

pub(crate) fn set_exemplar_filter(filter: ExemplarFilter) {
    FILTER.store(
        match filter {
            ExemplarFilter::TraceBased => 0,
            ExemplarFilter::AlwaysOn => 1,
            ExemplarFilter::AlwaysOff => 2,
        },
        Ordering::Relaxed,
    );
}

/// The span a measurement in `cx` (the current context when `None`) would
/// link to, if the filter allows one.
fn exemplar_span(cx: Option<&Context>) -> Option<(TraceId, SpanId)> {
    match cx {
        Some(cx) => exemplar_span_in(cx),
        None => Context::map_current(exemplar_span_in),
    }
}

/// The span in `cx` a measurement would link to, if the filter allows one.
fn exemplar_span_in(cx: &Context) -> Option<(TraceId, SpanId)> {
    let filter = FILTER.load(Ordering::Relaxed);
    if filter == 2 || !cx.has_active_span() {
        return None;
    }
    let span = cx.span();
    let sc = span.span_context();
    (sc.is_valid() && (filter == 1 || sc.is_sampled())).then(|| (sc.trace_id(), sc.span_id()))
}

/// One remembered measurement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Exemplar {
    pub(crate) value: f64,
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) time: SystemTime,
}

/// The latest exemplar per attribute set and bucket of one instrument.
#[derive(Debug)]
pub(crate) struct ExemplarReservoir {
    /// Histogram bucket bounds; empty for counters (one slot).
    bounds: Vec<f64>,
    slots: Mutex<Slots>,
}

impl ExemplarReservoir {
    fn offer(&self, value: f64, attributes: &[KeyValue], span: (TraceId, SpanId)) {
        self.offer_keyed(value, fingerprint(attributes.iter()), span);
    }

    /// Like `offer`, with the attribute set's fingerprint already known.
    fn offer_keyed(&self, value: f64, key: u64, (trace_id, span_id): (TraceId, SpanId)) {
        let bucket = self
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(self.bounds.len());
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        if !slots.contains_key(&key) && slots.len() >= MAX_EXEMPLAR_SERIES {
            return;
        }
        let series = slots
            .entry(key)
            .or_insert_with(|| vec![None; self.bounds.len() + 1].into_boxed_slice());
        series[bucket] = Some(Exemplar {
            value,
            trace_id,
            span_id,
            time: SystemTime::now(),
        });
    }

    /// The exemplars of one attribute set, one slot per bucket.
    pub(crate) fn series<'a>(
        &self,
        attributes: impl Iterator<Item = &'a KeyValue>,
    ) -> Option<Vec<Option<Exemplar>>> {
        let key = fingerprint(attributes);
        self.slots.lock().ok()?.get(&key).map(|s| s.to_vec())
    }
}

/// An order-independent hash of an attribute set: the SDK sorts attributes,
/// callers need not, and the two must agree. FNV-1a per attribute (cheap for
/// the short keys and values of metric attributes), summed.
fn fingerprint<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> u64 {
    attributes.fold(0u64, |acc, kv| {
        let mut h = Fnv::default();
        h.write(kv.key.as_str().as_bytes());
        h.write_u8(0xff);
        match &kv.value {
            Value::Bool(b) => h.write_u8(u8::from(*b)),
            Value::I64(i) => h.write_i64(*i),
            Value::F64(f) => h.write_u64(f.to_bits()),
            Value::String(s) => h.write(s.as_str().as_bytes()),
            other => h.write(other.to_string().as_bytes()),
        }
        acc.wrapping_add(h.finish())
    })
}

/// 64-bit FNV-1a.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Slots = HashMap<u64, Box<[Option<Exemplar>]>, BuildHasherDefault<crate::hashers::PassThrough>>;

static RESERVOIRS: LazyLock<RwLock<HashMap<String, Arc<ExemplarReservoir>>>> =
    LazyLock::new(Default::default);

fn reservoir(name: &str, bounds: &[f64]) -> Arc<ExemplarReservoir> {
    let mut all = match RESERVOIRS.write() {
        Ok(all) => all,
        Err(poisoned) => poisoned.into_inner(),
    };
    Arc::clone(all.entry(name.to_owned()).or_insert_with(|| {
        Arc::new(ExemplarReservoir {
            bounds: bounds.to_vec(),
            slots: Mutex::default(),
        })
    }))
}

/// Makes the exemplars of instrument `name` follow `bounds` (a view changed
/// its buckets). Instruments created before keep their reservoir.
pub(crate) fn set_exemplar_buckets(name: &str, bounds: &[f64]) {
    let mut all = match RESERVOIRS.write() {
        Ok(all) => all,
        Err(poisoned) => poisoned.into_inner(),
    };
    all.insert(
        name.to_owned(),
        Arc::new(ExemplarReservoir {
            bounds: bounds.to_vec(),
            slots: Mutex::default(),
        }),
    );
}

/// The reservoir of the instrument called `name`, if one was created.
pub(crate) fn reservoir_of(name: &str) -> Option<Arc<ExemplarReservoir>> {
    RESERVOIRS.read().ok()?.get(name).cloned()
}

/// A histogram of `f64` values with exemplars.
#[derive(Debug, Clone)]
pub struct Histogram {
    inner: opentelemetry::metrics::Histogram<f64>,
    exemplars: Arc<ExemplarReservoir>,
}

impl Histogram {
    /// Records `value`; inside a sampled span it becomes the bucket's exemplar.
    pub fn record(&self, value: f64, attributes: &[KeyValue]) {
        self.record_in(None, value, attributes);
    }

    /// Like [`record`](Self::record) for an operation whose context is at
    /// hand: inside a sampled span of `cx` it becomes the bucket's exemplar,
    /// without making `cx` current (an attach and a detach per record).
    /// `None` is the current context (see
    /// [`Operation::exemplar_context`](crate::instrumentation::Operation::exemplar_context)).
    pub fn record_in(&self, cx: Option<&Context>, value: f64, attributes: &[KeyValue]) {
        self.inner.record(value, attributes);
        if let Some(span) = exemplar_span(cx) {
            self.exemplars.offer(value, attributes, span);
        }
    }
}

impl Histogram {
    /// A handle for one attribute set: recording through it skips the
    /// attribute lookup (hashing every attribute) that each `record` does.
    /// Keep handles for the attribute sets a hot path sees again and again.
    pub fn bind(&self, attributes: &[KeyValue]) -> BoundHistogram {
        BoundHistogram {
            inner: self.inner.bind(attributes),
            exemplars: Arc::clone(&self.exemplars),
            fingerprint: fingerprint(attributes.iter()),
        }
    }
}

/// A [`Histogram`] bound to one attribute set.
#[derive(Debug, Clone)]
pub struct BoundHistogram {
    inner: opentelemetry::metrics::BoundHistogram<f64>,
    exemplars: Arc<ExemplarReservoir>,
    fingerprint: u64,
}

impl BoundHistogram {
    /// Records `value`; inside a sampled span it becomes the bucket's exemplar.
    pub fn record(&self, value: f64) {
        self.record_in(None, value);
    }

    /// Like [`record`](Self::record), the exemplar taken from `cx` (see
    /// [`Histogram::record_in`]).
    pub fn record_in(&self, cx: Option<&Context>, value: f64) {
        self.inner.record(value);
        if let Some(span) = exemplar_span(cx) {
            self.exemplars.offer_keyed(value, self.fingerprint, span);
        }
    }
}

/// Bound handles of one histogram, one per attribute combination an
/// integration can name with a small key (interned strings by address,
/// codes), so that recording does not hash the attributes every time.
/// Bounded: past the cap, or without a key, values are recorded unbound.
#[derive(Debug)]
pub struct BoundHistograms<K> {
    handles: RwLock<HashMap<K, BoundHistogram, BuildHasherDefault<crate::hashers::SmallKeyHasher>>>,
}

impl<K> Default for BoundHistograms<K> {
    fn default() -> Self {
        Self {
            handles: RwLock::new(HashMap::default()),
        }
    }
}

impl<K: std::hash::Hash + Eq> BoundHistograms<K> {
    /// How many combinations get a handle.
    pub const MAX_HANDLES: usize = 4096;

    /// Records `value` for `key`, binding a handle with `attributes()` the
    /// first time; unbound when `key` is `None` or the cache is full. The
    /// exemplar, if any, is the current context's span.
    pub fn record<A: AsRef<[KeyValue]>>(
        &self,
        histogram: &Histogram,
        key: Option<K>,
        value: f64,
        attributes: impl FnOnce() -> A,
    ) {
        self.record_in(None, histogram, key, value, attributes);
    }

    /// Like [`record`](Self::record), the exemplar taken from `cx` (see
    /// [`Histogram::record_in`]).
    pub fn record_in<A: AsRef<[KeyValue]>>(
        &self,
        cx: Option<&Context>,
        histogram: &Histogram,
        key: Option<K>,
        value: f64,
        attributes: impl FnOnce() -> A,
    ) {
        let Some(key) = key else {
            histogram.record_in(cx, value, attributes().as_ref());
            return;
        };
        // Recorded under the read lock: no handle clone (two atomic operations).
        if let Ok(handles) = self.handles.read() {
            if let Some(handle) = handles.get(&key) {
                handle.record_in(cx, value);
                return;
            }
        }
        let attributes = attributes();
        match self.handles.write() {
            Ok(mut handles) if handles.len() < Self::MAX_HANDLES || handles.contains_key(&key) => {
                handles
                    .entry(key)
                    .or_insert_with(|| histogram.bind(attributes.as_ref()))
                    .record_in(cx, value);
            }
            _ => histogram.record_in(cx, value, attributes.as_ref()),
        }
    }
}

/// A monotonic `u64` counter with exemplars.
#[derive(Debug, Clone)]
pub struct Counter {
    inner: opentelemetry::metrics::Counter<u64>,
    exemplars: Arc<ExemplarReservoir>,
}

impl Counter {
    /// Adds `value`; inside a sampled span it becomes the series' exemplar.
    pub fn add(&self, value: u64, attributes: &[KeyValue]) {
        self.add_in(None, value, attributes);
    }

    /// Like [`add`](Self::add), the exemplar taken from `cx` (see
    /// [`Histogram::record_in`]).
    pub fn add_in(&self, cx: Option<&Context>, value: u64, attributes: &[KeyValue]) {
        self.inner.add(value, attributes);
        if let Some(span) = exemplar_span(cx) {
            self.exemplars.offer(value as f64, attributes, span);
        }
    }
}

/// A histogram with explicit `boundaries` (durations must pass the advised
/// ones: the SDK's defaults are millisecond-sized).
pub fn histogram(
    meter: &Meter,
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    boundaries: &[f64],
) -> Histogram {
    Histogram {
        inner: meter
            .f64_histogram(name)
            .with_unit(unit)
            .with_description(description)
            .with_boundaries(boundaries.to_vec())
            .build(),
        exemplars: reservoir(name, boundaries),
    }
}

/// A duration histogram in seconds.
pub fn duration_histogram(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
    boundaries: &[f64],
) -> Histogram {
    histogram(meter, name, "s", description, boundaries)
}

/// A counter.
pub fn counter(
    meter: &Meter,
    name: &'static str,
    unit: &'static str,
    description: &'static str,
) -> Counter {
    Counter {
        inner: meter
            .u64_counter(name)
            .with_unit(unit)
            .with_description(description)
            .build(),
        exemplars: reservoir(name, &[]),
    }
}
