#[sea_tenant_macros::tenant(template = "org_<id>")]
pub struct Model {
    pub id: i32,
}

fn main() {}
