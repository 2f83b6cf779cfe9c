//! Against real databases: SQLite (embedded, always), PostgreSQL in
//! `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! MariaDB in `MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`).
//! Under `CI=true` an unreachable server fails; elsewhere it is a loud skip.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use futures_util::StreamExt as _;
use tracewire::otel::Value;
use tracewire::otel::trace::{SpanKind, Status};
use tracewire::testing::{TestTelemetry, assert_child_of, attribute};
use tracewire_sqlx::{Options, TracedPool};

fn options(t: &TestTelemetry) -> Options {
    Options::default()
        .tracer(t.own_tracer("tracewire-sqlx"))
        .meter(t.telemetry.meter("tracewire-sqlx"))
}

fn text(v: Option<Value>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

async fn postgres(t: &TestTelemetry, test: &str) -> Option<TracedPool<sqlx::Postgres>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match sqlx::postgres::PgPoolOptions::new()
        .max_connections(3)
        .connect(&url)
        .await
    {
        Ok(pool) => Some(TracedPool::with_options(pool, options(t))),
        Err(e) => {
            tracewire::testing::service_unavailable("PostgreSQL", &url, test, &e);
            None
        }
    }
}

/// Dynamic SQL in tests: table names made unique per run, never user input.
fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

fn table(name: &str) -> String {
    format!("tw_{name}_{}", std::process::id())
}

#[tokio::test]
async fn postgres_select_insert_and_a_transaction() {
    let t = TestTelemetry::start();
    let Some(pool) = postgres(&t, "postgres_select_insert_and_a_transaction").await else {
        return;
    };
    let users = table("users");
    sqlx::query(sql(format!(
        "CREATE TABLE {users} (id SERIAL PRIMARY KEY, name TEXT NOT NULL)"
    )))
    .execute(&pool)
    .await
    .unwrap();

    let request = tracing::info_span!("POST /users");
    let id: i32 = tracing::Instrument::instrument(
        async {
            let row: (i32,) = sqlx::query_as(sql(format!(
                "INSERT INTO {users} (name) VALUES ($1) RETURNING id"
            )))
            .bind("ada lovelace")
            .fetch_one(&pool)
            .await
            .unwrap();
            row.0
        },
        request,
    )
    .await;
    let insert = t.span(&format!("INSERT {users}"));
    assert_child_of(&insert, &t.span("POST /users"));
    assert_eq!(insert.span_kind, SpanKind::Client);
    assert_eq!(text(attribute(&insert, "db.system.name")), "postgresql");
    assert_eq!(text(attribute(&insert, "db.namespace")), "test");
    assert_eq!(text(attribute(&insert, "server.address")), "127.0.0.1");
    assert!(
        attribute(&insert, "server.port").is_none(),
        "5432 is the default"
    );
    assert_eq!(
        text(attribute(&insert, "db.query.summary")),
        format!("INSERT {users}")
    );
    assert_eq!(
        text(attribute(&insert, "db.query.text")),
        format!("INSERT INTO {users} (name) VALUES ($1) RETURNING id"),
        "parameterized text is recorded as written"
    );
    assert_eq!(
        attribute(&insert, "db.response.returned_rows"),
        Some(Value::I64(1))
    );

    let mut tx = pool.begin().await.unwrap();
    sqlx::query(sql(format!("UPDATE {users} SET name = $1 WHERE id = $2")))
        .bind("ada")
        .bind(id)
        .execute(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let update = t.span(&format!("UPDATE {users}"));
    assert_eq!(update.status, Status::Unset);
    t.span("BEGIN");
    t.span("COMMIT");

    let name: (String,) = sqlx::query_as(sql(format!("SELECT name FROM {users} WHERE id = $1")))
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name.0, "ada");
    t.span(&format!("SELECT {users}"));
    sqlx::query(sql(format!("DROP TABLE {users}")))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn postgres_syntax_errors_carry_their_sqlstate() {
    let t = TestTelemetry::start();
    let Some(pool) = postgres(&t, "postgres_syntax_errors_carry_their_sqlstate").await else {
        return;
    };
    let result = sqlx::query("SELEC 1").execute(&pool).await;
    assert!(result.is_err());
    let span = t.span("postgresql");
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(text(attribute(&span, "db.response.status_code")), "42601");
    assert_eq!(text(attribute(&span, "error.type")), "42601");
    let metrics = t.metrics_text();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("db_client_operation_duration_seconds_count{")
                && l.contains("error_type=\"42601\"")
                && l.contains("db_response_status_code=\"42601\"")
                && l.contains("db_system_name=\"postgresql\"")
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn literals_never_reach_spans_or_metrics() {
    let t = TestTelemetry::start();
    let Some(pool) = postgres(&t, "literals_never_reach_spans_or_metrics").await else {
        return;
    };
    let secret = "hunter2-literal";
    let _ = sqlx::query(sql(format!(
        "SELECT '{secret}' AS pw, 424242 AS n, $$also-{secret}$$ AS d"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    let span = t.span("SELECT");
    assert_eq!(
        text(attribute(&span, "db.query.text")),
        "SELECT ? AS pw, ? AS n, ? AS d"
    );
    let everything = format!("{:?}{}", t.spans(), t.metrics_text());
    assert!(
        !everything.contains(secret) && !everything.contains("424242"),
        "a literal reached the telemetry"
    );
}

#[tokio::test]
async fn a_stream_dropped_early_ends_its_span() {
    let t = TestTelemetry::start();
    let Some(pool) = postgres(&t, "a_stream_dropped_early_ends_its_span").await else {
        return;
    };
    {
        let mut rows =
            sqlx::query("SELECT generate_series(1, 1000) AS n, pg_sleep(0)").fetch(&pool);
        let first = rows.next().await.unwrap().unwrap();
        let _ = first;
        assert!(t.spans().is_empty(), "the span is open while the stream is");
    }
    let span = t.span("SELECT");
    assert_eq!(span.status, Status::Unset);
    assert_eq!(
        attribute(&span, "db.response.returned_rows"),
        Some(Value::I64(1))
    );
}

#[tokio::test]
async fn pool_metrics_show_up_with_their_translated_names() {
    let t = TestTelemetry::start();
    let Some(pool) = postgres(&t, "pool_metrics_show_up_with_their_translated_names").await else {
        return;
    };
    sqlx::query("SELECT 1").execute(&pool).await.unwrap();
    let metrics = t.metrics_text();
    for series in [
        "db_client_operation_duration_seconds_bucket{",
        "db_client_connection_count{db_client_connection_pool_name=\"127.0.0.1/test\",db_client_connection_state=\"idle\"",
        "db_client_connection_max{db_client_connection_pool_name=\"127.0.0.1/test\"",
        "db_client_connection_pending_requests{",
        "db_client_connection_timeouts_total{",
        "db_client_connection_wait_time_seconds_bucket{",
        "db_client_connection_use_time_seconds_bucket{",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
}

#[tokio::test]
async fn sqlite_embedded_works_everywhere() {
    let t = TestTelemetry::start();
    let file = std::env::temp_dir().join(format!("tracewire-{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let pool =
        TracedPool::with_options(sqlx::SqlitePool::connect(&url).await.unwrap(), options(&t));
    sqlx::query("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO notes (body) VALUES ('secret note')")
        .execute(&pool)
        .await
        .unwrap();
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, body FROM notes")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let insert = t.span("INSERT notes");
    assert_eq!(text(attribute(&insert, "db.system.name")), "sqlite");
    assert_eq!(
        text(attribute(&insert, "db.namespace")),
        format!("tracewire-{}", std::process::id())
    );
    assert_eq!(
        text(attribute(&insert, "db.query.text")),
        "INSERT INTO notes (body) VALUES (?)"
    );
    let select = t.span("SELECT notes");
    assert_eq!(
        attribute(&select, "db.response.returned_rows"),
        Some(Value::I64(1))
    );
    let failed = sqlx::query("INSERT INTO missing_table VALUES (1)")
        .execute(&pool)
        .await;
    assert!(failed.is_err());
    let span = t.span("INSERT missing_table");
    assert!(matches!(span.status, Status::Error { .. }));
    assert_eq!(
        text(attribute(&span, "db.response.status_code")),
        "1",
        "SQLITE_ERROR"
    );
    drop(pool);
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn mariadb_through_the_mysql_driver() {
    let t = TestTelemetry::start();
    let url =
        std::env::var("MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let pool = match sqlx::MySqlPool::connect(&url).await {
        Ok(pool) => TracedPool::with_options(pool, options(&t).system("mariadb")),
        Err(e) => {
            return tracewire::testing::service_unavailable(
                "MariaDB",
                &url,
                "mariadb_through_the_mysql_driver",
                &e,
            );
        }
    };
    let notes = table("notes");
    sqlx::query(sql(format!(
        "CREATE TABLE {notes} (id INT PRIMARY KEY, body TEXT)"
    )))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(sql(format!("INSERT INTO {notes} (id, body) VALUES (?, ?)")))
        .bind(1)
        .bind("x")
        .execute(&pool)
        .await
        .unwrap();
    let duplicate = sqlx::query(sql(format!("INSERT INTO {notes} (id, body) VALUES (?, ?)")))
        .bind(1)
        .bind("y")
        .execute(&pool)
        .await;
    assert!(duplicate.is_err());
    let spans = t.spans();
    let failed = spans
        .iter()
        .find(|s| s.name == format!("INSERT {notes}") && matches!(s.status, Status::Error { .. }))
        .unwrap();
    assert_eq!(text(attribute(failed, "db.system.name")), "mariadb");
    assert_eq!(
        text(attribute(failed, "db.response.status_code")),
        "1062",
        "MySQL error number"
    );
    assert_eq!(text(attribute(failed, "db.namespace")), "test");
    sqlx::query(sql(format!("DROP TABLE {notes}")))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn durations_are_counted_per_query_with_exemplars() {
    let t = TestTelemetry::start();
    let pool = TracedPool::with_options(
        sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap(),
        options(&t),
    );
    sqlx::query("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    for _ in 0..3 {
        sqlx::query("SELECT body FROM notes WHERE id = ?")
            .bind(1)
            .fetch_optional(&pool)
            .await
            .unwrap();
    }
    let _ = sqlx::query("SELECT nope FROM notes").fetch_all(&pool).await;
    let metrics = t.metrics_text();
    let count = |summary: &str, error: bool| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("db_client_operation_duration_seconds_count{")
                    && l.contains(&format!("db_query_summary=\"{summary}\""))
                    && l.contains("error_type") == error
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    };
    assert_eq!(
        count("SELECT notes", false).as_deref(),
        Some("3"),
        "{metrics}"
    );
    assert_eq!(
        count("SELECT notes", true).as_deref(),
        Some("1"),
        "{metrics}"
    );
    // Each operation's span is an exemplar of its bucket (the latest one).
    let traces: Vec<String> = t
        .spans()
        .iter()
        .filter(|s| s.name == "SELECT notes")
        .map(|s| format!("trace_id=\"{}\"", s.span_context.trace_id()))
        .collect();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("db_client_operation_duration_seconds_bucket")
                && traces.iter().any(|t| l.contains(t.as_str()))
        ),
        "{metrics}"
    );
    // Every query borrowed and returned a connection.
    let use_count = metrics
        .lines()
        .find(|l| l.starts_with("db_client_connection_use_time_seconds_count{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(use_count, Some(5), "{metrics}");
}
