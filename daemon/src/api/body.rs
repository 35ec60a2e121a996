//! Request bodies bounded in time and, for strangers, in size.
//!
//! A whole body must arrive within [`super::serve::BODY_TIMEOUT`] of the
//! request's start: a timeout between frames (tower-http's) never fires
//! for a body trickled one byte a second, so a slow sender could hold a
//! connection, a delivery place and a growing buffer for as long as it
//! liked. And routes anyone may call (sign-in, the OpenAPI document) take
//! at most [`PUBLIC_BODY_LIMIT`]: a stranger's 60 MB sign-in is refused
//! with 413 from its `Content-Length`, or as soon as it has sent more.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use http_body::Frame;

/// Largest body a caller that is not signed in may send (bytes).
pub const PUBLIC_BODY_LIMIT: usize = 16 * 1024;

/// The body ran past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyDeadline(Duration);

/// A body that fails once `within` has passed since it was wrapped.
pub struct DeadlineBody {
    inner: Body,
    within: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    /// Wrap `inner`: all of it must arrive within `within`.
    pub fn new(inner: Body, within: Duration) -> DeadlineBody {
        DeadlineBody { inner, within, deadline: Box::pin(tokio::time::sleep(within)) }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let within = self.within;
            return Poll::Ready(Some(Err(Box::new(BodyDeadline(within)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The body's length as its `Content-Length` declares it, when it does.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<usize> {
    headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// `body` bounded by a deadline, and by [`PUBLIC_BODY_LIMIT`] when `public`.
pub fn bounded(body: Body, within: Duration, public: bool) -> Body {
    let timed = DeadlineBody::new(body, within);
    if public { Body::new(http_body_util::Limited::new(timed, PUBLIC_BODY_LIMIT)) } else { Body::new(timed) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body fed from a channel, as a slow client's arrives.
    struct Trickle(tokio::sync::mpsc::Receiver<Bytes>);

    impl HttpBody for Trickle {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
        }
    }

    /// A body trickled a byte at a time, each far inside any per-frame
    /// timeout, is cut off at the deadline for the whole.
    #[tokio::test]
    async fn a_trickled_body_fails_at_its_deadline() {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let sender = tokio::spawn(async move {
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if tx.send(Bytes::from_static(b"a")).await.is_err() {
                    return;
                }
            }
        });
        let within = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let err = bounded(Body::new(Trickle(rx)), within, false).collect().await.expect_err("cut off");
        assert!(err.to_string().contains("did not arrive within 300ms"), "{err}");
        assert!(started.elapsed() >= within && started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        sender.abort();
    }

    #[tokio::test]
    async fn a_public_body_over_the_limit_fails_and_one_under_it_arrives() {
        let big = bounded(Body::from(vec![b'a'; PUBLIC_BODY_LIMIT + 1]), Duration::from_secs(5), true);
        assert!(big.collect().await.is_err());
        let small = bounded(Body::from(vec![b'a'; PUBLIC_BODY_LIMIT]), Duration::from_secs(5), true);
        assert_eq!(small.collect().await.unwrap().to_bytes().len(), PUBLIC_BODY_LIMIT);
    }
}
