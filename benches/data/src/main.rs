//! `data-bench count <stack> <queries>`: `SELECT name FROM users WHERE id = ?`
//! through a sqlx SQLite pool (in memory, one connection), instrumented by
//! the stack. Prints allocations per query; run under callgrind for
//! instructions (every thread: sqlx runs SQLite on a worker thread).


#[global_allocator]
static GLOBAL: bench_counting::Counting = bench_counting::Counting;

const QUERY: &str = "SELECT name FROM users WHERE id = ?";

async fn raw_pool() -> sqlx::SqlitePool {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .expect("sqlite");
    sqlx::query("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)").execute(&pool).await.expect("create");
    sqlx::query("INSERT INTO users (id, name) VALUES (7, 'ada')").execute(&pool).await.expect("insert");
    pool
}

/// Counts allocations over `n` queries run by `query` (after a warm-up).
async fn measure<F, Fut>(n: u64, mut query: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    for _ in 0..100 {
        assert_eq!(query().await.as_deref(), Some("ada"));
    }
    let before = bench_counting::allocations();
    for _ in 0..n {
        query().await;
    }
    let allocations = bench_counting::allocations() - before;
    println!("allocations_per_request {:.2}", allocations as f64 / n as f64);
}

#[derive(Debug)]
struct Discard032;

impl opentelemetry_sdk_032::trace::SpanExporter for Discard032 {
    async fn export(&self, _batch: Vec<opentelemetry_sdk_032::trace::SpanData>) -> opentelemetry_sdk_032::error::OTelSdkResult {
        Ok(())
    }
}

async fn count(stack: &str, n: u64) {
    let raw = raw_pool().await;
    match stack {
        "bare" => {
            measure(n, || async {
                sqlx::query_scalar::<_, String>(QUERY).bind(7).fetch_optional(&raw).await.expect("query")
            })
            .await
        }
        "tracewire" => {
            let mut config = tracewire::Config::default();
            config.sampler = tracewire::SamplerConfig::ParentBasedAlwaysOn;
            config.log_format = tracewire::LogFormat::Off;
            config.span_batch.max_queue_size = 1 << 16;
            let telemetry = tracewire::TelemetryBuilder::from_config(config)
                .with_span_exporter(tracewire::testing::DiscardingSpanExporter)
                .shutdown_timeout(std::time::Duration::from_secs(600))
                .init();
            let pool = tracewire_sqlx::instrument(raw);
            measure(n, || async {
                sqlx::query_scalar::<_, String>(QUERY).bind(7).fetch_optional(&pool).await.expect("query")
            })
            .await;
            telemetry.shutdown();
        }
        "sqlx-otel" => {
            // The peer as its README sets it up: the global providers of
            // OpenTelemetry 0.32 (100% sampled, batch → a discarding
            // exporter; a manual metrics reader), the pool wrapped.
            let tp = opentelemetry_sdk_032::trace::SdkTracerProvider::builder()
                .with_span_processor(
                    opentelemetry_sdk_032::trace::BatchSpanProcessor::builder(Discard032)
                        .with_batch_config(opentelemetry_sdk_032::trace::BatchConfigBuilder::default().with_max_queue_size(1 << 16).build())
                        .build(),
                )
                .build();
            let mp = opentelemetry_sdk_032::metrics::SdkMeterProvider::builder()
                .with_reader(opentelemetry_sdk_032::metrics::ManualReader::default())
                .build();
            opentelemetry_032::global::set_tracer_provider(tp.clone());
            opentelemetry_032::global::set_meter_provider(mp);
            let pool = sqlx_otel::PoolBuilder::from(raw).build();
            measure(n, || async {
                sqlx::query_scalar::<_, String>(QUERY).bind(7).fetch_optional(&pool).await.expect("query")
            })
            .await;
            let _ = tp.shutdown();
        }
        other => {
            eprintln!("unknown stack {other:?}");
            std::process::exit(2);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    match (args.get(1).map(String::as_str), args.get(2), args.get(3)) {
        (Some("count"), Some(stack), Some(n)) => runtime.block_on(count(stack, n.parse().expect("a count"))),
        _ => eprintln!("usage: data-bench count <stack> <queries>"),
    }
}
