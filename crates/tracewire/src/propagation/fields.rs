//! Reading propagation fields: what every propagator of this module needs.

use opentelemetry::propagation::Extractor;

/// Optional whitespace of RFC 7230: spaces and tabs.
pub(crate) fn ows_trim(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Every value of a (case-insensitive) field, in order.
pub(crate) fn values_of<'a>(extractor: &'a dyn Extractor, key: &str) -> Vec<&'a str> {
    extractor.get_all(key).unwrap_or_default()
}
