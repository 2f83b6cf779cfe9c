//! Retries of an OTLP export, as the OTLP spec asks of exporters (and as
//! opentelemetry-otlp's do): three retries, exponential backoff from 100 ms to
//! 1.6 s plus up to 100 ms of jitter, a server-asked delay honoured (up to 10
//! minutes), and never past the export timeout. Delays are slept on the
//! calling thread: exports run on the batch processor's own thread.

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

const MAX_RETRIES: u32 = 3;
const INITIAL_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_millis(1600);
const MAX_JITTER_MS: u64 = 100;
/// The longest server-asked delay honoured.
#[cfg(feature = "otlp-http")]
pub(crate) const MAX_THROTTLE: Duration = Duration::from_secs(600);

/// How one attempt ended.
pub(crate) enum Attempt {
    Done(OTelSdkResult),
    /// Worth another try, after the delay the server asked for, if any.
    Retry {
        after: Option<Duration>,
        error: OTelSdkError,
    },
}

/// Runs `attempt` until it is done, out of retries, or out of `timeout`.
pub(crate) async fn with_retries<F, Fut>(timeout: Duration, mut attempt: F) -> OTelSdkResult
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    let started = Instant::now();
    let mut delay = INITIAL_DELAY;
    let mut retries = 0;
    loop {
        let (after, error) = match attempt().await {
            Attempt::Done(result) => return result,
            Attempt::Retry { after, error } => (after, error),
        };
        retries += 1;
        let wait = after.unwrap_or_else(|| delay + jitter());
        if retries > MAX_RETRIES || wait >= timeout.saturating_sub(started.elapsed()) {
            return Err(error);
        }
        std::thread::sleep(wait);
        delay = (delay * 2).min(MAX_DELAY);
    }
}

/// Up to [`MAX_JITTER_MS`] of random delay, so that many services do not
/// retry in step.
fn jitter() -> Duration {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    Duration::from_millis(hasher.finish() % (MAX_JITTER_MS + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attempts here never wait: polled once, they are done.
    fn run(future: impl std::future::Future<Output = OTelSdkResult>) -> OTelSdkResult {
        let mut future = std::pin::pin!(future);
        match future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        {
            std::task::Poll::Ready(result) => result,
            std::task::Poll::Pending => panic!("an attempt waited"),
        }
    }

    #[test]
    fn retries_stop_at_three_or_at_the_timeout_and_a_final_answer_stops_them() {
        let failure = || OTelSdkError::InternalFailure("unavailable".into());
        let mut calls = 0;
        let result = run(with_retries(Duration::from_secs(10), || {
            calls += 1;
            std::future::ready(Attempt::Retry {
                after: Some(Duration::ZERO),
                error: failure(),
            })
        }));
        assert!(result.is_err());
        assert_eq!(calls, 4, "one attempt and three retries");

        let mut calls = 0;
        let result = run(with_retries(Duration::from_millis(50), || {
            calls += 1;
            std::future::ready(Attempt::Retry {
                after: Some(Duration::from_secs(1)),
                error: failure(),
            })
        }));
        assert!(result.is_err());
        assert_eq!(calls, 1, "a delay past the timeout is not waited for");

        let mut calls = 0;
        let result = run(with_retries(Duration::from_secs(10), || {
            calls += 1;
            std::future::ready(if calls < 3 {
                Attempt::Retry {
                    after: None,
                    error: failure(),
                }
            } else {
                Attempt::Done(Ok(()))
            })
        }));
        assert!(result.is_ok());
        assert_eq!(calls, 3);
    }
}
