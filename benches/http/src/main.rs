//! `http-bench <mode> <stack> …`: one axum route, `GET /users/{id}` → small
//! JSON, under different telemetry stacks.
//!
//! - `count <stack> <requests>`: calls the router in-process (no sockets),
//!   prints allocations per request; run under callgrind for instructions.
//! - `serve <stack> <addr>`: serves it for a load generator; prints
//!   `listening on http://…`.
//! - `receive <addr>`: a do-nothing OTLP/HTTP receiver (answers 200).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Sampler, SdkTracerProvider};
use tower::{Service, ServiceExt};
use tracing_subscriber::layer::SubscriberExt as _;

#[global_allocator]
static GLOBAL: bench_counting::Counting = bench_counting::Counting;

#[derive(serde::Serialize)]
struct User {
    id: u64,
    name: &'static str,
}

async fn user(Path(id): Path<u64>) -> axum::Json<User> {
    axum::Json(User { id, name: "ada" })
}

fn route() -> Router {
    // Finalized (as `axum::serve` does), so layers wrap routes, not handlers.
    Router::new().route("/users/{id}", get(user)).with_state(())
}

fn provider(sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(BatchSpanProcessor::builder(tracewire::testing::DiscardingSpanExporter).build())
        .build()
}

/// The peer's own OTLP/HTTP exporter (opentelemetry-otlp) to the local
/// receiver, with the same queue room as tracewire's OTLP stack.
fn otlp_provider() -> SdkTracerProvider {
    let endpoint = std::env::var("BENCH_OTLP").unwrap_or_else(|_| "http://127.0.0.1:4318".into());
    // The blocking client must be built outside the runtime.
    let exporter = std::thread::spawn(move || {
        use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{endpoint}/v1/traces"))
            .with_headers(std::collections::HashMap::new())
            .build()
            .expect("OTLP exporter")
    })
    .join()
    .expect("exporter thread");
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(opentelemetry_sdk::trace::BatchConfigBuilder::default().with_max_queue_size(1 << 16).build())
        .build();
    SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_span_processor(processor)
        .build()
}

fn install_otel_subscriber(provider: &SdkTracerProvider) {
    let subscriber = tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")));
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
}

/// Time allowed to export every span at the end of a run: under valgrind an
/// export takes many times longer than natively, and a span left unexported
/// would take its export cost out of the figure.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(600);

/// Keeps providers and guards alive for the run.
#[allow(dead_code)]
enum Keep {
    Nothing,
    Provider(SdkTracerProvider, opentelemetry_sdk::metrics::SdkMeterProvider),
    Telemetry(tracewire::Telemetry),
    Fastrace,
}

impl Keep {
    /// Exports every span still queued, then shuts down.
    fn drain(self) {
        match self {
            Keep::Nothing => {}
            Keep::Provider(tp, _mp) => {
                let _ = tp.shutdown_with_timeout(DRAIN);
            }
            Keep::Telemetry(telemetry) => telemetry.shutdown(),
            Keep::Fastrace => {
                fastrace::flush();
                eprintln!("fastrace reported {} spans", REPORTED.load(Ordering::Relaxed));
            }
        }
    }
}

fn meter_provider() -> opentelemetry_sdk::metrics::SdkMeterProvider {
    let mp = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(opentelemetry_sdk::metrics::ManualReader::default())
        .build();
    opentelemetry::global::set_meter_provider(mp.clone());
    mp
}

fn stack(name: &str) -> (Router, Keep) {
    match name {
        "bare" => (route(), Keep::Nothing),
        // A layer that does nothing: what wrapping a route costs in axum
        // itself (boxed futures), paid by every layered stack below.
        "noop-layer" => (route().layer(tower::util::MapResponseLayer::new(|r: axum::response::Response| r)), Keep::Nothing),
        "tracewire" | "tracewire-1pct" | "tracewire-browser" => {
            // Installed first: the layer takes the tracer `init` installs.
            let keep = tracewire_init(if name == "tracewire-1pct" { 0.01 } else { 1.0 }, name == "tracewire-browser");
            (route().layer(tracewire_axum::ServerTelemetryLayer::new()), keep)
        }
        "tracewire-no-exporter" => {
            // What a user gets with OTEL_TRACES_EXPORTER=none (or no endpoint):
            // tracewire's init, metrics on, spans decided but never built.
            let mut config = tracewire::Config::default();
            config.traces_exporters = vec![];
            config.log_format = tracewire::LogFormat::Off;
            let telemetry = tracewire::TelemetryBuilder::from_config(config).shutdown_timeout(DRAIN).init();
            (route().layer(tracewire_axum::ServerTelemetryLayer::new()), Keep::Telemetry(telemetry))
        }
        "tracewire-metrics-init" => {
            // Metrics only as a user sets it up: `init` with
            // OTEL_TRACES_EXPORTER=none and OTEL_TRACES_SAMPLER=always_off
            // (spans decided, never built; ids still minted for propagation).
            let telemetry = tracewire::TelemetryBuilder::from_config(tracewire::Config::from_lookup(|k| match k {
                "OTEL_TRACES_EXPORTER" | "OTEL_LOGS_EXPORTER" => Some("none".into()),
                "OTEL_TRACES_SAMPLER" => Some("always_off".into()),
                "TRACEWIRE_LOG_FORMAT" => Some("off".into()),
                _ => None,
            }))
            .shutdown_timeout(DRAIN)
            .init();
            (route().layer(tracewire_axum::ServerTelemetryLayer::new()), Keep::Telemetry(telemetry))
        }
        "tracewire-metrics" => {
            let mp = meter_provider();
            let tp = provider(Sampler::AlwaysOn);
            (route().layer(tracewire_axum::ServerTelemetryLayer::new()), Keep::Provider(tp, mp))
        }
        "tracewire-otlp" => {
            let endpoint = std::env::var("BENCH_OTLP").unwrap_or_else(|_| "http://127.0.0.1:4318".into());
            let telemetry = tracewire::TelemetryBuilder::from_config(tracewire::Config::from_lookup(|k| match k {
                "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
                "OTEL_LOGS_EXPORTER" | "OTEL_METRICS_EXPORTER" => Some("none".into()),
                "OTEL_BSP_MAX_QUEUE_SIZE" => Some((1 << 16).to_string()),
                "TRACEWIRE_LOG_FORMAT" => Some("off".into()),
                _ => None,
            }))
            .shutdown_timeout(DRAIN)
            .init();
            (route().layer(tracewire_axum::ServerTelemetryLayer::new()), Keep::Telemetry(telemetry))
        }
        "fastrace" | "fastrace-no-caller" => {
            // The fastest peer: fastrace with its axum layer, a reporter that
            // drops what it is given (as our discarding exporter does).
            // The collector reports once, at the end (flush): under
            // valgrind, which runs one thread at a time, a periodic collector
            // would run a scheduling-dependent number of times and the
            // count would not repeat. Every span is still collected and
            // reported (counted below).
            fastrace::set_reporter(
                DiscardReporter,
                fastrace::collector::Config::default().report_interval(std::time::Duration::from_secs(3600)),
            );
            (route().layer(fastrace_axum::FastraceLayer), Keep::Fastrace)
        }
        "raw-sdk" => {
            // The peer users write by hand: a layer over the raw OTel SDK
            // (a SERVER span with the request attributes, the W3C parent,
            // the status, one histogram record), batch → discard.
            let tp = provider(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
            let mp = meter_provider();
            let layer = RawSdkLayer {
                tracer: std::sync::Arc::new(tp.tracer("raw-sdk")),
                duration: opentelemetry::global::meter("raw-sdk").f64_histogram("http.server.request.duration").with_unit("s").build(),
            };
            (route().layer(layer), Keep::Provider(tp, mp))
        }
        "tower-http" => {
            let tp = provider(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
            install_otel_subscriber(&tp);
            let trace = tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &http::Request<axum::body::Body>| {
                let route = req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
                tracing::info_span!(
                    "request",
                    otel.name = format!("{} {}", req.method(), route),
                    otel.kind = "server",
                    http.request.method = %req.method(),
                    http.route = route,
                    url.path = req.uri().path(),
                    url.scheme = "http",
                    http.response.status_code = tracing::field::Empty,
                )
            });
            (route().layer(trace), Keep::Provider(tp, meter_provider()))
        }
        "axum-tracing-opentelemetry" | "axum-tracing-opentelemetry-otlp" => {
            let tp = if name.ends_with("-otlp") {
                otlp_provider()
            } else {
                provider(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            };
            opentelemetry::global::set_tracer_provider(tp.clone());
            install_otel_subscriber(&tp);
            let app = route()
                .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
                .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default());
            (app, Keep::Provider(tp, meter_provider()))
        }
        other => {
            eprintln!("unknown stack {other:?}");
            std::process::exit(2);
        }
    }
}

/// A minimal hand-written server layer on the raw OpenTelemetry SDK.
#[derive(Clone)]
struct RawSdkLayer {
    tracer: std::sync::Arc<opentelemetry_sdk::trace::SdkTracer>,
    duration: opentelemetry::metrics::Histogram<f64>,
}

impl<S> tower::Layer<S> for RawSdkLayer {
    type Service = RawSdk<S>;
    fn layer(&self, inner: S) -> RawSdk<S> {
        RawSdk { inner, layer: self.clone() }
    }
}

#[derive(Clone)]
struct RawSdk<S> {
    inner: S,
    layer: RawSdkLayer,
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

impl<S> Service<http::Request<axum::body::Body>> for RawSdk<S>
where
    S: Service<http::Request<axum::body::Body>, Response = axum::response::Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = axum::response::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<axum::body::Body>) -> Self::Future {
        use opentelemetry::KeyValue;
        use opentelemetry::propagation::TextMapPropagator as _;
        use opentelemetry::trace::{FutureExt as _, TraceContextExt as _, Tracer as _};
        let start = std::time::Instant::now();
        let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&HeaderExtractor(req.headers()));
        let route = req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
        let method = req.method().as_str().to_owned();
        let span = self
            .layer
            .tracer
            .span_builder(format!("{method} {route}"))
            .with_kind(opentelemetry::trace::SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method.clone()),
                KeyValue::new("http.route", route.clone()),
                KeyValue::new("url.path", req.uri().path().to_owned()),
                KeyValue::new("url.scheme", "http"),
                KeyValue::new("network.protocol.version", "1.1"),
                KeyValue::new("server.address", "bench.local"),
            ])
            .start_with_context(self.layer.tracer.as_ref(), &parent);
        let cx = parent.with_span(span);
        let duration = self.layer.duration.clone();
        let future = self.inner.call(req).with_context(cx.clone());
        Box::pin(async move {
            let response = future.await?;
            let status = i64::from(response.status().as_u16());
            cx.span().set_attribute(KeyValue::new("http.response.status_code", status));
            cx.span().end();
            duration.record(
                start.elapsed().as_secs_f64(),
                &[
                    KeyValue::new("http.request.method", method),
                    KeyValue::new("http.route", route),
                    KeyValue::new("http.response.status_code", status),
                    KeyValue::new("url.scheme", "http"),
                ],
            );
            Ok(response)
        })
    }
}

/// Configured the way a user would: tracewire's init, with the spans going
/// to a discarding exporter through the batch processor.
fn tracewire_init(ratio: f64, trace_browser: bool) -> Keep {
    let mut config = tracewire::Config::default();
    config.trace_browser = trace_browser;
    config.sampler = if ratio >= 1.0 {
        tracewire::SamplerConfig::ParentBasedAlwaysOn
    } else {
        tracewire::SamplerConfig::ParentBasedTraceIdRatio(ratio)
    };
    config.log_format = tracewire::LogFormat::Off;
    // Room for every span of a run: under valgrind, which runs one thread at
    // a time, the export thread can fall behind and a bounded queue would
    // drop spans (and their export cost) depending on scheduling.
    config.span_batch.max_queue_size = 1 << 16;
    Keep::Telemetry(
        tracewire::TelemetryBuilder::from_config(config)
            .with_span_exporter(tracewire::testing::DiscardingSpanExporter)
            .shutdown_timeout(DRAIN)
            .init(),
    )
}

/// tracewire's layer around the whole router, as around any tower HTTP
/// service: axum's per-route boxing is not paid, and no route is known
/// (axum's `MatchedPath` exists only inside the router). The body is boxed
/// back into axum's, as `axum::serve` needs.
fn outer(name: &str) -> Option<(OuterService, Keep)> {
    let ratio = match name {
        "outer" => 1.0,
        "outer-1pct" => 0.01,
        _ => return None,
    };
    let keep = tracewire_init(ratio, false);
    let service = tower::ServiceBuilder::new()
        .map_response(to_axum_response as fn(_) -> _)
        .layer(tracewire_axum::ServerTelemetryLayer::new())
        .service(route());
    Some((service, keep))
}

type TracedResponse = http::Response<tracewire_axum::ResponseBody<axum::body::Body>>;

fn to_axum_response(response: TracedResponse) -> axum::response::Response {
    response.map(axum::body::Body::new)
}

type OuterService = tower::util::MapResponse<tracewire_axum::ServerTelemetry<Router>, fn(TracedResponse) -> axum::response::Response>;

/// The traceparent a traced caller sends: fastrace-axum traces only requests
/// that carry one, so its stack gets it (the others get none).
pub const CALLER_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Whether `stack` is measured with a caller's traceparent.
fn with_caller(stack: &str) -> bool {
    stack == "fastrace"
}

fn request(i: u64, caller: bool) -> http::Request<axum::body::Body> {
    let mut request = http::Request::get(format!("/users/{}", i % 1000)).header("host", "bench.local");
    if caller {
        request = request.header("traceparent", CALLER_TRACEPARENT);
    }
    request.body(axum::body::Body::empty()).expect("request")
}

/// fastrace's reporter for the benchmark: spans are collected and dropped.
struct DiscardReporter;

/// Spans fastrace reported, printed at the end: a run that lost spans
/// (a full queue) would be visible.
static REPORTED: AtomicU64 = AtomicU64::new(0);

impl fastrace::collector::Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        REPORTED.fetch_add(spans.len() as u64, Ordering::Relaxed);
        drop(spans);
    }
}

async fn count(name: &str, requests: u64) {
    let caller = with_caller(name);
    match outer(name) {
        Some((service, keep)) => count_requests(service, requests, keep, caller).await,
        None => {
            let (app, keep) = stack(name);
            count_requests(app.into_service(), requests, keep, caller).await;
        }
    }
}

async fn count_requests<S>(mut service: S, requests: u64, keep: Keep, caller: bool)
where
    S: Service<http::Request<axum::body::Body>, Response = axum::response::Response, Error = std::convert::Infallible>,
{
    // Warm up: first-use costs (interning, instrument maps) stay out of the figure.
    for i in 0..100 {
        let response = service.ready().await.expect("ready").call(request(i, caller)).await.expect("infallible");
        http_body_util::BodyExt::collect(response.into_body()).await.expect("body");
    }
    let before = bench_counting::allocations();
    for i in 0..requests {
        let response = service.ready().await.expect("ready").call(request(i, caller)).await.expect("infallible");
        http_body_util::BodyExt::collect(response.into_body()).await.expect("body");
    }
    let allocations = bench_counting::allocations() - before;
    println!("allocations_per_request {:.2}", allocations as f64 / requests as f64);
    keep.drain();
}

async fn serve(name: &str, addr: &str) {
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().expect("addr"));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match outer(name) {
        Some((service, keep)) => {
            axum::serve(listener, tower::make::Shared::new(service)).with_graceful_shutdown(shutdown).await.expect("serve");
            drop(keep);
        }
        None => {
            let (app, keep) = stack(name);
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await.expect("serve");
            drop(keep);
        }
    }
}

async fn receive(addr: &str) {
    let app = Router::new().fallback(|| async { "" });
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().expect("addr"));
    axum::serve(listener, app).await.expect("serve");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    match args.get(1).map(String::as_str) {
        Some("count") => runtime.block_on(count(&args[2], args[3].parse().expect("a count"))),
        Some("serve") => runtime.block_on(serve(&args[2], &args[3])),
        Some("receive") => runtime.block_on(receive(&args[2])),
        _ => eprintln!("usage: http-bench count <stack> <n> | serve <stack> <addr> | receive <addr>"),
    }
}
