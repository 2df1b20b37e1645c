//! Throwaway databases on the local Citus cluster of `scripts/ensure-citus.sh` (a coordinator
//! and two workers), for the tests in `tests/tests/citus.rs`, which only
//! `scripts/test-citus.sh` runs.
//!
//! Citus keeps its metadata per database, and `CREATE DATABASE` is not propagated by default:
//! [`CitusDb::new`] creates the database on every node, creates the `citus` extension in each,
//! and registers the coordinator and the workers (read from the `postgres` database's
//! `pg_dist_node`) in the new database. Dropping the value drops it on every node.

use std::process::Command;

use sea_orm::{ConnectionTrait, DatabaseConnection};
pub use sea_tenant::citus::Node;
use sea_tenant::strict::{self, Strict};

use crate::{connect, strings, unique_name, url_with_database, url_with_user};

/// `CITUS_URL` (exported by `scripts/ensure-citus.sh`), or a failure that says how to get one.
pub fn citus_url() -> String {
    match std::env::var("CITUS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "CITUS_URL is unset: the Citus tests run on a local cluster, through \
             `CITUS_SRC=<Citus v13.2 source tree> scripts/test-citus.sh`"
        ),
    }
}

/// `CITUS_PGBOUNCER_URL`: a PgBouncer in transaction mode in front of the coordinator (started
/// by `scripts/test-citus.sh`).
pub fn citus_pgbouncer_url() -> String {
    match std::env::var("CITUS_PGBOUNCER_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("CITUS_PGBOUNCER_URL is unset: run the Citus tests with scripts/test-citus.sh"),
    }
}

/// `url` pointing at `host:port` instead of its own server (user, database and query kept).
pub fn url_with_host(url: &str, host: &str, port: u16) -> String {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[after_scheme..];
    let at = rest.find('@').map(|i| i + 1).unwrap_or(0);
    let end = rest[at..]
        .find(['/', '?'])
        .map(|i| at + i)
        .unwrap_or(rest.len());
    format!(
        "{}{}{host}:{port}{}",
        &url[..after_scheme],
        &rest[..at],
        &rest[end..]
    )
}

static NODE_SETUP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A database on every node of the Citus cluster, made for one test and dropped afterwards.
pub struct CitusDb {
    /// The database's name (the same on every node).
    pub name: String,
    /// A URL of it on the coordinator (`sslmode=disable`: Citus's certificate is self-signed).
    pub url: String,
    /// A pool on the coordinator (8 connections).
    pub db: DatabaseConnection,
    /// The coordinator.
    pub coordinator: Node,
    /// The workers, by port.
    pub workers: Vec<Node>,
}

impl CitusDb {
    /// Creates the database on every node and makes it a Citus database with both workers.
    pub async fn new(label: &str) -> CitusDb {
        let name = unique_name(label);
        let server = citus_url();
        let admin = connect(&server, 1).await;
        let coordinator_port: String = strings(&admin, "SELECT current_setting('port')")
            .await
            .remove(0);
        let rows = strings(
            &admin,
            "SELECT nodename || ':' || nodeport FROM pg_dist_node \
             WHERE groupid <> 0 AND noderole = 'primary' ORDER BY nodeport",
        )
        .await;
        admin.close().await.ok();
        let host = host_of(&server);
        let coordinator = Node {
            host: host.clone(),
            port: coordinator_port.parse().expect("port"),
        };
        let workers: Vec<Node> = rows
            .iter()
            .map(|r| {
                let (h, p) = r.rsplit_once(':').expect("host:port");
                Node {
                    host: h.to_owned(),
                    port: p.parse().expect("port"),
                }
            })
            .collect();
        assert!(
            workers.len() >= 2,
            "the Citus cluster at {server} has {} worker(s); scripts/ensure-citus.sh adds two",
            workers.len()
        );
        for node in std::iter::once(&coordinator).chain(&workers) {
            let node_server = url_with_host(&server, &node.host, node.port);
            let admin = connect(&node_server, 1).await;
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {node:?}: {e}"));
            admin.close().await.ok();
            let db = connect(&url_with_database(&node_server, &name), 1).await;
            db.execute_unprepared("CREATE EXTENSION citus")
                .await
                .unwrap_or_else(|e| panic!("CREATE EXTENSION citus on {node:?}: {e}"));
            db.close().await.ok();
        }
        let url = url_with_database(&server, &name);
        let db = connect(&url, 8).await;
        // Adding a node syncs cluster-wide objects (the roles) to it: two databases doing so
        // at once fail with "tuple concurrently updated" on the worker.
        let _one_at_a_time = NODE_SETUP.lock().await;
        let mut setup = format!(
            "SELECT citus_set_coordinator_host('{}', {});",
            coordinator.host, coordinator.port
        );
        for w in &workers {
            setup += &format!("SELECT citus_add_node('{}', {});", w.host, w.port);
        }
        db.execute_unprepared(&setup)
            .await
            .unwrap_or_else(|e| panic!("adding the nodes to {name}: {e}"));
        CitusDb {
            name,
            url,
            db,
            coordinator,
            workers,
        }
    }

    /// A second, independent pool on the coordinator.
    pub async fn pool(&self, max_connections: u32) -> DatabaseConnection {
        connect(&self.url, max_connections).await
    }

    /// A pool on the same database through the PgBouncer in front of the coordinator.
    pub async fn pool_through_pgbouncer(&self, max_connections: u32) -> DatabaseConnection {
        connect(
            &url_with_database(&citus_pgbouncer_url(), &self.name),
            max_connections,
        )
        .await
    }

    /// One connection to this database on one node directly, to look at what a worker holds:
    /// Citus's shards are visible in its catalog (`citus.override_table_visibility` off).
    pub async fn pool_on(&self, node: &Node) -> DatabaseConnection {
        let db = connect(&url_with_host(&self.url, &node.host, node.port), 1).await;
        db.execute_unprepared("SET citus.override_table_visibility TO off")
            .await
            .unwrap_or_else(|e| panic!("show shards on {node}: {e}"));
        db
    }

    /// Puts this database in strict mode ([`strict::setup`] as the superuser) and returns a
    /// pool on the coordinator that logs in as the runtime role, which may use `public`.
    pub async fn strict_runtime(
        &self,
        strict: &Strict,
        max_connections: u32,
    ) -> DatabaseConnection {
        for line in strict::setup(&self.db, strict)
            .await
            .unwrap_or_else(|e| panic!("strict set-up of {}: {e}", self.name))
        {
            println!("strict set-up: {line}");
        }
        self.db
            .execute_unprepared(&format!(
                "GRANT USAGE ON SCHEMA public TO \"{}\"",
                strict.runtime_role()
            ))
            .await
            .unwrap_or_else(|e| panic!("runtime role on public: {e}"));
        connect(
            &url_with_user(&self.url, strict.runtime_role()),
            max_connections,
        )
        .await
    }

    /// The worker called `worker1`, `worker2`, … by `scripts/citus-node.sh` (by port order).
    pub fn worker_label(&self, node: &Node) -> String {
        let i = self
            .workers
            .iter()
            .position(|w| w == node)
            .unwrap_or_else(|| panic!("{node:?} is not a worker"));
        format!("worker{}", i + 1)
    }
}

fn host_of(url: &str) -> String {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    let rest = &url[after_scheme..];
    let at = rest.find('@').map(|i| i + 1).unwrap_or(0);
    let hostport = rest[at..].split(['/', '?']).next().unwrap_or("");
    hostport
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(hostport)
        .to_owned()
}

impl Drop for CitusDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let server = citus_url();
        let nodes: Vec<Node> = std::iter::once(self.coordinator.clone())
            .chain(self.workers.iter().cloned())
            .collect();
        // As TestDb's drop: a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                for node in nodes {
                    let admin = connect(&url_with_host(&server, &node.host, node.port), 1).await;
                    admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await
                        .ok();
                    admin.close().await.ok();
                }
            });
        })
        .join();
    }
}

/// Stops or starts a node of the local cluster through `scripts/citus-node.sh` (`action`:
/// `stop`, `start`; `node`: `worker1`, `worker2`).
pub fn citus_node(action: &str, node: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/citus-node.sh");
    let out = Command::new(script)
        .args([action, node])
        .output()
        .unwrap_or_else(|e| panic!("{script} {action} {node}: {e}"));
    assert!(
        out.status.success(),
        "{script} {action} {node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

static CLUSTER: std::sync::LazyLock<tokio::sync::RwLock<()>> =
    std::sync::LazyLock::new(|| tokio::sync::RwLock::new(()));

/// Held by a test that needs every node up; tests run in parallel with each other.
pub async fn cluster_shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    CLUSTER.read().await
}

/// Held by a test that stops a node: no other test runs meanwhile.
pub async fn cluster_exclusive() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    CLUSTER.write().await
}

/// A stopped node, started again when dropped (also when the test fails).
pub struct StoppedNode(String);

impl StoppedNode {
    /// Stops `node` (`worker1`, `worker2`) until the value is dropped.
    pub fn stop(node: &str) -> StoppedNode {
        citus_node("stop", node);
        StoppedNode(node.to_owned())
    }
}

impl Drop for StoppedNode {
    fn drop(&mut self) {
        citus_node("start", &self.0);
    }
}
