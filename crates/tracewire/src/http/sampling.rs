//! Guessing, before a span starts, whether the sampler will keep it.
//!
//! The SDK decides inside `start`, and wants the span's attributes by then.
//! Building attributes (strings copied out of the request) for a span that is
//! then dropped is most of the cost of an unsampled request, so the HTTP
//! layers build them up front only when the span will likely be kept, and
//! otherwise add them after `start` if it turns out to be recording. A wrong
//! guess costs a little time, never correctness.

use opentelemetry::trace::SpanContext;

use crate::config::SamplerConfig;

/// What the configured sampler will likely decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplingHint {
    parent_based: bool,
    roots_kept: bool,
}

impl Default for SamplingHint {
    /// Without a known sampler: assume spans are kept.
    fn default() -> Self {
        Self {
            parent_based: true,
            roots_kept: true,
        }
    }
}

impl SamplingHint {
    /// The hint for a sampler configuration.
    pub fn from_config(sampler: SamplerConfig) -> Self {
        let (parent_based, roots_kept) = match sampler {
            SamplerConfig::AlwaysOn => (false, true),
            SamplerConfig::AlwaysOff => (false, false),
            SamplerConfig::TraceIdRatio(r) => (false, r >= 0.5),
            SamplerConfig::ParentBasedAlwaysOn => (true, true),
            SamplerConfig::ParentBasedAlwaysOff => (true, false),
            SamplerConfig::ParentBasedTraceIdRatio(r) => (true, r >= 0.5),
        };
        Self {
            parent_based,
            roots_kept,
        }
    }

    /// The hint for the provider installed by `init` (default if none).
    pub fn active() -> Self {
        crate::active_sampler()
            .map(Self::from_config)
            .unwrap_or_default()
    }

    /// Whether a span under `parent` will likely be recorded.
    pub fn likely_sampled(&self, parent: &SpanContext) -> bool {
        if self.parent_based && parent.is_valid() {
            parent.is_sampled()
        } else {
            self.roots_kept
        }
    }
}
