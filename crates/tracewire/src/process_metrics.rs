//! Process metrics (semconv v1.44.0 `docs/system/process-metrics.md`) and
//! the Tokio runtime's stable metrics, read at collection time only: nothing
//! runs between scrapes or pushes.
//!
//! | instrument | kind | unit | source |
//! | --- | --- | --- | --- |
//! | `process.cpu.time` (`cpu.mode` = `user`, `system`) | counter | s | `/proc/self/stat` |
//! | `process.memory.usage` | up-down counter | By | `VmRSS` of `/proc/self/status` |
//! | `process.memory.virtual` | up-down counter | By | `VmSize` |
//! | `process.thread.count` | up-down counter | {thread} | `Threads` |
//! | `process.unix.file_descriptor.count` | up-down counter | {file_descriptor} | entries of `/proc/self/fd` |
//! | `process.uptime` | gauge | s | since the process started (`/proc`), else since `init` |
//! | `tokio.runtime.workers` | gauge | {thread} | `RuntimeMetrics::num_workers` |
//! | `tokio.runtime.tasks.alive` | gauge | {task} | `RuntimeMetrics::num_alive_tasks` |
//! | `tokio.runtime.global_queue.depth` | gauge | {task} | `RuntimeMetrics::global_queue_depth` |
//!
//! There is no runtime convention for Rust yet: the Tokio metrics carry a
//! documented `tokio.` prefix, for the runtime that was current when
//! telemetry was built. The `/proc` readings exist on Linux only; elsewhere
//! only `process.uptime` and the Tokio metrics are reported.

use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, ObservableCounter, ObservableGauge, ObservableUpDownCounter};

/// Clock ticks per second of `/proc/*/stat` times: the kernel reports them in
/// `USER_HZ`, which is 100 on every Linux ABI.
const USER_HZ: f64 = 100.0;

/// The instruments; dropping them unregisters the callbacks.
#[allow(dead_code)] // held for their callbacks
pub(crate) struct ProcessMetrics {
    cpu: ObservableCounter<f64>,
    memory: ObservableUpDownCounter<i64>,
    memory_virtual: ObservableUpDownCounter<i64>,
    threads: ObservableUpDownCounter<i64>,
    descriptors: ObservableUpDownCounter<i64>,
    uptime: ObservableGauge<f64>,
    runtime: Vec<ObservableGauge<u64>>,
}

impl std::fmt::Debug for ProcessMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessMetrics").finish_non_exhaustive()
    }
}

/// `utime` and `stime` of `/proc/self/stat`, in seconds.
fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields are
    // counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After `)`: state is field 3, so utime (14) and stime (15) are 11 and 12.
    let user = fields.get(11)?.parse::<f64>().ok()? / USER_HZ;
    let system = fields.get(12)?.parse::<f64>().ok()? / USER_HZ;
    Some((user, system))
}

/// Seconds since the process started, from `/proc/self/stat` field 22 and
/// `/proc/uptime`.
fn process_uptime() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let started_ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let system_uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((system_uptime - started_ticks / USER_HZ).max(0.0))
}

/// A `Name: value` line of `/proc/self/status`; `kB` values in bytes.
fn status_value(name: &str) -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(':'))?;
    let mut parts = line[name.len() + 1..].split_whitespace();
    let value: i64 = parts.next()?.parse().ok()?;
    Some(match parts.next() {
        Some("kB") => value * 1024,
        _ => value,
    })
}

fn open_descriptors() -> Option<i64> {
    // The directory handle read_dir holds is one of the entries: not counted.
    let count = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
    Some((count - 1).max(0))
}

impl ProcessMetrics {
    /// Registers the instruments on `meter`; `runtime` is the Tokio runtime
    /// whose metrics to report, if any.
    pub(crate) fn register(meter: &Meter, runtime: Option<tokio::runtime::Handle>) -> Self {
        let started = Instant::now();
        let cpu = meter
            .f64_observable_counter("process.cpu.time")
            .with_unit("s")
            .with_description("Total CPU seconds broken down by different CPU modes.")
            .with_callback(|observer| {
                if let Some((user, system)) = cpu_seconds() {
                    observer.observe(user, &[KeyValue::new("cpu.mode", "user")]);
                    observer.observe(system, &[KeyValue::new("cpu.mode", "system")]);
                }
            })
            .build();
        let status_gauge = |name: &'static str,
                            unit: &'static str,
                            description: &'static str,
                            field: &'static str| {
            meter
                .i64_observable_up_down_counter(name)
                .with_unit(unit)
                .with_description(description)
                .with_callback(move |observer| {
                    if let Some(value) = status_value(field) {
                        observer.observe(value, &[]);
                    }
                })
                .build()
        };
        let memory = status_gauge(
            "process.memory.usage",
            "By",
            "The amount of physical memory in use.",
            "VmRSS",
        );
        let memory_virtual = status_gauge(
            "process.memory.virtual",
            "By",
            "The amount of committed virtual memory.",
            "VmSize",
        );
        let threads = status_gauge(
            "process.thread.count",
            "{thread}",
            "Process threads count.",
            "Threads",
        );
        let descriptors = meter
            .i64_observable_up_down_counter("process.unix.file_descriptor.count")
            .with_unit("{file_descriptor}")
            .with_description("Number of unix file descriptors in use by the process.")
            .with_callback(|observer| {
                if let Some(count) = open_descriptors() {
                    observer.observe(count, &[]);
                }
            })
            .build();
        let uptime = meter
            .f64_observable_gauge("process.uptime")
            .with_unit("s")
            .with_description("The time the process has been running.")
            .with_callback(move |observer| {
                let seconds = process_uptime().unwrap_or_else(|| started.elapsed().as_secs_f64());
                observer.observe(seconds, &[]);
            })
            .build();
        let mut runtime_gauges = Vec::new();
        if let Some(handle) = runtime {
            type Read = fn(&tokio::runtime::RuntimeMetrics) -> u64;
            let readings: [(&'static str, &'static str, &'static str, Read); 3] = [
                (
                    "tokio.runtime.workers",
                    "{thread}",
                    "Worker threads of the Tokio runtime.",
                    |m| m.num_workers() as u64,
                ),
                (
                    "tokio.runtime.tasks.alive",
                    "{task}",
                    "Tasks alive in the Tokio runtime.",
                    |m| m.num_alive_tasks() as u64,
                ),
                (
                    "tokio.runtime.global_queue.depth",
                    "{task}",
                    "Tasks waiting in the Tokio runtime's global queue.",
                    |m| m.global_queue_depth() as u64,
                ),
            ];
            for (name, unit, description, read) in readings {
                let handle = handle.clone();
                runtime_gauges.push(
                    meter
                        .u64_observable_gauge(name)
                        .with_unit(unit)
                        .with_description(description)
                        .with_callback(move |observer| {
                            observer.observe(read(&handle.metrics()), &[])
                        })
                        .build(),
                );
            }
        }
        Self {
            cpu,
            memory,
            memory_virtual,
            threads,
            descriptors,
            uptime,
            runtime: runtime_gauges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn proc_readings_parse() {
        let (user, system) = cpu_seconds().unwrap();
        assert!(user >= 0.0 && system >= 0.0);
        assert!(status_value("VmRSS").unwrap() > 1024 * 1024);
        assert!(status_value("Threads").unwrap() >= 1);
        let uptime = process_uptime().unwrap();
        assert!((0.0..86_400.0 * 365.0).contains(&uptime), "{uptime}");
        assert!(open_descriptors().unwrap() >= 3);
    }
}
