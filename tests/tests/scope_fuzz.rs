//! Property test: arbitrary statement texts (`;`, transaction control, comments, dollar quotes,
//! strings that hold `;`, session-level statements) passed through every entry point of a
//! tenant scope never change `public` or another tenant, and never leave state on the pool.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sea_tenant::TenantConnectionExt;
use sea_tenant_tests::TestDb;
use sea_tenant_tests::adversary::{
    A, B, ENTRY_POINTS, create_world, rows, send, session_state, tenant,
};

/// Pieces an adversary joins into one text. None names another schema or calls a function that
/// moves the search path: SQL written to reach other schemas is PostgreSQL privileges' to stop.
const FRAGMENTS: &[&str] = &[
    "SELECT tenant FROM item",
    "COMMIT",
    "ROLLBACK",
    "BEGIN",
    "END",
    "ABORT",
    "START TRANSACTION",
    "SAVEPOINT s",
    "RELEASE SAVEPOINT s",
    "ROLLBACK TO SAVEPOINT s",
    "PREPARE TRANSACTION 'x'",
    "DELETE FROM item",
    "UPDATE item SET tenant = 'x'",
    "INSERT INTO item (id, tenant) VALUES (99, 'z')",
    "SET search_path TO public",
    "RESET ALL",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "SET statement_timeout = 4321",
    "CREATE TEMP TABLE item AS SELECT 1 AS id, 't' AS tenant",
    "LISTEN chan",
    "SELECT pg_advisory_lock(9)",
    "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    "PREPARE p AS SELECT 1",
    "DO $$ BEGIN DELETE FROM item; END $$",
    "DO $body$ BEGIN COMMIT; END $body$",
    "SELECT 'a;COMMIT;b'",
    "SELECT $q$;COMMIT;DELETE FROM item;$q$",
    "SELECT 1 /* ; COMMIT; /* nested */ ; */",
    "SELECT E'\\';COMMIT;--'",
    "-- ; COMMIT\n",
    "/* COMMIT",
    "'",
    "$$",
    "\"",
];

const SEPARATORS: &[&str] = &[";", "; ", ";\n", " ", "\n", ";;"];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(FRAGMENTS),
            prop::sample::select(SEPARATORS),
        ),
        1..6,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .map(|(fragment, sep)| format!("{fragment}{sep}"))
            .collect()
    })
}

#[test]
fn arbitrary_text_never_leaves_the_tenant() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (test, one) = rt.block_on(async {
        let test = TestDb::new("scope_fuzz").await;
        create_world(&test.db).await;
        let one = test.pool(1).await;
        (test, one)
    });
    let others = rt.block_on(rows(&test.db, &[B]));
    let baseline = rt.block_on(session_state(&one));

    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(text(), prop::sample::select(ENTRY_POINTS)),
            |(sql, entry)| {
                for named in [true, false] {
                    let scope = one.tenant(&tenant(A)).with_named_statements(named);
                    let (after, state) = rt.block_on(async {
                        let _ = send(&scope, entry, &sql).await;
                        (rows(&test.db, &[B]).await, session_state(&one).await)
                    });
                    prop_assert_eq!(&after, &others, "{}({:?}) changed public or B", entry, sql);
                    prop_assert_eq!(
                        &state,
                        &baseline,
                        "{}({:?}) left state on the pool",
                        entry,
                        sql
                    );
                }
                Ok(())
            },
        )
        .unwrap_or_else(|failure| panic!("{failure}"));
    rt.block_on(async { one.close().await.ok() });
    drop(test);
}
