//! Every piece of SQL text that names a tenant schema or its role: the search path
//! (`path.rs`), the per-tenant advisory lock (`lock.rs`), creating, renaming, dropping and
//! asking about a schema (`schema.rs`), where Citus places it (`placement.rs`), provisioning's
//! prologue and epilogue (`provisioning.rs`), the version table (`version_table.rs`), strict
//! mode's roles and grants (`role.rs`), the path and role swapped around a statement in a
//! caller's transaction (`session.rs`), and the SQLSTATEs these raise (`sqlstate.rs`). The
//! scope, the migrator, provisioning and the owner hooks build their statements from these, so
//! each safety rule below lives in one place.
//!
//! The bottom layer (see ARCHITECTURE.md): parameters in, statements out. It reads no
//! process-wide setting (the `Distribution`, strict mode's configuration) and sends nothing;
//! callers pass what they hold.
//!
//! # The search path
//! A tenant's statements run with a **transaction-local** search path (`set_config(…, true)`
//! or `SET LOCAL`), so it ends with the transaction and never stays on a pooled connection.
//! Migrations and provisioning scripts see the tenant schema alone: an unqualified name in a
//! migration must never resolve to a shared table (a `DROP TABLE IF EXISTS` would otherwise
//! reach into `public`).
//!
//! # The tenant lock
//! Every creator and writer of a tenant schema takes the same per-tenant advisory lock: the
//! migrator (also with `create_missing`), owner-entity provisioning, renames and drops, and
//! both ways of ensuring a tenant. So they never work on one tenant at once, while different
//! tenants never wait for each other.
//!
//! The lock is taken **before** anything else in the transaction looks the tenant's name up,
//! and its own functions are schema-qualified. PostgreSQL caches catalog look-ups per
//! backend, also negative ones ("no schema of that name"), and waiting for an advisory lock
//! does not refresh that cache. The migrator used to set `search_path` to the tenant first and
//! then call the (unqualified) lock functions, which resolved them through a `search_path`
//! naming a schema that did not exist yet; after waiting while another caller created it,
//! its create-if-missing still saw no schema and failed with a duplicate key in
//! `pg_namespace_nspname_index`. Each of the two changes alone makes the integration test
//! `owner_races::creation_races` pass; both are kept.

mod lock;
mod path;
mod placement;
mod provisioning;
pub(crate) mod role;
mod schema;
mod session;
mod sqlstate;
mod version_table;

pub(crate) use lock::*;
pub(crate) use path::*;
pub use placement::Distribution;
pub(crate) use placement::{
    IS_CITUS, MOVE_SCHEMA, REBALANCE, REBALANCE_WAIT, WORKER_NODES, tenant_nodes,
};
pub(crate) use provisioning::*;
pub(crate) use schema::*;
pub(crate) use session::*;
pub(crate) use sqlstate::*;
pub use version_table::DEFAULT_VERSION_TABLE;
pub(crate) use version_table::{VersionTable, expected_fingerprint_sql};

#[cfg(test)]
mod tests;
