//! Bound duration-histogram handles, one per attribute combination, so that
//! recording a request's duration does not hash its attributes every time.
//!
//! The combinations are bounded: route templates (interned), methods from the
//! known set, status codes, a few error kinds, protocol versions. Past a cap,
//! durations are recorded unbound.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::RwLock;

use tracewire::http::SmallKeyHasher;
use tracewire::metrics::{BoundHistogram, Histogram};
use tracewire::otel::KeyValue;

const MAX_HANDLES: usize = 4096;

/// Everything that decides the duration's attributes, packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DurationKey {
    /// Address of the interned route template (0: no route).
    pub(crate) route: usize,
    pub(crate) method: u8,
    pub(crate) scheme: u8,
    pub(crate) status: u16,
    pub(crate) error: u8,
    pub(crate) version: u8,
}

type Handles = HashMap<DurationKey, BoundHistogram, BuildHasherDefault<SmallKeyHasher>>;

#[derive(Default)]
pub(crate) struct DurationHandles {
    handles: RwLock<Handles>,
}

impl DurationHandles {
    /// Records `seconds` for `key`, binding a handle with `attributes()` the
    /// first time; unbound when `key` is `None` or the cache is full.
    pub(crate) fn record(
        &self,
        histogram: &Histogram,
        key: Option<DurationKey>,
        seconds: f64,
        attributes: impl FnOnce() -> smallvec::SmallVec<[KeyValue; 8]>,
    ) {
        let Some(key) = key else {
            histogram.record(seconds, &attributes());
            return;
        };
        // Recorded under the read lock: no handle clone (two atomic operations).
        if let Ok(handles) = self.handles.read() {
            if let Some(handle) = handles.get(&key) {
                handle.record(seconds);
                return;
            }
        }
        let attributes = attributes();
        match self.handles.write() {
            Ok(mut handles) if handles.len() < MAX_HANDLES || handles.contains_key(&key) => {
                handles
                    .entry(key)
                    .or_insert_with(|| histogram.bind(&attributes))
                    .record(seconds);
            }
            _ => histogram.record(seconds, &attributes),
        }
    }
}
