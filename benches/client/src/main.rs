//! `client-bench count <stack> <requests>`: sequential `GET /items/7` from a
//! reqwest client to a local hyper server on its own thread (the same server
//! for every stack, so its cost cancels in the "added" column), the client
//! instrumented by the stack. Prints allocations per request; run under
//! callgrind for instructions.


use tracing_subscriber::layer::SubscriberExt as _;

#[global_allocator]
static GLOBAL: bench_counting::Counting = bench_counting::Counting;

/// The server: answers `ok` to everything, on its own thread and runtime.
fn server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(b"ok"))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

/// The peer's span exporter: accepts every batch, keeps nothing (as
/// tracewire's `DiscardingSpanExporter` does).
#[derive(Debug)]
struct Discard032;

impl opentelemetry_sdk_032::trace::SpanExporter for Discard032 {
    async fn export(&self, _batch: Vec<opentelemetry_sdk_032::trace::SpanData>) -> opentelemetry_sdk_032::error::OTelSdkResult {
        Ok(())
    }
}

enum Keep {
    Nothing,
    Telemetry(tracewire::Telemetry),
    Peer(opentelemetry_sdk_032::trace::SdkTracerProvider),
}

fn client(stack: &str) -> (reqwest_middleware::ClientWithMiddleware, Keep) {
    let reqwest = reqwest::Client::builder().no_proxy().build().expect("client");
    match stack {
        "bare" => (reqwest_middleware::ClientBuilder::new(reqwest).build(), Keep::Nothing),
        "tracewire" => {
            let mut config = tracewire::Config::default();
            config.sampler = tracewire::SamplerConfig::ParentBasedAlwaysOn;
            config.log_format = tracewire::LogFormat::Off;
            config.span_batch.max_queue_size = 1 << 16;
            let telemetry = tracewire::TelemetryBuilder::from_config(config)
                .with_span_exporter(tracewire::testing::DiscardingSpanExporter)
                .shutdown_timeout(std::time::Duration::from_secs(600))
                .init();
            let client = reqwest_middleware::ClientBuilder::new(reqwest).with(tracewire_reqwest::ClientTelemetry::new()).build();
            (client, Keep::Telemetry(telemetry))
        }
        "reqwest-tracing" => {
            // The peer as its docs set it up: reqwest-tracing's middleware,
            // tracing-opentelemetry over the SDK (100% sampled, batch → a
            // discarding exporter), the W3C propagator, filter `info`.
            use opentelemetry_032::trace::TracerProvider as _;
            let tp = opentelemetry_sdk_032::trace::SdkTracerProvider::builder()
                .with_sampler(opentelemetry_sdk_032::trace::Sampler::ParentBased(Box::new(opentelemetry_sdk_032::trace::Sampler::AlwaysOn)))
                .with_span_processor(
                    opentelemetry_sdk_032::trace::BatchSpanProcessor::builder(Discard032)
                        .with_batch_config(opentelemetry_sdk_032::trace::BatchConfigBuilder::default().with_max_queue_size(1 << 16).build())
                        .build(),
                )
                .build();
            opentelemetry_032::global::set_tracer_provider(tp.clone());
            opentelemetry_032::global::set_text_map_propagator(opentelemetry_sdk_032::propagation::TraceContextPropagator::new());
            let subscriber = tracing_subscriber::registry()
                .with(tracing_opentelemetry_033::layer().with_tracer(tp.tracer("bench")))
                .with(tracing_subscriber::filter::LevelFilter::INFO);
            tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
            let client = reqwest_middleware::ClientBuilder::new(reqwest).with(reqwest_tracing::TracingMiddleware::default()).build();
            (client, Keep::Peer(tp))
        }
        other => {
            eprintln!("unknown stack {other:?}");
            std::process::exit(2);
        }
    }
}

async fn count(stack: &str, n: u64) {
    let addr = server();
    let (client, keep) = client(stack);
    let url = format!("http://{addr}/items/7");
    for _ in 0..100 {
        client.get(&url).send().await.expect("send").bytes().await.expect("body");
    }
    let before = bench_counting::allocations();
    for _ in 0..n {
        client.get(&url).send().await.expect("send").bytes().await.expect("body");
    }
    let allocations = bench_counting::allocations() - before;
    println!("allocations_per_request {:.2}", allocations as f64 / n as f64);
    match keep {
        Keep::Nothing => {}
        Keep::Telemetry(telemetry) => telemetry.shutdown(),
        Keep::Peer(tp) => {
            let _ = tp.shutdown();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    match (args.get(1).map(String::as_str), args.get(2), args.get(3)) {
        (Some("count"), Some(stack), Some(n)) => runtime.block_on(count(stack, n.parse().expect("a count"))),
        _ => eprintln!("usage: client-bench count <stack> <requests>"),
    }
}
