//! One trace as a compact tree of text lines: name, kind, service, duration,
//! a bar on the trace's time axis, status, and the attributes that matter.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use opentelemetry::trace::SpanId;

use super::record::{FinishedSpan, kind_name, nanos_between};

/// Attributes shown on a line, in this order, when the span has them.
const SHOWN_ATTRIBUTES: &[&str] = &[
    "http.route",
    "http.response.status_code",
    "url.full",
    "db.query.summary",
    "messaging.destination.name",
    "rpc.response.status_code",
    "error.type",
];

/// Width of the time-axis bar, in characters.
const BAR_WIDTH: usize = 24;

/// Colours, when writing to a terminal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) color: bool,
}

impl Style {
    pub(crate) fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// The time axis every line of one printout shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Axis {
    pub(crate) origin: SystemTime,
    pub(crate) total_nanos: u64,
}

impl Axis {
    /// From the earliest start to the latest end of `spans`.
    pub(crate) fn of(spans: &[&FinishedSpan]) -> Self {
        let origin = spans
            .iter()
            .map(|s| s.data.start_time)
            .min()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let end = spans
            .iter()
            .map(|s| s.data.end_time)
            .max()
            .unwrap_or(origin);
        Self {
            origin,
            total_nanos: nanos_between(origin, end).max(1),
        }
    }

    fn bar(&self, span: &FinishedSpan) -> String {
        let position = |time: SystemTime| -> usize {
            let offset = nanos_between(self.origin, time).min(self.total_nanos);
            usize::try_from(u128::from(offset) * BAR_WIDTH as u128 / u128::from(self.total_nanos))
                .unwrap_or(BAR_WIDTH)
        };
        let start = position(span.data.start_time).min(BAR_WIDTH - 1);
        let end = position(span.data.end_time).clamp(start + 1, BAR_WIDTH);
        let mut bar = String::with_capacity(BAR_WIDTH * 3);
        bar.extend(std::iter::repeat_n(' ', start));
        bar.extend(std::iter::repeat_n('█', end - start));
        bar.extend(std::iter::repeat_n(' ', BAR_WIDTH - end));
        bar
    }
}

/// `1.23 ms`, `845 µs`, `2.50 s`, `420 ns`.
pub(crate) fn format_duration(nanos: u64) -> String {
    let ns = nanos as f64;
    if nanos >= 1_000_000_000 {
        format!("{:.2} s", ns / 1e9)
    } else if nanos >= 1_000_000 {
        format!("{:.2} ms", ns / 1e6)
    } else if nanos >= 1_000 {
        format!("{:.0} µs", ns / 1e3)
    } else {
        format!("{nanos} ns")
    }
}

/// The header line of a trace printout.
pub(crate) fn header(trace_id: &str, spans: &[&FinishedSpan], axis: &Axis, style: Style) -> String {
    let mut services: Vec<&str> = spans.iter().map(|s| &*s.service).collect();
    services.sort_unstable();
    services.dedup();
    let errors = spans.iter().filter(|s| s.is_error()).count();
    let mut line = format!(
        "trace {trace_id} · {} · {} span{} · {}",
        services.join(", "),
        spans.len(),
        if spans.len() == 1 { "" } else { "s" },
        format_duration(axis.total_nanos)
    );
    if errors > 0 {
        let _ = write!(
            line,
            " · {}",
            style.paint(
                "31",
                &format!("{errors} error{}", if errors == 1 { "" } else { "s" })
            )
        );
    }
    style.paint("1", &line)
}

/// The lines of `spans` as a tree on `axis`; spans whose parent is not among
/// them are roots (sorted by start time).
pub(crate) fn lines(
    spans: &[&FinishedSpan],
    axis: &Axis,
    style: Style,
    indent: &str,
) -> Vec<String> {
    let ids: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.data.span_context.span_id(), i))
        .collect();
    let mut children: HashMap<SpanId, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, span) in spans.iter().enumerate() {
        if span.has_parent() && ids.contains_key(&span.data.parent_span_id) {
            children
                .entry(span.data.parent_span_id)
                .or_default()
                .push(i);
        } else {
            roots.push(i);
        }
    }
    let by_start = |list: &mut Vec<usize>| {
        list.sort_by_key(|&i| (spans[i].data.start_time, spans[i].data.end_time));
    };
    by_start(&mut roots);
    for list in children.values_mut() {
        by_start(list);
    }

    // (prefix, span index) in print order, depth first, with an explicit
    // stack: span data comes from other processes, and a parent cycle (or a
    // span that names itself as parent) must neither loop nor recurse
    // without bound. Spans only reachable through a cycle print as roots.
    let mut rows: Vec<(String, usize)> = Vec::new();
    let mut shown = vec![false; spans.len()];
    let mut stack: Vec<(usize, String, String)> = Vec::new();
    let mut next_root = 0;
    loop {
        let Some((index, prefix, child_prefix)) = stack.pop() else {
            let root = roots
                .get(next_root)
                .copied()
                .or_else(|| shown.iter().position(|s| !s));
            match root {
                Some(root) => {
                    next_root += 1;
                    stack.push((root, indent.to_owned(), indent.to_owned()));
                    continue;
                }
                None => break,
            }
        };
        if shown[index] {
            continue;
        }
        shown[index] = true;
        rows.push((prefix, index));
        if let Some(kids) = children.get(&spans[index].data.span_context.span_id()) {
            let kids: Vec<usize> = kids.iter().copied().filter(|&k| !shown[k]).collect();
            for (n, &kid) in kids.iter().enumerate().rev() {
                let last = n + 1 == kids.len();
                let (branch, next) = if last {
                    ("└─ ", "   ")
                } else {
                    ("├─ ", "│  ")
                };
                stack.push((
                    kid,
                    format!("{child_prefix}{branch}"),
                    format!("{child_prefix}{next}"),
                ));
            }
        }
    }

    let label = |(prefix, i): &(String, usize)| format!("{prefix}{}", spans[*i].data.name);
    let name_width = rows
        .iter()
        .map(|r| label(r).chars().count())
        .max()
        .unwrap_or(0);
    let service_width = spans
        .iter()
        .map(|s| s.service.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|row| {
            let span = spans[row.1];
            let name = label(row);
            let pad = name_width - name.chars().count();
            let status = if span.is_error() {
                style.paint("31", "error")
            } else {
                style.paint("32", "ok   ")
            };
            let mut line = format!(
                "{name}{:pad$}  {:<8}  {:<service_width$}  {:>9}  {}  {status}",
                "",
                kind_name(&span.data.span_kind),
                span.service,
                format_duration(span.duration_nanos()),
                style.paint(if span.is_error() { "31" } else { "36" }, &axis.bar(span)),
            );
            for key in SHOWN_ATTRIBUTES {
                if let Some(value) = span.attribute(key) {
                    let _ = write!(line, "  {key}={value}");
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}
