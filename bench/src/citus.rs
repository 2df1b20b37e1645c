//! `--citus`: the bench database on a Citus cluster, the server URL naming its coordinator.
//!
//! Citus keeps its metadata per database and does not propagate `CREATE DATABASE`, so the
//! database is made on every node, with the `citus` extension in each, and the coordinator
//! and the workers are registered in it (as the Citus tests' `CitusDb::new` does; the workers
//! are the ones the coordinator's maintenance database lists). The tenants sea-tenant creates
//! are distributed schemas on its own (`sea_tenant::citus` detects the extension); the schemas
//! the bench creates itself are made distributed by [`SHARDING_ON`].
//!
//! No public table is referenced by the bench's tenant tables (their foreign keys stay inside
//! the tenant), so none has to be a reference table.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_tenant::citus::Node;

use crate::{BenchResult, connect, with_database};

/// Prepended to a batch of `CREATE SCHEMA`s: they become distributed schemas (transaction-local,
/// as sea-tenant's own tenant creation does).
pub const SHARDING_ON: &str =
    "SELECT set_config('citus.enable_schema_based_sharding', 'on', true);";

/// Drops and recreates `database` on the coordinator at `server` and on every worker, and
/// makes it a Citus database with all of them. Returns the workers.
pub async fn recreate_database(server: &str, database: &str) -> BenchResult<Vec<Node>> {
    let admin = connect(server, 1).await?;
    let workers = sea_tenant::citus::workers(&admin).await?;
    let port = one_string(&admin, "SELECT current_setting('port')").await?;
    admin.close().await?;
    if workers.is_empty() {
        return Err(format!("--citus: the coordinator at {server} lists no worker").into());
    }
    let coordinator = Node {
        host: host_of(server).to_owned(),
        port: port.parse()?,
    };
    for node in std::iter::once(&coordinator).chain(&workers) {
        let node_server = with_host(server, node);
        crate::recreate_database(&node_server, database).await?;
        let db = connect(&with_database(&node_server, database), 1).await?;
        db.execute_unprepared("CREATE EXTENSION citus").await?;
        db.close().await?;
    }
    let db = connect(&with_database(server, database), 1).await?;
    let mut setup = format!(
        "SELECT citus_set_coordinator_host('{}', {});",
        coordinator.host, coordinator.port
    );
    for w in &workers {
        setup += &format!("SELECT citus_add_node('{}', {});", w.host, w.port);
    }
    db.execute_unprepared(&setup).await?;
    db.close().await?;
    Ok(workers)
}

async fn one_string(db: &DatabaseConnection, sql: &str) -> BenchResult<String> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .ok_or_else(|| format!("{sql}: no row"))?;
    Ok(row.try_get_by_index::<String>(0)?)
}

/// The host of a `postgres://user@host:port/db?…` URL.
fn host_of(url: &str) -> &str {
    let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
    let rest = rest.find('@').map_or(rest, |i| &rest[i + 1..]);
    let hostport = rest.split(['/', '?']).next().unwrap_or(rest);
    hostport.rsplit_once(':').map_or(hostport, |(h, _)| h)
}

/// `url` pointing at `node` instead (user, database and query kept).
fn with_host(url: &str, node: &Node) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let at = rest.find('@').map_or(0, |i| i + 1);
    let end = rest[at..].find(['/', '?']).map_or(rest.len(), |i| at + i);
    format!(
        "{}{}{}:{}{}",
        &url[..after_scheme],
        &rest[..at],
        node.host,
        node.port,
        &rest[end..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_pointed_at_a_node() {
        let url = "postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable";
        assert_eq!(host_of(url), "127.0.0.1");
        let node = Node {
            host: "10.0.0.2".to_owned(),
            port: 5434,
        };
        assert_eq!(
            with_host(url, &node),
            "postgres://postgres@10.0.0.2:5434/postgres?sslmode=disable"
        );
        assert_eq!(
            with_host("postgres://localhost/x", &node),
            "postgres://10.0.0.2:5434/x"
        );
    }
}
