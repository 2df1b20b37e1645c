//! Compiles only: uses sea-tenant's scope next to a SQLite connection.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};
use sea_tenant::{TenantConnectionExt, TenantName};

/// Counts a tenant's rows on PostgreSQL and the same table's rows on SQLite.
pub async fn count_both(
    pg: &DatabaseConnection,
    sqlite: &DatabaseConnection,
) -> Result<usize, DbErr> {
    let tenant = TenantName::new("org_1").map_err(|e| DbErr::Custom(e.to_string()))?;
    let scoped = pg
        .tenant(&tenant)
        .query_all_raw(Statement::from_string(
            pg.get_database_backend(),
            "SELECT 1 FROM item",
        ))
        .await?;
    let local = sqlite
        .query_all_raw(Statement::from_string(
            sqlite.get_database_backend(),
            "SELECT 1 FROM item",
        ))
        .await?;
    Ok(scoped.len() + local.len())
}
