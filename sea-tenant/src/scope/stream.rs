//! Row streams through a tenant scope.
//!
//! The rows come from a future that owns (or has locked) the connection and pushes each row into
//! a small channel; the stream polls that future and the channel in turn. This sidesteps the
//! self-reference of a stream that borrows the connection it also owns, without `unsafe`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use sea_orm::{DbErr, QueryResult};
use tokio::sync::mpsc;

/// How many rows may wait between the connection and the consumer.
const BUFFER: usize = 32;

type Producer<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The rows of one query through a [`TenantScope`](crate::TenantScope) or
/// [`TenantTransaction`](crate::TenantTransaction), as they arrive.
///
/// Dropping the stream early stops the query; through a scope, its transaction is then rolled
/// back before the connection returns to the pool.
pub struct TenantStream<'a> {
    rows: mpsc::Receiver<Result<QueryResult, DbErr>>,
    producer: Option<Producer<'a>>,
}

impl std::fmt::Debug for TenantStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantStream")
            .field("running", &self.producer.is_some())
            .finish()
    }
}

impl<'a> TenantStream<'a> {
    /// `produce` gets the sending half; the stream ends when it returns (and drops the sender).
    pub(crate) fn new<F, Fut>(produce: F) -> TenantStream<'a>
    where
        F: FnOnce(mpsc::Sender<Result<QueryResult, DbErr>>) -> Fut,
        Fut: Future<Output = ()> + Send + 'a,
    {
        let (tx, rows) = mpsc::channel(BUFFER);
        TenantStream {
            rows,
            producer: Some(Box::pin(produce(tx))),
        }
    }
}

impl Stream for TenantStream<'_> {
    type Item = Result<QueryResult, DbErr>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Poll::Ready(item) = self.rows.poll_recv(cx) {
                // `None` only once the producer has finished and dropped its sender.
                return Poll::Ready(item);
            }
            match self.producer.as_mut() {
                Some(producer) => match producer.as_mut().poll(cx) {
                    // The sender is gone now: drain what is buffered, then end.
                    Poll::Ready(()) => self.producer = None,
                    Poll::Pending => return Poll::Pending,
                },
                // The producer is done but its last rows are not visible yet; the channel
                // wakes us when they are.
                None => return Poll::Pending,
            }
        }
    }
}
