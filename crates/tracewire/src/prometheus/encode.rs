//! Rendering collected OpenTelemetry metrics with `prometheus-client`.
//!
//! Every collected metric becomes one family (same-named metrics from several
//! scopes are merged, never two `# TYPE` lines). Exemplars are spliced into
//! the OpenMetrics sample lines as they are written: `prometheus-client`
//! cannot be handed exemplars it did not record itself, and the order of the
//! lines it writes per sample is fixed (`_sum`, `_count`, then each bucket).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::translate::{label_name, metric_name, unit_word};
use crate::metrics::{Exemplar, reservoir_of};

type Labels = Vec<(String, String)>;

/// A sample value, keeping integers integral in the output.
#[derive(Debug, Clone, Copy)]
enum Number {
    F64(f64),
    U64(u64),
    I64(i64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Self::F64(v) => v,
            Self::U64(v) => v as f64,
            Self::I64(v) => v as f64,
        }
    }
}

/// One sample of a family.
#[derive(Debug)]
enum Sample {
    Counter {
        labels: Labels,
        value: Number,
        exemplar: Option<Exemplar>,
    },
    Gauge {
        labels: Labels,
        value: Number,
    },
    Histogram {
        labels: Labels,
        sum: f64,
        count: u64,
        buckets: Vec<(f64, u64)>,
        exemplars: Vec<Option<Exemplar>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug)]
struct Family {
    base: String,
    unit: Option<String>,
    help: String,
    kind: Kind,
    samples: Vec<Sample>,
}

/// Everything one scrape prints.
#[derive(Debug, Default)]
struct Snapshot {
    target_info: Labels,
    families: BTreeMap<String, Family>,
    /// Exemplar text (or nothing) for each sample line, in writing order.
    line_suffixes: Arc<Mutex<VecDeque<Option<String>>>>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text, with exemplars.
    OpenMetrics,
    /// Prometheus text 0.0.4 (no exemplars).
    Classic,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Classic => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// Chooses by an HTTP `Accept` header: OpenMetrics when the client asks for it.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Classic,
        }
    }
}

fn value_string(kv: &KeyValue) -> String {
    kv.value.to_string()
}

/// Attributes as labels; keys that collide after sanitizing are joined with `;`
/// in key order.
fn labels_of<'a>(attributes: impl Iterator<Item = &'a KeyValue>, scope: &Labels) -> Labels {
    let mut sorted: Vec<(String, String, String)> = attributes
        .map(|kv| {
            (
                label_name(kv.key.as_str()),
                kv.key.as_str().to_owned(),
                value_string(kv),
            )
        })
        .collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    let mut labels: Labels = Vec::with_capacity(sorted.len() + scope.len());
    for (name, _, value) in sorted {
        match labels.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(';');
                existing.push_str(&value);
            }
            None => labels.push((name, value)),
        }
    }
    labels.extend(scope.iter().cloned());
    labels
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

impl Snapshot {
    fn build(rm: &ResourceMetrics) -> Self {
        let mut snapshot = Self::default();
        let mut target_info: Labels = rm
            .resource()
            .iter()
            .map(|(k, v)| (label_name(k.as_str()), v.to_string()))
            .collect();
        target_info.sort();
        snapshot.target_info = target_info;

        for scope_metrics in rm.scope_metrics() {
            let scope = scope_metrics.scope();
            let mut scope_labels: Labels =
                vec![("otel_scope_name".into(), scope.name().to_owned())];
            if let Some(v) = scope.version() {
                scope_labels.push(("otel_scope_version".into(), v.to_owned()));
            }
            if let Some(url) = scope.schema_url() {
                scope_labels.push(("otel_scope_schema_url".into(), url.to_owned()));
            }
            for kv in scope.attributes() {
                scope_labels.push((
                    format!("otel_scope_{}", label_name(kv.key.as_str())),
                    value_string(kv),
                ));
            }
            for metric in scope_metrics.metrics() {
                snapshot.add(metric, &scope_labels);
            }
        }
        snapshot
    }

    fn add(&mut self, metric: &opentelemetry_sdk::metrics::data::Metric, scope: &Labels) {
        let reservoir = reservoir_of(metric.name());
        let (kind, samples) = match metric.data() {
            AggregatedMetrics::F64(data) => samples(data, scope, reservoir.as_deref(), Number::F64),
            AggregatedMetrics::U64(data) => samples(data, scope, reservoir.as_deref(), Number::U64),
            AggregatedMetrics::I64(data) => samples(data, scope, reservoir.as_deref(), Number::I64),
        };
        let Some(kind) = kind else { return };
        let unit = unit_word(metric.unit());
        let mut base = metric_name(metric.name());
        if kind == Kind::Counter {
            base = base
                .strip_suffix("_total")
                .map(str::to_owned)
                .unwrap_or(base);
        }
        if let Some(unit) = &unit {
            if let Some(stripped) = base.strip_suffix(&format!("_{unit}")) {
                base = stripped.to_owned();
            }
        }
        let full = match &unit {
            Some(u) => format!("{base}_{u}"),
            None => base.clone(),
        };
        match self.families.get_mut(&full) {
            Some(family) if family.kind == kind => family.samples.extend(samples),
            // Same name, other type: the first one keeps the name.
            Some(_) => {}
            None => {
                self.families.insert(
                    full,
                    Family {
                        base,
                        unit,
                        help: escape_help(metric.description()),
                        kind,
                        samples,
                    },
                );
            }
        }
    }
}

fn samples<T: Copy>(
    data: &MetricData<T>,
    scope: &Labels,
    reservoir: Option<&crate::metrics::ExemplarReservoir>,
    to_number: impl Fn(T) -> Number,
) -> (Option<Kind>, Vec<Sample>) {
    let exemplars_of =
        |attrs: &mut dyn Iterator<Item = &KeyValue>| reservoir.and_then(|r| r.series(attrs));
    match data {
        MetricData::Gauge(g) => (
            Some(Kind::Gauge),
            g.data_points()
                .map(|dp| Sample::Gauge {
                    labels: labels_of(dp.attributes(), scope),
                    value: to_number(dp.value()),
                })
                .collect(),
        ),
        MetricData::Sum(s) if s.is_monotonic() => (
            Some(Kind::Counter),
            s.data_points()
                .map(|dp| Sample::Counter {
                    labels: labels_of(dp.attributes(), scope),
                    value: to_number(dp.value()),
                    exemplar: exemplars_of(&mut dp.attributes())
                        .and_then(|e| e.into_iter().next().flatten()),
                })
                .collect(),
        ),
        MetricData::Sum(s) => (
            Some(Kind::Gauge),
            s.data_points()
                .map(|dp| Sample::Gauge {
                    labels: labels_of(dp.attributes(), scope),
                    value: to_number(dp.value()),
                })
                .collect(),
        ),
        MetricData::Histogram(h) => (
            Some(Kind::Histogram),
            h.data_points()
                .map(|dp| {
                    let mut buckets: Vec<(f64, u64)> =
                        dp.bounds().zip(dp.bucket_counts()).collect();
                    buckets.push((f64::INFINITY, dp.bucket_counts().last().unwrap_or(0)));
                    Sample::Histogram {
                        labels: labels_of(dp.attributes(), scope),
                        sum: to_number(dp.sum()).as_f64(),
                        count: dp.count(),
                        buckets,
                        exemplars: exemplars_of(&mut dp.attributes()).unwrap_or_default(),
                    }
                })
                .collect(),
        ),
        // Exponential histograms have no text-format form.
        MetricData::ExponentialHistogram(_) => (None, Vec::new()),
    }
}

/// `{trace_id="…",span_id="…"} value timestamp`
fn exemplar_text(e: &Exemplar) -> String {
    let ts = e
        .time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    format!(
        "{{trace_id=\"{}\",span_id=\"{}\"}} {} {ts:.3}",
        e.trace_id, e.span_id, e.value
    )
}

impl Snapshot {
    /// Queues what each of the next sample lines gets appended. The writer
    /// pops from the queue while we encode, so the lock is held only to push.
    fn expect_lines(
        &self,
        lines: impl IntoIterator<Item = Option<String>>,
    ) -> Result<(), std::fmt::Error> {
        self.line_suffixes
            .lock()
            .map_err(|_| std::fmt::Error)?
            .extend(lines);
        Ok(())
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if !self.target_info.is_empty() {
            let mut metric =
                encoder.encode_descriptor("target", "Target metadata", None, MetricType::Info)?;
            self.expect_lines(std::iter::once(None))?;
            metric.encode_info(&self.target_info)?;
        }
        for family in self.families.values() {
            let unit = family.unit.clone().map(Unit::Other);
            let metric_type = match family.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
            };
            let mut metric = encoder.encode_descriptor(
                &family.base,
                &family.help,
                unit.as_ref(),
                metric_type,
            )?;
            for sample in &family.samples {
                match sample {
                    Sample::Counter {
                        labels,
                        value,
                        exemplar,
                    } => {
                        self.expect_lines(std::iter::once(exemplar.as_ref().map(exemplar_text)))?;
                        let mut sample = metric.encode_family(labels)?;
                        match *value {
                            Number::U64(v) => {
                                sample.encode_counter::<NoLabelSet, _, f64>(&v, None)?
                            }
                            // A monotonic i64 sum cannot be negative.
                            Number::I64(v) => sample
                                .encode_counter::<NoLabelSet, _, f64>(&v.unsigned_abs(), None)?,
                            Number::F64(v) => {
                                sample.encode_counter::<NoLabelSet, _, f64>(&v, None)?
                            }
                        }
                    }
                    Sample::Gauge { labels, value } => {
                        self.expect_lines(std::iter::once(None))?;
                        let mut sample = metric.encode_family(labels)?;
                        match *value {
                            Number::U64(v) => sample.encode_gauge(&v)?,
                            Number::I64(v) => sample.encode_gauge(&v)?,
                            Number::F64(v) => sample.encode_gauge(&v)?,
                        }
                    }
                    Sample::Histogram {
                        labels,
                        sum,
                        count,
                        buckets,
                        exemplars,
                    } => {
                        // `_sum`, `_count`, then one line per bucket.
                        self.expect_lines([None, None])?;
                        self.expect_lines((0..buckets.len()).map(|i| {
                            exemplars
                                .get(i)
                                .copied()
                                .flatten()
                                .as_ref()
                                .map(exemplar_text)
                        }))?;
                        metric
                            .encode_family(labels)?
                            .encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Post-processes the OpenMetrics text `prometheus-client` writes, one line
/// at a time, to splice in the exemplars it cannot be handed (its `Exemplar`
/// has no public constructor): the one place that knows its line order.
struct LineWriter {
    out: String,
    line: String,
    suffixes: Arc<Mutex<VecDeque<Option<String>>>>,
}

impl LineWriter {
    fn finish_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.out.push_str(&line);
        if !line.starts_with('#') {
            let suffix = self
                .suffixes
                .lock()
                .ok()
                .and_then(|mut s| s.pop_front())
                .flatten();
            if let Some(suffix) = suffix {
                self.out.push_str(" # ");
                self.out.push_str(&suffix);
            }
        }
        self.out.push('\n');
    }
}

impl std::fmt::Write for LineWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let mut rest = s;
        while let Some(i) = rest.find('\n') {
            self.line.push_str(&rest[..i]);
            self.finish_line();
            rest = &rest[i + 1..];
        }
        self.line.push_str(rest);
        Ok(())
    }
}

/// Renders collected metrics in `format`.
pub(crate) fn render(rm: Option<&ResourceMetrics>, format: Format) -> String {
    let snapshot = rm.map(Snapshot::build).unwrap_or_default();
    let suffixes = Arc::clone(&snapshot.line_suffixes);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    match format {
        // Text 0.0.4 has no exemplars: prometheus-client writes it as it is.
        Format::Classic => {
            let mut out = String::new();
            match prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
                Ok(()) => out,
                Err(_) => String::new(),
            }
        }
        Format::OpenMetrics => {
            let mut writer = LineWriter {
                out: String::new(),
                line: String::new(),
                suffixes,
            };
            if prometheus_client::encoding::text::encode_registry(&mut writer, &registry).is_err() {
                return String::new();
            }
            writer.out.push_str("# EOF\n");
            writer.out
        }
    }
}
