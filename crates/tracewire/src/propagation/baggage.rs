//! W3C Baggage: the `baggage` header.
//!
//! Values are percent-decoded on receipt (invalid UTF-8 becomes U+FFFD) and
//! percent-encoded on the way out with exactly the characters the grammar
//! forbids, so any string survives a round trip. Whole members are dropped
//! past 64 members or 8192 bytes; malformed members are skipped alone.

use std::fmt::Write as _;

use opentelemetry::Context;
use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::{
    Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter,
};

use super::fields::{ows_trim, values_of};

/// The header name.
pub const BAGGAGE: &str = "baggage";
/// Members every participant must propagate.
const MAX_MEMBERS: usize = 64;
/// Bytes every participant must propagate (all `baggage` lines combined).
const MAX_BYTES: usize = 8192;

/// RFC 7230 `tchar`: the characters of a baggage key.
fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~%".contains(&c)
}

/// `baggage-octet`: sent literally; everything else is percent-encoded.
/// `%` itself is in the grammar's range but always encoded, so decoding is exact.
fn is_baggage_octet(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e) && c != b'%'
}

/// Percent-encodes a baggage value.
pub fn encode_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &c in value.as_bytes() {
        if is_baggage_octet(c) {
            out.push(c as char);
        } else {
            let _ = write!(out, "%{c:02X}");
        }
    }
    out
}

/// Percent-decodes a baggage value; a `%` not followed by two hex digits is kept
/// literally, invalid UTF-8 becomes U+FFFD.
pub fn decode_value(value: &str) -> String {
    let b = value.as_bytes();
    let mut bytes = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hi = (b[i + 1] as char).to_digit(16);
            let lo = (b[i + 2] as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                bytes.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        bytes.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One parsed member: key, decoded value, properties (kept opaque).
type Member = (String, String, String);

/// Parses combined `baggage` header lines. Malformed members are skipped; the
/// member and byte limits drop whole members from the end.
pub fn parse_baggage<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<Member> {
    let mut members = Vec::new();
    let mut bytes = 0;
    'lines: for line in lines {
        for raw in line.split(',') {
            let raw = ows_trim(raw);
            if raw.is_empty() {
                continue;
            }
            if members.len() == MAX_MEMBERS || bytes + raw.len() > MAX_BYTES {
                break 'lines;
            }
            if let Some(member) = parse_member(raw) {
                bytes += raw.len() + 1;
                members.push(member);
            }
        }
    }
    members
}

fn parse_member(raw: &str) -> Option<Member> {
    let (pair, properties) = match raw.split_once(';') {
        Some((pair, props)) => (pair, props),
        None => (raw, ""),
    };
    let (key, value) = pair.split_once('=')?;
    let (key, value) = (ows_trim(key), ows_trim(value));
    if key.is_empty() || !key.bytes().all(is_token_char) {
        return None;
    }
    if !value.bytes().all(|c| is_baggage_octet(c) || c == b'%') {
        return None;
    }
    let properties = properties
        .split(';')
        .map(ows_trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(";");
    Some((key.to_owned(), decode_value(value), properties))
}

/// The `baggage` propagator.
#[derive(Debug, Clone, Copy, Default)]
pub struct BaggagePropagator {
    _private: (),
}

static BAGGAGE_FIELDS: std::sync::LazyLock<[String; 1]> =
    std::sync::LazyLock::new(|| [BAGGAGE.to_owned()]);

impl BaggagePropagator {
    /// Creates the propagator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TextMapPropagator for BaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let baggage = cx.baggage();
        if baggage.is_empty() {
            return;
        }
        let mut header = String::new();
        for (count, (key, (value, metadata))) in baggage.iter().enumerate() {
            let mut member = format!("{}={}", key.as_str(), encode_value(value.as_str()));
            if !metadata.as_str().is_empty() {
                member.push(';');
                member.push_str(metadata.as_str());
            }
            if count == MAX_MEMBERS {
                break;
            }
            // A member that does not fit is dropped whole; smaller ones may still.
            if header.len() + member.len() + 1 > MAX_BYTES {
                continue;
            }
            if !header.is_empty() {
                header.push(',');
            }
            header.push_str(&member);
        }
        // Never an empty header: it would tell the next hop nothing but noise.
        if !header.is_empty() {
            injector.set(BAGGAGE, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let members = parse_baggage(values_of(extractor, BAGGAGE));
        if members.is_empty() {
            return cx.clone();
        }
        let mut baggage = Baggage::new();
        for (key, value, properties) in members {
            // Duplicate keys: the last one wins (OTel baggage API).
            baggage.insert_with_metadata(key, value, properties);
        }
        cx.with_baggage(baggage)
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(BAGGAGE_FIELDS.as_slice())
    }
}
