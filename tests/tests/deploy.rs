//! The `deploy/` stack, checked without starting it: Prometheus' config and
//! alert rules pass `promtool` (syntax and the rules' unit tests), every
//! metric a rule or a dashboard panel queries is one the crates really emit
//! (scraped from the worker example after it ran a job), and every file the
//! compose file mounts exists.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tracewire_e2e::{Worker, http_get, http_post_json, require_tool, start_worker, wait_for};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("deploy")
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(deploy_dir().join("prometheus"))
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn prometheus_config_and_alert_rules_pass_promtool() {
    if require_tool(
        "promtool",
        "prometheus_config_and_alert_rules_pass_promtool",
    )
    .is_none()
    {
        return;
    }
    promtool(&["check", "config", "prometheus.yml"]);
    promtool(&["test", "rules", "alerts_test.yml"]);
}

/// Metric names in PromQL written the way `deploy/` writes every selector:
/// `name{…}`. (Function names are followed by `(`, label names by `=`.)
fn selector_names(promql: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut start = None;
    let mut quote = None;
    for (i, c) in promql.char_indices() {
        // Label values (and regexes in them) are strings: not scanned.
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if matches!(c, '"' | '\'' | '`') {
            quote = Some(c);
            start = None;
            continue;
        }
        let ident = c.is_ascii_alphanumeric() || c == '_' || c == ':';
        match (ident, start) {
            (true, None) if !c.is_ascii_digit() => start = Some(i),
            (true, _) => {}
            (false, Some(s)) => {
                if c == '{' {
                    names.insert(promql[s..i].to_owned());
                }
                start = None;
            }
            (false, None) => {}
        }
    }
    names
}

/// Every Prometheus query of a Grafana dashboard: panel targets and
/// template variables whose data source is Prometheus.
fn dashboard_queries(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            let prometheus = map
                .get("datasource")
                .and_then(|d| d.get("type"))
                .is_some_and(|t| t == "prometheus");
            if prometheus {
                for key in ["expr", "definition"] {
                    if let Some(serde_json::Value::String(q)) = map.get(key) {
                        out.push(q.clone());
                    }
                }
            }
            map.values().for_each(|v| dashboard_queries(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

/// The `expr` of every rule: inline (`expr: …`) or a block (`expr: |`).
fn rule_expressions(yaml: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((indent, rest)) = line.split_once("expr:") else {
            continue;
        };
        if !indent.trim().is_empty() {
            continue;
        }
        let rest = rest.trim();
        if rest != "|" {
            exprs.push(rest.to_owned());
            continue;
        }
        let mut block = String::new();
        while let Some(next) = lines.peek() {
            if next.trim().is_empty() || next.len() - next.trim_start().len() > indent.len() {
                block.push_str(next);
                block.push('\n');
                lines.next();
            } else {
                break;
            }
        }
        exprs.push(block);
    }
    exprs
}

fn referenced_metrics() -> BTreeSet<String> {
    let rules = std::fs::read_to_string(deploy_dir().join("prometheus/alerts.yml")).unwrap();
    let exprs = rule_expressions(&rules);
    assert_eq!(exprs.len(), rules.matches("- alert:").count(), "{exprs:?}");
    let mut names: BTreeSet<String> = exprs.iter().flat_map(|e| selector_names(e)).collect();
    for expr in &exprs {
        assert!(
            !selector_names(expr).is_empty(),
            "no metric found in rule {expr:?}"
        );
    }
    let dashboards = deploy_dir().join("grafana/dashboards");
    for entry in std::fs::read_dir(&dashboards).unwrap() {
        let path = entry.unwrap().path();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut queries = Vec::new();
        dashboard_queries(&json, &mut queries);
        assert!(
            !queries.is_empty(),
            "no Prometheus query in {}",
            path.display()
        );
        for q in queries {
            names.extend(selector_names(&q));
        }
    }
    names
}

#[test]
fn the_selector_scan_finds_names_and_only_names() {
    let found = selector_names(
        r#"sum by (le) (rate(http_server_request_duration_seconds_bucket{job=~"a{1}"}[5m])) / up{}"#,
    );
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["http_server_request_duration_seconds_bucket", "up"]
    );
}

#[test]
fn every_metric_the_rules_and_dashboards_query_is_emitted() {
    let referenced = referenced_metrics();
    assert!(
        referenced.contains("http_server_request_duration_seconds_count")
            && referenced.contains("tracewire_messaging_queue_depth"),
        "the scan missed names: {referenced:?}"
    );

    let Some(Worker { app, db, .. }) =
        start_worker("every_metric_the_rules_and_dashboards_query_is_emitted", 12)
    else {
        return;
    };
    let accepted = http_post_json(app.addr, "/jobs", &[], r#"{"payload": "hello"}"#);
    assert_eq!(accepted.status, 202, "{}", accepted.body);

    // Scraped until everything the stack queries has a sample (the job ran,
    // its spans were exported), or the time is up and the test says what is missing.
    let mut missing = referenced.clone();
    let emitted = wait_for(Duration::from_secs(30), || {
        let text = http_get(app.addr, "/metrics", &[]).body;
        let emitted: BTreeSet<String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(str::to_owned)
            .collect();
        missing = referenced.difference(&emitted).cloned().collect();
        missing.is_empty().then_some(emitted)
    });
    let _ = std::fs::remove_file(&db);
    assert!(
        emitted.is_some(),
        "queried by deploy/ but not on the worker's /metrics: {missing:?}"
    );
}

#[test]
fn every_file_the_compose_file_mounts_exists() {
    let compose = std::fs::read_to_string(deploy_dir().join("compose.yaml")).unwrap();
    let mounts: Vec<&str> = compose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- ./"))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert!(mounts.len() >= 5, "{mounts:?}");
    for mount in mounts {
        assert!(
            deploy_dir().join(mount).exists(),
            "compose.yaml mounts ./{mount}, which deploy/ does not have"
        );
    }
}
