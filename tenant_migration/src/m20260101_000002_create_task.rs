use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `task` → `project` stays inside the tenant (unqualified); `task` → `user` crosses into
/// the public schema (qualified).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("task")
                    .col(
                        ColumnDef::new("id")
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("project_id").integer().not_null())
                    .col(ColumnDef::new("title").text().not_null())
                    .col(ColumnDef::new("done").boolean().not_null().default(false))
                    .col(ColumnDef::new("assignee_id").integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("task_project_fk")
                            .from("task", "project_id")
                            .to("project", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("task_assignee_fk")
                            .from("task", "assignee_id")
                            .to(("public", "user"), "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("task_project_idx")
                    .table("task")
                    .col("project_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("task").to_owned())
            .await
    }
}
