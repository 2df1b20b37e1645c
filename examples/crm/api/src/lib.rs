//! The CRM example's axum api. Public routes manage organizations; tenant routes take the
//! tenant from the request's subdomain slug (`acme.crm.localhost` → organization `acme` →
//! schema `org_acme`, by the entity's own template) and pass its scope to the service layer.

mod error;
mod routes;

use axum::Router;
use axum::extract::FromRef;
use crm_entity::organization;
use sea_orm::{Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait;
use sea_tenant::axum::{TenantResolver, TenantSource};

pub use error::ApiError;

/// The state every handler gets: the pool, and the resolver the `Tenant` extractor uses.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub tenants: TenantResolver,
}

impl FromRef<AppState> for TenantResolver {
    fn from_ref(state: &AppState) -> TenantResolver {
        state.tenants.clone()
    }
}

/// What the application does once at start, before serving: the one line sea-tenant needs
/// (which tenant migrations the organization's schemas get), then the public migrations.
pub async fn prepare(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    sea_tenant::owner::register_migrations::<organization::Entity, crm_tenant_migration::Migrator>(
    );
    crm_migration::Migrator::up(db, None).await
}

/// The router; an organization's tenant is the subdomain of `base_domain` named by its slug
/// (`acme.crm.localhost` → `org_acme`, by the entity's template). Fails only on a template the
/// resolver cannot invert, at start-up.
pub fn app(db: DatabaseConnection, base_domain: &str) -> Result<Router, sea_tenant::Error> {
    let tenants = TenantResolver::for_owner::<organization::Entity>(
        db.clone(),
        TenantSource::subdomain(base_domain),
    )?
    .require_owner_row(true);
    Ok(routes::router().with_state(AppState { db, tenants }))
}

/// Connects, prepares and serves until the process is stopped.
pub async fn start() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let domain = std::env::var("CRM_DOMAIN").unwrap_or_else(|_| "crm.localhost".to_owned());
    let db = Database::connect(&url).await?;
    prepare(&db).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
    tracing::info!(%domain, "serving on http://127.0.0.1:8000");
    axum::serve(listener, app(db, &domain)?).await?;
    Ok(())
}
