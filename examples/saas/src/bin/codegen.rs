//! `cargo run -p saas-example --bin codegen -- generate --auto NAME`: migrations from the
//! example's entities (see `sea_tenant::codegen`).

fn main() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // Canonical so that the paths it prints are the ones to open.
    let root = manifest
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| manifest.join("../.."));
    sea_tenant::codegen::run_cli(saas_example::codegen(&root))
}
