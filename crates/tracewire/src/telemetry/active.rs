//! The tracer provider `init` installed, for the integration crates that
//! start spans directly with the SDK (`sdk_tracer`), and its sampler.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::config::SamplerConfig;

/// The provider `init` installed, with its sampler.
type ActiveTracing = Option<(SdkTracerProvider, SamplerConfig)>;

static ACTIVE_TRACER_PROVIDER: crate::installed::Installed<(SdkTracerProvider, SamplerConfig)> =
    crate::installed::Installed::new();

pub(super) fn set_active_tracer_provider(provider: ActiveTracing) {
    ACTIVE_TRACER_PROVIDER.set(provider);
}

/// A tracer from the SDK provider installed by [`init`](crate::init), for
/// integration crates that start spans directly on the SDK (no boxing, no
/// `tracing` on the hot path). `None` before `init`, with the SDK disabled, or
/// when no span would go anywhere (no trace exporter, no local view): then
/// [`context_without_span`](crate::instrumentation::context_without_span)
/// gives an operation the ids to propagate without building a span.
pub fn sdk_tracer(scope: &'static str) -> Option<opentelemetry_sdk::trace::SdkTracer> {
    let (provider, _) = ACTIVE_TRACER_PROVIDER.get()?;
    Some(provider.tracer_with_scope(crate::own_spans::integration_scope(scope)))
}

/// The sampler of the provider installed by [`init`](crate::init), so that
/// integration crates can tell in advance whether a span will likely be kept
/// (see [`crate::http::SamplingHint`]).
pub fn active_sampler() -> Option<SamplerConfig> {
    ACTIVE_TRACER_PROVIDER.get().map(|(_, sampler)| sampler)
}
