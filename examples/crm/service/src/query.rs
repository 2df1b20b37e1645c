use crm_entity::{contact, organization, stage};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::ServiceError;

/// Reads.
pub struct Query;

impl Query {
    /// The organization with this slug (public table).
    pub async fn organization_by_slug<C: ConnectionTrait>(
        db: &C,
        slug: &str,
    ) -> Result<organization::Model, ServiceError> {
        organization::Entity::find()
            .filter(organization::Column::Slug.eq(slug))
            .one(db)
            .await?
            .ok_or_else(|| ServiceError::UnknownOrganization(slug.to_owned()))
    }

    /// The tenant's pipeline, in order.
    pub async fn stages<C: ConnectionTrait>(db: &C) -> Result<Vec<stage::Model>, ServiceError> {
        Ok(stage::Entity::find()
            .order_by_asc(stage::Column::Position)
            .all(db)
            .await?)
    }

    /// The tenant's contacts, oldest first.
    pub async fn contacts<C: ConnectionTrait>(db: &C) -> Result<Vec<contact::Model>, ServiceError> {
        Ok(contact::Entity::find()
            .order_by_asc(contact::Column::Id)
            .all(db)
            .await?)
    }
}
