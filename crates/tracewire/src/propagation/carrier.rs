//! `http::HeaderMap` as an OpenTelemetry carrier.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector};

/// Writes propagation fields into a [`HeaderMap`], replacing earlier values.
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

/// Reads propagation fields from a [`HeaderMap`], every line of a repeated
/// field included (trace context needs them all).
#[derive(Debug, Clone, Copy)]
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

/// Resolves the names our propagators use without allocating.
fn header_name(key: &str) -> Option<HeaderName> {
    Some(match key {
        "traceparent" => HeaderName::from_static("traceparent"),
        "tracestate" => HeaderName::from_static("tracestate"),
        "baggage" => HeaderName::from_static("baggage"),
        "b3" => HeaderName::from_static("b3"),
        other => HeaderName::from_bytes(other.as_bytes()).ok()?,
    })
}

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Some(name), Ok(value)) = (header_name(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.to_str().unwrap_or(""))
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self
            .0
            .get_all(key)
            .iter()
            // A value that is not visible ASCII is still a line: keep its place
            // (it makes a repeated traceparent invalid) but not its content.
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        (!values.is_empty()).then_some(values)
    }
}
