//! Where the list of tenants comes from: the `all_tenants` callback.
//!
//! AshPostgres asks the application's `Repo.all_tenants/0`; sea-tenant asks an [`AllTenants`]
//! value. It returns raw strings: the migrator validates each one and reports the invalid
//! ones as failed tenants instead of touching the database for them.

use async_trait::async_trait;
use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};

/// The source of tenant schema names for a [`TenantMigrator`](crate::TenantMigrator).
///
/// Implemented for closures `Fn(&DatabaseConnection) -> BoxFuture<Result<Vec<String>, DbErr>>`:
///
/// ```
/// use futures::FutureExt;
/// use sea_orm::{DatabaseConnection, DbErr};
/// use sea_tenant::AllTenants;
///
/// fn source() -> impl AllTenants {
///     |db: &DatabaseConnection| {
///         let db = db.clone();
///         async move {
///             // e.g. read them from your own table
///             let _ = db;
///             Ok::<_, DbErr>(vec!["org_1".to_owned(), "org_2".to_owned()])
///         }
///         .boxed()
///     }
/// }
/// ```
#[async_trait]
pub trait AllTenants: Send + Sync {
    /// Every tenant schema name the application knows of.
    async fn all_tenants(&self, db: &DatabaseConnection) -> Result<Vec<String>, DbErr>;
}

#[async_trait]
impl<F> AllTenants for F
where
    F: for<'a> Fn(&'a DatabaseConnection) -> BoxFuture<'a, Result<Vec<String>, DbErr>>
        + Send
        + Sync,
{
    async fn all_tenants(&self, db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
        self(db).await
    }
}

/// Tenants listed by a SQL query whose first column is the schema name, e.g.
/// `SELECT 'org_' || id FROM organization ORDER BY id`.
pub fn from_query(sql: impl Into<String>) -> impl AllTenants {
    FromQuery(sql.into())
}

struct FromQuery(String);

#[async_trait]
impl AllTenants for FromQuery {
    async fn all_tenants(&self, db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), &self.0))
            .await?;
        rows.iter().map(|row| row.try_get_by_index(0)).collect()
    }
}

/// A fixed list of tenants.
pub fn fixed<I, S>(names: I) -> impl AllTenants
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Fixed(names.into_iter().map(Into::into).collect())
}

struct Fixed(Vec<String>);

#[async_trait]
impl AllTenants for Fixed {
    async fn all_tenants(&self, _db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
        Ok(self.0.clone())
    }
}
