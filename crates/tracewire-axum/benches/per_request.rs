//! The per-request work of the server layer, in process (no sockets):
//! the same route bare, with the layer (spans kept, spans dropped), and with
//! metrics only. Instruction counts for the same comparison come from
//! `cargo xtask bench http` (callgrind), which is what the targets are judged by.
//!
//! `cargo bench -p tracewire-axum --bench per_request`

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt as _;
use tower::{Service, ServiceExt as _};
use tracewire::http::SamplingHint;
use tracewire::otel::trace::TracerProvider as _;
use tracewire::otel_sdk::trace::{Sampler, SdkTracerProvider};
use tracewire_axum::ServerTelemetryLayer;

fn route() -> Router {
    Router::new()
        .route(
            "/users/{id}",
            get(|| async { "{\"id\":42,\"name\":\"ada\"}" }),
        )
        .with_state(())
}

fn run(c: &mut Criterion, name: &str, app: Router) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut service = app.into_service::<Body>();
    c.bench_function(name, |b| {
        b.iter(|| {
            runtime.block_on(async {
                let request = http::Request::get("/users/42")
                    .header("host", "bench")
                    .body(Body::empty())
                    .expect("request");
                let response = service
                    .ready()
                    .await
                    .expect("ready")
                    .call(request)
                    .await
                    .expect("infallible");
                response.into_body().collect().await.expect("body")
            })
        })
    });
}

fn per_request(c: &mut Criterion) {
    let meters = tracewire::otel_sdk::metrics::SdkMeterProvider::builder()
        .with_reader(tracewire::otel_sdk::metrics::ManualReader::default())
        .build();
    let meter = tracewire::otel::metrics::MeterProvider::meter(&meters, "bench");
    let kept = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .build();
    let dropped = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build();

    run(c, "bare", route());
    run(
        c,
        "layer_metrics_only",
        route().layer(ServerTelemetryLayer::new().meter(&meter)),
    );
    run(
        c,
        "layer_span_kept",
        route().layer(
            ServerTelemetryLayer::new()
                .meter(&meter)
                .tracer(kept.tracer("bench")),
        ),
    );
    run(
        c,
        "layer_span_dropped",
        route().layer(
            ServerTelemetryLayer::new()
                .meter(&meter)
                .tracer(dropped.tracer("bench"))
                .sampling_hint(SamplingHint::from_config(
                    tracewire::SamplerConfig::AlwaysOff,
                )),
        ),
    );
}

criterion_group!(benches, per_request);
criterion_main!(benches);
