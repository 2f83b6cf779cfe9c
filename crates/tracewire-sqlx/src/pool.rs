//! [`TracedPool`]: a sqlx pool that records every operation, and its pool metrics.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::StreamExt as _;
use sqlx::{Database, Either, Execute, Executor, Pool};
use tracewire::otel::KeyValue;

use crate::operation::{
    Operation, PoolCounters, PoolMetrics, Shared, TracedQuery, observe_results,
};
use crate::target::DatabaseTarget;
use crate::transaction::TracedTransaction;

pub(crate) const SCOPE: &str = "tracewire-sqlx";

struct Inner<DB: Database> {
    pool: Pool<DB>,
    shared: Arc<Shared>,
}

/// A [`Pool`] whose every query, execute, fetch and prepare is a CLIENT span
/// with `db.client.operation.duration`; `&TracedPool` is an [`Executor`], so
/// `sqlx::query(…).fetch_all(&pool)` works unchanged. Cloning is cheap.
pub struct TracedPool<DB: Database> {
    inner: Arc<Inner<DB>>,
}

impl<DB: Database> Clone for TracedPool<DB> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<DB: Database> std::fmt::Debug for TracedPool<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedPool")
            .field("target", &self.inner.shared.target)
            .finish_non_exhaustive()
    }
}

/// How [`TracedPool`] records: tracer, meter, pool name, query text.
#[derive(Debug, Clone)]
pub struct Options {
    tracer: Option<tracewire::instrumentation::Tracer>,
    meter: tracewire::otel::metrics::Meter,
    pool_name: Option<String>,
    system: Option<&'static str>,
    record_query_text: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tracer: tracewire::instrumentation::Tracer::installed(SCOPE),
            meter: tracewire::otel::global::meter(SCOPE),
            pool_name: None,
            system: None,
            record_query_text: true,
        }
    }
}

impl Options {
    /// Uses this tracer (default: the one `tracewire::init` installed).
    pub fn tracer(mut self, tracer: impl Into<tracewire::instrumentation::Tracer>) -> Self {
        self.tracer = Some(tracer.into());
        self
    }

    /// Records metrics on this meter (default: the global meter provider).
    pub fn meter(mut self, meter: tracewire::otel::metrics::Meter) -> Self {
        self.meter = meter;
        self
    }

    /// `db.client.connection.pool.name` (default
    /// `server.address:server.port/db.namespace`).
    pub fn pool_name(mut self, name: impl Into<String>) -> Self {
        self.pool_name = Some(name.into());
        self
    }

    /// Overrides `db.system.name` (e.g. `mariadb` for a MariaDB server
    /// reached with the MySQL driver).
    pub fn system(mut self, system: &'static str) -> Self {
        self.system = Some(system);
        self
    }

    /// Whether `db.query.text` is recorded (default: yes — parameterized text
    /// as written, anything else sanitized).
    pub fn record_query_text(mut self, record: bool) -> Self {
        self.record_query_text = record;
        self
    }
}

// No `Executor` bound here: with one, calls that leave `DB` to inference
// (`TracedPool::new(pool)`) send the trait solver into a loop.
impl<DB: DatabaseTarget> TracedPool<DB> {
    /// Wraps `pool` with the default [`Options`].
    pub fn new(pool: Pool<DB>) -> Self {
        Self::with_options(pool, Options::default())
    }

    /// Wraps `pool`.
    pub fn with_options(pool: Pool<DB>, options: Options) -> Self {
        let mut target = DB::target(&pool.connect_options());
        if let Some(system) = options.system {
            target.system = system;
        }
        let pool_name = options
            .pool_name
            .clone()
            .unwrap_or_else(|| target.pool_name());
        let name_attr = KeyValue::new("db.client.connection.pool.name", pool_name);
        let meter = &options.meter;
        let counters = Arc::new(PoolCounters::default());
        let pool_metrics = PoolMetrics {
            counters: Arc::clone(&counters),
            // One attribute set per pool: bound once, no lookup per query.
            wait_time: tracewire::metrics::duration_histogram(
                meter,
                "db.client.connection.wait_time",
                "Time it took to obtain an open connection from the pool.",
                tracewire::metrics::DB_DURATION_BUCKETS,
            )
            .bind(std::slice::from_ref(&name_attr)),
            use_time: tracewire::metrics::duration_histogram(
                meter,
                "db.client.connection.use_time",
                "Time between borrowing a connection and returning it to the pool.",
                tracewire::metrics::DB_DURATION_BUCKETS,
            )
            .bind(std::slice::from_ref(&name_attr)),
        };
        let shared = Arc::new(Shared {
            tracer: options.tracer.clone(),
            target_attributes: crate::operation::target_attributes(&target),
            duration: tracewire::db::operation_duration(meter),
            bound_durations: Default::default(),
            target,
            record_query_text: options.record_query_text,
            pool_metrics,
        });
        let inner = Arc::new(Inner { pool, shared });
        register_pool_gauges(meter, Arc::downgrade(&inner), &counters, name_attr);
        Self { inner }
    }

    /// The wrapped pool (its own executor is not traced).
    pub fn pool(&self) -> &Pool<DB> {
        &self.inner.pool
    }

    /// Starts a transaction whose statements are traced too.
    pub async fn begin(&self) -> Result<TracedTransaction<DB>, sqlx::Error> {
        let mut op = Operation::start(&self.inner.shared, "BEGIN", true);
        match self.inner.pool.begin().await {
            Ok(tx) => {
                op.finish::<DB>(None);
                Ok(TracedTransaction::<DB>::new(
                    tx,
                    Arc::clone(&self.inner.shared),
                ))
            }
            Err(e) => {
                op.finish::<DB>(Some(&e));
                Err(e)
            }
        }
    }
}

/// The pool gauges, read when metrics are collected. They hold the pool
/// weakly: a dropped pool stops reporting.
fn register_pool_gauges<DB: Database>(
    meter: &tracewire::otel::metrics::Meter,
    inner: Weak<Inner<DB>>,
    counters: &Arc<PoolCounters>,
    name: KeyValue,
) {
    let (for_count, for_max) = (inner.clone(), inner);
    let count_name = name.clone();
    meter
        .i64_observable_up_down_counter("db.client.connection.count")
        .with_unit("{connection}")
        .with_description("Connections in the pool, by state.")
        .with_callback(move |observer| {
            if let Some(inner) = for_count.upgrade() {
                let idle = inner.pool.num_idle() as i64;
                let used = i64::from(inner.pool.size()) - idle;
                observer.observe(
                    idle,
                    &[
                        count_name.clone(),
                        KeyValue::new("db.client.connection.state", "idle"),
                    ],
                );
                observer.observe(
                    used.max(0),
                    &[
                        count_name.clone(),
                        KeyValue::new("db.client.connection.state", "used"),
                    ],
                );
            }
        })
        .build();
    let max_name = name.clone();
    meter
        .i64_observable_up_down_counter("db.client.connection.max")
        .with_unit("{connection}")
        .with_description("The most connections the pool may open.")
        .with_callback(move |observer| {
            if let Some(inner) = for_max.upgrade() {
                observer.observe(
                    i64::from(inner.pool.options().get_max_connections()),
                    std::slice::from_ref(&max_name),
                );
            }
        })
        .build();
    let (pending, pending_name) = (Arc::clone(counters), name.clone());
    meter
        .i64_observable_up_down_counter("db.client.connection.pending_requests")
        .with_unit("{request}")
        .with_description("Requests waiting for a connection.")
        .with_callback(move |observer| {
            observer.observe(
                pending.pending.load(Ordering::Relaxed),
                std::slice::from_ref(&pending_name),
            );
        })
        .build();
    let timeouts = Arc::clone(counters);
    meter
        .u64_observable_counter("db.client.connection.timeouts")
        .with_unit("{timeout}")
        .with_description("Connection requests that timed out.")
        .with_callback(move |observer| {
            observer.observe(
                timeouts.timeouts.load(Ordering::Relaxed),
                std::slice::from_ref(&name),
            );
        })
        .build();
}

/// A borrowed connection that records its use time when returned.
pub(crate) struct Held<DB: Database> {
    pub(crate) conn: sqlx::pool::PoolConnection<DB>,
    since: Instant,
    shared: Arc<Shared>,
}

impl<DB: Database> Drop for Held<DB> {
    fn drop(&mut self) {
        let metrics = &self.shared.pool_metrics;
        metrics.use_time.record(self.since.elapsed().as_secs_f64());
    }
}

/// Acquires a connection, recording wait time, pending requests and timeouts.
async fn acquire<DB: Database>(
    pool: &Pool<DB>,
    shared: &Arc<Shared>,
) -> Result<Held<DB>, sqlx::Error> {
    let metrics = &shared.pool_metrics;
    let start = Instant::now();
    metrics.counters.pending.fetch_add(1, Ordering::Relaxed);
    let result = pool.acquire().await;
    metrics.counters.pending.fetch_sub(1, Ordering::Relaxed);
    metrics.wait_time.record(start.elapsed().as_secs_f64());
    match result {
        Ok(conn) => Ok(Held {
            conn,
            since: Instant::now(),
            shared: Arc::clone(shared),
        }),
        Err(e) => {
            if matches!(e, sqlx::Error::PoolTimedOut) {
                metrics.counters.timeouts.fetch_add(1, Ordering::Relaxed);
            }
            Err(e)
        }
    }
}

impl<'p, DB: DatabaseTarget> Executor<'p> for &'p TracedPool<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let (query, parameterized) = TracedQuery::capture(query);
        let mut op = Operation::start(&self.inner.shared, query.text(), parameterized);
        let (pool, shared) = (self.inner.pool.clone(), Arc::clone(&self.inner.shared));
        Box::pin(async_stream::stream! {
            let mut held = match acquire(&pool, &shared).await {
                Ok(held) => held,
                Err(e) => {
                    op.finish::<DB>(Some(&e));
                    yield Err(e);
                    return;
                }
            };
            let results = (&mut *held.conn).fetch_many(query);
            let mut observed = std::pin::pin!(observe_results::<DB, _>(op, results));
            while let Some(item) = observed.next().await {
                yield item;
            }
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let (query, parameterized) = TracedQuery::capture(query);
        let mut op = Operation::start(&self.inner.shared, query.text(), parameterized);
        let (pool, shared) = (self.inner.pool.clone(), Arc::clone(&self.inner.shared));
        Box::pin(async move {
            let result = match acquire(&pool, &shared).await {
                Ok(mut held) => (&mut *held.conn).fetch_optional(query).await,
                Err(e) => Err(e),
            };
            if let Ok(row) = &result {
                op.rows = u64::from(row.is_some());
            }
            op.finish::<DB>(result.as_ref().err());
            result
        })
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        let mut op = Operation::start(&self.inner.shared, sql.as_str(), true);
        let (pool, shared) = (self.inner.pool.clone(), Arc::clone(&self.inner.shared));
        Box::pin(async move {
            let result = match acquire(&pool, &shared).await {
                Ok(mut held) => (&mut *held.conn).prepare_with(sql, parameters).await,
                Err(e) => Err(e),
            };
            op.finish::<DB>(result.as_ref().err());
            result
        })
    }

    #[doc(hidden)]
    fn describe<'e>(
        self,
        sql: sqlx::SqlStr,
    ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<DB>, sqlx::Error>>
    where
        'p: 'e,
    {
        let pool = self.inner.pool.clone();
        Box::pin(async move { pool.acquire().await?.describe(sql).await })
    }
}
