//! Overhead of a traced connection over the bare one, on `GET` against the
//! local Redis (`REDIS_URL`), spans kept, metrics collected. Skips (with a
//! message) when the server does not answer.
//!
//! `cargo bench -p tracewire-redis --bench overhead`

use criterion::{Criterion, criterion_group, criterion_main};
use redis::AsyncCommands as _;
use tracewire::otel::trace::TracerProvider as _;

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str()).expect("a redis URL");
    let Ok(mut bare) = runtime.block_on(client.get_multiplexed_async_connection()) else {
        eprintln!("*** SKIPPED the redis overhead benchmark: no Redis at {url} ***");
        return;
    };
    let tracer_provider = tracewire::otel_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(
            tracewire::otel_sdk::trace::BatchSpanProcessor::builder(
                tracewire::testing::DiscardingSpanExporter,
            )
            .build(),
        )
        .build();
    let meters = tracewire::otel_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(tracewire::otel_sdk::metrics::ManualReader::default())
        .build();
    let mut traced = tracewire_redis::TracedConnection::with(
        bare.clone(),
        tracewire_redis::ServerInfo::of(&client),
        Some(tracer_provider.tracer("bench").into()),
        &tracewire::otel::metrics::MeterProvider::meter(&meters, "bench"),
    );
    runtime.block_on(async { bare.set::<_, _, ()>("tracewire:bench", "ada").await.ok() });
    let mut group = c.benchmark_group("get");
    group.bench_function("bare_connection", |b| {
        b.iter(|| runtime.block_on(async { bare.get::<_, String>("tracewire:bench").await }))
    });
    group.bench_function("traced_connection", |b| {
        b.iter(|| runtime.block_on(async { traced.get::<_, String>("tracewire:bench").await }))
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
