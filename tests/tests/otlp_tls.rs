//! OTLP over TLS and mTLS with certificates made at test time: an HTTPS
//! receiver (rustls) and a gRPC receiver (tonic) that check the client the
//! way production collectors do.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::atomic::Ordering;
use std::time::Duration;

use opentelemetry::KeyValue;
use tracewire::TelemetryBuilder;
use tracewire_e2e::receiver::{Received, config, grpcs_receiver, https_receiver};
use tracewire_e2e::tls::Pki;

/// Sends a span, a log record and a metric with `vars`, then shuts down.
fn exercise(
    protocol: &str,
    addr: std::net::SocketAddr,
    vars: &[(&str, String)],
) -> tracewire::Telemetry {
    let mut all = vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("https://127.0.0.1:{}", addr.port()),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000".to_owned()),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
        ("OTEL_LOGS_EXPORTER", "otlp".to_owned()),
        ("OTEL_SERVICE_NAME", "tls-test".to_owned()),
        ("TRACEWIRE_LOG_FORMAT", "off".to_owned()),
    ];
    all.extend(vars.iter().cloned());
    let telemetry = TelemetryBuilder::from_config(config(&all))
        .shutdown_timeout(Duration::from_secs(8))
        .build();
    {
        let _guard = tracing::dispatcher::set_default(&telemetry.subscriber());
        tracing::info_span!("checkout").in_scope(|| tracing::info!("payment accepted"));
        tracewire::metrics::counter(&telemetry.meter("tls"), "orders.placed", "{order}", "")
            .add(1, &[KeyValue::new("shop", "main")]);
    }
    telemetry.shutdown();
    telemetry
}

fn arrived(received: &Received) -> (bool, bool, bool) {
    (
        received.span_names() == ["checkout"],
        received
            .metric_names()
            .contains(&"orders.placed".to_owned()),
        received
            .log_bodies()
            .contains(&"payment accepted".to_owned()),
    )
}

fn ca(pki: &Pki) -> (&'static str, String) {
    (
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        pki.ca.display().to_string(),
    )
}

fn client_pair(pki: &Pki) -> [(&'static str, String); 2] {
    [
        (
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            pki.client_cert.display().to_string(),
        ),
        (
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            pki.client_key.display().to_string(),
        ),
    ]
}

/// Both transports: (protocol, receiver with or without client certificates).
fn receivers(
    pki: &Pki,
    mtls: bool,
) -> [(&'static str, std::net::SocketAddr, std::sync::Arc<Received>); 2] {
    let (https, https_received) = https_receiver(pki.rustls_server(mtls));
    let (grpcs, grpcs_received) = grpcs_receiver(pki.tonic_server(mtls));
    [
        ("http/protobuf", https, https_received),
        ("grpc", grpcs, grpcs_received),
    ]
}

fn assert_refused(protocol: &str, telemetry: &tracewire::Telemetry, received: &Received) {
    assert_eq!(
        received.requests.load(Ordering::SeqCst),
        0,
        "{protocol}: nothing got through"
    );
    let stats = telemetry.stats();
    assert_eq!(stats.spans_exported, 0, "{protocol}: {stats:?}");
    assert_eq!(
        stats.spans_failed_export, 1,
        "{protocol}: the span counted as failed: {stats:?}"
    );
    assert_eq!(
        stats.logs_failed_export, 1,
        "{protocol}: the log record counted as failed: {stats:?}"
    );
}

#[test]
fn every_signal_arrives_over_tls_with_the_ca_from_the_environment() {
    let pki = Pki::generate("ca");
    for (protocol, addr, received) in receivers(&pki, false) {
        let telemetry = exercise(protocol, addr, &[ca(&pki)]);
        assert_eq!(arrived(&received), (true, true, true), "{protocol}");
        assert!(telemetry.take_warnings().is_empty(), "{protocol}");
    }
}

#[test]
fn without_the_ca_the_server_is_not_trusted() {
    let pki = Pki::generate("no-ca");
    for (protocol, addr, received) in receivers(&pki, false) {
        let telemetry = exercise(protocol, addr, &[]);
        assert_refused(protocol, &telemetry, &received);
    }
}

#[test]
fn a_wrong_ca_is_refused_and_counted() {
    let pki = Pki::generate("wrong-ca");
    for (protocol, addr, received) in receivers(&pki, false) {
        let other = (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            pki.other_ca.display().to_string(),
        );
        let telemetry = exercise(protocol, addr, &[other]);
        assert_refused(protocol, &telemetry, &received);
    }
}

#[test]
fn mtls_is_accepted_with_the_client_pair_and_refused_without_it() {
    let pki = Pki::generate("mtls");
    for (protocol, addr, received) in receivers(&pki, true) {
        let mut vars = vec![ca(&pki)];
        vars.extend(client_pair(&pki));
        exercise(protocol, addr, &vars);
        assert_eq!(
            arrived(&received),
            (true, true, true),
            "{protocol} with the pair"
        );
    }
    for (protocol, addr, received) in receivers(&pki, true) {
        let telemetry = exercise(protocol, addr, &[ca(&pki)]);
        assert_refused(protocol, &telemetry, &received);
        if protocol == "http/protobuf" {
            assert!(
                received.tls_refused.load(Ordering::SeqCst) > 0,
                "the server refused the handshake"
            );
        }
    }
}

#[test]
fn per_signal_variables_apply_to_their_signal_only() {
    let pki = Pki::generate("per-signal");
    for (protocol, addr, received) in receivers(&pki, false) {
        let traces_ca = (
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            pki.ca.display().to_string(),
        );
        let telemetry = exercise(protocol, addr, &[traces_ca]);
        assert_eq!(
            arrived(&received),
            (true, false, false),
            "{protocol}: only traces trust the CA"
        );
        assert_eq!(telemetry.stats().logs_failed_export, 1, "{protocol}");
    }
}

#[test]
fn a_bad_file_is_one_warning_naming_the_variable_and_the_path_and_the_app_runs_on() {
    let pki = Pki::generate("bad-file");
    let missing = pki.dir.join("does-not-exist.pem");
    let not_pem = pki.dir.join("not-a-cert.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for (protocol, addr, received) in receivers(&pki, false) {
        for (variable, path) in [
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", &missing),
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", &not_pem),
            ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", &missing),
        ] {
            let mut vars = vec![ca(&pki), (variable, path.display().to_string())];
            if variable.ends_with("CLIENT_KEY") {
                vars.push((
                    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                    pki.client_cert.display().to_string(),
                ));
            }
            let telemetry = exercise(protocol, addr, &vars);
            let warnings = telemetry.take_warnings();
            let about: Vec<&String> = warnings.iter().filter(|w| w.contains(variable)).collect();
            assert_eq!(about.len(), 1, "{protocol} {variable}: {warnings:?}");
            assert!(
                about[0].contains(&path.display().to_string()),
                "{}",
                about[0]
            );
            assert!(
                about[0].starts_with("traces are not exported"),
                "{}",
                about[0]
            );
            assert_eq!(
                telemetry.stats().spans_failed_export,
                0,
                "no exporter, no export"
            );
        }
        // Metrics and logs (the generic CA) still went through every time.
        assert!(
            received
                .metric_names()
                .contains(&"orders.placed".to_owned()),
            "{protocol}"
        );
        assert_eq!(received.span_names(), Vec::<String>::new(), "{protocol}");
    }
}
