//! The scripted demo the README's quick start runs: organizations own tenants, each tenant's
//! data stays in its schema, a rename moves the schema with the row, and the tenant migrator
//! reports on every tenant.

use std::io::Write;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, Set,
};
use sea_orm_migration::MigratorTrait;
use sea_tenant::{TenantConnectionExt, TenantMigrator, TenantName, owner};

use crate::entity::{organization, project, task, user};

/// The demo's result type.
pub type DemoResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const DATABASE: &str = "sea_tenant_example";

/// Runs the demo on a fresh database `sea_tenant_example` of the server at `server_url`,
/// printing to stdout. The database is left in place to explore.
pub async fn run(server_url: &str) -> DemoResult {
    let db = fresh_database(server_url).await?;
    let mut out = std::io::stdout().lock();
    run_on(&db, &mut out).await?;
    db.close().await?;
    writeln!(
        out,
        "\ndone: database {DATABASE} is left in place (psql -d {DATABASE}; `saas serve` serves it)"
    )?;
    Ok(())
}

/// The demo's steps on an empty database.
pub async fn run_on(db: &DatabaseConnection, out: &mut dyn Write) -> DemoResult {
    step(out, "1. public migrations (plain sea-orm-migration)")?;
    migration::Migrator::up(db, None).await?;
    let mut users = Vec::new();
    for (email, name) in [("alice@example.com", "Alice"), ("bob@example.com", "Bob")] {
        let u = user::ActiveModel {
            email: Set(email.to_owned()),
            name: Set(name.to_owned()),
            ..Default::default()
        }
        .insert(db)
        .await?;
        writeln!(out, "   public.user {} ({})", u.name, u.email)?;
        users.push(u);
    }

    step(
        out,
        "2. organizations: each insert creates and migrates its tenant schema",
    )?;
    let mut orgs = Vec::new();
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
        .insert(db)
        .await?;
        let tenant = org.tenant_name()?;
        let tables = tenant_tables(db, &tenant).await?;
        writeln!(
            out,
            "   {:<10} -> schema {:<14} tables: {}",
            org.name,
            tenant.quoted(),
            tables.join(", ")
        )?;
        orgs.push(org);
    }

    step(out, "3. per-tenant data through tenant scopes")?;
    for (i, org) in orgs.iter().enumerate() {
        let t = db.tenant(&org.tenant_name()?);
        let p = project::ActiveModel {
            name: Set(format!("{} roadmap", org.name)),
            ..Default::default()
        }
        .insert(&t)
        .await?;
        for n in 0..=i {
            task::ActiveModel {
                project_id: Set(p.id),
                title: Set(format!("{} task {}", org.slug, n + 1)),
                done: Set(false),
                assignee_id: Set(Some(users[n % users.len()].id)),
                ..Default::default()
            }
            .insert(&t)
            .await?;
        }
        writeln!(
            out,
            "   {}: project {:?} with {} task(s)",
            org.slug,
            p.name,
            i + 1
        )?;
    }

    step(
        out,
        "4. isolation: the same queries, three tenants, three answers",
    )?;
    for org in &orgs {
        let t = db.tenant(&org.tenant_name()?);
        let projects: Vec<String> = project::Entity::find()
            .all(&t)
            .await?
            .into_iter()
            .map(|p| p.name)
            .collect();
        let tasks = task::Entity::find()
            .find_also_related(user::Entity)
            .all(&t)
            .await?;
        let assignees: Vec<String> = tasks
            .iter()
            .map(|(task, u)| {
                format!(
                    "{} -> {}",
                    task.title,
                    u.as_ref().map_or("-", |u| u.name.as_str())
                )
            })
            .collect();
        writeln!(
            out,
            "   {:<8} projects {:?}; tasks [{}]",
            org.slug,
            projects,
            assignees.join("; ")
        )?;
    }
    let missing = db.tenant(&orgs[0].tenant_name()?);
    let err = missing
        .execute_unprepared("SELECT * FROM organization")
        .await
        .err()
        .map(|e| sea_tenant::DbError(&e).to_string())
        .unwrap_or_default();
    writeln!(
        out,
        "   a public table is not reachable unqualified from a tenant: {err}"
    )?;

    step(
        out,
        "5. rename: changing the slug renames the schema with the row",
    )?;
    let globex = orgs.remove(1);
    let mut active: organization::ActiveModel = globex.into();
    active.slug = Set("globex_corp".to_owned());
    let renamed = active.update(db).await?;
    let t = db.tenant(&renamed.tenant_name()?);
    let kept = task::Entity::find().count(&t).await?;
    writeln!(
        out,
        "   org_globex -> {} (its {} task(s) moved with it); org_globex exists: {}",
        renamed.tenant_name()?.quoted(),
        kept,
        schema_exists(db, "org_globex").await?
    )?;
    orgs.push(renamed);

    step(out, "6. bad input never reaches SQL")?;
    let hostile = r#"x"; DROP SCHEMA public CASCADE; --"#;
    let err = organization::ActiveModel {
        slug: Set(hostile.to_owned()),
        name: Set("Mallory".to_owned()),
        ..Default::default()
    }
    .insert(db)
    .await
    .err()
    .ok_or("the hostile slug was accepted")?;
    let typed = owner::tenant_error(&err).map_or_else(|| err.to_string(), ToString::to_string);
    let count = organization::Entity::find()
        .filter(organization::Column::Name.eq("Mallory"))
        .count(db)
        .await?;
    writeln!(
        out,
        "   rejected: {typed}\n   rows for it: {count}; public intact: {}",
        schema_exists(db, "public").await?
    )?;

    step(
        out,
        "7. tenant migrations across all tenants (nothing pending after provisioning)",
    )?;
    let migrator = TenantMigrator::new(
        db.clone(),
        tenant_migration::Migrator,
        owner::tenant_source::<organization::Entity>(),
    );
    let report = migrator.up(None).await?;
    writeln!(out, "{}", indent(&report.to_string()))?;

    step(out, "8. status")?;
    let status = migrator.status().await?;
    writeln!(out, "{}", indent(&status.to_string()))?;
    if !report.is_success() || !status.is_success() {
        return Err("some tenants are not healthy".into());
    }
    Ok(())
}

async fn tenant_tables(db: &DatabaseConnection, tenant: &TenantName) -> DemoResult<Vec<String>> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
            [tenant.as_str().into()],
        ))
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get_by_index::<String>(0).ok())
        .collect())
}

async fn schema_exists(db: &DatabaseConnection, schema: &str) -> DemoResult<bool> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            [schema.into()],
        ))
        .await?
        .ok_or("no row")?;
    Ok(row.try_get_by_index(0)?)
}

fn step(out: &mut dyn Write, title: &str) -> std::io::Result<()> {
    writeln!(out, "\n== {title}")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("   {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The demo database's URL on the server at `server_url`.
pub fn database_url(server_url: &str) -> String {
    let (base, query) = server_url
        .split_once('?')
        .map_or((server_url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = base[after_scheme..]
        .find('/')
        .map_or(base, |slash| &base[..after_scheme + slash]);
    match query {
        Some(q) => format!("{base}/{DATABASE}?{q}"),
        None => format!("{base}/{DATABASE}"),
    }
}

/// Drops and recreates the demo's own database, so the demo can be rerun.
async fn fresh_database(server_url: &str) -> DemoResult<DatabaseConnection> {
    let admin = connect(server_url).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {DATABASE}"))
        .await?;
    admin.close().await?;
    connect(&database_url(server_url)).await
}

async fn connect(url: &str) -> DemoResult<DatabaseConnection> {
    let mut options = sea_orm::ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false);
    Ok(Database::connect(options).await?)
}
