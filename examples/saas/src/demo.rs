//! The scripted demo the README's quick start runs.

use sea_orm::{ActiveModelTrait, ConnectionTrait, Database, DatabaseConnection, Set};
use sea_orm_migration::MigratorTrait;
use sea_tenant::{TenantMigrator, TenantName};

use crate::entity::organization;

pub type DemoResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const DATABASE: &str = "sea_tenant_example";

pub async fn run(server_url: &str) -> DemoResult {
    let db = fresh_database(server_url).await?;

    step("1. public migrations (plain sea-orm-migration)");
    migration::Migrator::up(&db, None).await?;
    println!("   public tables: organization, user");

    step("2. three organizations, each with its tenant schema");
    for (slug, name) in [
        ("acme", "Acme Corp"),
        ("globex", "Globex"),
        ("initech", "Initech"),
    ] {
        let org = organization::ActiveModel {
            slug: Set(slug.to_owned()),
            name: Set(name.to_owned()),
            ..Default::default()
        }
        .insert(&db)
        .await?;
        let tenant = TenantName::new(format!("org_{}", org.slug))?;
        sea_tenant::ensure_tenant::<tenant_migration::Migrator>(&db, &tenant).await?;
        println!(
            "   organization {:<8} -> schema {}",
            org.slug,
            tenant.quoted()
        );
    }

    step("3. tenant migrations across all tenants");
    let migrator = TenantMigrator::new(
        db.clone(),
        tenant_migration::Migrator,
        tenant_migration::all_tenants(),
    );
    let report = migrator.up(None).await?;
    println!("{}", indent(&report.to_string()));

    step("4. status");
    let status = migrator.status().await?;
    println!("{}", indent(&status.to_string()));
    if !status.is_success() {
        return Err("some tenants are not healthy".into());
    }
    db.close().await?;
    println!(
        "\ndone: database {DATABASE} is left in place for you to explore (psql -d {DATABASE})"
    );
    Ok(())
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Drops and recreates the demo's own database, so the demo can be rerun.
async fn fresh_database(server_url: &str) -> DemoResult<DatabaseConnection> {
    let admin = Database::connect(server_url).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {DATABASE}"))
        .await?;
    admin.close().await?;
    Ok(Database::connect(with_database(server_url, DATABASE)).await?)
}

fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = base[after_scheme..]
        .find('/')
        .map_or(base, |slash| &base[..after_scheme + slash]);
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}
