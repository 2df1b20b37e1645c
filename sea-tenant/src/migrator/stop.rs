//! When a run stops starting tenants: `fail_fast` after a problem, or the circuit breaker after
//! [`CIRCUIT_BREAKER_FAILURES`] connection failures in a row (across workers). The tenants not
//! started are reported as skipped or not attempted.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing::warn;

use super::Outcome;

/// After this many connection failures in a row (across workers), a run starts no more
/// tenants: the rest are reported as not attempted (the circuit breaker).
pub const CIRCUIT_BREAKER_FAILURES: usize = 3;

/// What stops a run from starting tenants, shared by its workers.
#[derive(Default)]
pub(super) struct Stop {
    fail_fast: AtomicBool,
    consecutive: AtomicUsize,
    tripped: OnceLock<Arc<str>>,
}

impl Stop {
    /// The outcome of a tenant that is no longer started, if the run has stopped.
    pub(super) fn outcome(&self) -> Option<Outcome> {
        if let Some(reason) = self.tripped.get() {
            Some(Outcome::NotAttempted {
                reason: Arc::clone(reason),
            })
        } else if self.fail_fast.load(Ordering::Relaxed) {
            Some(Outcome::Skipped)
        } else {
            None
        }
    }

    /// A tenant had a problem and the run is fail-fast: start no more.
    pub(super) fn fail_fast(&self) {
        self.fail_fast.store(true, Ordering::Relaxed);
    }

    pub(super) fn connection_ok(&self) {
        self.consecutive.store(0, Ordering::Relaxed);
    }

    /// Whether the last connection attempt failed.
    pub(super) fn connections_failing(&self) -> bool {
        self.consecutive.load(Ordering::Relaxed) > 0
    }

    /// Counts a connection failure; trips the breaker at the limit, else pauses a little
    /// longer each time (a restarting server gets a moment).
    pub(super) async fn connection_failed(&self, error: &(dyn std::fmt::Display + Sync)) {
        let n = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= CIRCUIT_BREAKER_FAILURES {
            let mut first = false;
            self.tripped.get_or_init(|| {
                first = true;
                Arc::from(format!(
                    "the run stopped after {n} connection failures in a row (last: {error})"
                ))
            });
            if first {
                warn!(%error, failures = n, "circuit breaker: starting no more tenants");
            }
            return;
        }
        warn!(%error, failures = n, "connection failure");
        tokio::time::sleep(Duration::from_millis(100 << n.min(4))).await;
    }
}
