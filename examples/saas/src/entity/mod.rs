//! The example's entities. `user` and `organization` live in public (`schema_name =
//! "public"`); `project` and `task` live in every tenant schema and carry no schema name, so
//! a tenant scope decides where they are read.

pub mod invoice;
pub mod invoice_line;
pub mod organization;
pub mod project;
pub mod task;
pub mod user;
