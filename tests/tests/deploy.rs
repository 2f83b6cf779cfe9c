//! The `deploy/` stack, checked without Docker: every compose file and
//! mounted config parses and is current and safe (tags from `.env`, ports on
//! loopback, health checks, memory limits, a Viewer-only anonymous Grafana),
//! the collector, Tempo, Grafana and Alertmanager configs say what the stack
//! promises, Prometheus' config and rules pass `promtool` (syntax and the
//! rules' unit tests), every PromQL expression of the rules and dashboards is
//! accepted by a real Prometheus, and every metric **and label** they use is
//! on the examples' real `/metrics` after traffic.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_yaml::Value as Yaml;
use tracewire_e2e::stack::{prometheus, query};
use tracewire_e2e::{
    Example, Worker, http_get, http_post_json, require_tool, start_worker, wait_for,
};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("deploy")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy_dir().join(path))
        .unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    serde_yaml::from_str(&read(path))
        .unwrap_or_else(|e| panic!("deploy/{path} does not parse: {e}"))
}

fn run(program: &str, args: &[&str], dir: &Path) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `.env`: the image tags and settings compose reads.
fn env_file() -> BTreeMap<String, String> {
    read(".env")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

fn str_of(v: &Yaml) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

/// `512m`, `1g` in MiB.
fn mebibytes(limit: &str) -> u64 {
    let (n, unit) = limit.split_at(limit.len() - 1);
    let n: u64 = n.parse().unwrap();
    match unit {
        "m" => n,
        "g" => n * 1024,
        other => panic!("unit {other}"),
    }
}

#[test]
fn the_compose_file_is_current_and_safe() {
    let compose = yaml("compose.yaml");
    let env = env_file();
    let services = compose["services"].as_mapping().unwrap();
    let names: BTreeSet<&str> = services.keys().map(str_of).collect();
    for needed in [
        "otel-collector",
        "tempo",
        "jaeger",
        "prometheus",
        "alertmanager",
        "pushgateway",
        "loki",
        "grafana",
        "redis",
    ] {
        assert!(names.contains(needed), "compose.yaml has no {needed}");
    }
    let volumes = compose["volumes"].as_mapping().unwrap();
    for (name, service) in services {
        let name = str_of(name);
        let image = str_of(&service["image"]);
        let var = image
            .strip_prefix("${")
            .and_then(|i| i.strip_suffix('}'))
            .unwrap_or_else(|| {
                panic!("{name}: the image tag comes from deploy/.env, not {image:?}")
            });
        let tag = env
            .get(var)
            .unwrap_or_else(|| panic!("{name}: {var} is not in deploy/.env"));
        let version = tag.rsplit_once(':').map(|(_, v)| v).unwrap_or("");
        assert!(
            !version.is_empty() && version != "latest",
            "{name}: {tag} has no pinned tag"
        );
        let test = service["healthcheck"]["test"].as_sequence();
        assert!(
            test.is_some_and(|t| !t.is_empty()),
            "{name} has no healthcheck"
        );
        assert!(
            service["mem_limit"].as_str().is_some(),
            "{name} has no memory limit"
        );
        for port in service["ports"].as_sequence().into_iter().flatten() {
            assert!(
                str_of(port).starts_with("127.0.0.1:"),
                "{name}: port {port:?} is not on loopback"
            );
        }
        if let Some(depends) = service["depends_on"].as_mapping() {
            for (on, how) in depends {
                assert_eq!(
                    how["condition"].as_str(),
                    Some("service_healthy"),
                    "{name} → {on:?}"
                );
                assert!(
                    services.contains_key(on),
                    "{name} depends on a missing {on:?}"
                );
            }
        }
        for mount in service["volumes"].as_sequence().into_iter().flatten() {
            let source = str_of(mount).split(':').next().unwrap();
            match source.strip_prefix("./") {
                Some(path) => assert!(
                    deploy_dir().join(path).exists(),
                    "{name} mounts ./{path}, which deploy/ lacks"
                ),
                None => assert!(
                    volumes.contains_key(source),
                    "{name}: volume {source} is not declared"
                ),
            }
        }
    }
    let grafana = &services["grafana"]["environment"];
    assert_eq!(
        grafana["GF_AUTH_ANONYMOUS_ORG_ROLE"].as_str(),
        Some("Viewer"),
        "anonymous users only view"
    );
    assert!(
        grafana["GF_AUTH_DISABLE_LOGIN_FORM"].is_null(),
        "admins can log in"
    );
    // The collector refuses data before its container runs out of memory.
    let collector = yaml("otel-collector.yaml");
    let limiter = &collector["processors"]["memory_limiter"];
    let limit =
        limiter["limit_mib"].as_u64().unwrap() + limiter["spike_limit_mib"].as_u64().unwrap();
    let container = mebibytes(str_of(&services["otel-collector"]["mem_limit"]));
    assert!(
        limit <= container,
        "memory_limiter {limit} MiB over the container's {container} MiB"
    );
    let prometheus_flags: Vec<&str> = services["prometheus"]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    for flag in [
        "--web.enable-otlp-receiver",
        "--web.enable-remote-write-receiver",
        "--enable-feature=exemplar-storage",
    ] {
        assert!(
            prometheus_flags.contains(&flag),
            "Prometheus runs without {flag}"
        );
    }
}

#[test]
fn the_collector_uses_current_components_and_exporter_batching() {
    let config = yaml("otel-collector.yaml");
    assert!(
        config["processors"]["batch"].is_null(),
        "the batch processor is being retired"
    );
    let exporters = config["exporters"].as_mapping().unwrap();
    for (name, exporter) in exporters {
        let name = str_of(name);
        assert!(
            name.starts_with("otlp_grpc/") || name.starts_with("otlp_http/"),
            "{name}: a deprecated component name"
        );
        assert_eq!(
            exporter["sending_queue"]["enabled"].as_bool(),
            Some(true),
            "{name} batches in its sending queue"
        );
    }
    let service = &config["service"];
    assert!(
        service["extensions"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|e| e == "health_check")
    );
    assert!(
        config["extensions"]["health_check"]["endpoint"]
            .as_str()
            .unwrap()
            .ends_with(":13133")
    );
    let reader = &service["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"];
    assert_eq!(
        reader["port"].as_u64(),
        Some(8888),
        "the collector's own metrics"
    );
    let exporters_of = |pipeline: &str| -> Vec<String> {
        let p = &service["pipelines"][pipeline];
        assert_eq!(
            p["processors"][0].as_str(),
            Some("memory_limiter"),
            "{pipeline}: the memory limiter first"
        );
        p["exporters"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| str_of(e).to_owned())
            .collect()
    };
    assert_eq!(
        exporters_of("traces"),
        ["otlp_grpc/tempo", "otlp_grpc/jaeger"]
    );
    assert_eq!(exporters_of("logs"), ["otlp_http/loki"]);
    assert_eq!(exporters_of("metrics"), ["otlp_http/prometheus"]);
    assert_eq!(
        str_of(&exporters["otlp_http/loki"]["endpoint"]),
        "http://loki:3100/otlp"
    );
    assert_eq!(
        str_of(&exporters["otlp_http/prometheus"]["endpoint"]),
        "http://prometheus:9090/api/v1/otlp"
    );
}

#[test]
fn tempo_generates_span_metrics_and_service_graphs_into_prometheus() {
    let tempo = yaml("tempo.yaml");
    let generator = &tempo["metrics_generator"];
    let write = &generator["storage"]["remote_write"][0];
    assert_eq!(str_of(&write["url"]), "http://prometheus:9090/api/v1/write");
    assert_eq!(write["send_exemplars"].as_bool(), Some(true));
    let graphs = &generator["processor"]["service_graphs"];
    assert_eq!(
        graphs["enable_messaging_system_latency_histogram"].as_bool(),
        Some(true)
    );
    let peers: Vec<&str> = graphs["peer_attributes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert!(peers.contains(&"db.system.name"), "database edges");
    let processors: Vec<&str> = tempo["overrides"]["defaults"]["metrics_generator"]["processors"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert!(processors.contains(&"service-graphs") && processors.contains(&"span-metrics"));
}

#[test]
fn grafana_links_every_signal_and_provisions_six_dashboards() {
    let sources = yaml("grafana/provisioning/datasources/datasources.yaml");
    let by_uid: BTreeMap<&str, &Yaml> = sources["datasources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| (str_of(&d["uid"]), d))
        .collect();
    let prometheus = by_uid["prometheus"];
    assert_eq!(
        str_of(&prometheus["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"]),
        "tempo"
    );
    let tempo = &by_uid["tempo"]["jsonData"];
    let to_logs = str_of(&tempo["tracesToLogsV2"]["query"]);
    assert!(
        to_logs.contains("trace_id=\"$${__trace.traceId}\""),
        "trace → logs by trace id: {to_logs}"
    );
    assert_eq!(
        str_of(&tempo["tracesToMetrics"]["datasourceUid"]),
        "prometheus"
    );
    assert_eq!(str_of(&tempo["serviceMap"]["datasourceUid"]), "prometheus");
    assert_eq!(tempo["nodeGraph"]["enabled"].as_bool(), Some(true));
    assert_eq!(
        str_of(&by_uid["loki"]["jsonData"]["derivedFields"][0]["datasourceUid"]),
        "tempo"
    );

    let mut uids = BTreeSet::new();
    for entry in std::fs::read_dir(deploy_dir().join("grafana/dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let uid = dashboard["uid"].as_str().unwrap().to_owned();
        assert!(uids.insert(uid.clone()), "{uid} twice");
        assert!(
            !dashboard["templating"]["list"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{uid}: template variables"
        );
        let panels = dashboard["panels"].as_array().unwrap();
        assert!(panels.len() >= 4, "{uid}");
        let mut used = Vec::new();
        collect_datasources(&dashboard, &mut used);
        for ds in used {
            assert!(
                by_uid.contains_key(ds.as_str()),
                "{uid} uses data source {ds}, which is not provisioned"
            );
        }
    }
    for needed in [
        "tracewire-overview",
        "tracewire-performance",
        "tracewire-workers",
        "tracewire-traces",
        "tracewire-logs",
        "tracewire-pipeline",
    ] {
        assert!(uids.contains(needed), "no {needed} dashboard");
    }
}

fn collect_datasources(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(uid) = map
                .get("datasource")
                .and_then(|d| d.get("uid"))
                .and_then(|u| u.as_str())
            {
                out.push(uid.to_owned());
            }
            map.values().for_each(|v| collect_datasources(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_datasources(v, out)),
        _ => {}
    }
}

/// prometheus.yml without its `otlp:` block, which Prometheus 3 reads and
/// Debian's 2.42 `promtool` predates.
fn prometheus_config_for_promtool() -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    let config = read("prometheus/prometheus.yml");
    for line in config.lines() {
        if line.starts_with("otlp:") {
            skipping = true;
            continue;
        }
        if skipping && (line.starts_with(' ') || line.starts_with('#') || line.is_empty()) {
            continue;
        }
        skipping = false;
        out.push(line);
    }
    out.join("\n")
}

#[test]
fn prometheus_alertmanager_configs_and_rules_pass_their_checkers() {
    let test = "prometheus_alertmanager_configs_and_rules_pass_their_checkers";
    if require_tool("promtool", test).is_none() || require_tool("amtool", test).is_none() {
        return;
    }
    let config = yaml("prometheus/prometheus.yml");
    let promoted: Vec<&str> = config["otlp"]["promote_resource_attributes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    for attribute in ["service.version", "deployment.environment.name"] {
        assert!(
            promoted.contains(&attribute),
            "OTLP metrics keep {attribute}"
        );
    }
    let jobs: BTreeMap<&str, &Yaml> = config["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|j| (str_of(&j["job_name"]), j))
        .collect();
    for job in [
        "prometheus",
        "otel-collector",
        "tempo",
        "loki",
        "alertmanager",
        "grafana",
        "jaeger",
        "pushgateway",
        "tracewire-service",
    ] {
        assert!(jobs.contains_key(job), "Prometheus does not scrape {job}");
    }
    assert_eq!(
        jobs["pushgateway"]["honor_labels"].as_bool(),
        Some(true),
        "pushed jobs keep their job label"
    );
    assert_eq!(
        str_of(&jobs["otel-collector"]["static_configs"][0]["targets"][0]),
        "otel-collector:8888"
    );

    let dir = std::env::temp_dir().join(format!("tracewire-deploy-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("prometheus.yml"), prometheus_config_for_promtool()).unwrap();
    std::fs::write(dir.join("alerts.yml"), read("prometheus/alerts.yml")).unwrap();
    run("promtool", &["check", "config", "prometheus.yml"], &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let rules_dir = deploy_dir().join("prometheus");
    run("promtool", &["check", "rules", "alerts.yml"], &rules_dir);
    run(
        "promtool",
        &["test", "rules", "alerts_test.yml"],
        &rules_dir,
    );
    run(
        "amtool",
        &["check-config", "alertmanager.yml"],
        &deploy_dir().join("alertmanager"),
    );
    let alertmanager = yaml("alertmanager/alertmanager.yml");
    assert_eq!(
        alertmanager["receivers"][0]["webhook_configs"][0]["send_resolved"].as_bool(),
        Some(true)
    );
    assert!(
        alertmanager["route"]["repeat_interval"]
            .as_str()
            .is_some_and(|r| r.ends_with('h')),
        "the default route does not spam"
    );
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

/// Every alert and recording rule expression, and every Prometheus query of
/// every dashboard (template variables as queries).
fn all_expressions() -> Vec<(String, String)> {
    let rules = read("prometheus/alerts.yml");
    let exprs = rule_expressions(&rules);
    assert_eq!(
        exprs.len(),
        rules.matches("- alert:").count() + rules.matches("- record:").count(),
        "{exprs:?}"
    );
    let mut all: Vec<(String, String)> = exprs
        .into_iter()
        .map(|e| ("alerts.yml".to_owned(), e))
        .collect();
    let rule_count = all.len();
    for entry in std::fs::read_dir(deploy_dir().join("grafana/dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut queries = Vec::new();
        dashboard_queries(&json, &mut queries);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        all.extend(queries.into_iter().map(|q| (name.clone(), q)));
    }
    assert!(
        all.len() > rule_count + 50,
        "the dashboards' queries were found: {}",
        all.len() - rule_count
    );
    all
}

/// A dashboard query as Prometheus' API takes it: Grafana's variables
/// substituted, `label_values(selector, label)` as its selector.
fn as_promql(query: &str) -> String {
    let query = match query.strip_prefix("label_values(") {
        Some(inner) => inner
            .rsplit_once(',')
            .map(|(selector, _)| selector)
            .unwrap_or(inner)
            .to_owned(),
        None => query.to_owned(),
    };
    let mut out = query
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h");
    while let Some(at) = out.find('$') {
        let end = out[at + 1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(out.len(), |e| at + 1 + e);
        out.replace_range(at..end, ".*");
    }
    out
}

/// Metrics the stack makes, not the crates: Prometheus' own, the
/// collector's, Tempo's metrics-generator's, and the recording rules.
fn made_by_the_stack(metric: &str) -> bool {
    metric == "up"
        || metric == "ALERTS"
        || metric.contains(':')
        || ["otelcol_", "traces_service_graph_", "traces_spanmetrics_"]
            .iter()
            .any(|p| metric.starts_with(p))
}

/// (metric, label names of its matchers) of every selector.
fn selectors(promql: &str) -> Vec<(String, Vec<String>)> {
    let names = selector_names(promql);
    let mut out = Vec::new();
    for name in names {
        let mut from = 0;
        while let Some(at) = promql[from..].find(&format!("{name}{{")) {
            let start = from + at + name.len() + 1;
            let before_ok = from + at == 0
                || !promql[..from + at]
                    .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            let mut labels = Vec::new();
            let mut depth_quote = None;
            let mut current = String::new();
            let mut end = start;
            for (i, c) in promql[start..].char_indices() {
                if let Some(q) = depth_quote {
                    if c == q {
                        depth_quote = None;
                    }
                    continue;
                }
                match c {
                    '"' | '\'' | '`' => depth_quote = Some(c),
                    '}' => {
                        end = start + i;
                        break;
                    }
                    ',' => current.clear(),
                    c if c.is_ascii_alphanumeric() || c == '_' => current.push(c),
                    '=' | '!' if !current.is_empty() => labels.push(std::mem::take(&mut current)),
                    _ => {}
                }
            }
            if before_ok {
                out.push((name.clone(), labels));
            }
            from = end.max(start);
        }
    }
    out
}

/// Labels named in `by (…)`, `without (…)`, `on (…)`, `ignoring (…)`.
fn grouping_labels(promql: &str) -> Vec<String> {
    let mut out = Vec::new();
    for keyword in ["by", "without", "on", "ignoring"] {
        let mut from = 0;
        while let Some(at) = promql[from..].find(keyword) {
            let at = from + at;
            from = at + keyword.len();
            let word_start =
                at == 0 || !promql[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            let rest = promql[from..].trim_start();
            if !word_start || !rest.starts_with('(') {
                continue;
            }
            let inner = &rest[1..rest.find(')').unwrap()];
            out.extend(
                inner
                    .split(',')
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty()),
            );
        }
    }
    out
}

#[test]
fn the_expression_scans_find_metrics_labels_and_groupings() {
    let e = r#"sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket{job=~"a{1}", le!="0.5"}[5m])) / on (job) up{}"#;
    assert_eq!(
        selector_names(e).into_iter().collect::<Vec<_>>(),
        ["http_server_request_duration_seconds_bucket", "up"]
    );
    assert_eq!(
        selectors(e),
        [
            (
                "http_server_request_duration_seconds_bucket".to_owned(),
                vec!["job".to_owned(), "le".to_owned()]
            ),
            ("up".to_owned(), vec![])
        ]
    );
    assert_eq!(grouping_labels(e), ["le", "http_route", "job"]);
    assert_eq!(
        as_promql(r#"label_values(x_total{job=~"$job"}, route)"#),
        r#"x_total{job=~".*"}"#
    );
    assert_eq!(
        as_promql("rate(x_total{a=~\"$route\"}[$__rate_interval])"),
        "rate(x_total{a=~\".*\"}[1m])"
    );
}

#[test]
fn a_real_prometheus_accepts_every_expression() {
    if require_tool("prometheus", "a_real_prometheus_accepts_every_expression").is_none() {
        return;
    }
    let prom = prometheus(
        "global:\n  scrape_interval: 1m\nrule_files: [alerts.yml]\n",
        &[("alerts.yml", &read("prometheus/alerts.yml"))],
    );
    let rules = http_get(prom.addr, "/api/v1/rules", &[]).body;
    let rules: serde_json::Value = serde_json::from_str(&rules).unwrap();
    let loaded: usize = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["rules"].as_array().unwrap().len())
        .sum();
    let expected = read("prometheus/alerts.yml");
    assert_eq!(
        loaded,
        expected.matches("- alert:").count() + expected.matches("- record:").count(),
        "every rule loads"
    );
    for (file, expression) in all_expressions() {
        let promql = as_promql(&expression);
        let answer = query(prom.addr, &promql);
        assert_eq!(answer["status"], "success", "{file}: {promql}\n{answer}");
    }
}

/// metric → every label name it carries on `/metrics` text.
fn emitted_labels(text: &str, into: &mut BTreeMap<String, BTreeSet<String>>) {
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, rest) = line.split_at(line.find(['{', ' ']).unwrap_or(line.len()));
        let labels = into.entry(name.to_owned()).or_default();
        let Some(body) = rest.strip_prefix('{') else {
            continue;
        };
        let mut quote = false;
        let mut current = String::new();
        for c in body.chars() {
            match c {
                '"' => quote = !quote,
                _ if quote => {}
                '}' => break,
                ',' => current.clear(),
                '=' => {
                    labels.insert(std::mem::take(&mut current));
                }
                c => current.push(c),
            }
        }
    }
}

#[test]
fn every_metric_and_label_the_rules_and_dashboards_use_is_emitted() {
    let expressions = all_expressions();
    let Some(Worker { app, db, .. }) = start_worker(
        "every_metric_and_label_the_rules_and_dashboards_use_is_emitted",
        12,
    ) else {
        return;
    };
    let accepted = http_post_json(app.addr, "/jobs", &[], r#"{"payload": "hello"}"#);
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    // The demo adds outbound HTTP, SQL errors and apalis jobs — and, with a
    // collector that refuses every connection, failing exports.
    let demo = Example::start(
        "demo",
        &[
            ("DEMO_TRAFFIC", "12"),
            ("TRACEWIRE_LOG_FORMAT", "off"),
            ("REDIS_URL", ""),
            ("DATABASE_URL", ""),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", "0"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "200"),
        ],
    );
    let referenced: BTreeSet<String> = expressions
        .iter()
        .flat_map(|(_, e)| selector_names(e))
        .filter(|m| !made_by_the_stack(m))
        .collect();
    assert!(
        referenced.contains("http_server_request_duration_seconds_count")
            && referenced.contains("tracewire_messaging_queue_depth")
    );

    // Scraped until every name and label the stack queries has a sample,
    // or the time is up and the test says what is missing.
    let mut missing: Vec<String> = Vec::new();
    let mut wrong: Vec<String> = Vec::new();
    let complete = wait_for(Duration::from_secs(60), || {
        let mut emitted = BTreeMap::new();
        emitted_labels(&http_get(app.addr, "/metrics", &[]).body, &mut emitted);
        emitted_labels(&http_get(demo.addr, "/metrics", &[]).body, &mut emitted);
        missing = referenced
            .iter()
            .filter(|m| !emitted.contains_key(*m))
            .cloned()
            .collect();
        wrong = if missing.is_empty() {
            unknown_labels(&expressions, &emitted)
        } else {
            Vec::new()
        };
        (missing.is_empty() && wrong.is_empty()).then_some(())
    });
    let _ = std::fs::remove_file(&db);
    assert!(
        complete.is_some(),
        "queried by deploy/ but on neither example's /metrics: {missing:?} {wrong:#?}"
    );
}

/// Labels the expressions use that their (crate-emitted) metrics lack.
fn unknown_labels(
    expressions: &[(String, String)],
    emitted: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    // Labels a scrape adds.
    let scrape_labels = ["job", "instance"];
    let mut wrong = Vec::new();
    for (file, expression) in expressions {
        let mut in_expression = BTreeSet::new();
        let mut crate_metrics = 0;
        for (metric, labels) in selectors(expression) {
            if made_by_the_stack(&metric) {
                continue;
            }
            crate_metrics += 1;
            let have = &emitted[&metric];
            in_expression.extend(have.iter().cloned());
            for label in labels {
                if !scrape_labels.contains(&label.as_str()) && !have.contains(&label) {
                    wrong.push(format!("{file}: {metric} has no label {label}"));
                }
            }
        }
        if crate_metrics == 0 {
            continue;
        }
        for label in grouping_labels(expression) {
            if !scrape_labels.contains(&label.as_str()) && !in_expression.contains(&label) {
                wrong.push(format!(
                    "{file}: grouped by {label}, which none of its metrics has: {expression}"
                ));
            }
        }
    }
    wrong
}
