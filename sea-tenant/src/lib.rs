//! PostgreSQL schema-per-tenant multitenancy for SeaORM 2.
#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod error;
mod name;
pub mod scope;
mod version_table;

pub use error::{Error, Result};
pub use name::{MAX_NAME_BYTES, NameError, TenantName};
pub use scope::{TenantConnectionExt, TenantScope, TenantStream, TenantTransaction};
pub use version_table::DEFAULT_VERSION_TABLE;
