//! What a run did, tenant by tenant.

use std::fmt;
use std::sync::Arc;

use crate::Error;

/// The operations a [`TenantMigrator`](crate::TenantMigrator) runs, named as in sea-orm-cli.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Apply pending migrations (at most `n` per tenant when given).
    Up(Option<u32>),
    /// Roll back applied migrations, the newest first (at most `n` per tenant when given).
    Down(Option<u32>),
    /// Report applied and pending migrations.
    Status,
    /// Drop and recreate the tenant schema, then apply every migration.
    Fresh,
    /// Roll back every migration, then apply every migration.
    Refresh,
    /// Roll back every migration.
    Reset,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Up(None) => f.write_str("up"),
            Operation::Up(Some(n)) => write!(f, "up -n {n}"),
            Operation::Down(None) => f.write_str("down (all)"),
            Operation::Down(Some(n)) => write!(f, "down -n {n}"),
            Operation::Status => f.write_str("status"),
            Operation::Fresh => f.write_str("fresh"),
            Operation::Refresh => f.write_str("refresh"),
            Operation::Reset => f.write_str("reset"),
        }
    }
}

/// One migration's state in one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// The migration's name (its version). Shared with every other tenant's report, so a report
    /// over 10,000 tenants holds each name once.
    pub name: Arc<str>,
    /// Whether the tenant's version table records it.
    pub applied: bool,
}

/// How one tenant came out of a run.
#[derive(Debug)]
pub enum Outcome {
    /// Migrations were applied and/or rolled back, each in its own committed transaction.
    Changed {
        /// Migrations rolled back, in the order they were rolled back.
        rolled_back: Vec<Arc<str>>,
        /// Migrations applied, in order.
        applied: Vec<Arc<str>>,
    },
    /// There was nothing to do.
    UpToDate,
    /// The answer to `status`.
    Status(Vec<MigrationState>),
    /// The tenant's schema does not exist (and `create_missing` was off).
    Missing,
    /// The tenant failed. What was committed before the failure is listed; the failing
    /// migration's transaction was rolled back, so nothing of it remains.
    Failed {
        /// Why.
        error: Error,
        /// Migrations rolled back before the failure.
        rolled_back: Vec<Arc<str>>,
        /// Migrations applied before the failure, durably.
        applied: Vec<Arc<str>>,
        /// Migrations whose transactions committed without waiting for their WAL flush and
        /// whose flush could not be confirmed before the connection was lost: a server crash
        /// may have undone them (with their version rows). Applied ones first, then rolled
        /// back ones are not told apart here: see the version table, or rerun.
        unconfirmed: Vec<Arc<str>>,
    },
    /// Not attempted: another tenant failed first and `fail_fast` was on.
    Skipped,
    /// Not attempted: the run stopped starting tenants (e.g. after repeated connection
    /// failures, the circuit breaker); the reason says why.
    NotAttempted {
        /// Why the run stopped.
        reason: Arc<str>,
    },
}

impl Outcome {
    /// A failure before anything was committed.
    pub(crate) fn failed(error: Error) -> Outcome {
        Outcome::Failed {
            error,
            rolled_back: Vec::new(),
            applied: Vec::new(),
            unconfirmed: Vec::new(),
        }
    }

    /// Whether the tenant needs attention (failed, missing or skipped).
    pub fn is_problem(&self) -> bool {
        matches!(
            self,
            Outcome::Missing
                | Outcome::Failed { .. }
                | Outcome::Skipped
                | Outcome::NotAttempted { .. }
        )
    }

    /// Migrations committed before a failure but not confirmed durable (see
    /// [`Outcome::Failed`]); not counted by [`Outcome::applied`].
    pub fn unconfirmed(&self) -> Vec<&str> {
        match self {
            Outcome::Failed { unconfirmed, .. } => unconfirmed.iter().map(|a| &**a).collect(),
            _ => Vec::new(),
        }
    }

    /// Migrations this run applied to the tenant (durably committed).
    pub fn applied(&self) -> Vec<&str> {
        match self {
            Outcome::Changed { applied, .. } | Outcome::Failed { applied, .. } => {
                applied.iter().map(|a| &**a).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Migrations this run rolled back in the tenant.
    pub fn rolled_back(&self) -> Vec<&str> {
        match self {
            Outcome::Changed { rolled_back, .. } | Outcome::Failed { rolled_back, .. } => {
                rolled_back.iter().map(|a| &**a).collect()
            }
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Changed {
                rolled_back,
                applied,
            } => {
                let mut parts = Vec::new();
                if !rolled_back.is_empty() {
                    parts.push(format!("rolled back {}", rolled_back.len()));
                }
                if !applied.is_empty() {
                    parts.push(format!("applied {}", applied.len()));
                }
                if parts.is_empty() {
                    parts.push("no change (another runner got there first)".to_owned());
                }
                f.write_str(&parts.join(", "))
            }
            Outcome::UpToDate => f.write_str("already up to date"),
            Outcome::Status(states) => {
                let applied = states.iter().filter(|s| s.applied).count();
                let pending = states.len() - applied;
                write!(f, "{applied} applied, {pending} pending")?;
                if let Some(last) = states.iter().rev().find(|s| s.applied) {
                    write!(f, " (latest {})", last.name)?;
                }
                Ok(())
            }
            Outcome::Missing => f.write_str("schema does not exist"),
            Outcome::Failed {
                error,
                applied,
                rolled_back,
                unconfirmed,
            } => {
                write!(f, "FAILED: {error}")?;
                if !applied.is_empty() || !rolled_back.is_empty() {
                    write!(
                        f,
                        " (committed before the failure: applied {}, rolled back {})",
                        applied.len(),
                        rolled_back.len()
                    )?;
                }
                if !unconfirmed.is_empty() {
                    write!(
                        f,
                        " ({} more committed but not confirmed durable: the connection was lost \
                         before their WAL flush; a server crash may have undone them: {})",
                        unconfirmed.len(),
                        unconfirmed.join(", ")
                    )?;
                }
                Ok(())
            }
            Outcome::Skipped => f.write_str("skipped (fail-fast)"),
            Outcome::NotAttempted { reason } => write!(f, "not attempted: {reason}"),
        }
    }
}

/// One tenant's line in a [`Report`].
#[derive(Debug)]
pub struct TenantReport {
    /// The tenant as `all_tenants` returned it (it may be an invalid name).
    pub tenant: String,
    /// What happened.
    pub outcome: Outcome,
    /// On Citus, for `status`: the worker node holding the tenant's schema (read from the
    /// coordinator's metadata; see [`citus`](crate::citus)). `None` elsewhere.
    pub node: Option<crate::citus::Node>,
}

/// The result of a run over many tenants, in the order `all_tenants` listed them.
#[derive(Debug)]
pub struct Report {
    /// What was run.
    pub operation: Operation,
    /// One entry per selected tenant.
    pub tenants: Vec<TenantReport>,
    /// Things worth a look that concern no single tenant (e.g. an empty tenant list).
    pub warnings: Vec<String>,
}

impl Report {
    /// Whether every tenant came through without a problem.
    pub fn is_success(&self) -> bool {
        self.problems().next().is_none()
    }

    /// The tenants that failed, are missing or were skipped.
    pub fn problems(&self) -> impl Iterator<Item = &TenantReport> {
        self.tenants.iter().filter(|t| t.outcome.is_problem())
    }

    /// The report of one tenant.
    pub fn tenant(&self, name: &str) -> Option<&TenantReport> {
        self.tenants.iter().find(|t| t.tenant == name)
    }

    /// How many migrations were applied, summed over tenants.
    pub fn applied_count(&self) -> usize {
        self.tenants.iter().map(|t| t.outcome.applied().len()).sum()
    }

    /// A one-line summary, e.g. `up: 3 tenants, 6 migrations applied, 1 up to date, 0 failed`.
    pub fn summary(&self) -> String {
        let count =
            |pred: fn(&Outcome) -> bool| self.tenants.iter().filter(|t| pred(&t.outcome)).count();
        let rolled_back: usize = self
            .tenants
            .iter()
            .map(|t| t.outcome.rolled_back().len())
            .sum();
        let mut text = format!(
            "{}: {}",
            self.operation,
            counted(self.tenants.len(), "tenant", "tenants")
        );
        if self.applied_count() > 0 {
            let applied = counted(self.applied_count(), "migration", "migrations");
            text += &format!(", {applied} applied");
        }
        if rolled_back > 0 {
            let rolled_back = counted(rolled_back, "migration", "migrations");
            text += &format!(", {rolled_back} rolled back");
        }
        let up_to_date = count(|o| matches!(o, Outcome::UpToDate));
        if up_to_date > 0 {
            text += &format!(", {up_to_date} already up to date");
        }
        let missing = count(|o| matches!(o, Outcome::Missing));
        if missing > 0 {
            text += &format!(", {missing} missing");
        }
        let skipped = count(|o| matches!(o, Outcome::Skipped));
        if skipped > 0 {
            text += &format!(", {skipped} skipped");
        }
        let not_attempted = count(|o| matches!(o, Outcome::NotAttempted { .. }));
        if not_attempted > 0 {
            text += &format!(", {not_attempted} not attempted");
        }
        let unconfirmed: usize = self
            .tenants
            .iter()
            .map(|t| t.outcome.unconfirmed().len())
            .sum();
        if unconfirmed > 0 {
            let unconfirmed = counted(unconfirmed, "migration", "migrations");
            text += &format!(", {unconfirmed} not confirmed durable");
        }
        text += &format!(
            ", {} failed",
            count(|o| matches!(o, Outcome::Failed { .. }))
        );
        text
    }
}

/// `1 tenant`, `2 tenants`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A table with one line per tenant, then the summary.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .tenants
            .iter()
            .map(|t| t.tenant.escape_debug().to_string().len())
            .max()
            .unwrap_or(6)
            .max(6);
        writeln!(f, "{:<width$}  result", "tenant")?;
        for t in &self.tenants {
            write!(
                f,
                "{:<width$}  {}",
                t.tenant.escape_debug().to_string(),
                t.outcome
            )?;
            match &t.node {
                Some(node) => writeln!(f, " [on {node}]")?,
                None => writeln!(f)?,
            }
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        write!(f, "{}", self.summary())
    }
}

/// Fills in each tenant's node in a `status` report, on Citus (two queries on the
/// coordinator's metadata; one elsewhere). A failure to read them is a warning of the report.
pub(crate) async fn add_citus_nodes(db: &sea_orm::DatabaseConnection, report: &mut Report) {
    let nodes = match crate::citus::is_citus(db).await {
        Ok(true) => crate::citus::tenant_nodes(db).await,
        Ok(false) => return,
        Err(e) => Err(e),
    };
    match nodes {
        Ok(nodes) => {
            let nodes: std::collections::HashMap<String, crate::citus::Node> =
                nodes.into_iter().collect();
            for line in &mut report.tenants {
                line.node = nodes.get(&line.tenant).cloned();
            }
        }
        Err(e) => report
            .warnings
            .push(format!("the tenants' Citus nodes could not be read: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(tenants: Vec<Outcome>) -> Report {
        Report {
            operation: Operation::Up(None),
            tenants: tenants
                .into_iter()
                .enumerate()
                .map(|(i, outcome)| TenantReport {
                    tenant: format!("t_{i}"),
                    outcome,
                    node: None,
                })
                .collect(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn summary_counts_in_the_singular_and_the_plural() {
        let one = report(vec![Outcome::Changed {
            rolled_back: Vec::new(),
            applied: vec![Arc::from("m1")],
        }]);
        assert_eq!(one.summary(), "up: 1 tenant, 1 migration applied, 0 failed");
        let two = report(vec![
            Outcome::Changed {
                rolled_back: vec![Arc::from("m2")],
                applied: vec![Arc::from("m1"), Arc::from("m2")],
            },
            Outcome::UpToDate,
        ]);
        assert_eq!(
            two.summary(),
            "up: 2 tenants, 2 migrations applied, 1 migration rolled back, 1 already up to date, 0 failed"
        );
    }
}
