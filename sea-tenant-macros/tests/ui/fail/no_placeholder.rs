#[sea_tenant_macros::tenant(template = "org_all", migrator = Migrations)]
pub struct Model {
    pub id: i32,
}

fn main() {}
