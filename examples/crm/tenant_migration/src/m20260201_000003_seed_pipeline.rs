use crm_entity::{contact, stage};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ActiveModelTrait, EntityTrait, Set};

/// Every organization starts with a three-step pipeline and a sample contact in its first
/// step. The rows go in through the entities, and the contact uses the id the database gave
/// the stage (`INSERT … RETURNING`): this migration reads.
#[derive(DeriveMigrationName)]
pub struct Migration;

const STAGES: [&str; 3] = ["Lead", "Qualified", "Customer"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let mut first = None;
        for (position, name) in (1..).zip(STAGES) {
            let inserted = stage::ActiveModel {
                name: Set(name.to_owned()),
                position: Set(position),
                ..Default::default()
            }
            .insert(db)
            .await?;
            first.get_or_insert(inserted.id);
        }
        let Some(lead) = first else {
            return Ok(());
        };
        contact::ActiveModel {
            name: Set("Sample Contact".to_owned()),
            email: Set("sample@example.com".to_owned()),
            stage_id: Set(lead),
            ..Default::default()
        }
        .insert(db)
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        contact::Entity::delete_many().exec(db).await?;
        stage::Entity::delete_many().exec(db).await?;
        Ok(())
    }
}
