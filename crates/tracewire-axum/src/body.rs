//! [`ResponseBody`]: ends the request's telemetry when the body is done.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http_body::{Body, Frame, SizeHint};

use crate::request::{Failure, InFlight};

pin_project_lite::pin_project! {
    /// The response body: yours, plus the request's telemetry, which ends when
    /// the last frame was sent, the body failed, or it was dropped (client gone).
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        flight: Option<InFlight>,
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, flight: Option<InFlight>) -> Self {
        Self { inner, flight }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let polled = inner.as_mut().poll_frame(cx);
        let Some(flight) = this.flight.as_mut() else {
            return polled;
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    flight.response_bytes += bytes::Buf::remaining(data) as u64;
                }
            }
            Poll::Ready(Some(Err(_))) => flight.on_failure(Failure::Body),
            Poll::Ready(None) | Poll::Pending => {}
        }
        // Done: the last frame, an error, or nothing more to come.
        let done = match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => inner.is_end_stream(),
            Poll::Pending => false,
        };
        if done {
            if let Some(mut flight) = this.flight.take() {
                flight.finish();
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
