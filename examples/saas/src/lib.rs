//! The example SaaS application: organizations (public) own tenant schemas `org_<slug>`
//! holding their projects and tasks.
//!
//! - [`entity`]: SeaORM entities; `organization` is a sea-tenant owner entity.
//! - [`api`]: a small HTTP API; the tenant comes from the `X-Tenant` header.
//! - [`demo`]: the scripted walk-through the README's quick start runs.
//! - [`registry`] / [`codegen`]: the list the migration generator reads.
//!   `cargo run -p saas-example --bin codegen -- generate --auto NAME` writes the migrations
//!   the entities need: public tables into `migration/`, tenant tables into
//!   `tenant_migration/`. `generate --check` fails when an entity change has no migration yet.

pub mod api;
pub mod demo;
pub mod entity;

use std::path::Path;

use sea_tenant::codegen::{Codegen, Registry};

use entity::{invoice, invoice_line, organization, project, task, user};

/// Every entity of the application with its placement.
pub fn registry() -> Registry {
    Registry::new()
        .global::<user::Entity>()
        .global::<organization::Entity>()
        .attribute_tenant::<invoice::Entity>("organization_id")
        .attribute_tenant::<invoice_line::Entity>("organization_id")
        .tenant::<project::Entity>()
        .tenant::<task::Entity>()
}

/// The generator for the workspace at `root`: `root/migration` and
/// `root/tenant_migration`.
pub fn codegen(root: &Path) -> Codegen {
    Codegen::new(
        registry(),
        root.join("migration"),
        root.join("tenant_migration"),
    )
}
