//! [`Settings`]: what every request of one layer shares — read by the layer
//! that builds it, the service and each request, and depending on none of
//! them.

use tracewire::http::{HeaderCapture, SamplingHint, ServerInstruments, ServerStrings};
use tracewire::otel_sdk::trace::SdkTracer;

use crate::durations::DurationHandles;

/// Instrumentation scope of the server spans and metrics.
pub(crate) const SCOPE: &str = "tracewire-axum";

/// The layer's configuration and instruments.
pub(crate) struct Settings {
    /// tracewire's own span path (`init`'s default); when set, `tracer` is
    /// not used.
    pub(crate) own_tracer: Option<tracewire::instrumentation::OwnTracer>,
    pub(crate) tracer: Option<SdkTracer>,
    pub(crate) sampling_hint: SamplingHint,
    pub(crate) instruments: ServerInstruments,
    pub(crate) durations: DurationHandles,
    pub(crate) strings: ServerStrings,
    pub(crate) excluded: Vec<String>,
    pub(crate) request_headers: HeaderCapture,
    pub(crate) response_headers: HeaderCapture,
    pub(crate) trust_remote_parent: bool,
    pub(crate) server_timing: bool,
    pub(crate) body_sizes: bool,
}
