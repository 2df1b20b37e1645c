#[sea_tenant_macros::tenant(template = "org_<id>", migrator = Migrations, cascade = true)]
pub struct Model {
    pub id: i32,
}

fn main() {}
