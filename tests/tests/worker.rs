//! The worker example as a process: the request, the enqueue, the processing
//! and the database write are one trace; failing jobs retry then dead-letter;
//! SIGTERM drains.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use tracewire_e2e::receiver::hex;
use tracewire_e2e::{Worker, http_get, http_post_json, start_worker, wait_for};

#[test]
fn worker_example_keeps_one_trace_from_request_to_database() {
    let Some(Worker {
        app,
        received,
        redis: mut conn,
        db,
    }) = start_worker(
        "worker_example_keeps_one_trace_from_request_to_database",
        10,
    )
    else {
        return;
    };

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let accepted = http_post_json(
        app.addr,
        "/jobs",
        &[("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))],
        r#"{"payload": "hello"}"#,
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = serde_json::from_str::<serde_json::Value>(&accepted.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = |id: &str| {
        serde_json::from_str::<serde_json::Value>(
            &http_get(app.addr, &format!("/jobs/{id}"), &[]).body,
        )
        .unwrap()
    };
    let done = wait_for(Duration::from_secs(20), || {
        (status(&id)["status"] == "done").then_some(())
    });
    assert!(done.is_some(), "{}", status(&id));

    let failing = http_post_json(app.addr, "/jobs", &[], r#"{"payload": "fail please"}"#);
    let failing_id = serde_json::from_str::<serde_json::Value>(&failing.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = wait_for(Duration::from_secs(20), || {
        (status(&failing_id)["status"] == "failed").then_some(())
    });
    assert!(failed.is_some(), "{}", status(&failing_id));
    assert_eq!(
        status(&failing_id)["attempts"],
        3,
        "one delivery, two retries"
    );
    let dead: i64 = redis::cmd("LLEN")
        .arg("jobs:dead")
        .query(&mut conn)
        .unwrap();
    assert_eq!(dead, 1);

    assert!(app.terminate().success());
    let _ = std::fs::remove_file(&db);

    let spans = received.spans();
    let in_trace: Vec<_> = spans
        .iter()
        .filter(|s| hex(&s.trace_id) == trace_id)
        .collect();
    let find = |name: &str| {
        *in_trace.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "{name} not in the trace: {:?}",
                in_trace.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let request = find("POST /jobs");
    let send = find("send jobs");
    let process = find("process jobs");
    assert_eq!(send.parent_span_id, request.span_id);
    assert_eq!(process.parent_span_id, send.span_id);
    let write = in_trace
        .iter()
        .find(|s| s.name == "INSERT jobs UPDATE" && s.parent_span_id == process.span_id);
    assert!(
        write.is_some(),
        "the database write is a child of the processing span: {:?}",
        in_trace
            .iter()
            .map(|s| (&s.name, hex(&s.span_id), hex(&s.parent_span_id)))
            .collect::<Vec<_>>()
    );
}
