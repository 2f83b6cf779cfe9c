//! Bound duration-histogram handles, one per attribute combination, so that
//! recording a request's duration does not hash its attributes every time.
//!
//! The combinations are bounded: route templates (interned), methods from the
//! known set, status codes, a few error kinds, protocol versions. Past a cap,
//! durations are recorded unbound.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::RwLock;

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

/// Mixes the key's fields with one multiply each (the key is small and trusted).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Handles = HashMap<DurationKey, BoundHistogram, BuildHasherDefault<KeyHasher>>;

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
