//! The body type the gateway sends (downstream responses, upstream requests): empty, whole, or
//! streamed frame by frame (data, then optional trailers) from a channel.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// A body produced by the gateway. A streamed body ends with an error when the sender says so
/// (the connection is then aborted rather than ended cleanly).
#[derive(Debug)]
pub enum HostBody {
    Empty,
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>),
}

/// The sending side of a streamed [`HostBody`].
pub type BodyTx = mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>;

impl HostBody {
    pub fn full(bytes: impl Into<Bytes>) -> HostBody {
        let b: Bytes = bytes.into();
        if b.is_empty() { HostBody::Empty } else { HostBody::Full(Some(b)) }
    }

    /// A streamed body and its sender.
    pub fn channel() -> (BodyTx, HostBody) {
        let (tx, rx) = mpsc::channel(8);
        (tx, HostBody::Stream(rx))
    }
}

impl Body for HostBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            HostBody::Empty => Poll::Ready(None),
            HostBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            HostBody::Stream(rx) => match rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            HostBody::Empty => true,
            HostBody::Full(b) => b.is_none(),
            HostBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            HostBody::Empty => SizeHint::with_exact(0),
            HostBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            HostBody::Full(None) => SizeHint::with_exact(0),
            HostBody::Stream(_) => SizeHint::default(),
        }
    }
}
