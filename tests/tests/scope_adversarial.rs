//! The scope against an adversary (issue: close every cross-tenant path): temporary tables,
//! session settings, `;`-joined text with transaction control, prepared statements across
//! tenants of different shapes, and cancellation, on a pool of one connection so that reuse is
//! certain, directly and through PgBouncer in transaction mode.

use sea_orm::DatabaseConnection;
use sea_tenant_tests::TestDb;
use sea_tenant_tests::adversary::{
    cancellation_suite, create_world, multi_statement_suite, path_spellings_suite,
    prepared_shapes_suite, session_state_suite, temp_tables_suite, transaction_scope_suite,
};

/// A test database with the adversary's world, and a pool of one connection on it.
async fn direct(label: &str) -> (TestDb, DatabaseConnection) {
    let test = TestDb::new(label).await;
    create_world(&test.db).await;
    let one = test.pool(1).await;
    (test, one)
}

/// The same, with the pool of one going through PgBouncer (transaction pooling). With one
/// client connection PgBouncer needs only one server connection, so it is reused too.
async fn bounced(label: &str) -> (TestDb, DatabaseConnection) {
    let test = TestDb::new(label).await;
    create_world(&test.db).await;
    let one = test.pool_through_pgbouncer(1).await;
    (test, one)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temp_tables_never_shadow_another_tenant() {
    let (_test, one) = direct("adv_temp").await;
    temp_tables_suite(&one, true).await;
    temp_tables_suite(&one, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_state_never_outlives_a_scope() {
    let (_test, one) = direct("adv_session").await;
    session_state_suite(&one, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_statement_text_never_escapes_the_tenant() {
    let (test, one) = direct("adv_multi").await;
    multi_statement_suite(&test.db, &one, true).await;
    multi_statement_suite(&test.db, &one, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_survive_tenants_of_other_shapes() {
    let (_test, one) = direct("adv_shapes").await;
    prepared_shapes_suite(&one, true).await;
    prepared_shapes_suite(&one, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_at_any_await_leaves_nothing() {
    let (test, one) = direct("adv_cancel").await;
    cancellation_suite(&test.db, &one, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_pgbouncer_temp_tables_never_shadow_another_tenant() {
    let (_test, one) = bounced("adv_pgb_temp").await;
    temp_tables_suite(&one, false).await;
    one.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_pgbouncer_session_state_never_outlives_a_scope() {
    let (_test, one) = bounced("adv_pgb_session").await;
    session_state_suite(&one, false).await;
    one.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_pgbouncer_multi_statement_text_never_escapes_the_tenant() {
    let (test, one) = bounced("adv_pgb_multi").await;
    multi_statement_suite(&test.db, &one, false).await;
    one.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_pgbouncer_prepared_statements_survive_tenants_of_other_shapes() {
    let (_test, one) = bounced("adv_pgb_shapes").await;
    prepared_shapes_suite(&one, false).await;
    one.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_a_path_change_passes_the_scope() {
    let (test, one) = direct("adv_spell").await;
    path_spellings_suite(&test.db, &one, true).await;
    path_spellings_suite(&test.db, &one, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_pgbouncer_no_spelling_of_a_path_change_passes_the_scope() {
    let (test, one) = bounced("adv_spell_pgb").await;
    path_spellings_suite(&test.db, &one, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_scope_leaves_nothing_on_the_session() {
    let (_test, one) = direct("adv_txscope").await;
    transaction_scope_suite(&one).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_pgbouncer_a_transaction_scope_leaves_nothing_on_the_session() {
    let (_test, one) = bounced("adv_txscope_pgb").await;
    transaction_scope_suite(&one).await;
}
