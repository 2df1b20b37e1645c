//! Progress reporting for long runs.

use super::report::{Operation, Outcome, Report};

/// Receives a run's progress, tenant by tenant. Called from the migrator's workers, so
/// implementations must be cheap and thread-safe. The CLI implements it with a progress bar
/// on a terminal and log lines elsewhere.
pub trait Progress: Send + Sync {
    /// The run starts over `tenants` tenants.
    fn start(&self, operation: Operation, tenants: usize) {
        let _ = (operation, tenants);
    }

    /// One tenant is done.
    fn tenant_done(&self, tenant: &str, outcome: &Outcome);

    /// The run is over.
    fn finish(&self, report: &Report) {
        let _ = report;
    }
}
