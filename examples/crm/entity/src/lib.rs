//! The CRM example's entities, as `sea-orm-cli generate entity` lays them out: one module per
//! table. `organization` lives in `public` and owns a tenant schema; `stage` and `contact` are
//! tenant tables, one copy per organization.

pub mod contact;
pub mod organization;
pub mod stage;

pub mod prelude {
    pub use super::contact::Entity as Contact;
    pub use super::organization::Entity as Organization;
    pub use super::stage::Entity as Stage;
}
