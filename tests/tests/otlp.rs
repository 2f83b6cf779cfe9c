//! OTLP export end to end, over http/protobuf and gRPC, into receivers that
//! speak the real protocols: resource, span, metric and log all arrive.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use opentelemetry::KeyValue;
use std::sync::atomic::Ordering;
use tracewire::TelemetryBuilder;

use tracewire_e2e::receiver::{self, config, flaky_http_receiver, grpc_receiver, http_receiver};

fn exercise(protocol: &str, endpoint: String) -> tracewire::Telemetry {
    let telemetry = TelemetryBuilder::from_config(config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_SERVICE_NAME", format!("otlp-{protocol}")),
        ("TRACEWIRE_LOG_FORMAT", "off".to_owned()),
    ]))
    .build();
    let _guard = tracing::dispatcher::set_default(&telemetry.subscriber());
    tracing::info_span!("checkout", order.id = 7).in_scope(|| {
        tracing::info!("payment accepted");
    });
    tracewire::metrics::counter(
        &telemetry.meter("otlp-test"),
        "orders.placed",
        "{order}",
        "Orders",
    )
    .add(3, &[KeyValue::new("shop", "main")]);
    telemetry
}

fn assert_all_signals_arrived(received: &receiver::Received, service: &str) {
    assert_eq!(received.span_names(), ["checkout"]);
    assert!(
        received
            .metric_names()
            .contains(&"orders.placed".to_owned()),
        "{:?}",
        received.metric_names()
    );
    assert!(
        received
            .log_bodies()
            .contains(&"payment accepted".to_owned()),
        "{:?}",
        received.log_bodies()
    );
    let names = received.service_names();
    assert!(names.len() >= 3, "a resource with each signal: {names:?}");
    assert!(names.iter().all(|n| n == service), "{names:?}");
}

/// Sends one span, `checkout`, with only the trace exporter on (plus `vars`),
/// and shuts down.
fn export_one_span(vars: &[(&str, String)]) -> tracewire::Telemetry {
    let mut all = vec![
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ("TRACEWIRE_LOG_FORMAT", "off".to_owned()),
    ];
    all.extend_from_slice(vars);
    let telemetry = TelemetryBuilder::from_config(config(&all)).build();
    {
        let _guard = tracing::dispatcher::set_default(&telemetry.subscriber());
        tracing::info_span!("checkout").in_scope(|| {});
    }
    telemetry.shutdown();
    telemetry
}

#[test]
fn http_protobuf_sends_gzip_and_the_configured_headers() {
    let (addr, received) = http_receiver(200);
    export_one_span(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "api-key=s3cret,x-tenant=a%20b".to_owned(),
        ),
    ]);
    assert_eq!(received.span_names(), ["checkout"]);
    let headers = received.trace_headers.lock().unwrap();
    let headers = headers.first().expect("one trace request");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["api-key"], "s3cret");
    assert_eq!(headers["x-tenant"], "a b");
    assert!(
        headers["user-agent"]
            .to_str()
            .unwrap()
            .contains("OTel-OTLP-Exporter-Rust"),
        "{headers:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_sends_gzip_and_the_configured_metadata() {
    let (addr, received) = grpc_receiver();
    let telemetry = export_one_span(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret".to_owned()),
        ("OTEL_SERVICE_NAME", "grpc-gzip".to_owned()),
    ]);
    assert_eq!(received.span_names(), ["checkout"]);
    assert_eq!(received.service_names(), ["grpc-gzip"]);
    let headers = received.trace_headers.lock().unwrap();
    let headers = headers.first().expect("one trace request");
    assert_eq!(headers["api-key"], "s3cret");
    assert_eq!(headers["grpc-encoding"], "gzip", "{headers:?}");
    assert_eq!(telemetry.stats().spans_exported, 1);
}

#[test]
fn http_protobuf_retries_what_the_collector_asks_to_retry() {
    // 503 twice (with Retry-After: 0), then accepted: one batch, three POSTs.
    let (addr, received) = flaky_http_receiver(2, 503);
    let telemetry = export_one_span(&[("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"))]);
    assert_eq!(received.span_names(), ["checkout"]);
    assert_eq!(received.trace_requests.load(Ordering::SeqCst), 3);
    let stats = telemetry.stats();
    assert_eq!((stats.spans_exported, stats.spans_failed_export), (1, 0));

    // 400 is final: one POST, the batch counted as failed.
    let (addr, received) = flaky_http_receiver(usize::MAX, 400);
    let telemetry = export_one_span(&[("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"))]);
    assert_eq!(received.trace_requests.load(Ordering::SeqCst), 1);
    let stats = telemetry.stats();
    assert_eq!((stats.spans_exported, stats.spans_failed_export), (0, 1));
}

#[test]
fn http_protobuf_delivers_every_signal() {
    let (addr, received) = http_receiver(200);
    let telemetry = exercise("http/protobuf", format!("http://{addr}"));
    telemetry.shutdown();
    assert_all_signals_arrived(&received, "otlp-http/protobuf");
    assert_eq!(telemetry.stats().spans_exported, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_delivers_every_signal() {
    let (addr, received) = grpc_receiver();
    let telemetry = exercise("grpc", format!("http://{addr}"));
    telemetry.shutdown();
    assert_all_signals_arrived(&received, "otlp-grpc");
}

#[tokio::test(flavor = "current_thread")]
async fn grpc_shutdown_works_from_a_current_thread_runtime() {
    let (addr, received) = grpc_receiver();
    let telemetry = exercise("grpc", format!("http://{addr}"));
    // Blocking this runtime's only thread must not stall the export.
    telemetry.shutdown();
    assert_eq!(received.span_names(), ["checkout"]);
}

#[test]
fn spans_created_just_before_shutdown_all_arrive() {
    const N: usize = 1000;
    let (addr, received) = http_receiver(200);
    let telemetry = TelemetryBuilder::from_config(config(&[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("http://{addr}/v1/traces"),
        ),
        // A long delay: only shutdown can flush these.
        ("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()),
        ("TRACEWIRE_LOG_FORMAT", "off".to_owned()),
    ]))
    .build();
    let tracer =
        opentelemetry::trace::TracerProvider::tracer(telemetry.tracer_provider().unwrap(), "burst");
    for i in 0..N {
        let _span = opentelemetry::trace::Tracer::start(&tracer, format!("job-{i}"));
    }
    telemetry.shutdown();
    telemetry.shutdown(); // idempotent
    assert_eq!(received.span_count(), N);
    assert_eq!(telemetry.stats().spans_exported, N as u64);
    assert_eq!(telemetry.stats().spans_dropped_queue_full, 0);
}

#[test]
fn shutdown_works_from_a_multi_thread_runtime_task() {
    let (addr, received) = http_receiver(200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let telemetry = exercise("http/protobuf", format!("http://{addr}"));
        tokio::spawn(async move { telemetry.shutdown() })
            .await
            .unwrap();
    });
    assert_eq!(received.span_names(), ["checkout"]);
}

#[test]
fn a_failing_collector_never_fails_the_app_and_losses_are_counted() {
    let (addr, received) = http_receiver(503);
    let telemetry = TelemetryBuilder::from_config(config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "200".to_owned()),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "64".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "10".to_owned()),
        ("TRACEWIRE_LOG_FORMAT", "off".to_owned()),
    ]))
    .shutdown_timeout(std::time::Duration::from_secs(2))
    .build();
    let tracer =
        opentelemetry::trace::TracerProvider::tracer(telemetry.tracer_provider().unwrap(), "load");
    const N: u64 = 5000;
    for i in 0..N {
        let _span = opentelemetry::trace::Tracer::start(&tracer, format!("request-{i}"));
    }
    // The queue is bounded: what it cannot hold is dropped and counted.
    let stats = telemetry.stats();
    assert!(stats.spans_dropped_queue_full >= N - 64 - 512, "{stats:?}");
    let text = telemetry
        .exposition()
        .unwrap()
        .render(tracewire::prometheus::Format::Classic);
    assert!(
        text.lines().any(
            |l| l.starts_with("otel_sdk_processor_span_processed_total{")
                && l.contains("error_type=\"queue_full\"")
        ),
        "{text}"
    );
    telemetry.shutdown();
    let stats = telemetry.stats();
    assert!(
        received.requests.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the collector was tried"
    );
    assert!(stats.spans_failed_export > 0, "{stats:?}");
    assert_eq!(stats.spans_exported, 0);
    assert!(stats.spans_dropped_queue_full + stats.spans_failed_export <= N);
}

#[test]
fn an_unreachable_collector_is_counted_not_fatal() {
    // Bind and drop: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let telemetry = TelemetryBuilder::from_config(config(&[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "200".to_owned()),
        ("TRACEWIRE_LOG_FORMAT", "off".to_owned()),
    ]))
    .build();
    let tracer =
        opentelemetry::trace::TracerProvider::tracer(telemetry.tracer_provider().unwrap(), "down");
    for _ in 0..10 {
        let _span = opentelemetry::trace::Tracer::start(&tracer, "work");
    }
    telemetry.shutdown();
    assert_eq!(telemetry.stats().spans_failed_export, 10);
}

#[test]
fn log_records_beyond_the_queue_are_dropped_and_counted() {
    let (addr, _received) = http_receiver(503);
    let telemetry = TelemetryBuilder::from_config(config(&[
        (
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            format!("http://{addr}/v1/logs"),
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "200".to_owned()),
        ("OTEL_BLRP_MAX_QUEUE_SIZE", "8".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "60000".to_owned()),
        ("TRACEWIRE_LOG_FORMAT", "off".to_owned()),
    ]))
    .shutdown_timeout(std::time::Duration::from_secs(2))
    .build();
    {
        let _guard = tracing::dispatcher::set_default(&telemetry.subscriber());
        for i in 0..100 {
            tracing::info!(i, "event");
        }
    }
    let stats = telemetry.stats();
    assert_eq!(stats.logs_dropped_queue_full, 92, "{stats:?}");
    let text = telemetry
        .exposition()
        .unwrap()
        .render(tracewire::prometheus::Format::Classic);
    assert!(
        text.lines()
            .any(|l| l.starts_with("otel_sdk_processor_log_processed_total{")
                && l.contains("queue_full")
                && l.ends_with(" 92")),
        "{text}"
    );
    telemetry.shutdown();
    assert_eq!(telemetry.stats().logs_failed_export, 8);
}

/// Shuts down with the signals in `signals` (of "traces", "metrics", "logs")
/// exporting to a collector that never answers; returns how long it took.
fn shutdown_against_a_black_hole(
    protocol: &str,
    signals: &[&str],
    timeout: Option<std::time::Duration>,
) -> std::time::Duration {
    let (addr, accepted) = receiver::black_hole();
    let exporter = |signal: &str| {
        if signals.contains(&signal) {
            "otlp".to_owned()
        } else {
            "none".to_owned()
        }
    };
    let mut builder = TelemetryBuilder::from_config(config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_TRACES_EXPORTER", exporter("traces")),
        ("OTEL_METRICS_EXPORTER", exporter("metrics")),
        ("OTEL_LOGS_EXPORTER", exporter("logs")),
        ("TRACEWIRE_LOG_FORMAT", "off".to_owned()),
    ]));
    if let Some(timeout) = timeout {
        builder = builder.shutdown_timeout(timeout);
    }
    let telemetry = builder.build();
    {
        let _guard = tracing::dispatcher::set_default(&telemetry.subscriber());
        tracing::info_span!("checkout").in_scope(|| tracing::info!("paid"));
        tracewire::metrics::counter(&telemetry.meter("black-hole"), "orders", "{order}", "")
            .add(1, &[]);
    }
    let started = std::time::Instant::now();
    telemetry.shutdown();
    let took = started.elapsed();
    assert!(
        accepted.load(Ordering::SeqCst) > 0,
        "{protocol} {signals:?}: the collector was reached"
    );
    took
}

#[test]
fn shutdown_keeps_one_deadline_for_every_combination_of_signals() {
    const TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);
    let combinations: [&[&str]; 7] = [
        &["traces"],
        &["metrics"],
        &["logs"],
        &["traces", "metrics"],
        &["traces", "logs"],
        &["logs", "metrics"],
        &["traces", "metrics", "logs"],
    ];
    let runs: Vec<_> = ["http/protobuf", "grpc"]
        .into_iter()
        .flat_map(|protocol| combinations.map(move |signals| (protocol, signals)))
        .map(|(protocol, signals)| {
            std::thread::spawn(move || {
                let took = shutdown_against_a_black_hole(protocol, signals, Some(TIMEOUT));
                (protocol, signals, took)
            })
        })
        .collect();
    for run in runs {
        let (protocol, signals, took) = run.join().unwrap();
        // A little slack for thread scheduling on a loaded machine; before the
        // shared deadline, metrics alone took 5 s and traces + metrics 10 s.
        assert!(
            took <= TIMEOUT + std::time::Duration::from_millis(300),
            "{protocol} {signals:?}: shutdown took {took:?}, promised {TIMEOUT:?}"
        );
    }
}

#[test]
fn shutdown_with_the_default_timeout_returns_within_five_seconds() {
    let runs: Vec<_> = ["http/protobuf", "grpc"]
        .into_iter()
        .map(|protocol| {
            std::thread::spawn(move || {
                let all = ["traces", "metrics", "logs"];
                (
                    protocol,
                    shutdown_against_a_black_hole(protocol, &all, None),
                )
            })
        })
        .collect();
    for run in runs {
        let (protocol, took) = run.join().unwrap();
        assert!(
            took <= std::time::Duration::from_millis(5300),
            "{protocol}: shutdown took {took:?}, promised 5 s"
        );
        eprintln!("{protocol}: all three signals, black-holed collector: shutdown in {took:?}");
    }
}

#[test]
fn export_timeouts_bound_each_export_to_a_black_holed_collector() {
    let runs: Vec<_> = ["http/protobuf", "grpc"]
        .into_iter()
        .map(|protocol| {
            std::thread::spawn(move || {
                let (addr, _accepted) = receiver::black_hole();
                let telemetry = TelemetryBuilder::from_config(config(&[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
                    ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
                    // The transport would wait 10 s; the signals' export
                    // timeouts say 300 ms.
                    ("OTEL_BSP_EXPORT_TIMEOUT", "300".to_owned()),
                    ("OTEL_BLRP_EXPORT_TIMEOUT", "300".to_owned()),
                    ("OTEL_METRIC_EXPORT_TIMEOUT", "300".to_owned()),
                    ("TRACEWIRE_LOG_FORMAT", "off".to_owned()),
                ]))
                .shutdown_timeout(std::time::Duration::from_secs(20))
                .build();
                {
                    let _guard = tracing::dispatcher::set_default(&telemetry.subscriber());
                    tracing::info_span!("checkout").in_scope(|| tracing::info!("paid"));
                    tracewire::metrics::counter(&telemetry.meter("t"), "orders", "{order}", "")
                        .add(1, &[]);
                }
                let started = std::time::Instant::now();
                telemetry.shutdown();
                (protocol, started.elapsed(), telemetry.stats())
            })
        })
        .collect();
    for run in runs {
        let (protocol, took, stats) = run.join().unwrap();
        // Three exports of at most 300 ms each (plus connection set-up).
        assert!(
            took < std::time::Duration::from_secs(3),
            "{protocol}: shutdown took {took:?}"
        );
        assert_eq!(stats.spans_failed_export, 1, "{protocol}: {stats:?}");
        assert_eq!(stats.logs_failed_export, 1, "{protocol}: {stats:?}");
    }
}
