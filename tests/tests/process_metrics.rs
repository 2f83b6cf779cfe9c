//! Process and Tokio runtime metrics on `/metrics`: the conventions' names,
//! plausible values, promtool-clean but for the two `_count` names the
//! conventions chose.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use tracewire::prometheus::Format;

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

#[test]
fn process_and_runtime_series_have_plausible_values() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let telemetry = runtime.block_on(async {
        tracewire::TelemetryBuilder::from_config(tracewire::Config::default()).build()
    });
    let render = || telemetry.exposition().unwrap().render(Format::Classic);
    let text = render();
    for series in [
        "process_cpu_time_seconds_total{cpu_mode=\"user\"",
        "process_cpu_time_seconds_total{cpu_mode=\"system\"",
        "process_memory_usage_bytes{",
        "process_memory_virtual_bytes{",
        "process_thread_count{",
        "process_unix_file_descriptor_count{",
        "process_uptime_seconds{",
        "tokio_runtime_workers{",
        "tokio_runtime_tasks_alive{",
        "tokio_runtime_global_queue_depth{",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    assert_eq!(value(&text, "tokio_runtime_workers{"), 2.0);
    assert!(value(&text, "process_memory_usage_bytes{") > 1_000_000.0);
    assert!(
        value(&text, "process_memory_virtual_bytes{")
            >= value(&text, "process_memory_usage_bytes{")
    );
    assert!(
        value(&text, "process_thread_count{") >= 3.0,
        "main + 2 workers"
    );
    let uptime = value(&text, "process_uptime_seconds{");
    assert!((0.0..3600.0).contains(&uptime), "{uptime}");

    // The descriptor count is what /proc/self/fd lists.
    let (before, text, after) = (open_descriptors(), render(), open_descriptors());
    if before == after {
        assert_eq!(
            value(&text, "process_unix_file_descriptor_count{") as usize,
            before
        );
    }

    // CPU time grows under load: spin until this process has used 0.3 s of
    // user CPU by its own account (however busy the machine is), then the
    // exported counter must have grown by as much.
    let user_before = value(&text, "process_cpu_time_seconds_total{cpu_mode=\"user\"");
    let own_user_cpu = || -> f64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let rest = &stat[stat.rfind(')').unwrap() + 1..];
        rest.split_whitespace()
            .nth(11)
            .unwrap()
            .parse::<f64>()
            .unwrap()
            / 100.0
    };
    let (own_before, deadline) = (
        own_user_cpu(),
        std::time::Instant::now() + std::time::Duration::from_secs(30),
    );
    let mut spin = 0u64;
    while own_user_cpu() - own_before < 0.3 && std::time::Instant::now() < deadline {
        for _ in 0..1_000_000 {
            spin = std::hint::black_box(spin.wrapping_mul(31).wrapping_add(7));
        }
    }
    let used = own_user_cpu() - own_before;
    let user_after = value(
        &render(),
        "process_cpu_time_seconds_total{cpu_mode=\"user\"",
    );
    assert!(used >= 0.3, "could not use 0.3 s of CPU in 30 s");
    assert!(
        user_after - user_before >= used - 0.05,
        "{user_before} → {user_after} after {used} s of user CPU"
    );
}

#[test]
fn one_switch_turns_them_off() {
    let telemetry = tracewire::TelemetryBuilder::from_config(tracewire::Config::default())
        .process_metrics(false)
        .build();
    let text = telemetry.exposition().unwrap().render(Format::Classic);
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("process_") || l.starts_with("tokio_runtime")),
        "{text}"
    );
}
