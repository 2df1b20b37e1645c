//! Citus placement: tenant schemas as distributed schemas, and the coordinator's metadata of
//! where they are.

use super::sqlstate::{NO_CITUS, raise_if};

/// Whether tenant schemas are created as Citus distributed schemas (see
/// [`citus::set_distribution`](crate::citus::set_distribution)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Distribution {
    /// On a database with the `citus` extension, distributed; elsewhere, plain schemas.
    #[default]
    Detect,
    /// Always plain schemas, also on Citus (a database-wide
    /// `citus.enable_schema_based_sharding` still applies).
    Never,
    /// Distributed, and creating a tenant on a database without Citus fails: for deployments
    /// that must never silently fall back to one server.
    Require,
}

// # Citus
//
// On a Citus coordinator a tenant schema is created as a *distributed schema* (schema-based
// sharding): its tables become single-shard tables placed together on one worker. Citus does
// that for a `CREATE SCHEMA` run while `citus.enable_schema_based_sharding` is on, so every
// creation above turns it on for that one statement and then puts back the caller's value
// (both transaction-local). Whether the database is a Citus one is asked in the same
// statements (the `citus` row of `pg_extension`), so no round trip and no cache is needed,
// and a database that gets Citus later is seen at once. See `crate::citus`.

/// The rows these statements run for: one on a Citus database, none elsewhere.
pub(super) const IF_CITUS: &str = "FROM pg_catalog.pg_extension WHERE extname = 'citus'";

/// `create` (a `CREATE SCHEMA`) as `distribution` says: wrapped in turning schema-based
/// sharding on and back, refused without Citus, or left alone.
pub(super) fn distributed_as(create: &str, distribution: Distribution) -> String {
    let on = format!(
        "SELECT set_config('sea_tenant.saved_sharding', \
         current_setting('citus.enable_schema_based_sharding'), true), \
         set_config('citus.enable_schema_based_sharding', 'on', true) {IF_CITUS}"
    );
    let back = format!(
        "SELECT set_config('citus.enable_schema_based_sharding', \
         current_setting('sea_tenant.saved_sharding'), true) {IF_CITUS}"
    );
    match distribution {
        Distribution::Never => create.to_owned(),
        Distribution::Detect => format!("{on}; {create}; {back}"),
        Distribution::Require => format!("{}; {on}; {create}; {back}", require_citus()),
    }
}

/// A `DO` block raising [`NO_CITUS`] unless the database has the `citus` extension.
pub(crate) fn require_citus() -> String {
    raise_if(
        &format!("NOT EXISTS (SELECT 1 {IF_CITUS})"),
        NO_CITUS,
        "sea-tenant requires Citus (sea_tenant::citus::Distribution::Require) but the citus \
         extension is not in this database: CREATE EXTENSION citus, or use Distribution::Detect",
    )
}

/// Whether the database has the `citus` extension.
pub(crate) const IS_CITUS: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')";

/// The worker each distributed tenant schema is placed on, as `(tenant, host, port)`, read
/// from the coordinator's metadata alone (no worker is contacted, so it answers with a worker
/// down): `pg_dist_schema` gives the schema's colocation group, the placement of any shard of
/// that group gives the node. `only`: an SQL expression for one schema name, or `None` for all.
pub(crate) fn tenant_nodes(only: Option<&str>) -> String {
    let filter = only
        .map(|name| format!(" WHERE n.nspname = {name}"))
        .unwrap_or_default();
    format!(
        "SELECT n.nspname::text AS tenant, node.nodename::text AS host, node.nodeport AS port \
         FROM pg_dist_schema s \
         JOIN pg_catalog.pg_namespace n ON n.oid = s.schemaid \
         JOIN LATERAL (SELECT sh.shardid FROM pg_dist_partition p \
                       JOIN pg_dist_shard sh ON sh.logicalrelid = p.logicalrelid \
                       WHERE p.colocationid = s.colocationid LIMIT 1) shard ON true \
         JOIN pg_dist_placement pl ON pl.shardid = shard.shardid \
         JOIN pg_dist_node node ON node.groupid = pl.groupid AND node.noderole = 'primary'\
         {filter} ORDER BY 1"
    )
}

/// The nodes that hold (or may hold) tenant schemas: active primaries that should have
/// shards, as `(host, port)`.
pub(crate) const WORKER_NODES: &str = "SELECT nodename::text AS host, nodeport AS port \
     FROM pg_dist_node WHERE isactive AND noderole = 'primary' AND shouldhaveshards \
     ORDER BY nodename, nodeport";

/// Moves the schema named by `$1` (its oid looked up by name, so nothing is parsed from
/// text) with all its tables to the node `$2`:`$3`, with transfer mode `$4`.
pub(crate) const MOVE_SCHEMA: &str = "SELECT citus_schema_move(\
     (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1)::regnamespace, \
     $2, $3, $4::citus.shard_transfer_mode)";

/// Starts Citus's background rebalancer (which moves distributed schemas whole) and waits for
/// it; the job's id, or NULL when nothing needed to move.
pub(crate) const REBALANCE: &str = "SELECT citus_rebalance_start()";
/// Waits for the running rebalance to finish.
pub(crate) const REBALANCE_WAIT: &str = "SELECT citus_rebalance_wait()";
