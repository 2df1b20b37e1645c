//! The CRM example's service layer, as in SeaORM's own examples: `Query` reads, `Mutation`
//! writes. Tenant functions take any `ConnectionTrait`: the api hands them the request's
//! tenant scope, tests may hand them a scope or a transaction, and they never name a schema.

mod error;
mod mutation;
mod query;

pub use error::ServiceError;
pub use mutation::{Mutation, NewContact, NewOrganization};
pub use query::Query;
pub use sea_orm;
