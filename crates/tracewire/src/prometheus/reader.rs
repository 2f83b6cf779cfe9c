//! A pull reader that the exposition collects from on each scrape.

use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};

/// A cloneable handle on one [`ManualReader`]: the meter provider owns one
/// clone, the exposition another.
#[derive(Debug, Clone, Default)]
pub(crate) struct PullReader(Arc<ManualReader>);

impl PullReader {
    pub(crate) fn collect_now(&self) -> Option<ResourceMetrics> {
        let mut rm = ResourceMetrics::default();
        self.0.collect(&mut rm).ok()?;
        Some(rm)
    }
}

impl MetricReader for PullReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        // Prometheus needs cumulative values.
        self.0.temporality(kind)
    }
}
