//! [`CallBody`]: a response body that ends its call when the call ends —
//! at the trailers, at the end of a stream, or when dropped.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http_body::{Body, Frame, SizeHint};

use crate::call::{Call, End};
use crate::code::{Code, message_in, status_in};

pin_project_lite::pin_project! {
    /// The response body of an instrumented call: the inner body, unchanged;
    /// its trailers' `grpc-status` ends the call (a streaming call ends when
    /// its stream does), and so does dropping it.
    pub struct CallBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }
}

impl<B> std::fmt::Debug for CallBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallBody")
            .field("in_flight", &self.call.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> CallBody<B> {
    pub(crate) fn new(inner: B, call: Option<Call>) -> Self {
        Self { inner, call }
    }
}

impl<B: Body> Body for CallBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = {
            // A server's response stream is handler code: its logs and spans
            // belong to the call.
            let _current = this
                .call
                .as_ref()
                .filter(|call| call.attach)
                .map(|call| call.context().clone().attach());
            this.inner.poll_frame(cx)
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(mut call) = this.call.take() {
                        let code = status_in(trailers).unwrap_or(Code::UNKNOWN);
                        let message = if code == Code::OK {
                            String::new()
                        } else {
                            message_in(trailers)
                        };
                        call.end(End::Status(code, message));
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(mut call) = this.call.take() {
                    call.end(End::Failed("_OTHER"));
                }
            }
            Poll::Ready(None) => {
                if let Some(mut call) = this.call.take() {
                    // Over without trailers: no status was sent.
                    call.end(End::Status(Code::UNKNOWN, "no grpc-status".to_owned()));
                }
            }
            Poll::Pending => {}
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

/// Hands a call its response: a head that decides the status (trailers-only,
/// or an HTTP error) ends it now; otherwise the body ends it.
pub(crate) fn respond<B>(
    mut call: Call,
    response: http::Response<B>,
) -> http::Response<CallBody<B>> {
    match crate::code::status_of_head(response.status(), response.headers()) {
        Some(code) => {
            let message = if code == Code::OK {
                String::new()
            } else {
                message_in(response.headers())
            };
            call.end(End::Status(code, message));
            response.map(|body| CallBody::new(body, None))
        }
        None => response.map(|body| CallBody::new(body, Some(call))),
    }
}
