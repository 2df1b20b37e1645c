//! PostgreSQL schema-per-tenant multitenancy for SeaORM 2.
#![warn(missing_docs)]

mod error;
mod name;
mod version_table;

pub use error::{Error, Result};
pub use name::{MAX_NAME_BYTES, NameError, TenantName};
pub use version_table::DEFAULT_VERSION_TABLE;
