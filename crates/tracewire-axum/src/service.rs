//! [`ServerTelemetry`]: the middleware service.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::future::ResponseFuture;
use crate::request::InFlight;
use crate::settings::Settings;

/// The service [`ServerTelemetryLayer`](crate::ServerTelemetryLayer) wraps
/// around yours.
#[derive(Clone)]
pub struct ServerTelemetry<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> std::fmt::Debug for ServerTelemetry<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTelemetry").finish_non_exhaustive()
    }
}

impl<S> ServerTelemetry<S> {
    pub(crate) fn new(inner: S, settings: Arc<Settings>) -> Self {
        Self { inner, settings }
    }
}

/// Whether `S::call` is known to run no code that could read the current
/// context: axum's `Route::call` only clones the route and builds its future
/// (the route's services run when that future is first polled, and
/// [`ResponseFuture`] polls it in the request's context).
fn call_is_inert<S: 'static>() -> bool {
    std::any::TypeId::of::<S>() == std::any::TypeId::of::<axum::routing::Route>()
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for ServerTelemetry<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + 'static,
{
    type Response = http::Response<crate::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let path = req.uri().path();
        // The trace browser's own page and API are never traced: browsing
        // would fill the list it shows.
        if path.starts_with(tracewire::view::PREFIX)
            || self.settings.excluded.iter().any(|p| p == path)
        {
            return ResponseFuture::passthrough(self.inner.call(req));
        }
        let flight = InFlight::start(&self.settings, &req);
        // The inner `call` may do work too: run it in the request's context.
        let future = if call_is_inert::<S>() {
            self.inner.call(req)
        } else {
            let _current = flight.attach.then(|| flight.context().clone().attach());
            self.inner.call(req)
        };
        ResponseFuture::instrumented(future, flight)
    }
}
