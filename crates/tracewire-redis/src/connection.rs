//! [`TracedConnection`]: any redis-rs async connection, with a CLIENT span
//! and a duration per command, pipeline and transaction.

use std::sync::Arc;

use redis::aio::ConnectionLike;
use redis::{Arg, Cmd, Pipeline, RedisFuture, Value};
use tracewire::db::{attr, operation_duration};
use tracewire::metrics::Histogram;
use tracewire::otel::trace::SpanKind;
use tracewire::otel::{Context, KeyValue, StringValue};

use crate::sanitize::{CommandName, is_blocking, query_text};

const SCOPE: &str = "tracewire-redis";

/// Where the connection goes, for `server.*` and `db.namespace`.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    /// Host name or address (or socket path).
    pub address: Option<String>,
    /// Port (recorded when not the default 6379).
    pub port: Option<u16>,
}

impl ServerInfo {
    /// Reads host and port from a client's connection info.
    pub fn of(client: &redis::Client) -> Self {
        match client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port)
            | redis::ConnectionAddr::TcpTls { host, port, .. } => Self {
                address: Some(host.clone()),
                port: Some(*port),
            },
            redis::ConnectionAddr::Unix(path) => Self {
                address: Some(path.display().to_string()),
                port: None,
            },
            _ => Self::default(),
        }
    }
}

struct Shared {
    tracer: Option<tracewire::instrumentation::Tracer>,
    duration: Histogram,
    /// Bound handles of `duration` for successful operations, whose
    /// attributes follow from the operation's name and database.
    bound_durations: tracewire::metrics::BoundHistograms<DurationKey>,
    server: ServerInfo,
    /// `server.address` and `server.port` (not the default 6379), built once.
    server_attributes: smallvec::SmallVec<[KeyValue; 2]>,
}

/// What decides a successful operation's duration attributes (the
/// connection's server is fixed): its name, interned, and its database.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DurationKey {
    name: std::borrow::Cow<'static, str>,
    db: i64,
}

/// `db.namespace` for a database index: the usual 16 without allocating.
fn namespace(db: i64) -> StringValue {
    const INDEXES: [&str; 16] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
    ];
    match usize::try_from(db).ok().and_then(|i| INDEXES.get(i)) {
        Some(index) => StringValue::from(*index),
        None => StringValue::from(db.to_string()),
    }
}

/// A redis-rs async connection (multiplexed, `ConnectionManager`, …) that
/// records telemetry. It implements [`ConnectionLike`], so `query_async`,
/// `AsyncCommands` and pipelines work on it unchanged. Cloning is cheap when
/// the inner connection's is.
#[derive(Clone)]
pub struct TracedConnection<C> {
    inner: C,
    shared: Arc<Shared>,
}

impl<C> std::fmt::Debug for TracedConnection<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedConnection")
            .field("server", &self.shared.server)
            .finish_non_exhaustive()
    }
}

impl<C: ConnectionLike> TracedConnection<C> {
    /// Wraps `inner`; spans on the tracer `tracewire::init` installed,
    /// metrics on the global meter provider.
    pub fn new(inner: C, server: ServerInfo) -> Self {
        Self::with(
            inner,
            server,
            tracewire::instrumentation::Tracer::installed(SCOPE),
            &tracewire::otel::global::meter(SCOPE),
        )
    }

    /// Wraps `inner` with an explicit tracer and meter (tests, custom providers).
    pub fn with(
        inner: C,
        server: ServerInfo,
        tracer: Option<tracewire::instrumentation::Tracer>,
        meter: &tracewire::otel::metrics::Meter,
    ) -> Self {
        let mut server_attributes = smallvec::SmallVec::new();
        if let Some(address) = &server.address {
            server_attributes.push(KeyValue::new(
                attr::SERVER_ADDRESS,
                StringValue::from(Arc::<str>::from(address.as_str())),
            ));
        }
        if let Some(port) = server.port.filter(|p| *p != 6379) {
            server_attributes.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
        }
        Self {
            inner,
            shared: Arc::new(Shared {
                tracer,
                duration: operation_duration(meter),
                bound_durations: Default::default(),
                server,
                server_attributes,
            }),
        }
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }
}

/// The arguments of a command as byte slices (cursor placeholders as `0`).
fn args(cmd: &Cmd) -> Vec<&[u8]> {
    cmd.args_iter()
        .map(|a| match a {
            Arg::Simple(bytes) => bytes,
            _ => b"0".as_slice(),
        })
        .collect()
}

/// The error prefix of a failed reply (`WRONGTYPE`, `ERR`, …).
fn reply_error(value: &Value) -> Option<String> {
    match value {
        Value::ServerError(e) => Some(e.code().to_owned()),
        _ => None,
    }
}

/// What one operation looks like to telemetry.
struct Operation {
    name: String,
    text: String,
    batch_size: Option<usize>,
    blocking: bool,
}

impl Operation {
    fn command(cmd: &Cmd) -> Self {
        let args = args(cmd);
        let sent = args
            .first()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let upper = CommandName::of(sent.as_bytes());
        let blocking = is_blocking(upper.as_str(), args.get(1..).unwrap_or_default());
        let name = match upper.as_str() {
            // A script's identity names the span, as semconv asks.
            "EVALSHA" | "FCALL" | "FCALL_RO" => match args.get(1) {
                Some(id) => format!("{sent} {}", String::from_utf8_lossy(id)),
                None => sent,
            },
            _ => sent,
        };
        Self {
            name,
            text: query_text(&upper, &args),
            batch_size: None,
            blocking,
        }
    }

    fn pipeline(pipeline: &Pipeline) -> Self {
        let commands: Vec<Operation> = pipeline.cmd_iter().map(Operation::command).collect();
        let prefix = if pipeline.is_transaction() {
            "MULTI"
        } else {
            "PIPELINE"
        };
        let first = commands.first().map(|c| c.name.as_str());
        let name = match first {
            Some(first) if commands.iter().all(|c| c.name == first) => format!("{prefix} {first}"),
            _ => prefix.to_owned(),
        };
        let texts: Vec<&str> = commands.iter().map(|c| c.text.as_str()).collect();
        let text = texts.join("; ");
        let batch_size = (commands.len() >= 2 || commands.is_empty()).then_some(commands.len());
        Self {
            name,
            text,
            batch_size,
            blocking: commands.iter().any(|c| c.blocking),
        }
    }
}

/// A started operation: the shared life-cycle, and whether it blocks
/// server-side (its duration measures a wait, not the database).
struct Started {
    op: tracewire::instrumentation::Operation<smallvec::SmallVec<[KeyValue; 6]>>,
    name: std::borrow::Cow<'static, str>,
    db: i64,
    blocking: bool,
}

impl Shared {
    fn start(&self, op: Operation, db: i64) -> Started {
        // Command names come from the application's code: a bounded set.
        let name = tracewire::instrumentation::intern(&op.name);
        let mut attributes = smallvec::SmallVec::new();
        attributes.push(KeyValue::new(attr::DB_SYSTEM_NAME, "redis"));
        attributes.push(KeyValue::new(
            attr::DB_OPERATION_NAME,
            tracewire::http::string_value(name.clone()),
        ));
        attributes.push(KeyValue::new(attr::DB_NAMESPACE, namespace(db)));
        attributes.extend(self.server_attributes.iter().cloned());
        let (text, batch_size) = (op.text, op.batch_size);
        Started {
            op: tracewire::instrumentation::Operation::start(
                self.tracer.as_ref(),
                name.clone(),
                SpanKind::Client,
                &Context::current(),
                attributes,
                |span| {
                    span.push(KeyValue::new(attr::DB_QUERY_TEXT, text));
                    if let Some(n) = batch_size {
                        span.push(KeyValue::new(attr::DB_OPERATION_BATCH_SIZE, n as i64));
                    }
                },
            ),
            name,
            db,
            blocking: op.blocking,
        }
    }

    fn finish(&self, started: Started, error: Option<String>) {
        let Started {
            mut op,
            name,
            db,
            blocking,
        } = started;
        // A failure adds its code: unbound.
        let key = error.is_none().then_some(DurationKey { name, db });
        if let Some(code) = error.map(StringValue::from) {
            op.add_attribute(KeyValue::new(attr::DB_RESPONSE_STATUS_CODE, code.clone()));
            op.fail(code, "");
        }
        if blocking {
            op.finish(None);
        } else {
            op.finish_bound(&self.duration, &self.bound_durations, key);
        }
    }
}

/// The class of a client-side failure (no reply prefix).
fn error_code(e: &redis::RedisError) -> String {
    match e.code() {
        Some(code) => code.to_owned(),
        None => match e.kind() {
            redis::ErrorKind::Io => "io".to_owned(),
            redis::ErrorKind::Parse => "parse".to_owned(),
            _ => "_OTHER".to_owned(),
        },
    }
}

impl<C: ConnectionLike + Send> ConnectionLike for TracedConnection<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let started = self
            .shared
            .start(Operation::command(cmd), self.inner.get_db());
        let shared = Arc::clone(&self.shared);
        let cx = started.op.context().clone();
        let inner = &mut self.inner;
        Box::pin(async move {
            let result =
                tracewire::otel::trace::FutureExt::with_context(inner.req_packed_command(cmd), cx)
                    .await;
            let error = match &result {
                Ok(value) => reply_error(value),
                Err(e) => Some(error_code(e)),
            };
            shared.finish(started, error);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let started = self
            .shared
            .start(Operation::pipeline(pipeline), self.inner.get_db());
        let shared = Arc::clone(&self.shared);
        let cx = started.op.context().clone();
        let inner = &mut self.inner;
        Box::pin(async move {
            let result = tracewire::otel::trace::FutureExt::with_context(
                inner.req_packed_commands(pipeline, offset, count),
                cx,
            )
            .await;
            let error = match &result {
                Ok(values) => values.iter().find_map(reply_error),
                Err(e) => Some(error_code(e)),
            };
            shared.finish(started, error);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}
