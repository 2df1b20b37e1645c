//! Where the list of tenants comes from: the `all_tenants` callback.
//!
//! AshPostgres asks the application's `Repo.all_tenants/0`; sea-tenant asks an [`AllTenants`]
//! value. It returns raw strings: the migrator validates each one and reports the invalid
//! ones as failed tenants instead of touching the database for them.

use async_trait::async_trait;
use std::future::Future;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use crate::{Error, Result, TenantName, tenant_sql};

/// The source of tenant schema names for a [`TenantMigrator`](crate::TenantMigrator).
///
/// Ready-made sources: [`from_query`], [`fixed`], and [`from_fn`] for your own async code;
/// owner entities provide one too.
#[async_trait]
pub trait AllTenants: Send + Sync {
    /// Every tenant schema name the application knows of.
    async fn all_tenants(&self, db: &DatabaseConnection) -> Result<Vec<String>, DbErr>;

    /// The listing row by row, as the migrator reads it: a name, or why a row is not one
    /// (say a NULL). A bad row becomes one failed entry of the report instead of failing the
    /// whole listing. By default every name of [`AllTenants::all_tenants`].
    async fn tenant_rows(&self, db: &DatabaseConnection) -> Result<Vec<TenantRow>, DbErr> {
        Ok(self
            .all_tenants(db)
            .await?
            .into_iter()
            .map(TenantRow::Name)
            .collect())
    }
}

/// One row of a tenant listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRow {
    /// A value to use as the schema name (still to be validated).
    Name(String),
    /// A row that holds no name: why.
    Bad(String),
}

/// Tenants from an async function of the pool (a cheap clone of it).
///
/// ```
/// use sea_orm::{DatabaseConnection, DbErr};
/// use sea_tenant::{AllTenants, tenants};
///
/// fn source() -> impl AllTenants {
///     tenants::from_fn(|db: DatabaseConnection| async move {
///         let _ = db; // e.g. read them from your own table
///         Ok::<_, DbErr>(vec!["org_1".to_owned(), "org_2".to_owned()])
///     })
/// }
/// ```
pub fn from_fn<F, Fut>(f: F) -> impl AllTenants
where
    F: Fn(DatabaseConnection) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Vec<String>, DbErr>> + Send,
{
    FromFn(f)
}

struct FromFn<F>(F);

#[async_trait]
impl<F, Fut> AllTenants for FromFn<F>
where
    F: Fn(DatabaseConnection) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Vec<String>, DbErr>> + Send,
{
    async fn all_tenants(&self, db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
        (self.0)(db.clone()).await
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

    async fn tenant_rows(&self, db: &DatabaseConnection) -> Result<Vec<TenantRow>, DbErr> {
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), &self.0))
            .await?;
        Ok(rows
            .iter()
            .map(|row| match row.try_get_by_index::<Option<String>>(0) {
                Ok(Some(name)) => TenantRow::Name(name),
                Ok(None) => TenantRow::Bad("NULL instead of a schema name".to_owned()),
                Err(e) => TenantRow::Bad(format!("not a schema name: {e}")),
            })
            .collect())
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

/// Whether the schema `tenant` exists (as seen by `db`'s transaction, if any).
///
/// ```no_run
/// use sea_tenant::{TenantName, provision};
///
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// let exists = provision::schema_exists(db, &TenantName::new("org_7")?).await?;
/// # Ok(()) }
/// ```
pub async fn schema_exists<C: ConnectionTrait>(db: &C, tenant: &TenantName) -> Result<bool> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {}", tenant_sql::schema_exists("$1")),
            [tenant.as_str().into()],
        ))
        .await
        .map_err(Error::tenant_db(tenant))?;
    match row {
        Some(row) => Ok(row
            .try_get_by_index::<bool>(0)
            .map_err(Error::tenant_db(tenant))?),
        None => Ok(false),
    }
}
