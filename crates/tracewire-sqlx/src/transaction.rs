//! [`TracedTransaction`]: a transaction whose statements are traced.

use std::sync::Arc;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use sqlx::{Database, Either, Execute, Executor, Transaction};

use crate::operation::{Operation, Shared, TracedQuery, observe_results};
use crate::target::DatabaseTarget;

/// A transaction from [`TracedPool::begin`](crate::TracedPool::begin);
/// `&mut TracedTransaction` is an [`Executor`]. Dropped without `commit`, it
/// rolls back (as sqlx does).
pub struct TracedTransaction<DB: Database> {
    tx: Transaction<'static, DB>,
    shared: Arc<Shared>,
}

impl<DB: Database> std::fmt::Debug for TracedTransaction<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedTransaction").finish_non_exhaustive()
    }
}

impl<DB: Database> TracedTransaction<DB> {
    pub(crate) fn new(tx: Transaction<'static, DB>, shared: Arc<Shared>) -> Self {
        Self { tx, shared }
    }
}

impl<DB: DatabaseTarget> TracedTransaction<DB> {
    /// Commits (a `COMMIT` span).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let mut op = Operation::start(&self.shared, "COMMIT", true);
        let result = self.tx.commit().await;
        op.finish::<DB>(result.as_ref().err());
        result
    }

    /// Rolls back (a `ROLLBACK` span).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let mut op = Operation::start(&self.shared, "ROLLBACK", true);
        let result = self.tx.rollback().await;
        op.finish::<DB>(result.as_ref().err());
        result
    }
}

impl<'t, DB: DatabaseTarget> Executor<'t> for &'t mut TracedTransaction<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let (query, parameterized) = TracedQuery::capture(query);
        let op = Operation::start(&self.shared, query.text(), parameterized);
        let conn: &'t mut DB::Connection = &mut self.tx;
        Box::pin(observe_results::<DB, _>(op, conn.fetch_many(query)))
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        't: 'e,
        E: 'q + Execute<'q, DB>,
    {
        let (query, parameterized) = TracedQuery::capture(query);
        let mut op = Operation::start(&self.shared, query.text(), parameterized);
        let conn: &'t mut DB::Connection = &mut self.tx;
        Box::pin(async move {
            let result = conn.fetch_optional(query).await;
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
        't: 'e,
    {
        let mut op = Operation::start(&self.shared, sql.as_str(), true);
        let conn: &'t mut DB::Connection = &mut self.tx;
        Box::pin(async move {
            let result = conn.prepare_with(sql, parameters).await;
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
        't: 'e,
    {
        let conn: &'t mut DB::Connection = &mut self.tx;
        conn.describe(sql)
    }
}
