//! Zipkin B3 propagation, single header (`b3`) and multi header (`X-B3-*`).
//!
//! Extraction accepts both forms whichever is configured (single wins);
//! injection writes the configured form. `X-B3-ParentSpanId` is never sent,
//! and the debug flag implies sampled.

use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter,
};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

use super::fields::ows_trim;

const B3_SINGLE: &str = "b3";
const B3_TRACE_ID: &str = "x-b3-traceid";
const B3_SPAN_ID: &str = "x-b3-spanid";
const B3_SAMPLED: &str = "x-b3-sampled";
const B3_FLAGS: &str = "x-b3-flags";

/// Which header layout [`B3Propagator`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B3Encoding {
    /// One `b3: {trace}-{span}-{sampled}` header (`OTEL_PROPAGATORS=b3`).
    SingleHeader,
    /// `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled` (`OTEL_PROPAGATORS=b3multi`).
    MultipleHeader,
}

/// The B3 propagator.
#[derive(Debug, Clone)]
pub struct B3Propagator {
    encoding: B3Encoding,
    fields: Vec<String>,
}

impl B3Propagator {
    /// Creates a propagator that injects with `encoding`.
    pub fn new(encoding: B3Encoding) -> Self {
        let fields = match encoding {
            B3Encoding::SingleHeader => vec![B3_SINGLE.to_owned()],
            B3Encoding::MultipleHeader => [B3_TRACE_ID, B3_SPAN_ID, B3_SAMPLED]
                .map(str::to_owned)
                .to_vec(),
        };
        Self { encoding, fields }
    }
}

/// 16 or 32 lowercase hex characters; 64-bit ids are left-padded.
fn parse_trace_id(s: &str) -> Option<TraceId> {
    if !(s.len() == 16 || s.len() == 32)
        || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    u128::from_str_radix(s, 16)
        .ok()
        .filter(|&v| v != 0)
        .map(TraceId::from)
}

fn parse_span_id(s: &str) -> Option<SpanId> {
    if s.len() != 16 || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(s, 16)
        .ok()
        .filter(|&v| v != 0)
        .map(SpanId::from)
}

fn span_context(trace_id: TraceId, span_id: SpanId, sampled: bool) -> SpanContext {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanContext::new(trace_id, span_id, flags, true, TraceState::NONE)
}

fn extract_single(value: &str) -> Option<SpanContext> {
    let mut parts = ows_trim(value).split('-');
    let trace_id = parse_trace_id(parts.next()?)?;
    let span_id = parse_span_id(parts.next()?)?;
    let sampled = match parts.next() {
        None => false,
        Some("1" | "d") => true,
        Some("0") => false,
        Some(_) => return None,
    };
    if let Some(parent) = parts.next() {
        parse_span_id(parent)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(span_context(trace_id, span_id, sampled))
}

fn extract_multi(extractor: &dyn Extractor) -> Option<SpanContext> {
    let trace_id = parse_trace_id(ows_trim(extractor.get(B3_TRACE_ID)?))?;
    let span_id = parse_span_id(ows_trim(extractor.get(B3_SPAN_ID)?))?;
    let debug = extractor.get(B3_FLAGS).map(ows_trim) == Some("1");
    let sampled = debug
        || matches!(
            extractor.get(B3_SAMPLED).map(ows_trim),
            Some("1") | Some("true")
        );
    Some(span_context(trace_id, span_id, sampled))
}

impl TextMapPropagator for B3Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return;
        }
        let sampled = if sc.is_sampled() { "1" } else { "0" };
        match self.encoding {
            B3Encoding::SingleHeader => {
                injector.set(
                    B3_SINGLE,
                    format!("{}-{}-{sampled}", sc.trace_id(), sc.span_id()),
                );
            }
            B3Encoding::MultipleHeader => {
                injector.set(B3_TRACE_ID, sc.trace_id().to_string());
                injector.set(B3_SPAN_ID, sc.span_id().to_string());
                injector.set(B3_SAMPLED, sampled.to_owned());
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let sc = extractor
            .get(B3_SINGLE)
            .and_then(extract_single)
            .or_else(|| extract_multi(extractor));
        match sc {
            Some(sc) => cx.with_remote_span_context(sc),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}
