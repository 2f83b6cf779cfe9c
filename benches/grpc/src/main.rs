//! `grpc-bench count <stack> <calls>`: unary `helloworld.Greeter/SayHello`
//! calls, tonic client → tonic server over an in-memory HTTP/2 connection
//! (no sockets: the count is the stacks', not the kernel's), both sides
//! instrumented by the stack. Prints allocations per call; run under
//! callgrind for instructions.


use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracerProvider};
use tonic::{Request, Response, Status};
use tracing_subscriber::layer::SubscriberExt as _;

#[allow(missing_docs, clippy::all)]
mod helloworld {
    include!("../../../examples/grpc/src/generated/helloworld.rs");
}

use helloworld::greeter_client::GreeterClient;
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

#[global_allocator]
static GLOBAL: bench_counting::Counting = bench_counting::Counting;

struct Hello;

#[tonic::async_trait]
impl Greeter for Hello {
    async fn say_hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(HelloReply { message: format!("Hello, {}!", request.into_inner().name) }))
    }
}

/// One in-memory connection: the server end served, the client end as a channel.
async fn connection() -> (tokio::io::DuplexStream, tonic::transport::Channel) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let mut client = Some(client);
    let channel = tonic::transport::Endpoint::from_static("http://bench.local")
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let client = client.take();
            async move { client.map(hyper_util::rt::TokioIo::new).ok_or_else(|| std::io::Error::other("one connection only")) }
        }))
        .await
        .expect("in-memory connection");
    (server, channel)
}

fn incoming(server: tokio::io::DuplexStream) -> impl tokio_stream::Stream<Item = Result<tokio::io::DuplexStream, std::io::Error>> {
    tokio_stream::iter([Ok(server)])
}

/// Keeps providers alive for the run.
#[allow(dead_code)]
enum Keep {
    Nothing,
    Telemetry(tracewire::Telemetry),
    Provider(SdkTracerProvider),
}

const DRAIN: std::time::Duration = std::time::Duration::from_secs(600);

impl Keep {
    fn drain(self) {
        match self {
            Keep::Nothing => {}
            Keep::Telemetry(telemetry) => telemetry.shutdown(),
            Keep::Provider(tp) => {
                let _ = tp.shutdown_with_timeout(DRAIN);
            }
        }
    }
}

async fn calls<C>(mut client: GreeterClient<C>, n: u64, keep: Keep)
where
    C: tonic::client::GrpcService<tonic::body::Body>,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    C::ResponseBody: http_body::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <C::ResponseBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    // Warm up: the connection, interning, instrument maps.
    for _ in 0..100 {
        client.say_hello(HelloRequest { name: "ada".into() }).await.expect("call");
    }
    let before = bench_counting::allocations();
    for _ in 0..n {
        client.say_hello(HelloRequest { name: "ada".into() }).await.expect("call");
    }
    let allocations = bench_counting::allocations() - before;
    println!("allocations_per_request {:.2}", allocations as f64 / n as f64);
    keep.drain();
}

async fn count(stack: &str, n: u64) {
    let (server, channel) = connection().await;
    match stack {
        "bare" => {
            tokio::spawn(tonic::transport::Server::builder().add_service(GreeterServer::new(Hello)).serve_with_incoming(incoming(server)));
            calls(GreeterClient::new(channel), n, Keep::Nothing).await;
        }
        "tracewire" => {
            // A user's set-up: tracewire's init (100% sampled, batch → a
            // discarding exporter), both layers, RPC duration metrics on.
            let mut config = tracewire::Config::default();
            config.sampler = tracewire::SamplerConfig::ParentBasedAlwaysOn;
            config.log_format = tracewire::LogFormat::Off;
            config.span_batch.max_queue_size = 1 << 16;
            let telemetry = tracewire::TelemetryBuilder::from_config(config)
                .with_span_exporter(tracewire::testing::DiscardingSpanExporter)
                .shutdown_timeout(DRAIN)
                .init();
            tokio::spawn(
                tracewire_tonic::server().add_service(GreeterServer::new(Hello)).serve_with_incoming(incoming(server)),
            );
            let channel = tower::ServiceBuilder::new()
                .layer(tracewire_tonic::ClientTelemetryLayer::new().server_address("bench.local", Some(80)))
                .service(channel);
            calls(GreeterClient::new(channel), n, Keep::Telemetry(telemetry)).await;
        }
        "tonic-tracing-opentelemetry" => {
            // The peer as its README sets it up: tracing-opentelemetry over
            // the SDK (100% sampled, batch → the same discarding exporter),
            // its server and client layers, W3C propagation.
            let tp = SdkTracerProvider::builder()
                .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
                .with_span_processor(
                    BatchSpanProcessor::builder(tracewire::testing::DiscardingSpanExporter)
                        .with_batch_config(opentelemetry_sdk::trace::BatchConfigBuilder::default().with_max_queue_size(1 << 16).build())
                        .build(),
                )
                .build();
            opentelemetry::global::set_tracer_provider(tp.clone());
            opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
            // At `info`, as a service runs (and as tracewire's default
            // filter is), h2's and tower's trace-level spans stay out; the
            // peer's spans are at trace level on `otel::tracing`, which its
            // docs say to enable.
            let filter = tracing_subscriber::filter::Targets::new()
                .with_default(tracing::Level::INFO)
                .with_target("otel::tracing", tracing::Level::TRACE);
            let subscriber = tracing_subscriber::registry()
                .with(tracing_opentelemetry::layer().with_tracer(tp.tracer("bench")))
                .with(filter);
            tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
            tokio::spawn(
                tonic::transport::Server::builder()
                    .layer(tonic_tracing_opentelemetry::middleware::server::OtelGrpcLayer::default())
                    .add_service(GreeterServer::new(Hello))
                    .serve_with_incoming(incoming(server)),
            );
            let channel = tower::ServiceBuilder::new()
                .layer(tonic_tracing_opentelemetry::middleware::client::OtelGrpcLayer)
                .service(channel);
            calls(GreeterClient::new(channel), n, Keep::Provider(tp)).await;
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
        _ => eprintln!("usage: grpc-bench count <stack> <calls>"),
    }
}
