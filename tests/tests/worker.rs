//! The worker example as a process: the request, the enqueue, the processing
//! and the database write are one trace; failing jobs retry then dead-letter;
//! SIGTERM drains.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use tracewire_e2e::receiver::{attr, hex};
use tracewire_e2e::{Worker, http_get, http_post_json, start_worker, wait_for};

#[test]
fn worker_example_keeps_one_trace_from_request_to_database() {
    let Some(Worker {
        app,
        received,
        redis: mut conn,
        db,
        ..
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

fn job_id(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn job_status(addr: std::net::SocketAddr, id: &str) -> String {
    let body = http_get(addr, &format!("/jobs/{id}"), &[]).body;
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_job_finished_before_its_enqueue_returned_still_reads_done() {
    // With "queued" written after the send, a worker that finished first was
    // overwritten: 10 and 101 of 200 jobs stayed "queued" in two runs.
    let Some(worker) = start_worker(
        "a_job_finished_before_its_enqueue_returned_still_reads_done",
        13,
    ) else {
        return;
    };
    let addr = worker.app.addr;
    let ids: Vec<String> = (0..200)
        .map(|i| {
            let accepted =
                http_post_json(addr, "/jobs", &[], &format!(r#"{{"payload": "job {i}"}}"#));
            assert_eq!(accepted.status, 202, "{}", accepted.body);
            job_id(&accepted.body)
        })
        .collect();
    let mut pending = ids.clone();
    let all_done = wait_for(Duration::from_secs(30), || {
        pending.retain(|id| job_status(addr, id) != "done");
        pending.is_empty().then_some(())
    });
    // A second look: nothing downgrades a finished job later either.
    std::thread::sleep(Duration::from_millis(300));
    let not_done: Vec<(String, String)> = ids
        .iter()
        .map(|id| (id.clone(), job_status(addr, id)))
        .filter(|(_, status)| status != "done")
        .collect();
    assert!(
        all_done.is_some() && not_done.is_empty(),
        "{} of 200 jobs not done: {:?}",
        not_done.len(),
        &not_done[..not_done.len().min(5)]
    );
    let _ = std::fs::remove_file(&worker.db);
}

#[test]
fn sigterm_lets_the_job_in_flight_finish_and_it_is_acknowledged_once() {
    let Some(mut worker) = start_worker(
        "sigterm_lets_the_job_in_flight_finish_and_it_is_acknowledged_once",
        14,
    ) else {
        return;
    };
    let accepted = http_post_json(worker.app.addr, "/jobs", &[], r#"{"payload": "slow"}"#);
    let id = job_id(&accepted.body);
    let running = wait_for(Duration::from_secs(20), || {
        (job_status(worker.app.addr, &id) == "running").then_some(())
    });
    assert!(running.is_some(), "{}", job_status(worker.app.addr, &id));

    // SIGTERM while the job sleeps; the restart waits for the exit first.
    let exit = worker.restart();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(job_status(worker.app.addr, &id), "done", "the job finished");
    let len = |conn: &mut redis::Connection, key: &str| -> i64 {
        redis::cmd("LLEN").arg(key).query(conn).unwrap()
    };
    let processing: Vec<String> = redis::cmd("KEYS")
        .arg("jobs:processing:*")
        .query(&mut worker.redis)
        .unwrap();
    for list in &processing {
        assert_eq!(len(&mut worker.redis, list), 0, "{list} acknowledged");
    }
    assert_eq!(len(&mut worker.redis, "jobs"), 0);
    let delayed: i64 = redis::cmd("ZCARD")
        .arg("jobs:delayed")
        .query(&mut worker.redis)
        .unwrap();
    assert_eq!(delayed, 0);

    // The restarted worker must not see it again: one process span in all.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(worker.restart().success());
    let processed: Vec<_> = worker
        .received
        .spans()
        .into_iter()
        .filter(|s| {
            s.name == "process jobs"
                && attr(&s.attributes, "messaging.message.id").as_deref() == Some(id.as_str())
        })
        .collect();
    assert_eq!(processed.len(), 1, "processed exactly once");
    let _ = std::fs::remove_file(&worker.db);
}
