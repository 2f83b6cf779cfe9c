//! One database operation's span and metrics, from start to finish.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, LazyLock, RwLock};

use sqlx::Execute;
use tracewire::db::attr;
use tracewire::instrumentation::NoMetricAttributes;
use tracewire::metrics::{BoundHistogram, BoundHistograms, Histogram};
use tracewire::otel::trace::SpanKind;
use tracewire::otel::{Context, KeyValue, StringValue};

use crate::sanitize::{sanitize, summary};
use crate::target::{DatabaseTarget, Target};

/// Configuration and instruments shared by every operation of one pool.
pub(crate) struct Shared {
    pub(crate) tracer: Option<tracewire::instrumentation::Tracer>,
    /// The target's attributes (system, namespace, address, port), built
    /// once: an operation clones shared strings, never copies them.
    pub(crate) target_attributes: Vec<KeyValue>,
    pub(crate) duration: Histogram,
    /// Bound handles of `duration`, one per described query (its only
    /// varying attribute is the summary) for operations that succeed.
    pub(crate) bound_durations: BoundHistograms<DescribedKey>,
    pub(crate) target: Target,
    pub(crate) record_query_text: bool,
    pub(crate) pool_metrics: PoolMetrics,
}

/// The target's attributes of every operation on it (`db.system.name`,
/// `db.namespace`, `server.address`, `server.port`).
pub(crate) fn target_attributes(target: &Target) -> Vec<KeyValue> {
    let shared = |s: &str| StringValue::from(Arc::<str>::from(s));
    let mut attributes = Vec::with_capacity(4);
    attributes.push(KeyValue::new(attr::DB_SYSTEM_NAME, target.system));
    if let Some(ns) = &target.namespace {
        attributes.push(KeyValue::new(attr::DB_NAMESPACE, shared(ns)));
    }
    if let Some(address) = &target.address {
        attributes.push(KeyValue::new(attr::SERVER_ADDRESS, shared(address)));
    }
    if let Some(port) = target.port {
        attributes.push(KeyValue::new(attr::SERVER_PORT, i64::from(port)));
    }
    attributes
}

/// Counters behind the pool metrics (the gauges read them at collection).
#[derive(Debug, Default)]
pub(crate) struct PoolCounters {
    pub(crate) pending: AtomicI64,
    pub(crate) timeouts: AtomicU64,
}

pub(crate) struct PoolMetrics {
    pub(crate) counters: Arc<PoolCounters>,
    pub(crate) wait_time: BoundHistogram,
    pub(crate) use_time: BoundHistogram,
}

/// A described query as a map key, by identity: the key holds it, so its
/// address cannot be reused by another while the handle exists.
pub(crate) struct DescribedKey(Arc<Described>);

impl PartialEq for DescribedKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for DescribedKey {}

impl std::hash::Hash for DescribedKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(Arc::as_ptr(&self.0) as usize);
    }
}

/// A query as sqlx will run it, with what telemetry needs taken out first.
pub(crate) struct TracedQuery<DB: sqlx::Database> {
    sql: sqlx::SqlStr,
    statement: Option<DB::Statement>,
    arguments: Option<Result<Option<DB::Arguments>, sqlx::error::BoxDynError>>,
    persistent: bool,
}

impl<DB: sqlx::Database> TracedQuery<DB> {
    /// Takes `query` apart; returns it with whether it carries bound values.
    pub(crate) fn capture<'q, E: Execute<'q, DB>>(mut query: E) -> (Self, bool) {
        let arguments = query.take_arguments();
        let parameterized = matches!(&arguments, Ok(Some(args)) if sqlx::Arguments::len(args) > 0);
        let statement = query.statement().cloned();
        let persistent = query.persistent();
        let sql = query.sql();
        (
            Self {
                sql,
                statement,
                arguments: Some(arguments),
                persistent,
            },
            parameterized,
        )
    }

    pub(crate) fn text(&self) -> &str {
        self.sql.as_str()
    }
}

impl<'q, DB: sqlx::Database> Execute<'q, DB> for TracedQuery<DB> {
    fn sql(self) -> sqlx::SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&DB::Statement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<DB::Arguments>, sqlx::error::BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

/// What telemetry records of one SQL text, worked out once: applications
/// run the same statements again and again.
/// The strings are shared (`Arc<str>`): every operation's span and metric
/// attributes clone them, and a clone must not copy the text.
struct Described {
    summary: StringValue,
    /// The span's name: the summary (or the system, without one), interned.
    name: std::borrow::Cow<'static, str>,
    text: StringValue,
}

/// Statements seen, by the address and length of their text (the text is
/// compared too, so a reused address cannot return another statement's).
/// `(address, length, parameterized)` → (the text, what was worked out).
/// Hashed cheaply: the keys are addresses the process made, not input.
type DescribedCache = HashMap<
    (usize, usize, bool),
    (Box<str>, Arc<Described>),
    std::hash::BuildHasherDefault<tracewire::hashers::SmallKeyHasher>,
>;

static DESCRIBED: LazyLock<RwLock<DescribedCache>> = LazyLock::new(Default::default);
const MAX_DESCRIBED: usize = 4096;

fn describe(sql: &str, parameterized: bool, system: &'static str) -> Arc<Described> {
    let key = (sql.as_ptr() as usize, sql.len(), parameterized);
    if let Some(found) = DESCRIBED.read().ok().and_then(|m| {
        m.get(&key)
            .filter(|(text, _)| &**text == sql)
            .map(|(_, d)| Arc::clone(d))
    }) {
        return found;
    }
    let summary = summary(sql);
    let described = Arc::new(Described {
        name: if summary.is_empty() {
            std::borrow::Cow::Borrowed(system)
        } else {
            tracewire::instrumentation::intern(&summary)
        },
        summary: StringValue::from(Arc::<str>::from(summary)),
        text: StringValue::from(Arc::<str>::from(if parameterized {
            sql.to_owned()
        } else {
            sanitize(sql)
        })),
    });
    if let Ok(mut cache) = DESCRIBED.write() {
        if cache.len() >= MAX_DESCRIBED {
            cache.clear();
        }
        cache.insert(key, (sql.into(), Arc::clone(&described)));
    }
    described
}

/// A started operation: the shared life-cycle of
/// [`tracewire::instrumentation::Operation`] plus the rows seen. Finishing is
/// idempotent; dropping an unfinished one (a stream dropped early) finishes it
/// with the rows seen so far.
///
/// It keeps no metric attribute list: the metric's attributes are the
/// target's (built once per pool) and the described query's summary, put
/// together only when a duration handle is first bound or a failure is
/// recorded — an operation is moved several times on its way through the
/// query's future, and a list of five attributes would triple its size.
pub(crate) struct Operation {
    shared: Arc<Shared>,
    op: tracewire::instrumentation::Operation<NoMetricAttributes>,
    described: Arc<Described>,
    pub(crate) rows: u64,
}

impl Operation {
    /// Starts an operation on `sql`; `parameterized` text is recorded as
    /// written, anything else only sanitized.
    pub(crate) fn start(shared: &Arc<Shared>, sql: &str, parameterized: bool) -> Self {
        let described = describe(sql, parameterized, shared.target.system);
        let name = described.name.clone();

        let op = tracewire::instrumentation::Operation::start(
            shared.tracer.as_ref(),
            name,
            SpanKind::Client,
            &Context::current(),
            NoMetricAttributes,
            |span| {
                span.extend_from_slice(&shared.target_attributes);
                if let Some(summary) = described.summary_attribute() {
                    span.push(summary);
                }
                if shared.record_query_text {
                    span.push(KeyValue::new(attr::DB_QUERY_TEXT, described.text.clone()));
                }
            },
        );
        Self {
            shared: Arc::clone(shared),
            op,
            described,
            rows: 0,
        }
    }

    /// The duration metric's attributes: the target's and the summary.
    fn metric_attributes(&self) -> Vec<KeyValue> {
        let mut attributes = Vec::with_capacity(self.shared.target_attributes.len() + 3);
        attributes.extend_from_slice(&self.shared.target_attributes);
        attributes.extend(self.described.summary_attribute());
        attributes
    }

    /// Ends the span and records the duration; `error` is the failure, if any.
    pub(crate) fn finish<DB: DatabaseTarget>(&mut self, error: Option<&sqlx::Error>) {
        if self.op.is_finished() {
            return;
        }
        let (status_code, error_type) = match error {
            None => (None, None),
            Some(sqlx::Error::Database(e)) => {
                let code = DB::status_code(e.as_ref());
                (
                    code.clone(),
                    Some(code.unwrap_or_else(|| "_OTHER".to_owned())),
                )
            }
            Some(e) => (None, Some(error_class(e).to_owned())),
        };
        self.complete(status_code, error_type);
    }

    /// Records the duration (our span, when recorded, is the exemplar) and
    /// ends the span, with the failure's status code and `error.type`.
    fn complete(&mut self, status_code: Option<String>, error_type: Option<String>) {
        let elapsed = self.op.elapsed();
        self.op.set_span_attribute(KeyValue::new(
            attr::DB_RESPONSE_RETURNED_ROWS,
            self.rows as i64,
        ));
        // A success has the pool's attributes and the query's summary only:
        // a bound handle per described query. Failures add codes: unbound.
        let key = (status_code.is_none() && error_type.is_none())
            .then(|| DescribedKey(Arc::clone(&self.described)));
        let mut failure = Vec::new();
        if let Some(code) = status_code {
            let code = KeyValue::new(attr::DB_RESPONSE_STATUS_CODE, code);
            self.op.set_span_attribute(code.clone());
            failure.push(code);
        }
        if let Some(kind) = error_type {
            failure.push(KeyValue::new(
                tracewire::instrumentation::ERROR_TYPE,
                kind.clone(),
            ));
            self.op.fail(kind, "");
        }
        self.shared.bound_durations.record_in(
            self.op.exemplar_context(),
            &self.shared.duration,
            key,
            elapsed.as_secs_f64(),
            || {
                let mut attributes = self.metric_attributes();
                attributes.append(&mut failure);
                attributes
            },
        );
        self.op.finish_measured(elapsed);
    }
}

impl Described {
    /// `db.query.summary`, when the statement has one.
    fn summary_attribute(&self) -> Option<KeyValue> {
        (!self.summary.as_str().is_empty())
            .then(|| KeyValue::new(attr::DB_QUERY_SUMMARY, self.summary.clone()))
    }
}

impl Drop for Operation {
    fn drop(&mut self) {
        // Dropped early (a stream not read to the end): not an error.
        if !self.op.is_finished() {
            self.complete(None, None);
        }
    }
}

/// `error.type` for failures that are not the database's.
fn error_class(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::PoolTimedOut => "pool_timeout",
        sqlx::Error::PoolClosed => "pool_closed",
        sqlx::Error::Io(_) => "io",
        sqlx::Error::Tls(_) => "tls",
        sqlx::Error::Protocol(_) => "protocol",
        sqlx::Error::Encode(_) => "encode",
        sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => "decode",
        sqlx::Error::RowNotFound => "row_not_found",
        _ => "_OTHER",
    }
}

/// Passes a result stream through, counting rows, and ends `op` when the
/// stream ends or fails (dropped early, `op`'s own `Drop` ends it).
pub(crate) fn observe_results<'e, DB, S>(
    mut op: Operation,
    mut results: S,
) -> impl futures_core::Stream<Item = Result<sqlx::Either<DB::QueryResult, DB::Row>, sqlx::Error>>
+ Send
+ 'e
where
    DB: DatabaseTarget,
    S: futures_core::Stream<Item = Result<sqlx::Either<DB::QueryResult, DB::Row>, sqlx::Error>>
        + Send
        + Unpin
        + 'e,
{
    use futures_util::StreamExt as _;
    async_stream::stream! {
        loop {
            match results.next().await {
                Some(Ok(item)) => {
                    if item.is_right() {
                        op.rows += 1;
                    }
                    yield Ok(item);
                }
                Some(Err(e)) => {
                    op.finish::<DB>(Some(&e));
                    yield Err(e);
                    return;
                }
                None => {
                    op.finish::<DB>(None);
                    return;
                }
            }
        }
    }
}
