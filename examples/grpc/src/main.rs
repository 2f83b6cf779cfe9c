//! A traced gRPC service: the gRPC project's `helloworld.Greeter`, served by
//! tonic with tracewire-tonic on both sides of the wire.
//!
//! ```text
//! cargo run -p example-grpc                       # listens on 127.0.0.1:50051
//! grpcurl -plaintext -import-path examples/grpc/proto -proto helloworld.proto \
//!     -d '{"name": "world"}' 127.0.0.1:50051 helloworld.Greeter/SayHello
//! ```
//!
//! - `LISTEN_ADDR` (or the first argument) picks the address; port 0 picks a
//!   free one. The process prints `listening on http://IP:PORT` once bound
//!   and stops gracefully on SIGTERM or Ctrl-C, flushing telemetry.
//! - `DOWNSTREAM_GRPC=http://HOST:PORT`: `SayHello` first calls the Greeter
//!   there through the traced client (one trace across both), and answers
//!   with its reply — or its error.
//! - A name starting with `fail` answers `INTERNAL`, one starting with
//!   `missing` answers `NOT_FOUND`.
//! - `grpc.health.v1.Health` is served too (and, as probes are, not traced).

use std::time::Duration;

use tonic::{Request, Response, Status};
use tracewire_tonic::{ClientTelemetry, ClientTelemetryLayer};

#[allow(missing_docs, clippy::all, clippy::unwrap_used)]
mod helloworld {
    include!("generated/helloworld.rs");
}

use helloworld::greeter_client::GreeterClient;
use helloworld::greeter_server::{Greeter, GreeterServer};
use helloworld::{HelloReply, HelloRequest};

/// The downstream Greeter, through the traced client.
type Downstream = GreeterClient<ClientTelemetry<tonic::transport::Channel>>;

struct Service {
    downstream: Option<Downstream>,
}

#[tonic::async_trait]
impl Greeter for Service {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        tracing::info!(name = %name, "saying hello");
        if let Some(downstream) = &self.downstream {
            // A clone per call: tonic clients are cheap handles on one channel.
            let reply = downstream
                .clone()
                .say_hello(HelloRequest { name: name.clone() })
                .await?;
            return Ok(Response::new(reply.into_inner()));
        }
        if name.starts_with("fail") {
            tracing::error!(name = %name, "greeting failed");
            return Err(Status::internal(format!("cannot greet {name}")));
        }
        if name.starts_with("missing") {
            return Err(Status::not_found(format!("no one called {name}")));
        }
        Ok(Response::new(HelloReply {
            message: format!("Hello, {name}!"),
        }))
    }
}

/// The traced client of `DOWNSTREAM_GRPC`, connected on first use (the
/// server starts whether or not the downstream is up).
fn downstream() -> Option<Downstream> {
    let url = std::env::var("DOWNSTREAM_GRPC").ok()?;
    let endpoint = match tonic::transport::Endpoint::from_shared(url.clone()) {
        Ok(endpoint) => endpoint.connect_timeout(Duration::from_secs(5)),
        Err(e) => {
            eprintln!("invalid DOWNSTREAM_GRPC {url:?}: {e}");
            std::process::exit(2);
        }
    };
    let channel = tower::ServiceBuilder::new()
        .layer(ClientTelemetryLayer::for_endpoint(&endpoint))
        .service(endpoint.connect_lazy());
    Some(GreeterClient::new(channel))
}

#[tokio::main]
async fn main() {
    let telemetry = tracewire::builder()
        .default_service_name("greeter")
        .service_version(env!("CARGO_PKG_VERSION"))
        .init();

    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<GreeterServer<Service>>()
        .await;

    let addr = example_support::listen_addr("127.0.0.1:50051");
    let listener = example_support::bind(addr).await;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);

    let served = tracewire_tonic::server()
        .add_service(health)
        .add_service(GreeterServer::new(Service {
            downstream: downstream(),
        }))
        .serve_with_incoming_shutdown(incoming, example_support::shutdown_signal())
        .await;
    if let Err(e) = served {
        tracing::error!("server error: {e}");
    }
    tracing::info!("shutting down");
    telemetry.shutdown();
}
