//! Test support (feature `testing`): a throwaway database and temporary tenants on a real
//! PostgreSQL server, removed when they are dropped, also when the test panics.
//!
//! ```
//! use sea_orm::ConnectionTrait;
//! use sea_orm_migration::prelude::*;
//! use sea_tenant::TenantName;
//! use sea_tenant::testing::{TemporaryTenant, TestDatabase};
//!
//! struct Migrator;
//! impl MigratorTrait for Migrator {
//!     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
//!         vec![Box::new(CreatePost)]
//!     }
//! }
//! #[derive(DeriveMigrationName)]
//! struct CreatePost;
//! #[async_trait::async_trait]
//! impl MigrationTrait for CreatePost {
//!     async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
//!         manager
//!             .get_connection()
//!             .execute_unprepared("CREATE TABLE post (id serial PRIMARY KEY, title text)")
//!             .await
//!             .map(|_| ())
//!     }
//! }
//!
//! // Any runtime flavour: dropping does not need this runtime (see below).
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), sea_tenant::Error> {
//!     // A database of its own on the server of DATABASE_URL (or 127.0.0.1:5432).
//!     let database = TestDatabase::new("docs").await?;
//!     let acme = TemporaryTenant::create::<Migrator>(database.db(), &TenantName::new("org_acme")?)
//!         .await?;
//!     acme.scope().execute_unprepared("INSERT INTO post (title) VALUES ('hi')").await?;
//!     Ok(())
//!     // `acme` is dropped (schema "org_acme" dropped), then `database` (DROP DATABASE).
//! }
//! ```
//!
//! # How dropping works
//!
//! `Drop` cannot await, and the runtime that runs the test may be blocked by the very drop (a
//! current-thread runtime, or the test's thread of a multi-thread one), together with the
//! tasks of the test's own pool. So each drop starts a thread of its own with a small runtime,
//! opens a new connection there, removes the database (`DROP DATABASE … WITH (FORCE)`, which
//! ends every session still connected to it) or the tenant (`DROP SCHEMA … CASCADE` under the
//! tenant's lock; sessions that still hold locks on its tables after 2 s, such as the test
//! pool's connection whose rollback waits for the blocked runtime, are ended), and waits for
//! that thread. The dropping thread is blocked meanwhile, a few milliseconds. It works on any
//! runtime and outside one, and during a panic's unwinding; a drop that fails says so on
//! stderr, naming what is left behind, and never panics.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseConnectionType,
    SqlxPostgresConnector,
};
use sea_orm_migration::MigratorTrait;

use crate::error::ConnectError;
use crate::name::quote_ident;
use crate::{Error, Result, TenantConnectionExt, TenantName, TenantScope, provision, tenant_sql};

/// The server tests run against: `DATABASE_URL`, or `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced by `database` (query parameters kept).
///
/// ```
/// use sea_tenant::testing::url_with_database;
/// assert_eq!(
///     url_with_database("postgres://u@h:5432/postgres?sslmode=disable", "t1"),
///     "postgres://u@h:5432/t1?sslmode=disable"
/// );
/// ```
pub fn url_with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// A pool of at most `max_connections` on `url`, statement logging off.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(0)
        .sqlx_logging(false);
    Ok(Database::connect(options).await?)
}

/// `url` logging in as `user` (`name`, or `name:password`), whatever user and password it had.
///
/// ```
/// use sea_tenant::testing::url_with_user;
///
/// assert_eq!(
///     url_with_user("postgres://postgres:pw@127.0.0.1:5432/app?sslmode=disable", "app"),
///     "postgres://app@127.0.0.1:5432/app?sslmode=disable"
/// );
/// ```
pub fn url_with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}

/// Puts `test` in strict mode (see [`crate::strict`]) and returns a pool of `max_connections`
/// that logs in as the runtime role, the application's view. As the test's superuser:
/// [`strict::setup`](crate::strict::setup), then the runtime role may use `public` and every
/// table and sequence the superuser creates there from now on (so run the public migrations
/// after this). Set-ups in one process run one at a time (two concurrent `ALTER ROLE`s of one
/// role fail). Strict mode itself is turned on by the caller ([`strict::enable`](crate::strict::enable)).
pub async fn strict_runtime(
    test: &TestDatabase,
    strict: &crate::strict::Strict,
    max_connections: u32,
) -> Result<DatabaseConnection> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    {
        let _one = ONE_AT_A_TIME.lock().await;
        crate::strict::setup(test.db(), strict).await?;
    }
    let app = quote_ident(strict.runtime_role());
    test.db()
        .execute_unprepared(&format!(
            "GRANT USAGE ON SCHEMA public TO {app}; \
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO {app}; \
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO {app}"
        ))
        .await
        .map_err(Error::Setup)?;
    connect(
        &url_with_user(test.url(), strict.runtime_role()),
        max_connections,
    )
    .await
}

/// A database of its own for one test, with a unique name, dropped (`WITH (FORCE)`) when the
/// value is dropped: tests run in parallel and can be rerun. See the
/// [module docs](self#how-dropping-works) for how the drop works.
pub struct TestDatabase {
    name: String,
    url: String,
    server_url: String,
    db: DatabaseConnection,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .finish()
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDatabase {
    /// A new database on [`server_url`], with a pool of 4 connections. Its name is
    /// `st_<label>_<process>_<counter>_<clock>` (`label` lower-cased, other characters than
    /// ASCII letters, digits and `_` replaced by `_`).
    pub async fn new(label: &str) -> Result<TestDatabase> {
        Self::on_server(&server_url(), label, 4).await
    }

    /// A new database on the server of `server_url` (any database of it that the user can
    /// connect to: it is used to create and drop the new one), with a pool of
    /// `max_connections`.
    pub async fn on_server(
        server_url: &str,
        label: &str,
        max_connections: u32,
    ) -> Result<TestDatabase> {
        let name = unique_name(label);
        let admin = connect(server_url, 1).await?;
        let created = admin
            .execute_unprepared(&format!("CREATE DATABASE {}", quote_ident(&name)))
            .await;
        admin.close().await.ok();
        created?;
        let url = url_with_database(server_url, &name);
        // From here on `Drop` removes the database, also if connecting fails.
        let mut database = TestDatabase {
            name,
            url,
            server_url: server_url.to_owned(),
            db: DatabaseConnection::default(),
        };
        database.db = connect(&database.url, max_connections).await?;
        Ok(database)
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A URL that connects to it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The pool made with it.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Another, independent pool on it.
    pub async fn connect(&self, max_connections: u32) -> Result<DatabaseConnection> {
        connect(&self.url, max_connections).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&self.name)
        );
        let server_url = self.server_url.clone();
        let outcome = on_own_thread(async move {
            let admin = connect(&server_url, 1).await?;
            let dropped = admin.execute_unprepared(&sql).await;
            admin.close().await.ok();
            dropped.map(|_| ()).map_err(Error::from)
        });
        if let Err(err) = outcome {
            eprintln!(
                "sea-tenant: test database {} was not dropped: {err}",
                self.name
            );
        }
    }
}

/// A tenant schema created and migrated for a test, dropped with everything in it when the
/// value is dropped (see the [module docs](self#how-dropping-works)).
pub struct TemporaryTenant {
    name: TenantName,
    db: DatabaseConnection,
    options: PgConnectOptions,
}

impl std::fmt::Debug for TemporaryTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryTenant")
            .field("name", &self.name)
            .finish()
    }
}

impl TemporaryTenant {
    /// Creates the schema `name` on `db` and applies every migration of `M`
    /// ([`migrate_tenant`](crate::migrate_tenant)). Fails with [`Error::SchemaExists`] if the
    /// schema exists: a schema the test did not create is never dropped by it.
    pub async fn create<M: MigratorTrait>(
        db: &DatabaseConnection,
        name: &TenantName,
    ) -> Result<TemporaryTenant> {
        let DatabaseConnectionType::SqlxPostgresPoolConnection(_) = &db.inner else {
            return Err(ConnectError::NotPostgres.into());
        };
        if provision::schema_exists(db, name).await? {
            return Err(Error::SchemaExists {
                tenant: name.clone(),
            });
        }
        let tenant = TemporaryTenant {
            name: name.clone(),
            db: db.clone(),
            options: (*db.get_postgres_connection_pool().connect_options()).clone(),
        };
        // A failed migration leaves the ones before it applied: `tenant`'s drop removes them.
        crate::migrate_tenant::<M>(db, name).await?;
        Ok(tenant)
    }

    /// The tenant.
    pub fn name(&self) -> &TenantName {
        &self.name
    }

    /// A scope in the tenant's schema on the pool it was created with.
    pub fn scope(&self) -> TenantScope {
        self.db.tenant(&self.name)
    }
}

impl Drop for TemporaryTenant {
    fn drop(&mut self) {
        let name = self.name.clone();
        let options = self.options.clone().options([("lock_timeout", "2s")]);
        let outcome = on_own_thread(async move {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .map_err(|e| Error::Connect(ConnectError::Failed(e.into())))?;
            let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
            let dropped = drop_tenant(&db, &name).await;
            db.close().await.ok();
            dropped
        });
        if let Err(err) = outcome {
            eprintln!(
                "sea-tenant: temporary tenant {} was not dropped: {err}",
                self.name
            );
        }
    }
}

/// Drops `tenant`; if sessions of the test keep it locked past `lock_timeout` (a scope's
/// rollback waiting in a background task of the runtime this drop blocks), ends them and
/// tries once more.
async fn drop_tenant(db: &DatabaseConnection, tenant: &TenantName) -> Result<()> {
    match provision::drop_tenant_on(db, tenant).await {
        Err(Error::Tenant { source, .. })
            if tenant_sql::sqlstate(&source).as_deref() == Some(tenant_sql::LOCK_NOT_AVAILABLE) =>
        {
            db.execute_unprepared(&tenant_sql::end_sessions_using(tenant))
                .await?;
            provision::drop_tenant_on(db, tenant).await
        }
        outcome => outcome,
    }
}

/// Runs `work` to its end on a new thread with a runtime of its own, blocking this one.
fn on_own_thread<F>(work: F) -> Result<()>
where
    F: Future<Output = Result<()>> + Send + 'static,
{
    let joined = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Db(sea_orm::DbErr::Custom(format!("a runtime to drop on: {e}"))))?;
        runtime.block_on(work)
    })
    .join();
    joined.unwrap_or_else(|_| {
        Err(Error::Db(sea_orm::DbErr::Custom(
            "the thread that drops panicked".to_owned(),
        )))
    })
}

/// A database name unique across processes and calls, `st_<label>_<process>_<counter>_<clock>`,
/// at most 63 bytes (PostgreSQL's limit), for a database made another way than
/// [`TestDatabase`] (on several servers at once, say).
pub fn unique_name(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let suffix = format!(
        "_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 100_000
    );
    let label: String = label
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .take(63 - "st_".len() - suffix.len())
        .collect();
    format!("st_{label}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_unique_and_short() {
        let a = unique_name("Scope-Ä x");
        let b = unique_name("Scope-Ä x");
        assert_ne!(a, b);
        assert!(a.starts_with("st_scope___x_"), "{a}");
        let long = unique_name(&"x".repeat(100));
        assert!(long.len() <= 63, "{long}");
        assert!(
            long.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
    }

    #[test]
    fn url_keeps_credentials_host_and_parameters() {
        assert_eq!(
            url_with_database("postgres://u:p@h:1/db", "n"),
            "postgres://u:p@h:1/n"
        );
        assert_eq!(url_with_database("postgres://h", "n"), "postgres://h/n");
        assert_eq!(
            url_with_database("postgres://h/db?a=1&b=2", "n"),
            "postgres://h/n?a=1&b=2"
        );
    }
}
