//! Bound duration-histogram handles, one per attribute combination, so that
//! recording a request's duration does not hash its attributes every time.
//!
//! The combinations are bounded: route templates (interned), methods from the
//! known set, status codes, a few error kinds, protocol versions. Past a cap,
//! durations are recorded unbound.

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

/// The layer's bound duration handles, one per [`DurationKey`] (core's cache).
pub(crate) type DurationHandles = tracewire::metrics::BoundHistograms<DurationKey>;
