//! The per-request work the core crate adds: recording a duration with and
//! without exemplars, and propagating context in and out of headers.
//!
//! `cargo bench -p tracewire --bench hot_path`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

fn attrs() -> [KeyValue; 3] {
    [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.route", "/users/{id}"),
        KeyValue::new("http.response.status_code", 200),
    ]
}

fn record(c: &mut Criterion) {
    // A reader makes the instruments real (with none, the SDK hands out no-ops).
    let meters = SdkMeterProvider::builder()
        .with_reader(opentelemetry_sdk::metrics::ManualReader::default())
        .build();
    let meter = opentelemetry::metrics::MeterProvider::meter(&meters, "bench");
    let plain = meter
        .f64_histogram("plain.duration")
        .with_unit("s")
        .with_boundaries(tracewire::metrics::DURATION_BUCKETS.to_vec())
        .build();
    let ours = tracewire::metrics::duration_histogram(
        &meter,
        "ours.duration",
        "bench",
        tracewire::metrics::DURATION_BUCKETS,
    );
    let tracer = SdkTracerProvider::builder().build().tracer("bench");
    let attributes = attrs();

    let mut group = c.benchmark_group("histogram_record");
    group.bench_function("otel_sdk_histogram", |b| {
        b.iter(|| plain.record(black_box(0.042), &attributes))
    });
    group.bench_function("tracewire_outside_span", |b| {
        b.iter(|| ours.record(black_box(0.042), &attributes))
    });
    let unsampled = opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from(1u128),
        opentelemetry::trace::SpanId::from(1u64),
        opentelemetry::trace::TraceFlags::default(),
        true,
        Default::default(),
    );
    {
        let _cx = Context::new().with_remote_span_context(unsampled).attach();
        group.bench_function("tracewire_unsampled_span", |b| {
            b.iter(|| ours.record(black_box(0.042), &attributes))
        });
    }
    {
        let _cx = Context::current_with_span(tracer.start("request")).attach();
        group.bench_function("tracewire_sampled_span_with_exemplar", |b| {
            b.iter(|| ours.record(black_box(0.042), &attributes))
        });
    }
    group.finish();
    c.bench_function("clock/system_time_now", |b| {
        b.iter(std::time::SystemTime::now)
    });
}

fn propagate(c: &mut Criterion) {
    let mut incoming = http::HeaderMap::new();
    incoming.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .expect("valid"),
    );
    incoming.insert(
        "tracestate",
        "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
            .parse()
            .expect("valid"),
    );
    let mut group = c.benchmark_group("propagation");
    group.bench_function("extract_traceparent_tracestate", |b| {
        b.iter(|| tracewire::propagation::extract(black_box(&incoming)))
    });
    let cx = tracewire::propagation::extract(&incoming);
    group.bench_function("inject", |b| {
        b.iter(|| {
            let mut out = http::HeaderMap::new();
            tracewire::propagation::inject(black_box(&cx), &mut out);
            out
        })
    });
    group.bench_function("parse_traceparent", |b| {
        b.iter(|| {
            tracewire::propagation::Traceparent::parse(black_box(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, record, propagate);
criterion_main!(benches);
