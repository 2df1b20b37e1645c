use crm_entity::{contact, organization, stage};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryOrder, Set, TransactionTrait,
};
use sea_tenant::TenantConnectionExt;
use serde::Deserialize;

use crate::{Query, ServiceError};

/// Writes.
pub struct Mutation;

/// A sign-up: the organization and its first contact.
#[derive(Debug, Clone, Deserialize)]
pub struct NewOrganization {
    pub slug: String,
    pub name: String,
    pub first_contact: NewContact,
}

/// A contact to add; it starts in the first stage of the pipeline.
#[derive(Debug, Clone, Deserialize)]
pub struct NewContact {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
}

impl Mutation {
    /// Creates the organization and its first contact in one transaction: the owner hook
    /// creates and migrates the tenant schema inside it, and the contact is written through a
    /// tenant scope on the same transaction. A failure leaves neither row nor schema.
    pub async fn create_organization(
        db: &DatabaseConnection,
        form: NewOrganization,
    ) -> Result<organization::Model, ServiceError> {
        let txn = db.begin().await?;
        let org = organization::ActiveModel {
            slug: Set(form.slug),
            name: Set(form.name),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        // A scope on the transaction: the contact goes into the new tenant's schema, in the
        // same transaction as the organization row and the schema the hook created.
        let tenant = txn.tenant(&org.tenant_name()?);
        Self::create_contact(&tenant, form.first_contact).await?;
        txn.commit().await?;
        Ok(org)
    }

    /// Gives the organization a new slug; its tenant schema is renamed with the row.
    pub async fn rename_organization(
        db: &DatabaseConnection,
        slug: &str,
        new_slug: String,
    ) -> Result<organization::Model, ServiceError> {
        let mut org = Query::organization_by_slug(db, slug)
            .await?
            .into_active_model();
        org.slug = Set(new_slug);
        Ok(org.update(db).await?)
    }

    /// Adds a contact to the tenant `db` is scoped to, in the pipeline's first stage.
    pub async fn create_contact<C: ConnectionTrait>(
        db: &C,
        form: NewContact,
    ) -> Result<contact::Model, ServiceError> {
        let first_stage = stage::Entity::find()
            .order_by_asc(stage::Column::Position)
            .one(db)
            .await?
            .ok_or_else(|| {
                ServiceError::Db(sea_orm::DbErr::RecordNotFound(
                    "the tenant has no pipeline stage".to_owned(),
                ))
            })?;
        Ok(contact::ActiveModel {
            name: Set(form.name),
            email: Set(form.email),
            phone: Set(form.phone),
            stage_id: Set(first_stage.id),
            ..Default::default()
        }
        .insert(db)
        .await?)
    }
}
