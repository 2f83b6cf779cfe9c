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
        // Not visible ASCII: as text if it is UTF-8 (the grammars reject what
        // they must), else nothing a grammar accepts.
        self.0.get(key).map(|v| {
            v.to_str()
                .unwrap_or_else(|_| std::str::from_utf8(v.as_bytes()).unwrap_or(NOT_TEXT))
        })
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let mut values: Vec<&str> = Vec::new();
        for value in self.0.get_all(key) {
            match value.to_str() {
                Ok(text) => values.push(text),
                Err(_) => push_list_members(value.as_bytes(), &mut values),
            }
        }
        (!values.is_empty()).then_some(values)
    }
}

/// Stands in for a list member that is not UTF-8: no propagation grammar
/// accepts it, so the member is rejected exactly as a malformed one is.
const NOT_TEXT: &str = "\u{FFFD}";

/// A header line with bytes beyond visible ASCII, as `,`-separated pieces:
/// the UTF-8 ones as they are, the others as [`NOT_TEXT`]. Every list header
/// of the W3C specifications (tracestate, baggage) joins lines with `,`, so
/// the pieces parse as the original line's members would — a baggage member
/// with raw Latin-1 bytes is skipped alone, a tracestate with one is
/// discarded, and a traceparent with one becomes several lines (invalid).
fn push_list_members<'a>(line: &'a [u8], values: &mut Vec<&'a str>) {
    for piece in line.split(|&c| c == b',') {
        values.push(std::str::from_utf8(piece).unwrap_or(NOT_TEXT));
    }
}
