//! Overhead of the traced pool over the bare one, on an indexed primary-key
//! SELECT against the local PostgreSQL (`DATABASE_URL`), spans kept and sent
//! to a batch processor, metrics collected. Skips (with a message) when the
//! server does not answer.
//!
//! `cargo bench -p tracewire-sqlx --bench overhead`

use criterion::{Criterion, criterion_group, criterion_main};
use tracewire::otel::trace::TracerProvider as _;

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let Ok(pool) = runtime.block_on(
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url),
    ) else {
        eprintln!("*** SKIPPED the sqlx overhead benchmark: no PostgreSQL at {url} ***");
        return;
    };
    runtime.block_on(async {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS tracewire_bench (id INT PRIMARY KEY, name TEXT NOT NULL)",
        )
        .execute(&pool)
        .await
        .ok();
        sqlx::query("INSERT INTO tracewire_bench VALUES (1, 'ada') ON CONFLICT DO NOTHING")
            .execute(&pool)
            .await
            .ok();
    });
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
    let traced = tracewire_sqlx::TracedPool::with_options(
        pool.clone(),
        tracewire_sqlx::Options::default()
            .tracer(tracer_provider.tracer("bench"))
            .meter(tracewire::otel::metrics::MeterProvider::meter(
                &meters, "bench",
            )),
    );
    let mut group = c.benchmark_group("indexed_select");
    group.bench_function("bare_pool", |b| {
        b.iter(|| {
            runtime.block_on(async {
                sqlx::query_scalar::<_, String>("SELECT name FROM tracewire_bench WHERE id = $1")
                    .bind(1)
                    .fetch_one(&pool)
                    .await
            })
        })
    });
    group.bench_function("traced_pool", |b| {
        b.iter(|| {
            runtime.block_on(async {
                sqlx::query_scalar::<_, String>("SELECT name FROM tracewire_bench WHERE id = $1")
                    .bind(1)
                    .fetch_one(&traced)
                    .await
            })
        })
    });
    group.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
