//! trybuild cases of `#[tenant]` and `#[sea_tenant::hooks]`: `fail/` must not compile, with
//! the error its `.stderr` holds; `pass/` must compile and run.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
