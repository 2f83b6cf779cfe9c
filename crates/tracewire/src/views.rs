//! Views: change what an instrument exports — its histogram buckets, the
//! attributes it keeps, its name, its cardinality limit — or drop it.
//!
//! ```no_run
//! use tracewire::View;
//! let _telemetry = tracewire::builder()
//!     // Narrower buckets for the HTTP server duration (seconds).
//!     .view(View::instrument("http.server.request.duration").buckets([0.01, 0.05, 0.1, 0.5, 1.0]))
//!     // Keep only the method and route of the client duration.
//!     .view(View::instrument("http.client.request.duration").attributes(["http.request.method", "server.address"]))
//!     // No DB pool metrics at all.
//!     .view(View::instrument("db.client.connection.*").drop())
//!     .cardinality_limit(500)
//!     .init();
//! ```
//!
//! One instrument is changed by the first view that names it (an exact name,
//! or a prefix ending in `*`); views are never combined, so an instrument is
//! never exported twice. Every stream has a cardinality limit: the view's,
//! else [`TelemetryBuilder::cardinality_limit`](crate::TelemetryBuilder::cardinality_limit),
//! else the SDK's 2000. Attribute sets past it are folded into one series
//! with `otel.metric.overflow="true"`, so a label explosion costs one series.
//! Histogram exemplars follow a view's buckets; a renamed instrument has no
//! exemplars.

use opentelemetry_sdk::metrics::{Aggregation, Instrument, Stream};

/// A change to one instrument (or a family of them); see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    instrument: String,
    name: Option<String>,
    buckets: Option<Vec<f64>>,
    attributes: Option<Vec<String>>,
    drop: bool,
    cardinality_limit: Option<usize>,
}

impl View {
    /// A view of the instrument called `name`, or of every instrument whose
    /// name starts with `prefix` when given as `prefix*`.
    pub fn instrument(name: impl Into<String>) -> Self {
        Self {
            instrument: name.into(),
            name: None,
            buckets: None,
            attributes: None,
            drop: false,
            cardinality_limit: None,
        }
    }

    /// Exports the instrument under `name`.
    pub fn rename(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Histogram bucket boundaries (increasing upper bounds).
    pub fn buckets(mut self, boundaries: impl IntoIterator<Item = f64>) -> Self {
        self.buckets = Some(boundaries.into_iter().collect());
        self
    }

    /// Keeps only these attribute keys; the others are dropped before
    /// aggregation (series that differed only by them merge).
    pub fn attributes<K: Into<String>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.attributes = Some(keys.into_iter().map(Into::into).collect());
        self
    }

    /// Exports nothing of the instrument.
    pub fn drop(mut self) -> Self {
        self.drop = true;
        self
    }

    /// At most `limit` attribute sets (then the overflow series).
    pub fn cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = Some(limit);
        self
    }

    fn matches(&self, name: &str) -> bool {
        match self.instrument.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.instrument,
        }
    }

    /// The instrument name whose exemplar buckets this view changes.
    pub(crate) fn exemplar_buckets(&self) -> Option<(&str, &[f64])> {
        match (&self.buckets, self.instrument.ends_with('*')) {
            (Some(buckets), false) => Some((&self.instrument, buckets)),
            _ => None,
        }
    }

    fn stream(&self, default_limit: Option<usize>) -> Option<Stream> {
        let mut stream = Stream::builder();
        if self.drop {
            return Stream::builder()
                .with_aggregation(Aggregation::Drop)
                .build()
                .ok();
        }
        if let Some(name) = &self.name {
            stream = stream.with_name(name.clone());
        }
        if let Some(buckets) = &self.buckets {
            stream = stream.with_aggregation(Aggregation::ExplicitBucketHistogram {
                boundaries: buckets.clone(),
                record_min_max: true,
            });
        }
        if let Some(keys) = &self.attributes {
            stream = stream
                .with_allowed_attribute_keys(keys.iter().cloned().map(opentelemetry::Key::new));
        }
        if let Some(limit) = self.cardinality_limit.or(default_limit) {
            stream = stream.with_cardinality_limit(limit.max(1));
        }
        stream.build().ok()
    }
}

/// The one view function handed to the SDK: the first matching view, else
/// the default cardinality limit, else the instrument as it is.
pub(crate) fn compose(
    views: Vec<View>,
    default_limit: Option<usize>,
) -> impl Fn(&Instrument) -> Option<Stream> + Send + Sync + 'static {
    move |instrument: &Instrument| match views.iter().find(|v| v.matches(instrument.name())) {
        Some(view) => view.stream(default_limit),
        None => default_limit.and_then(|limit| {
            Stream::builder()
                .with_cardinality_limit(limit.max(1))
                .build()
                .ok()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::View;

    #[test]
    fn names_and_prefixes_match() {
        let exact = View::instrument("http.server.request.duration");
        assert!(exact.matches("http.server.request.duration"));
        assert!(!exact.matches("http.server.request.duration.extra"));
        let family = View::instrument("db.client.*");
        assert!(family.matches("db.client.operation.duration"));
        assert!(!family.matches("http.client.request.duration"));
        assert_eq!(family.buckets([1.0]).exemplar_buckets(), None);
    }
}
