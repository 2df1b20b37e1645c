#[sea_tenant_macros::tenant(template = "org_<nope>", migrator = Migrations)]
pub struct Model {
    pub id: i32,
    pub name: String,
}

fn main() {}
