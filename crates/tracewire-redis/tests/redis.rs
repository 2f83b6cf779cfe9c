//! Against the real Redis in `REDIS_URL` (default `redis://127.0.0.1:6379`).
//! Under `CI=true` an unreachable server fails the test; elsewhere it is a
//! loud skip.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use redis::AsyncCommands as _;
use tracewire::otel::Value;
use tracewire::otel::trace::Status;
use tracewire::testing::{TestTelemetry, assert_child_of, attribute};
use tracewire_redis::{ServerInfo, TracedConnection};

async fn connect(
    t: &TestTelemetry,
    test: &str,
) -> Option<TracedConnection<redis::aio::MultiplexedConnection>> {
    connect_to(t, test, None).await
}

/// Like `connect`, to database `database` instead of the URL's.
async fn connect_to(
    t: &TestTelemetry,
    test: &str,
    database: Option<i64>,
) -> Option<TracedConnection<redis::aio::MultiplexedConnection>> {
    use redis::IntoConnectionInfo as _;
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut info = url.as_str().into_connection_info().unwrap();
    if let Some(database) = database {
        let settings = info.redis_settings().clone().set_db(database);
        info = info.set_redis_settings(settings);
    }
    let client = redis::Client::open(info).unwrap();
    match client.get_multiplexed_async_connection().await {
        Ok(connection) => Some(TracedConnection::with(
            connection,
            ServerInfo::of(&client),
            Some(t.own_tracer("tracewire-redis").into()),
            &t.telemetry.meter("tracewire-redis"),
        )),
        Err(e) => {
            tracewire::testing::service_unavailable("Redis", &url, test, &e);
            None
        }
    }
}

fn key(name: &str) -> String {
    format!("tracewire:test:{}:{name}", std::process::id())
}

fn text(v: Option<Value>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

#[tokio::test]
async fn commands_become_client_spans_without_values() {
    let t = TestTelemetry::start();
    let Some(mut redis) = connect(&t, "commands_become_client_spans_without_values").await else {
        return;
    };
    let user = key("user");
    let secret = "s3cr3t-value-never-recorded";
    let _: () = redis.set_ex(&user, secret, 60).await.unwrap();
    let got: String = redis.get(&user).await.unwrap();
    assert_eq!(got, secret);
    let fields = key("h");
    let _: () = redis
        .hset_multiple(&fields, &[("name", secret), ("role", "admin")])
        .await
        .unwrap();

    let set = t.span("SETEX");
    assert_eq!(text(attribute(&set, "db.system.name")), "redis");
    assert_eq!(text(attribute(&set, "db.operation.name")), "SETEX");
    assert_eq!(text(attribute(&set, "db.namespace")), "0");
    assert_eq!(
        text(attribute(&set, "db.query.text")),
        format!("SETEX {user} ? ?")
    );
    assert_eq!(text(attribute(&set, "server.address")), "127.0.0.1");
    assert!(
        attribute(&set, "server.port").is_none(),
        "6379 is the default port"
    );
    assert_eq!(set.status, Status::Unset);
    let get = t.span("GET");
    assert_eq!(
        text(attribute(&get, "db.query.text")),
        format!("GET {user}")
    );
    let hset = t.span("HMSET");
    assert_eq!(
        text(attribute(&hset, "db.query.text")),
        format!("HMSET {fields} name ? role ?")
    );

    let everything = format!("{:?}{}{:?}", t.spans(), t.metrics_text(), t.log_lines());
    assert!(
        !everything.contains(secret),
        "a value reached the telemetry"
    );
    assert!(!everything.contains("admin"));
    let _: () = redis.del(&[&user, &fields]).await.unwrap();
}

#[tokio::test]
async fn spans_nest_under_the_callers_span() {
    let t = TestTelemetry::start();
    let Some(mut redis) = connect(&t, "spans_nest_under_the_callers_span").await else {
        return;
    };
    let k = key("nest");
    let span = tracing::info_span!("load user");
    tracing::Instrument::instrument(
        async {
            let _: Option<String> = redis.get(&k).await.unwrap();
        },
        span,
    )
    .await;
    assert_child_of(&t.span("GET"), &t.span("load user"));
}

#[tokio::test]
async fn pipelines_and_transactions() {
    let t = TestTelemetry::start();
    let Some(mut redis) = connect(&t, "pipelines_and_transactions").await else {
        return;
    };
    let (a, b) = (key("a"), key("b"));
    let _: () = redis::pipe()
        .set(&a, "1")
        .ignore()
        .set(&b, "2")
        .ignore()
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: (i64, i64) = redis::pipe()
        .atomic()
        .incr(&a, 1)
        .incr(&b, 1)
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: (String, i64) = redis::pipe()
        .get(&a)
        .del(&b)
        .query_async(&mut redis)
        .await
        .unwrap();

    let sets = t.span("PIPELINE SET");
    assert_eq!(
        attribute(&sets, "db.operation.batch.size"),
        Some(Value::I64(2))
    );
    assert_eq!(
        text(attribute(&sets, "db.query.text")),
        format!("SET {a} ?; SET {b} ?")
    );
    let multi = t.span("MULTI INCRBY");
    assert_eq!(
        attribute(&multi, "db.operation.batch.size"),
        Some(Value::I64(2))
    );
    let mixed = t.span("PIPELINE");
    assert_eq!(text(attribute(&mixed, "db.operation.name")), "PIPELINE");
    let _: () = redis.del(&a).await.unwrap();
}

#[tokio::test]
async fn error_replies_are_errors_with_their_prefix() {
    let t = TestTelemetry::start();
    let Some(mut redis) = connect(&t, "error_replies_are_errors_with_their_prefix").await else {
        return;
    };
    let h = key("wrongtype");
    let _: () = redis.hset(&h, "f", "v").await.unwrap();
    let result: redis::RedisResult<String> = redis.get(&h).await;
    assert!(result.is_err());
    let get = t.span("GET");
    assert!(matches!(get.status, Status::Error { .. }));
    assert_eq!(
        text(attribute(&get, "db.response.status_code")),
        "WRONGTYPE"
    );
    assert_eq!(text(attribute(&get, "error.type")), "WRONGTYPE");
    let metrics = t.metrics_text();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("db_client_operation_duration_seconds_count{")
                && l.contains("db_operation_name=\"GET\"")
                && l.contains("error_type=\"WRONGTYPE\"")
        ),
        "{metrics}"
    );
    let _: () = redis.del(&h).await.unwrap();
}

#[tokio::test]
async fn blocking_commands_stay_out_of_the_duration_histogram() {
    let t = TestTelemetry::start();
    let Some(mut redis) = connect(&t, "blocking_commands_stay_out_of_the_duration_histogram").await
    else {
        return;
    };
    let empty = key("empty-queue");
    let popped: Option<(String, String)> = redis.blpop(&empty, 0.2).await.unwrap();
    assert!(popped.is_none());
    let span = t.span("BLPOP");
    let waited = span.end_time.duration_since(span.start_time).unwrap();
    assert!(
        waited >= std::time::Duration::from_millis(150),
        "the span keeps the real duration: {waited:?}"
    );
    let metrics = t.metrics_text();
    assert!(
        !metrics.contains("db_operation_name=\"BLPOP\""),
        "{metrics}"
    );
}

/// Each command's duration is its own series with exactly its attributes —
/// recorded through a bound handle per (command, database) for successes,
/// unbound for a failure, which adds its code — and counted once per call,
/// with the sampled span as the exemplar.
///
/// In a database of its own (11): exemplars are kept per series for the whole
/// process, and the other tests here, running at the same time, send the
/// same commands to the same server — in database 0 their spans would
/// replace this test's exemplars (a failure that depended on the timing).
#[tokio::test]
async fn durations_are_counted_per_command_with_exemplars() {
    let t = TestTelemetry::start();
    let Some(mut redis) = connect_to(
        &t,
        "durations_are_counted_per_command_with_exemplars",
        Some(11),
    )
    .await
    else {
        return;
    };
    let k = key("counted");
    let h = key("counted-hash");
    for _ in 0..2 {
        let _: () = redis.set(&k, "v").await.unwrap();
    }
    let _: String = redis.get(&k).await.unwrap();
    let _: () = redis.hset(&h, "f", "v").await.unwrap();
    let failed: redis::RedisResult<String> = redis.get(&h).await;
    assert!(failed.is_err());
    let _: () = redis.del(&[&k, &h]).await.unwrap();

    let metrics = t.metrics_text();
    let count = |command: &str, error: Option<&str>| -> String {
        let matching: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("db_client_operation_duration_seconds_count{"))
            .filter(|l| l.contains(&format!("db_operation_name=\"{command}\"")))
            .filter(|l| match error {
                Some(e) => l.contains(&format!("error_type=\"{e}\"")),
                None => !l.contains("error_type="),
            })
            .collect();
        assert_eq!(matching.len(), 1, "{command} {error:?}: {metrics}");
        let line = matching[0];
        for label in ["db_system_name=\"redis\"", "db_namespace=\"11\""] {
            assert!(line.contains(label), "{label} in {line}");
        }
        line.rsplit(' ').next().unwrap().to_owned()
    };
    assert_eq!(count("SET", None), "2");
    assert_eq!(count("GET", None), "1");
    assert_eq!(count("GET", Some("WRONGTYPE")), "1");
    assert_eq!(count("HSET", None), "1");
    t.assert_exemplars_link_to_spans("db_client_operation_duration_seconds");
}
