//! sea-tenant on a real Citus cluster (schema-based sharding): a coordinator and two workers
//! started by `scripts/ensure-citus.sh`. Every test is `#[ignore]`d so that `cargo test` needs
//! no Citus; `scripts/test-citus.sh` runs them with `--ignored`. Each test makes a database of
//! its own on every node (`CitusDb`); the one that stops a worker runs alone.
//!
//! `creation.rs`: tenants become distributed schemas (owner inserts, the migrator) and scopes
//! stay in them; `operations.rs`: rename, drop, reference tables, moves and the rebalancer;
//! `faults.rs`: a move under load and a stopped worker.

mod creation;
mod faults;
mod operations;

use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;
use sea_tenant::citus::{self, Node};
use sea_tenant_tests::strings;

pub const VERSION_TABLE: &str = "seaql_tenant_migrations";

pub async fn count(db: &impl ConnectionTrait, sql: &str) -> i64 {
    strings(db, &format!("SELECT ({sql})::text")).await[0]
        .parse()
        .expect("a count")
}

/// Tables in `schema` that are not Citus tables: left on the coordinator, outside the
/// tenant's worker. Must always be empty for a tenant schema.
pub async fn local_tables(db: &impl ConnectionTrait, schema: &str) -> Vec<String> {
    strings(
        db,
        &format!(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'p') \
             AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid) \
             ORDER BY 1"
        ),
    )
    .await
}

/// Tenants per worker, from `citus::tenant_nodes`.
pub async fn per_node(db: &impl ConnectionTrait) -> BTreeMap<Node, Vec<String>> {
    let mut map: BTreeMap<Node, Vec<String>> = BTreeMap::new();
    for (tenant, node) in citus::tenant_nodes(db).await.expect("tenant nodes") {
        map.entry(node).or_default().push(tenant);
    }
    map
}

pub fn names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}_{i}")).collect()
}
