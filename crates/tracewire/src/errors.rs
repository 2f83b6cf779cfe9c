//! Errors and panics on the current span.
//!
//! [`record_error`] does what OpenTelemetry's other SDKs do with
//! `span.record_exception(e)` plus `set_status(ERROR)`: status Error,
//! `error.type`, and an `exception` event (`exception.type`,
//! `exception.message`, and the `source()` chain in `exception.stacktrace`,
//! the closest Rust has to one without a captured backtrace). The panic hook
//! ([`install_panic_hook`], installed by `init`) records a panic the same
//! way, with its location, on whatever span is current where it happened: a
//! request handler's, a queue handler's, a `#[instrument]`ed function's.
//!
//! "The current span" is the innermost one: the current `tracing` span when
//! it is exported (it has an OpenTelemetry context), else the span of the
//! current OpenTelemetry context (the server or consumer spans the
//! integration crates start).

use std::fmt::Write as _;
use std::sync::{Arc, Once};

use opentelemetry::trace::{Status, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// `error.type` of a panic.
pub const PANIC_ERROR_TYPE: &str = "panic";

/// The span an error is recorded on; see the module docs.
enum Current {
    Tracing(tracing::Span),
    Otel(Context),
}

fn current() -> Current {
    let span = tracing::Span::current();
    // A span the OpenTelemetry layer does not track has an empty context.
    if !span.is_none() && span.context().span().span_context().is_valid() {
        return Current::Tracing(span);
    }
    Current::Otel(Context::current())
}

impl Current {
    fn is_recording(&self) -> bool {
        match self {
            Self::Tracing(span) => span.context().span().is_recording(),
            Self::Otel(cx) => cx.span().is_recording(),
        }
    }

    fn mark(&self, error_type: &str, description: String, event: Vec<KeyValue>) {
        let error_type = KeyValue::new("error.type", error_type.to_owned());
        match self {
            Self::Tracing(span) => {
                span.set_attribute(error_type.key, error_type.value);
                span.add_event("exception", event);
                span.set_status(Status::error(description));
            }
            Self::Otel(cx) => {
                let span = cx.span();
                span.set_attribute(error_type);
                span.add_event("exception", event);
                span.set_status(Status::error(description));
            }
        }
    }
}

/// The `source()` chain of `error`, one `caused by: …` line per cause.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = String::new();
    let mut source = error.source();
    while let Some(cause) = source {
        if !chain.is_empty() {
            chain.push('\n');
        }
        let _ = write!(chain, "caused by: {cause}");
        source = cause.source();
    }
    chain
}

/// Records `error` on the current span: status Error, `error.type` = the
/// error's type name (e.g. `std::io::error::Error`), and an `exception`
/// event with its message and source chain. Use [`record_error_as`] to give
/// `error.type` yourself (a low-cardinality code such as `timeout`).
pub fn record_error<E: std::error::Error + 'static>(error: &E) {
    record_error_as(error, std::any::type_name::<E>());
}

/// Like [`record_error`], with `error.type` = `error_type`.
pub fn record_error_as(error: &(dyn std::error::Error + 'static), error_type: &str) {
    let target = current();
    if !target.is_recording() {
        return;
    }
    let message = error.to_string();
    let mut event = vec![
        KeyValue::new("exception.type", error_type.to_owned()),
        KeyValue::new("exception.message", message.clone()),
    ];
    let chain = causes(error);
    if !chain.is_empty() {
        event.push(KeyValue::new("exception.stacktrace", chain));
    }
    target.mark(error_type, message, event);
}

/// Installs (once per process) a panic hook that records a panic on the
/// current span — status Error, `error.type=panic`, an `exception` event with
/// the panic message and its `code.file.path` / `code.line.number` /
/// `code.column.number` — then calls the hook that was installed before
/// (the default one prints the message). `init` calls it unless
/// `builder().panic_hook(false)`.
///
/// The span is only marked; the caller still sees a dropped connection
/// unless something turns the panic into a response: put tower-http's
/// `CatchPanicLayer` inside `instrument_all()` for a 500.
pub fn install_panic_hook() {
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            record_panic(info);
            previous(info);
        }));
    });
}

static INSTALLED: Once = Once::new();

/// Whether [`install_panic_hook`] has run (integrations leave the status of a
/// panicked span to it, with the panic's message).
pub fn panic_hook_installed() -> bool {
    INSTALLED.is_completed()
}

fn record_panic(info: &std::panic::PanicHookInfo<'_>) {
    let target = current();
    if !target.is_recording() {
        return;
    }
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned());
    let mut event = vec![
        KeyValue::new("exception.type", PANIC_ERROR_TYPE),
        KeyValue::new("exception.message", message.clone()),
    ];
    let description = match info.location() {
        Some(at) => {
            event.push(KeyValue::new("code.file.path", at.file().to_owned()));
            event.push(KeyValue::new("code.line.number", i64::from(at.line())));
            event.push(KeyValue::new("code.column.number", i64::from(at.column())));
            format!("panicked at {}:{}: {message}", at.file(), at.line())
        }
        None => format!("panicked: {message}"),
    };
    target.mark(PANIC_ERROR_TYPE, description, event);
}

/// A `tracing` layer that gives `#[instrument(err)]` spans an `error.type`.
///
/// The macro reports an `Err` as an ERROR event with a single `error` field;
/// tracing-opentelemetry turns it into status Error and an `exception` event
/// but sets no `error.type`, which the conventions require on a failed
/// operation. The error's type is not in the event (only its text), so the
/// value is the conventions' fallback `_OTHER`; call [`record_error`] in the
/// function for the real type.
///
/// It needs the subscriber it is part of (inside a layer callback `tracing`
/// hands out a no-op dispatcher): `Telemetry::subscriber` gives it; a layer
/// outside a `Vec` also gets it from `on_register_dispatch` (a `Vec` of
/// layers does not forward that call).
#[derive(Default, Clone)]
pub(crate) struct InstrumentErrorType {
    pub(crate) dispatch: Arc<std::sync::OnceLock<tracing::dispatcher::WeakDispatch>>,
}

impl<S> tracing_subscriber::Layer<S> for InstrumentErrorType
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() != tracing::Level::ERROR {
            return;
        }
        let mut fields = metadata.fields().iter();
        let only_error =
            fields.next().is_some_and(|f| f.name() == "error") && fields.next().is_none();
        if !only_error {
            return;
        }
        let (Some(span), Some(dispatch)) = (
            ctx.event_span(event),
            self.dispatch
                .get()
                .and_then(tracing::dispatcher::WeakDispatch::upgrade),
        ) else {
            return;
        };
        if let Some(cx) = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch) {
            cx.span()
                .set_attribute(KeyValue::new("error.type", "_OTHER"));
        }
    }
}
