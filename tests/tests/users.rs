//! The users example as a process: SQLite (embedded) + Redis, one trace per
//! request across the server span, the SQL and the cache, exported over OTLP.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use tracewire_e2e::receiver::{attr, hex, http_receiver};
use tracewire_e2e::{Example, http_get, http_post_json};

/// Redis db 9 is this test's: emptied first so ids of earlier runs do not hit the cache.
fn fresh_redis() -> Option<String> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let url = format!("{}/9", url.trim_end_matches('/'));
    let client = redis::Client::open(url.as_str()).ok()?;
    match client.get_connection() {
        Ok(mut conn) => {
            let _: () = redis::cmd("FLUSHDB").query(&mut conn).ok()?;
            Some(url)
        }
        Err(e) => {
            tracewire::testing::service_unavailable(
                "Redis",
                &url,
                "users_example_traces_sql_and_cache",
                &e,
            );
            None
        }
    }
}

#[test]
fn users_example_traces_sql_and_cache() {
    let Some(redis_url) = fresh_redis() else {
        return;
    };
    let (collector, received) = http_receiver(200);
    let db = std::env::temp_dir().join(format!("tracewire-users-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let database_url = format!("sqlite://{}?mode=rwc", db.display());
    let endpoint = format!("http://{collector}");
    let app = Example::start(
        "users",
        &[
            ("DATABASE_URL", &database_url),
            ("REDIS_URL", &redis_url),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ],
    );

    let created = http_post_json(app.addr, "/users", &[], r#"{"name": "ada lovelace"}"#);
    assert_eq!(created.status, 201, "{}", created.body);
    let id = serde_json::from_str::<serde_json::Value>(&created.body).unwrap()["id"]
        .as_i64()
        .unwrap();
    let miss_trace = "0af7651916cd43dd8448eb211c80319c";
    let first = http_get(
        app.addr,
        &format!("/users/{id}"),
        &[(
            "traceparent",
            &format!("00-{miss_trace}-b7ad6b7169203331-01"),
        )],
    );
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.body.contains("ada lovelace"));
    let second = http_get(app.addr, &format!("/users/{id}"), &[]);
    assert_eq!(second.status, 200);
    assert_eq!(http_get(app.addr, "/users/999999", &[]).status, 404);
    assert!(app.terminate().success());
    let _ = std::fs::remove_file(&db);

    let spans = received.spans();
    let in_trace: Vec<&str> = spans
        .iter()
        .filter(|s| hex(&s.trace_id) == miss_trace)
        .map(|s| s.name.as_str())
        .collect();
    for expected in ["GET /users/{id}", "GET", "SELECT users", "SETEX"] {
        assert!(
            in_trace.contains(&expected),
            "{expected} missing from the miss trace: {in_trace:?}"
        );
    }
    let server = spans
        .iter()
        .find(|s| hex(&s.trace_id) == miss_trace && s.name == "GET /users/{id}")
        .unwrap();
    let select = spans
        .iter()
        .find(|s| hex(&s.trace_id) == miss_trace && s.name == "SELECT users")
        .unwrap();
    assert_eq!(
        select.parent_span_id, server.span_id,
        "SQL under the request span"
    );
    assert_eq!(
        attr(&select.attributes, "db.query.text").as_deref(),
        Some("SELECT name FROM users WHERE id = ?")
    );
    let setex = spans
        .iter()
        .find(|s| hex(&s.trace_id) == miss_trace && s.name == "SETEX")
        .unwrap();
    let text = attr(&setex.attributes, "db.query.text").unwrap();
    assert!(
        text.starts_with(&format!("SETEX user:{id} ")) && !text.contains("ada"),
        "{text}"
    );
    let everything = format!("{spans:?}");
    assert!(
        !everything.contains("lovelace"),
        "the user's name never reaches the telemetry"
    );
    assert!(spans.iter().any(|s| s.name == "INSERT users"));
}
