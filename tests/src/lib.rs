//! Test support shared by every integration test of the workspace: throwaway databases on the
//! real PostgreSQL server named by `DATABASE_URL`, and catalog look-ups for assertions.
//!
//! Each [`TestDb`] is a database of its own with a unique name, dropped when the value is
//! dropped (also when the test panics), so tests run in parallel and can be rerun.

pub mod fixtures;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};

/// The server URL: `DATABASE_URL`, or the local trust-auth server.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced by `database`.
pub fn url_with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// A database created for one test and dropped afterwards.
pub struct TestDb {
    /// The database's name.
    pub name: String,
    /// A URL that connects to it.
    pub url: String,
    /// A pool on it (4 connections unless made with [`TestDb::with_pool_size`]).
    pub db: DatabaseConnection,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// Creates a fresh database whose name starts with `st_{label}`.
    pub async fn new(label: &str) -> TestDb {
        Self::with_pool_size(label, 4).await
    }

    /// Like [`TestDb::new`], with a pool of `max_connections`.
    pub async fn with_pool_size(label: &str, max_connections: u32) -> TestDb {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "st_{}_{}_{}_{}",
            label.to_ascii_lowercase(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos % 100_000
        );
        let admin = connect(&server_url(), 1).await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        admin.close().await.ok();
        let url = url_with_database(&server_url(), &name);
        let db = connect(&url, max_connections).await;
        TestDb { name, url, db }
    }

    /// A second, independent pool on the same database.
    pub async fn pool(&self, max_connections: u32) -> DatabaseConnection {
        connect(&self.url, max_connections).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await, and blocking this runtime's thread while its own pool closes
        // would hang: a thread with a runtime of its own drops the database instead, and
        // `WITH (FORCE)` ends the pool's connections server-side.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let admin = connect(&server_url(), 1).await;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok();
                admin.close().await.ok();
            });
        })
        .join();
    }
}

/// Connects with SeaORM, statement logging off.
pub async fn connect(url: &str, max_connections: u32) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(0)
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// Runs a query whose rows are one text column.
pub async fn strings(db: &impl ConnectionTrait, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("text column"))
        .collect()
}

/// The user schemas of the database, sorted.
pub async fn schemas(db: &impl ConnectionTrait) -> Vec<String> {
    strings(
        db,
        "SELECT nspname::text FROM pg_namespace \
         WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
    )
    .await
}

/// Whether a schema exists.
pub async fn schema_exists(db: &impl ConnectionTrait, schema: &str) -> bool {
    schemas(db).await.iter().any(|s| s == schema)
}

/// The tables of one schema, sorted.
pub async fn tables(db: &impl ConnectionTrait, schema: &str) -> Vec<String> {
    strings(
        db,
        &format!(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{}' AND c.relkind IN ('r', 'p') ORDER BY 1",
            schema.replace('\'', "''")
        ),
    )
    .await
}

/// The versions recorded in a version table, in order.
pub async fn versions(db: &impl ConnectionTrait, schema: &str, table: &str) -> Vec<String> {
    strings(
        db,
        &format!("SELECT version::text FROM \"{schema}\".\"{table}\" ORDER BY version"),
    )
    .await
}

/// A textual dump of every column, constraint and index in the given schemas, with the
/// schema name replaced by `<schema>` so that two tenants compare equal.
pub async fn catalog_dump(db: &impl ConnectionTrait, schema: &str) -> Vec<String> {
    let lit = schema.replace('\'', "''");
    let mut lines = strings(
        db,
        &format!(
            "SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name, data_type, is_nullable, coalesce(column_default, '-')) \
             FROM information_schema.columns WHERE table_schema = '{lit}'"
        ),
    )
    .await;
    lines.extend(
        strings(
            db,
            &format!(
                "SELECT format('constraint %s %s %s', c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)) \
                 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = '{lit}'"
            ),
        )
        .await,
    );
    lines.extend(
        strings(
            db,
            &format!(
                "SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = '{lit}'"
            ),
        )
        .await,
    );
    for line in &mut lines {
        *line = line.replace(&format!("\"{schema}\"."), "<schema>.");
        *line = line.replace(&format!("{schema}."), "<schema>.");
    }
    lines.sort();
    lines
}

/// The `search_path` each of up to `n` pooled connections reports, taken all at once so that
/// every connection in the pool is looked at.
pub async fn pooled_search_paths(db: &DatabaseConnection, n: usize) -> Vec<String> {
    use sea_orm::TransactionTrait;
    let mut txns = Vec::new();
    let mut paths = Vec::new();
    for _ in 0..n {
        let txn = db.begin().await.expect("begin");
        paths.extend(strings(&txn, "SELECT current_setting('search_path')").await);
        txns.push(txn);
    }
    for txn in txns {
        txn.rollback().await.ok();
    }
    paths
}

/// The server's default `search_path` (the value a fresh session starts with).
pub async fn default_search_path(db: &impl ConnectionTrait) -> String {
    strings(
        db,
        "SELECT reset_val FROM pg_settings WHERE name = 'search_path'",
    )
    .await
    .remove(0)
}

/// Owner entities (`#[tenant]`) for the `owner_*` tests.
pub mod owner_entities;
