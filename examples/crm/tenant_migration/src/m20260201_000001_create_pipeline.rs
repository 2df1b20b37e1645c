use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Stage::Table)
                    .col(
                        ColumnDef::new(Stage::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Stage::Name).text().not_null())
                    .col(ColumnDef::new(Stage::Position).integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Contact::Table)
                    .col(
                        ColumnDef::new(Contact::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Contact::Name).text().not_null())
                    .col(ColumnDef::new(Contact::Email).text().not_null())
                    .col(ColumnDef::new(Contact::StageId).integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Contact::Table, Contact::StageId)
                            .to(Stage::Table, Stage::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Contact::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Stage::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Stage {
    Table,
    Id,
    Name,
    Position,
}

#[derive(DeriveIden)]
enum Contact {
    Table,
    Id,
    Name,
    Email,
    StageId,
}
