//! `OTEL_TRACES_EXPORTER=console`: each trace printed as one tree once its
//! local root has ended, spans that end later printed under a continuation
//! line, and traces that never finish printed after a timeout.
//!
//! The [`Printer`] is the decision (what to print when), driven by explicit
//! instants so it can be tested; [`ConsoleTree`] runs it on a thread of its
//! own, so a span's end costs a channel send and nothing is written on the
//! application's threads.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use opentelemetry::trace::TraceId;

use super::record::FinishedSpan;
use super::tree::{self, Axis, Style};

/// A trace whose root has ended is printed once no span of it arrived for
/// this long, so that work it handed to a queue in this process usually
/// joins the same tree.
const ROOT_QUIET: Duration = Duration::from_millis(150);
/// A trace whose local root (its parent in another process) has ended is
/// printed once no span of it arrived for this long: the caller's other
/// spans in this process, if any, end just after.
const LOCAL_ROOT_QUIET: Duration = Duration::from_millis(300);
/// Spans of an already printed trace are gathered this long, then printed.
const LATE_QUIET: Duration = Duration::from_millis(300);
/// A trace still unfinished after this long is printed as it is.
pub(crate) const UNFINISHED_AFTER: Duration = Duration::from_secs(30);
/// Bounds on what waits to be printed; past them the oldest is printed early.
const MAX_PENDING_TRACES: usize = 1000;
const MAX_PENDING_SPANS: usize = 20_000;
/// Printed traces remembered, so that late spans join their trace.
const REMEMBERED: usize = 4096;

#[derive(Debug)]
struct Pending {
    spans: Vec<FinishedSpan>,
    first: Instant,
    last: Instant,
    root_ended: bool,
    local_root_ended: bool,
}

/// What a printed trace's late spans need: its time axis.
#[derive(Debug, Clone, Copy)]
struct Printed {
    axis: Axis,
}

/// Decides what to print; see the module docs.
#[derive(Debug)]
pub(crate) struct Printer {
    style: Style,
    pending: HashMap<TraceId, Pending>,
    pending_spans: usize,
    /// Trace ids in arrival order, for the bounds.
    arrival: VecDeque<TraceId>,
    printed: HashMap<TraceId, Printed>,
    printed_order: VecDeque<TraceId>,
    unfinished_after: Duration,
}

impl Printer {
    pub(crate) fn new(style: Style, unfinished_after: Duration) -> Self {
        Self {
            style,
            pending: HashMap::new(),
            pending_spans: 0,
            arrival: VecDeque::new(),
            printed: HashMap::new(),
            printed_order: VecDeque::new(),
            unfinished_after,
        }
    }

    /// Takes a finished span; returns text to print now (a bound was hit).
    pub(crate) fn add(&mut self, span: FinishedSpan, now: Instant) -> String {
        let trace_id = span.data.span_context.trace_id();
        let pending = self.pending.entry(trace_id).or_insert_with(|| Pending {
            spans: Vec::new(),
            first: now,
            last: now,
            root_ended: false,
            local_root_ended: false,
        });
        if pending.spans.is_empty() {
            self.arrival.push_back(trace_id);
        }
        pending.last = now;
        pending.root_ended |= !span.has_parent();
        pending.local_root_ended |= span.is_local_root();
        pending.spans.push(span);
        self.pending_spans += 1;
        let mut out = String::new();
        while self.pending.len() > MAX_PENDING_TRACES || self.pending_spans > MAX_PENDING_SPANS {
            let Some(oldest) = self.arrival.pop_front() else {
                break;
            };
            out.push_str(&self.print(oldest, None));
        }
        out
    }

    /// Text for every trace that is due at `now`.
    pub(crate) fn due(&mut self, now: Instant) -> String {
        let mut ready: Vec<(Instant, TraceId, Option<&'static str>)> = self
            .pending
            .iter()
            .filter_map(|(id, p)| {
                let quiet = now.saturating_duration_since(p.last);
                if self.printed.contains_key(id) {
                    (quiet >= LATE_QUIET).then_some((p.first, *id, None))
                } else if (p.root_ended && quiet >= ROOT_QUIET)
                    || (p.local_root_ended && quiet >= LOCAL_ROOT_QUIET)
                {
                    Some((p.first, *id, None))
                } else if now.saturating_duration_since(p.first) >= self.unfinished_after {
                    Some((p.first, *id, Some("unfinished")))
                } else {
                    None
                }
            })
            .collect();
        ready.sort_by_key(|(first, _, _)| *first);
        ready
            .into_iter()
            .map(|(_, id, note)| self.print(id, note))
            .collect()
    }

    /// Text for everything pending (flush, shutdown).
    pub(crate) fn flush(&mut self) -> String {
        let mut ids: Vec<(Instant, TraceId)> =
            self.pending.iter().map(|(id, p)| (p.first, *id)).collect();
        ids.sort_by_key(|(first, _)| *first);
        ids.into_iter()
            .map(|(_, id)| self.print(id, None))
            .collect()
    }

    fn print(&mut self, trace_id: TraceId, note: Option<&str>) -> String {
        let Some(pending) = self.pending.remove(&trace_id) else {
            return String::new();
        };
        self.arrival.retain(|id| *id != trace_id);
        self.pending_spans -= pending.spans.len();
        let spans: Vec<&FinishedSpan> = pending.spans.iter().collect();
        let mut out = String::new();
        if let Some(printed) = self.printed.get(&trace_id).copied() {
            let axis = Axis {
                origin: printed.axis.origin,
                total_nanos: Axis::of(&spans)
                    .total_nanos
                    .max(printed.axis.total_nanos)
                    .max(super::record::nanos_between(
                        printed.axis.origin,
                        spans
                            .iter()
                            .map(|s| s.data.end_time)
                            .max()
                            .unwrap_or(printed.axis.origin),
                    )),
            };
            out.push_str(&self.style.paint(
                "2",
                &format!(
                    "┄ trace {trace_id}, {} late span{}:",
                    spans.len(),
                    if spans.len() == 1 { "" } else { "s" }
                ),
            ));
            out.push('\n');
            for line in tree::lines(&spans, &axis, self.style, "") {
                out.push_str(&line);
                out.push('\n');
            }
            out.push('\n');
            return out;
        }
        let axis = Axis::of(&spans);
        out.push_str(&tree::header(
            &trace_id.to_string(),
            &spans,
            &axis,
            self.style,
        ));
        if let Some(note) = note {
            out.push_str(&format!(" · {note}"));
        }
        out.push('\n');
        for line in tree::lines(&spans, &axis, self.style, "") {
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
        self.printed.insert(trace_id, Printed { axis });
        self.printed_order.push_back(trace_id);
        if self.printed_order.len() > REMEMBERED {
            if let Some(old) = self.printed_order.pop_front() {
                self.printed.remove(&old);
            }
        }
        out
    }
}

enum Message {
    Span(Box<FinishedSpan>),
    Flush(SyncSender<()>),
    /// Print what is pending and end the thread.
    Stop,
}

/// Where the printer writes.
pub(crate) type Sink = Box<dyn Write + Send>;

/// The printer on its own thread. Every message is a `try_send`: a span's
/// end never waits for the printer, and neither does a flush when the queue
/// is full (a stuck stdout must not hold a shutdown past its deadline).
#[derive(Debug)]
pub(crate) struct ConsoleTree {
    sender: SyncSender<Message>,
}

impl ConsoleTree {
    /// Spans queued for the printer beyond this are dropped.
    const QUEUE: usize = 8192;

    pub(crate) fn start(sink: Sink, style: Style) -> Self {
        let (sender, receiver) = std::sync::mpsc::sync_channel(Self::QUEUE);
        // Without a thread the receiver is gone and every send fails at once.
        let _ = std::thread::Builder::new()
            .name("tracewire-console".into())
            .spawn(move || run(receiver, sink, Printer::new(style, UNFINISHED_AFTER)));
        Self { sender }
    }

    pub(crate) fn send(&self, span: FinishedSpan) {
        let _ = self.sender.try_send(Message::Span(Box::new(span)));
    }

    /// Prints everything pending, waiting at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) {
        let (done, finished) = std::sync::mpsc::sync_channel(1);
        if self.sender.try_send(Message::Flush(done)).is_ok() {
            let _ = finished.recv_timeout(timeout);
        }
    }

    /// Prints everything pending and ends the thread.
    pub(crate) fn stop(&self, timeout: Duration) {
        self.flush(timeout);
        let _ = self.sender.try_send(Message::Stop);
    }
}

fn run(receiver: Receiver<Message>, mut sink: Sink, mut printer: Printer) {
    const TICK: Duration = Duration::from_millis(100);
    let mut write = |text: String| {
        if !text.is_empty() {
            let _ = sink.write_all(text.as_bytes());
            let _ = sink.flush();
        }
    };
    loop {
        match receiver.recv_timeout(TICK) {
            Ok(Message::Span(span)) => write(printer.add(*span, Instant::now())),
            Ok(Message::Flush(done)) => {
                write(printer.flush());
                let _ = done.try_send(());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => {
                write(printer.flush());
                return;
            }
        }
        write(printer.due(Instant::now()));
    }
}
