//! `cargo run -p crm-tenant-migration -- up` (`status`, `down`, … as sea-orm-migration's
//! CLI). The tenants are the organization rows, named by the entity's own template.

use crm_entity::organization;

#[tokio::main]
async fn main() {
    sea_tenant::cli::run_cli(
        crm_tenant_migration::Migrator,
        sea_tenant::owner::tenant_source::<organization::Entity>(),
        env!("CARGO_MANIFEST_DIR"),
    )
    .await
}
