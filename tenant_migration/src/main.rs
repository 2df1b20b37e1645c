#[tokio::main]
async fn main() {
    sea_tenant::cli::run_cli(
        tenant_migration::Migrator,
        tenant_migration::all_tenants(),
        env!("CARGO_MANIFEST_DIR"),
    )
    .await
}
