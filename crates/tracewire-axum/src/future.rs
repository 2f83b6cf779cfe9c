//! [`ResponseFuture`]: polls the handler in the request's context and hands
//! the request's telemetry over to the response body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::body::ResponseBody;
use crate::request::{Failure, InFlight};

pin_project_lite::pin_project! {
    /// The future of [`ServerTelemetry`](crate::ServerTelemetry).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        flight: Option<InFlight>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn instrumented(inner: F, flight: InFlight) -> Self {
        Self {
            inner,
            flight: Some(flight),
        }
    }

    pub(crate) fn passthrough(inner: F) -> Self {
        Self {
            inner,
            flight: None,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            // Handler code (user `tracing` spans, logs, outgoing calls) sees
            // the request's context as current.
            let _current = this
                .flight
                .as_ref()
                .filter(|f| f.attach)
                .map(|f| f.context().clone().attach());
            match this.inner.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            }
        };
        let flight = this.flight.take();
        Poll::Ready(match result {
            Ok(mut response) => {
                let flight = flight.map(|mut f| {
                    f.on_response(&mut response);
                    f
                });
                Ok(response.map(|body| ResponseBody::new(body, flight)))
            }
            Err(error) => {
                if let Some(mut f) = flight {
                    f.on_failure(Failure::Service);
                    f.finish();
                }
                Err(error)
            }
        })
    }
}
