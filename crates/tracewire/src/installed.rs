//! A value `init` installs for the whole process (the exposition, the trace
//! store, the tracer provider for integrations, the telemetry itself), read
//! from any thread. A lock poisoned by a panic elsewhere still yields the
//! value: telemetry does not switch itself off because application code
//! panicked.

use std::sync::RwLock;

/// One installed value; `None` until `init` (or after an `init` without it).
#[derive(Debug)]
pub(crate) struct Installed<T>(RwLock<Option<T>>);

impl<T: Clone> Installed<T> {
    pub(crate) const fn new() -> Self {
        Self(RwLock::new(None))
    }

    /// Replaces the value.
    pub(crate) fn set(&self, value: Option<T>) {
        match self.0.write() {
            Ok(mut slot) => *slot = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }

    /// A copy of the value (an `Arc`'s, for the large ones).
    pub(crate) fn get(&self) -> Option<T> {
        match self.0.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}
