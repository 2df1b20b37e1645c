//! The example SaaS application: organizations (public) own tenant schemas `org_<slug>`
//! holding their projects and tasks.
//!
//! - [`entity`]: SeaORM entities; `organization` is a sea-tenant owner entity.
//! - [`api`]: a small HTTP API; the tenant comes from the `X-Tenant` header.
//! - [`demo`]: the scripted walk-through the README's quick start runs.

pub mod api;
pub mod demo;
pub mod entity;
