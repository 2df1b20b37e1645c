//! PostgreSQL schema-per-tenant multitenancy for SeaORM 2.
#![warn(missing_docs)]

mod catalog;
pub mod cli;
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
