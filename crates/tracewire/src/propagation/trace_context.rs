//! W3C Trace Context Level 2: the `traceparent` and `tracestate` headers.
//!
//! Every rule of the specification is applied on receipt: strict field lengths
//! and lowercase hex, a repeated `traceparent` is invalid, repeated `tracestate`
//! lines are combined in order, a bad `tracestate` is dropped whole (a repeated
//! key keeps its first occurrence) without
//! touching `traceparent`, and the Level 2 random-trace-id flag survives a hop.

use opentelemetry::Context;
use opentelemetry::propagation::{
    Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter,
};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

use super::fields::{ows_trim, values_of};

/// Header carrying the trace id, parent span id and flags.
pub const TRACEPARENT: &str = "traceparent";
/// Header carrying vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

/// Trace flag bit 0: the caller may have recorded this trace.
const FLAG_SAMPLED: u8 = 0x01;
/// Trace flag bit 1 (Level 2): the trace id's right-most 7 bytes are random.
const FLAG_RANDOM: u8 = 0x02;
/// Tracestate list-member limit.
const MAX_MEMBERS: usize = 32;
/// Combined tracestate length every participant must propagate.
const TRACESTATE_PROPAGATION_BUDGET: usize = 512;
/// Members longer than this are the first to go when the budget is exceeded.
const LONG_MEMBER: usize = 128;
/// Raw tracestate input beyond this size is not even parsed: a valid header
/// (32 members of at most 256 + 1 + 256 bytes, plus separators) never exceeds it.
const MAX_RAW_TRACESTATE: usize = MAX_MEMBERS * 520;

/// A parsed `traceparent` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traceparent {
    /// The 16-byte trace id (never all zeros).
    pub trace_id: TraceId,
    /// The caller's span id (never all zeros).
    pub parent_id: SpanId,
    /// The sampled and random bits of the flags; other bits are cleared.
    pub flags: u8,
}

impl Traceparent {
    /// Parses one `traceparent` value per W3C Trace Context Level 2.
    ///
    /// Returns `None` for anything the specification calls invalid; the caller
    /// then starts a new trace.
    pub fn parse(value: &str) -> Option<Self> {
        let b = ows_trim(value).as_bytes();
        if b.len() < 55 {
            return None;
        }
        let version = hex_u8(&b[0..2])?;
        if version == 0xff || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        match version {
            // Version 00 is exactly 55 characters.
            0x00 if b.len() != 55 => return None,
            // A future version may append fields, but only after a dash.
            _ if b.len() > 55 && b[55] != b'-' => return None,
            _ => {}
        }
        let trace_id = hex_u128(&b[3..35])?;
        let parent_id = hex_u64(&b[36..52])?;
        let flags = hex_u8(&b[53..55])?;
        if trace_id == 0 || parent_id == 0 {
            return None;
        }
        Some(Self {
            trace_id: TraceId::from(trace_id),
            parent_id: SpanId::from(parent_id),
            flags: flags & (FLAG_SAMPLED | FLAG_RANDOM),
        })
    }

    /// Formats the value as version `00`. Written byte by byte into a buffer
    /// of the exact length: it runs on every outgoing call, and a header
    /// value taken from a `String` with spare capacity is copied again.
    pub fn format(&self) -> String {
        fn push_hex(out: &mut String, bytes: &[u8]) {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for &b in bytes {
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        push_hex(&mut out, &self.trace_id.to_bytes());
        out.push('-');
        push_hex(&mut out, &self.parent_id.to_bytes());
        out.push('-');
        push_hex(&mut out, &[self.flags]);
        out
    }
}

/// Lowercase-hex digit value; uppercase is invalid in trace context.
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn hex_u128(s: &[u8]) -> Option<u128> {
    s.iter()
        .try_fold(0u128, |acc, &c| Some(acc << 4 | u128::from(hex_digit(c)?)))
}

fn hex_u64(s: &[u8]) -> Option<u64> {
    s.iter()
        .try_fold(0u64, |acc, &c| Some(acc << 4 | u64::from(hex_digit(c)?)))
}

fn hex_u8(s: &[u8]) -> Option<u8> {
    s.iter()
        .try_fold(0u8, |acc, &c| Some(acc << 4 | hex_digit(c)?))
}

/// Parses combined `tracestate` header lines into ordered members.
///
/// Returns `None` when the header must be discarded: a malformed member or
/// more than 32 members. Empty members are allowed. A key seen again keeps
/// its first occurrence: Level 2 still inherits such a header.
pub fn parse_tracestate<'a>(
    lines: impl IntoIterator<Item = &'a str>,
) -> Option<Vec<(String, String)>> {
    let mut members: Vec<(String, String)> = Vec::new();
    let mut raw_len = 0;
    for line in lines {
        raw_len += line.len();
        if raw_len > MAX_RAW_TRACESTATE {
            return None;
        }
        for member in line.split(',') {
            let member = ows_trim(member);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member.split_once('=')?;
            if !valid_key(key) || !valid_value(value) {
                return None;
            }
            if members.iter().any(|(k, _)| k == key) {
                continue;
            }
            if members.len() == MAX_MEMBERS {
                return None;
            }
            members.push((key.to_owned(), value.to_owned()));
        }
    }
    truncate_to_budget(&mut members);
    Some(members)
}

/// Keeps the combined header within the propagation budget, removing whole
/// members: long ones first, then from the right (W3C §3.3.1.5).
fn truncate_to_budget(members: &mut Vec<(String, String)>) {
    let len = |m: &[(String, String)]| -> usize {
        m.iter().map(|(k, v)| k.len() + 1 + v.len()).sum::<usize>() + m.len().saturating_sub(1)
    };
    while len(members) > TRACESTATE_PROPAGATION_BUDGET {
        match members
            .iter()
            .position(|(k, v)| k.len() + 1 + v.len() > LONG_MEMBER)
        {
            Some(i) => {
                members.remove(i);
            }
            None => {
                members.pop();
            }
        }
    }
}

/// A tracestate key (W3C Trace Context Level 2, §3.3.1.3.1): one of
/// `a-z 0-9` first, then up to 255 of `a-z 0-9 _ - * / @`. Level 1's
/// `tenant@system` form, with its per-part limits, is a subset of it.
fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    let first = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let rest = |c: u8| first(c) || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@');
    match b.split_first() {
        Some((&head, tail)) => first(head) && tail.len() <= 255 && tail.iter().all(|&c| rest(c)),
        None => false,
    }
}

/// 1–256 printable ASCII characters except `,` and `=`, not ending in a space.
fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && b[b.len() - 1] != b' '
}

/// Marks a context whose trace id arrived with the Level 2 random flag, so the
/// flag is re-emitted even when our own span for it was not sampled (the SDK
/// resets the flags of dropped spans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RandomTraceId(TraceId);

/// The `tracecontext` propagator: W3C `traceparent` + `tracestate`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextPropagator {
    _private: (),
}

static TRACE_CONTEXT_FIELDS: std::sync::LazyLock<[String; 2]> =
    std::sync::LazyLock::new(|| [TRACEPARENT.to_owned(), TRACESTATE.to_owned()]);

impl TraceContextPropagator {
    /// Creates the propagator.
    pub fn new() -> Self {
        Self::default()
    }

    /// The remote span context, plus the tracestate header when the
    /// OpenTelemetry `TraceState` type cannot hold it (it rejects some valid
    /// multi-tenant keys, e.g. a 14-character system id).
    fn extract_span_context(extractor: &dyn Extractor) -> Option<(SpanContext, Option<String>)> {
        let parents = values_of(extractor, TRACEPARENT);
        // Two traceparent fields cannot be told apart: the header is invalid.
        let [parent] = parents.as_slice() else {
            return None;
        };
        let parent = Traceparent::parse(parent)?;
        let members = parse_tracestate(values_of(extractor, TRACESTATE)).unwrap_or_default();
        let (state, unrepresentable) =
            match TraceState::from_key_value(members.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            {
                Ok(state) => (state, None),
                Err(_) => {
                    let header = members
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    (TraceState::NONE, Some(header))
                }
            };
        let sc = SpanContext::new(
            parent.trace_id,
            parent.parent_id,
            TraceFlags::new(parent.flags),
            true,
            state,
        );
        Some((sc, unrepresentable))
    }
}

/// A received tracestate that `TraceState` could not hold, kept verbatim for
/// the same trace.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VerbatimTraceState {
    trace_id: TraceId,
    header: String,
}

impl TextMapPropagator for TraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return;
        }
        let mut flags = sc.trace_flags().to_u8() & (FLAG_SAMPLED | FLAG_RANDOM);
        if cx.get::<RandomTraceId>() == Some(&RandomTraceId(sc.trace_id())) {
            flags |= FLAG_RANDOM;
        }
        let parent = Traceparent {
            trace_id: sc.trace_id(),
            parent_id: sc.span_id(),
            flags,
        };
        injector.set(TRACEPARENT, parent.format());
        let mut state = sc.trace_state().header();
        if state.is_empty() {
            if let Some(verbatim) = cx
                .get::<VerbatimTraceState>()
                .filter(|v| v.trace_id == sc.trace_id())
            {
                state = verbatim.header.clone();
            }
        }
        if !state.is_empty() {
            injector.set(TRACESTATE, state);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match Self::extract_span_context(extractor) {
            Some((sc, verbatim)) => {
                let random = sc.trace_flags().to_u8() & FLAG_RANDOM != 0;
                let trace_id = sc.trace_id();
                let mut cx = cx.with_remote_span_context(sc);
                if random {
                    cx = cx.with_value(RandomTraceId(trace_id));
                }
                if let Some(header) = verbatim {
                    cx = cx.with_value(VerbatimTraceState { trace_id, header });
                }
                cx
            }
            // Invalid or absent: leave whatever the context already holds.
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(TRACE_CONTEXT_FIELDS.as_slice())
    }
}
