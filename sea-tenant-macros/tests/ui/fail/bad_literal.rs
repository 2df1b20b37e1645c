#[sea_tenant_macros::tenant(template = "Org-<id>", migrator = Migrations)]
pub struct Model {
    pub id: i32,
}

fn main() {}
