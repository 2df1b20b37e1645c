//! Compile-fail tests of `#[tenant]`. The cases use nothing but this crate: each error is
//! raised before any code referring to sea-orm or sea-tenant is generated.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
