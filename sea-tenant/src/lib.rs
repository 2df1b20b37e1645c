//! PostgreSQL schema-per-tenant multitenancy for SeaORM 2.
//!
//! Each tenant lives in a PostgreSQL schema of its own. sea-tenant gives a SeaORM application:
//!
//! - [`TenantName`]: a validated, always-quoted schema name; user data never reaches SQL
//!   unchecked.
//! - [`TenantMigrator`]: your sea-orm-migration set, run in every tenant schema listed by an
//!   [`AllTenants`] callback: one transaction per migration with a transaction-local
//!   `search_path`, a per-tenant advisory lock, bounded concurrency and a per-tenant
//!   [`Report`].
//! - [`cli`]: the `sea-orm-cli migrate`-style command line for a `tenant_migration` crate.
//! - [`codegen`]: migrations generated from the application's entities, public and tenant
//!   ones into their own crates, with a `--check` for CI.
//!
//! ```
//! use sea_orm::{ConnectionTrait, Database};
//! use sea_orm_migration::prelude::*;
//! use sea_tenant::{Outcome, TenantMigrator, tenants};
//!
//! /// A tenant migration set with one migration.
//! struct Migrator;
//! impl MigratorTrait for Migrator {
//!     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
//!         vec![Box::new(CreatePost)]
//!     }
//! }
//!
//! #[derive(DeriveMigrationName)]
//! struct CreatePost;
//! #[async_trait::async_trait]
//! impl MigrationTrait for CreatePost {
//!     async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
//!         // Unqualified: created in whichever tenant schema is being migrated.
//!         manager
//!             .create_table(
//!                 Table::create()
//!                     .table("post")
//!                     .col(ColumnDef::new("id").integer().not_null().primary_key())
//!                     .to_owned(),
//!             )
//!             .await
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let url = std::env::var("DATABASE_URL")
//!     .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
//! let db = Database::connect(&url).await?;
//! let suffix = std::process::id();
//! let names = vec![format!("doc_a_{suffix}"), format!("doc_b_{suffix}")];
//!
//! let migrator = TenantMigrator::new(db.clone(), Migrator, tenants::fixed(names.clone()))
//!     .create_missing(true);
//! let report = migrator.up(None).await?;
//! assert!(report.is_success(), "{report}");
//! assert_eq!(report.applied_count(), 2);
//!
//! // A second deploy has nothing to do.
//! let again = migrator.up(None).await?;
//! assert!(matches!(again.tenants[0].outcome, Outcome::UpToDate));
//! # for name in names {
//! #     db.execute_unprepared(&format!("DROP SCHEMA \"{name}\" CASCADE")).await?;
//! # }
//! # Ok(())
//! # }
//! ```
//!
//! The example application in `examples/saas` shows the whole picture: public and tenant
//! migration crates, organizations that own tenants, and the deploy commands.
#![warn(missing_docs)]

mod catalog;
pub mod cli;
pub mod codegen;
mod error;
pub mod generate;
mod migrator;
mod name;
mod progress;
mod report;
pub mod tenants;
mod version_table;

pub use error::{Error, Result};
pub use migrator::{DEFAULT_CONCURRENCY, DEFAULT_RECYCLE_AFTER, TenantMigrator, ensure_tenant};
pub use name::{MAX_NAME_BYTES, NameError, TenantName};
pub use progress::Progress;
pub use report::{MigrationState, Operation, Outcome, Report, TenantReport};
pub use tenants::AllTenants;
pub use version_table::DEFAULT_VERSION_TABLE;
