#[sea_tenant_macros::tenant(template = "org_<id>", hooks = generated)]
pub struct Model {
    pub id: i32,
}

fn main() {}
