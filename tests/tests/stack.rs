//! `deploy/`'s Prometheus, Alertmanager and Pushgateway parts, run for real
//! (Debian's packages): Prometheus loads deploy's alert rules — with
//! test-only short windows and `for:` — scrapes the demo driven into 5xx
//! errors, the 5xx alert arrives at a webhook through Alertmanager and
//! resolves once the errors stop; and a short job's metrics arrive in the
//! Pushgateway on shutdown and are scraped from there.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tracewire_e2e::stack::{Webhook, alertmanager, prometheus, pushgateway, query};
use tracewire_e2e::{Example, http_get, http_post_json, require_tool, target_dir, wait_for};

fn deploy_file(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy")
            .join(path),
    )
    .unwrap()
}

/// deploy's rules with every window shortened to 20 s and every `for:` to
/// 1 s: the same expressions, on a test's time scale.
fn short_rules() -> String {
    let rules = deploy_file("prometheus/alerts.yml");
    let mut out = String::with_capacity(rules.len());
    let mut rest = rules.as_str();
    while let Some(open) = rest.find('[') {
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        match after.find(']') {
            Some(close) if after[1..close].chars().all(|c| c.is_ascii_alphanumeric()) => {
                out.push_str("[20s]");
                rest = &after[close + 1..];
            }
            _ => {
                out.push('[');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out.lines()
        .map(|l| match l.split_once("for: ") {
            Some((indent, _)) if indent.trim().is_empty() => format!("{indent}for: 1s"),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn tools(test: &str) -> bool {
    [
        "prometheus",
        "prometheus-alertmanager",
        "prometheus-pushgateway",
    ]
    .iter()
    .all(|tool| require_tool(tool, test).is_some())
}

#[test]
fn the_5xx_alert_reaches_a_webhook_through_alertmanager_and_resolves() {
    if !tools("the_5xx_alert_reaches_a_webhook_through_alertmanager_and_resolves") {
        return;
    }
    let webhook = Webhook::start();
    let am = alertmanager(&format!(
        "route:\n  receiver: hook\n  group_by: [alertname, job]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {}\n        send_resolved: true\n",
        webhook.url()
    ));
    let demo = Example::start(
        "demo",
        &[
            ("DEMO_TRAFFIC", "0"),
            ("TRACEWIRE_LOG_FORMAT", "off"),
            ("REDIS_URL", ""),
            ("DATABASE_URL", ""),
        ],
    );
    let prom = prometheus(
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{}']\nscrape_configs:\n  - job_name: shop\n    static_configs:\n      - targets: ['{}']\n",
            am.addr, demo.addr
        ),
        &[("alerts.yml", &short_rules())],
    );

    // Five orders a second for a discontinued item: every one a 502.
    let errors_until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < errors_until {
        let r = http_post_json(
            demo.addr,
            "/checkout",
            &[],
            r#"{"item":"discontinued-lamp","quantity":1}"#,
        );
        assert_eq!(r.status, 502, "{}", r.body);
        std::thread::sleep(Duration::from_millis(200));
    }
    let firing = wait_for(Duration::from_secs(60), || {
        webhook.notifications().into_iter().find(|n| {
            n["status"] == "firing"
                && n["alerts"].as_array().is_some_and(|alerts| {
                    alerts
                        .iter()
                        .any(|a| a["labels"]["alertname"] == "HttpServerErrorRate")
                })
        })
    })
    .unwrap_or_else(|| {
        panic!(
            "no HttpServerErrorRate notification; Prometheus alerts: {}; received: {:#?}",
            query(prom.addr, "ALERTS{}"),
            webhook.notifications()
        )
    });
    let alert = firing["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "HttpServerErrorRate")
        .unwrap();
    assert_eq!(alert["labels"]["job"], "shop");
    assert_eq!(alert["labels"]["http_route"], "/checkout");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(
        alert["annotations"]["summary"],
        "shop /checkout: a high share of requests fail with 5xx"
    );
    assert!(
        alert["annotations"]["runbook"]
            .as_str()
            .unwrap()
            .contains("exemplars")
    );

    // The errors stop (healthy orders only): the alert resolves.
    let ok_until = Instant::now() + Duration::from_secs(90);
    let resolved = loop {
        let r = http_post_json(
            demo.addr,
            "/checkout",
            &[],
            r#"{"item":"teapot","quantity":1}"#,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let resolved = webhook.notifications().into_iter().find(|n| {
            n["status"] == "resolved"
                && n["alerts"].as_array().is_some_and(|alerts| {
                    alerts
                        .iter()
                        .any(|a| a["labels"]["alertname"] == "HttpServerErrorRate")
                })
        });
        if resolved.is_some() || Instant::now() > ok_until {
            break resolved;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        resolved.is_some(),
        "the alert never resolved: {:#?}",
        webhook.notifications()
    );
    // The whole rule set loaded, not only the rule that fired.
    let rules = http_get(prom.addr, "/api/v1/rules", &[]).body;
    for name in [
        "ServiceDown",
        "HttpAvailabilitySloFastBurn",
        "QueueBacklogNotDraining",
        "TelemetryExportFailing",
    ] {
        assert!(rules.contains(name), "{name} not loaded");
    }
    drop(demo);
}

#[test]
fn a_short_jobs_metrics_reach_the_pushgateway_on_shutdown_and_are_scraped() {
    if !tools("a_short_jobs_metrics_reach_the_pushgateway_on_shutdown_and_are_scraped") {
        return;
    }
    let gateway = pushgateway();
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "-p",
            "tracewire-e2e",
            "--bin",
            "short_job",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let ran = Command::new(target_dir().join("debug/short_job"))
        .env(
            "TRACEWIRE_PUSHGATEWAY_URL",
            format!("http://{}", gateway.addr),
        )
        .env("TRACEWIRE_PUSHGATEWAY_JOB", "nightly")
        .env("TRACEWIRE_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(
        !stdout.contains("Pushgateway"),
        "no push error logged: {stdout}"
    );

    let pushed = http_get(gateway.addr, "/metrics", &[]).body;
    let line = pushed
        .lines()
        .find(|l| l.starts_with("report_rows_total{"))
        .unwrap_or_else(|| panic!("the pushed counter: {pushed}"));
    assert!(
        line.contains("job=\"nightly\"") && line.contains("report_kind=\"daily\""),
        "{line}"
    );
    assert!(line.ends_with(" 42"), "{line}");

    let prom = prometheus(
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n      - targets: ['{}']\n",
            gateway.addr
        ),
        &[],
    );
    let scraped = wait_for(Duration::from_secs(30), || {
        let v = query(prom.addr, "report_rows_total{job=\"nightly\"}");
        v["data"]["result"].as_array()?.first().cloned()
    })
    .expect("Prometheus scrapes the pushed series");
    assert_eq!(scraped["value"][1], "42");
    assert_eq!(scraped["metric"]["report_kind"], "daily");

    // A refused push is one warning and does not hold the exit.
    let started = Instant::now();
    let ran = Command::new(target_dir().join("debug/short_job"))
        .env("TRACEWIRE_PUSHGATEWAY_URL", "http://127.0.0.1:9")
        .env("TRACEWIRE_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(ran.status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(
        stdout.contains("pushing metrics to the Pushgateway at 127.0.0.1:9"),
        "{stdout}"
    );
}
