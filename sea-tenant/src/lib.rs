//! PostgreSQL schema-per-tenant multitenancy for SeaORM 2.
#![warn(missing_docs)]

mod error;
mod name;

pub use error::{Error, Result};
pub use name::{MAX_NAME_BYTES, NameError, TenantName};
