//! An adversary's world for the tenant scope: two tenants whose `item` tables differ in shape
//! (as during a rolling migration), a `public.item`, the session state a pooled connection can
//! keep, and the suites that the direct and the PgBouncer tests both run.
//!
//! Every suite takes the pool under test (one connection, so that reuse is certain) and an
//! admin connection that watches the data from outside.

use std::time::Duration;

use futures::TryStreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, StreamTrait, Value};
use sea_tenant::scope::ScopeError;
use sea_tenant::{TenantConnectionExt, TenantName, TenantScope};

use crate::strings;

/// Tenant A: `item (id int, tenant text)`.
pub const A: &str = "adv_a";
/// Tenant B: `item (id bigint, tenant text, extra int)`, so `SELECT *` has another row type.
pub const B: &str = "adv_b";

/// Statements that leave state on a session when they run (or are sent) outside a scope's
/// control. Each must either be refused or leave nothing once the scope is done.
pub const SESSION_CHANGES: &[&str] = &[
    "SET search_path TO adv_b",
    "SET statement_timeout = 1234",
    "SET work_mem = '7MB'",
    "SET ROLE pg_read_all_settings",
    "SET SESSION AUTHORIZATION pg_read_all_settings",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "CREATE TEMP TABLE leak AS SELECT 1 AS x",
    "PREPARE leak AS SELECT 1",
    "LISTEN leak",
    "SELECT pg_advisory_lock(4242)",
    "DECLARE leak CURSOR WITH HOLD FOR SELECT 1",
    "SELECT set_config('search_path', 'adv_b', false)",
    "SELECT set_config('default_transaction_read_only', 'on', false)",
];

/// Creates the two tenants and `public.item`, three rows each.
pub async fn create_world(admin: &DatabaseConnection) {
    admin
        .execute_unprepared(
            "CREATE TABLE public.item (id int PRIMARY KEY, tenant text NOT NULL); \
             INSERT INTO public.item SELECT g, 'public' FROM generate_series(1, 3) g; \
             CREATE SCHEMA adv_a; \
             CREATE TABLE adv_a.item (id int PRIMARY KEY, tenant text NOT NULL); \
             INSERT INTO adv_a.item SELECT g, 'a' FROM generate_series(1, 3) g; \
             CREATE SCHEMA adv_b; \
             CREATE TABLE adv_b.item (id bigint PRIMARY KEY, tenant text NOT NULL, extra int); \
             INSERT INTO adv_b.item SELECT g, 'b', g FROM generate_series(1, 3) g",
        )
        .await
        .expect("create the adversary's world");
}

/// A tenant of the world.
pub fn tenant(name: &str) -> TenantName {
    TenantName::new(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Every row of `public.item` and of `schemas`' `item` tables, as `schema:id:tenant`.
pub async fn rows(admin: &DatabaseConnection, schemas: &[&str]) -> Vec<String> {
    let mut all = strings(
        admin,
        "SELECT 'public:' || id || ':' || tenant FROM public.item ORDER BY id",
    )
    .await;
    for schema in schemas {
        all.extend(
            strings(
                admin,
                &format!(
                    "SELECT '{schema}:' || id || ':' || tenant FROM {schema}.item ORDER BY id"
                ),
            )
            .await,
        );
    }
    all
}

/// Everything a session can keep between borrowers, read through `db` without a scope: on a
/// pool of one connection, that is the connection the scopes used.
pub async fn session_state(db: &DatabaseConnection) -> String {
    let probe = "SELECT concat_ws(' | ', \
        'search_path=' || current_setting('search_path'), \
        'read_only=' || current_setting('transaction_read_only'), \
        'default_read_only=' || current_setting('default_transaction_read_only'), \
        'user=' || current_user, 'session_user=' || session_user, \
        'statement_timeout=' || current_setting('statement_timeout'), \
        'work_mem=' || current_setting('work_mem'), \
        'prepared=' || (SELECT count(*) FROM pg_prepared_statements WHERE from_sql), \
        'cursors=' || (SELECT count(*) FROM pg_cursors WHERE name <> ''), \
        'listening=' || (SELECT count(*) FROM pg_listening_channels()), \
        'advisory=' || (SELECT count(*) FROM pg_locks \
                        WHERE locktype = 'advisory' AND pid = pg_backend_pid()), \
        'temp_tables=' || (SELECT count(*) FROM pg_class \
                           WHERE relnamespace = pg_my_temp_schema()))";
    strings(db, probe).await.remove(0)
}

/// The `tenant` column of `sql` through `conn`, sorted.
async fn tenants_of(conn: &impl ConnectionTrait, sql: &str) -> Vec<String> {
    let mut got = strings(conn, sql).await;
    got.sort();
    got.dedup();
    got
}

/// Item 1: temporary tables made through one tenant's scope (or outside any scope) never
/// shadow another tenant's tables.
pub async fn temp_tables_suite(db: &DatabaseConnection, named: bool) {
    let a = db.tenant(&tenant(A)).with_named_statements(named);
    let b = db.tenant(&tenant(B)).with_named_statements(named);
    let baseline = session_state(db).await;

    a.execute_unprepared("CREATE TEMP TABLE item AS SELECT * FROM item")
        .await
        .expect("temp table through the scope");
    assert_eq!(
        session_state(db).await,
        baseline,
        "temp table outlived the scope"
    );
    let txn = a.begin().await.expect("begin");
    txn.execute_unprepared("CREATE TEMP TABLE item AS SELECT * FROM item")
        .await
        .expect("temp table in a transaction");
    txn.commit().await.expect("commit");
    assert_eq!(
        session_state(db).await,
        baseline,
        "temp table outlived the transaction"
    );
    check_b_reads_b(&b).await;

    // A temporary table made outside any scope does not shadow the tenant's table either.
    db.execute_unprepared("CREATE TEMP TABLE item AS SELECT 0 AS id, 'temp' AS tenant")
        .await
        .expect("unscoped temp table");
    check_b_reads_b(&b).await;
    db.execute_unprepared("DROP TABLE IF EXISTS pg_temp.item")
        .await
        .expect("drop the unscoped temp table");
}

async fn check_b_reads_b(b: &TenantScope) {
    assert_eq!(
        tenants_of(b, "SELECT tenant FROM item").await,
        ["b"],
        "one message"
    );
    let by_value = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT tenant FROM item WHERE $1 > 0.0",
        [Value::Double(Some(1.5))],
    );
    let rows = b.query_all_raw(by_value).await.expect("prepared select");
    let got: Vec<String> = rows
        .iter()
        .map(|r| r.try_get_by_index(0).expect("text"))
        .collect();
    assert!(
        got.iter().all(|t| t == "b") && !got.is_empty(),
        "prepared: {got:?}"
    );
    let txn = b.begin().await.expect("begin b");
    assert_eq!(
        tenants_of(&txn, "SELECT tenant FROM item").await,
        ["b"],
        "transaction"
    );
    txn.commit().await.expect("commit b");
}

/// Item 2: whatever session-level statement is sent through a scope (by itself, in a committed
/// transaction, as a single statement or inside a `SELECT`), the pooled connection is left as
/// it was, and the next unscoped statements run normally on `public`.
pub async fn session_state_suite(db: &DatabaseConnection, named: bool) {
    let a = db.tenant(&tenant(A)).with_named_statements(named);
    let baseline = session_state(db).await;
    for sql in SESSION_CHANGES {
        let _ = a.execute_unprepared(sql).await;
        assert_eq!(
            session_state(db).await,
            baseline,
            "execute_unprepared({sql})"
        );

        let _ = a
            .execute_raw(Statement::from_string(DbBackend::Postgres, *sql))
            .await;
        assert_eq!(session_state(db).await, baseline, "execute_raw({sql})");

        let _ = a
            .query_all_raw(Statement::from_string(DbBackend::Postgres, *sql))
            .await;
        assert_eq!(session_state(db).await, baseline, "query_all_raw({sql})");

        let txn = a.begin().await.expect("begin");
        let sent = txn.execute_unprepared(sql).await;
        if sent.is_ok() {
            txn.commit().await.expect("commit");
        } else {
            txn.rollback().await.expect("rollback");
        }
        assert_eq!(
            session_state(db).await,
            baseline,
            "committed transaction ({sql})"
        );

        let txn = a.begin().await.expect("begin");
        let _ = txn.execute_unprepared(sql).await;
        drop(txn);
        assert_eq!(
            session_state(db).await,
            baseline,
            "dropped transaction ({sql})"
        );

        // The next unscoped statements: a write (not read-only), on public (not a tenant).
        db.execute_unprepared("INSERT INTO public.item VALUES (100, 'probe')")
            .await
            .unwrap_or_else(|e| panic!("unscoped insert after {sql}: {e}"));
        let public = tenants_of(db, "SELECT tenant FROM item").await;
        assert_eq!(public, ["probe", "public"], "unscoped read after {sql}");
        db.execute_unprepared("DELETE FROM public.item WHERE id = 100")
            .await
            .expect("clean up the probe row");
    }
}

/// The ways a scope takes a statement text.
pub const ENTRY_POINTS: &[&str] = &[
    "query_all_raw",
    "query_one_raw",
    "execute_raw",
    "execute_unprepared",
    "stream",
    "transaction query_all_raw",
    "transaction execute_unprepared",
    "transaction execute_raw",
    "transaction stream",
];

/// Sends `sql` through `entry` (one of [`ENTRY_POINTS`]) of `scope`; a transaction is committed
/// when its statement succeeded. Returns whether the statement was accepted.
pub async fn send(scope: &TenantScope, entry: &str, sql: &str) -> Result<(), sea_orm::DbErr> {
    let stmt = Statement::from_string(DbBackend::Postgres, sql);
    if let Some(inner) = entry.strip_prefix("transaction ") {
        let txn = scope.begin().await?;
        let sent = send_on(&txn, inner, stmt).await;
        match sent {
            Ok(()) => txn.commit().await,
            Err(err) => {
                txn.rollback().await?;
                Err(err)
            }
        }
    } else {
        send_on(scope, entry, stmt).await
    }
}

async fn send_on<C: ConnectionTrait + StreamTrait>(
    conn: &C,
    entry: &str,
    stmt: Statement,
) -> Result<(), sea_orm::DbErr> {
    match entry {
        "query_all_raw" => conn.query_all_raw(stmt).await.map(drop),
        "query_one_raw" => conn.query_one_raw(stmt).await.map(drop),
        "execute_raw" => conn.execute_raw(stmt).await.map(drop),
        "execute_unprepared" => conn.execute_unprepared(&stmt.sql).await.map(drop),
        "stream" => {
            let stream = conn.stream_raw(stmt).await?;
            stream.try_collect::<Vec<_>>().await.map(drop)
        }
        other => panic!("unknown entry point {other}"),
    }
}

/// Item 3: `;`-joined text holding `COMMIT` never runs anything outside the tenant's
/// transaction, through any entry point: it is refused, and no row anywhere changes.
pub async fn multi_statement_suite(
    admin: &DatabaseConnection,
    db: &DatabaseConnection,
    named: bool,
) {
    let a = db.tenant(&tenant(A)).with_named_statements(named);
    let before = rows(admin, &[A, B]).await;
    let baseline = session_state(db).await;
    for sql in [
        "SELECT tenant FROM item; COMMIT; DELETE FROM item",
        "SELECT tenant FROM item; ROLLBACK; DELETE FROM item",
        "SELECT tenant FROM item;COMMIT;DELETE FROM item;",
        "SELECT tenant FROM item /* ; */ ; END; DELETE FROM item",
        "SELECT 1; SET search_path TO public; DELETE FROM item",
    ] {
        for entry in ENTRY_POINTS {
            let sent = send(&a, entry, sql).await;
            let err = sent.expect_err(&format!("{entry}({sql}) must be refused"));
            let named_rule = ScopeError::find(&err).is_some()
                || err.to_string().contains("cannot insert multiple commands");
            assert!(named_rule, "{entry}({sql}): unclear error {err}");
            assert_eq!(
                rows(admin, &[A, B]).await,
                before,
                "{entry}({sql}) changed rows"
            );
            assert_eq!(
                session_state(db).await,
                baseline,
                "{entry}({sql}) left state"
            );
        }
    }
    // Legitimate multi-statement text still runs, all of it in the tenant.
    a.execute_unprepared(
        "INSERT INTO item VALUES (10, 'a;1'); INSERT INTO item VALUES (11, $$a;2$$)",
    )
    .await
    .expect("two inserts");
    let after = rows(admin, &[A, B]).await;
    assert!(
        after.contains(&"adv_a:10:a;1".to_owned()) && after.contains(&"adv_a:11:a;2".to_owned())
    );
    a.execute_unprepared("DELETE FROM item WHERE id >= 10")
        .await
        .expect("clean up");
}

/// Item 4: a statement prepared in one tenant never breaks the same text in a tenant whose
/// table has another shape, in either order, in a transaction or as a single statement.
pub async fn prepared_shapes_suite(db: &DatabaseConnection, named: bool) {
    for (first, second) in [(A, B), (B, A), (A, B)] {
        for _ in 0..2 {
            for name in [first, second] {
                let scope = db.tenant(&tenant(name)).with_named_statements(named);
                let txn = scope.begin().await.expect("begin");
                let rows = txn
                    .query_all_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT * FROM item",
                    ))
                    .await
                    .unwrap_or_else(|e| panic!("SELECT * in {name} (transaction): {e}"));
                assert_eq!(rows.len(), 3);
                txn.commit().await.expect("commit");

                let single = Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT * FROM item WHERE $1 > 0.0",
                    [Value::Double(Some(1.5))],
                );
                let rows = scope
                    .query_all_raw(single)
                    .await
                    .unwrap_or_else(|e| panic!("SELECT * in {name} (single statement): {e}"));
                assert_eq!(rows.len(), 3);
                let rows = scope
                    .query_all_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT * FROM item",
                    ))
                    .await
                    .unwrap_or_else(|e| panic!("SELECT * in {name} (one message): {e}"));
                assert_eq!(rows.len(), 3);
            }
        }
    }
}

/// Cancellation at any await: operations cut short after a growing delay leave the pool with
/// no tenant state and B still reads only B.
pub async fn cancellation_suite(admin: &DatabaseConnection, db: &DatabaseConnection, named: bool) {
    let a = db.tenant(&tenant(A)).with_named_statements(named);
    let b = db.tenant(&tenant(B)).with_named_statements(named);
    let before = rows(admin, &[B]).await;
    let baseline = session_state(db).await;
    for step in 0..60u64 {
        let delay = Duration::from_micros(step * 25);
        let entry = ENTRY_POINTS[step as usize % ENTRY_POINTS.len()];
        let sql = if entry.contains("execute") {
            "SET work_mem = '9MB'; CREATE TEMP TABLE IF NOT EXISTS item AS SELECT * FROM item"
        } else {
            "SELECT tenant FROM item"
        };
        let _ = tokio::time::timeout(delay, send(&a, entry, sql)).await;
        let txn_cut = async {
            let txn = a.begin().await?;
            txn.execute_unprepared("SET statement_timeout = 777")
                .await?;
            txn.commit().await
        };
        let _ = tokio::time::timeout(delay, txn_cut).await;
    }
    // Give background rollbacks their turn before looking.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        session_state(db).await,
        baseline,
        "state left after cancellations"
    );
    check_b_reads_b(&b).await;
    assert_eq!(rows(admin, &[B]).await, before);
}

/// Spellings of a path or role change that PostgreSQL accepts (issue 19, case 1): quoted,
/// Unicode-escaped, commented, any case, `RESET`. Each is checked against the server itself
/// first (see [`path_spellings_suite`]), so the list cannot hold a spelling that does nothing.
pub const PATH_SPELLINGS: &[&str] = &[
    "SET \"search_path\" TO adv_b",
    "SET \"Search_Path\" TO adv_b",
    "set/**/Search_Path to adv_b",
    "SET LOCAL \"search_path\" = adv_b",
    "SET SESSION U&\"search\\005fpath\" TO adv_b",
    "SET U&\"search!005fpath\" UESCAPE '!' TO adv_b",
    "SET -- c\n search_path /* x /* y */ */ TO adv_b",
    "SET SCHEMA 'adv_b'",
    "RESET \"search_path\"",
    "RESET search_path",
    "reset ALL",
];

/// Case 1: inside `db.tenant(A).begin()`, no spelling of a path change is sent, and the next
/// statement of that transaction still reads A's rows.
pub async fn path_spellings_suite(
    admin: &DatabaseConnection,
    db: &DatabaseConnection,
    named: bool,
) {
    for sql in PATH_SPELLINGS {
        // The spelling is real: on an unscoped connection it moves the path off adv_a.
        let txn = sea_orm::TransactionTrait::begin(admin)
            .await
            .expect("admin begin");
        txn.execute_unprepared("SET LOCAL search_path TO adv_a")
            .await
            .expect("path");
        txn.execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("the server refuses {sql}: {e}"));
        let now = strings(&txn, "SELECT current_setting('search_path')").await;
        assert_ne!(now, ["adv_a"], "{sql} does not change the path");
        txn.rollback().await.expect("admin rollback");

        let a = db.tenant(&tenant(A)).with_named_statements(named);
        let txn = a.begin().await.expect("begin");
        let sent = txn.execute_unprepared(sql).await;
        let err = sent.expect_err(&format!("{sql} must be refused in the scope"));
        assert!(
            matches!(ScopeError::find(&err), Some(ScopeError::Refused { .. })),
            "{sql}: {err}"
        );
        let sent = txn
            .execute_raw(Statement::from_string(DbBackend::Postgres, *sql))
            .await;
        assert!(sent.is_err(), "{sql} through execute_raw");
        assert_eq!(
            tenants_of(&txn, "SELECT tenant FROM item").await,
            ["a"],
            "after {sql}"
        );
        txn.commit().await.expect("commit");
        // And `;`-joined with a read, in one call.
        let joined = format!("{sql}; SELECT tenant FROM item");
        assert!(a.execute_unprepared(&joined).await.is_err(), "{joined}");
    }
}

/// Cases 2 and 3: through a [`TransactionScope`](sea_tenant::TransactionScope) inside a
/// caller's transaction, nothing of [`SESSION_CHANGES`] (and no spelling of a path change)
/// outlives the caller's transaction, committed or rolled back, and the next unscoped statement
/// reads `public.item`.
pub async fn transaction_scope_suite(db: &DatabaseConnection) {
    use sea_orm::TransactionTrait;
    let baseline = session_state(db).await;
    for sql in SESSION_CHANGES.iter().chain(PATH_SPELLINGS) {
        for commit in [true, false] {
            let txn = db.begin().await.expect("caller's begin");
            let scope = txn.tenant(&tenant(A));
            let sent = scope.execute_unprepared(sql).await;
            let raw = scope
                .execute_raw(Statement::from_string(DbBackend::Postgres, *sql))
                .await;
            let query = scope
                .query_all_raw(Statement::from_string(DbBackend::Postgres, *sql))
                .await;
            if commit {
                // Whatever the scope let through, the caller commits (an aborted transaction
                // commits as a rollback).
                txn.commit().await.expect("caller's commit");
            } else {
                txn.rollback().await.expect("caller's rollback");
            }
            assert_eq!(
                session_state(db).await,
                baseline,
                "{sql} (commit: {commit}; sent: {:?} / {:?} / {:?})",
                sent.map(drop),
                raw.map(drop),
                query.map(drop)
            );
            assert_eq!(
                tenants_of(db, "SELECT tenant FROM item").await,
                ["public"],
                "unscoped read after {sql} (commit: {commit})"
            );
        }
    }
    // The issue's own cases, one by one, with what the caller sees.
    let txn = db.begin().await.expect("caller's begin");
    let err = txn
        .tenant(&tenant(A))
        .execute_unprepared("SELECT set_config('search_path', 'adv_b', false)")
        .await
        .expect_err("a session-level path change is refused");
    assert!(ScopeError::find(&err).is_some(), "{err}");
    txn.commit().await.expect("commit");
    assert_eq!(tenants_of(db, "SELECT tenant FROM item").await, ["public"]);

    let txn = db.begin().await.expect("caller's begin");
    let err = txn
        .tenant(&tenant(A))
        .execute_unprepared("CREATE TEMP TABLE item AS SELECT * FROM item")
        .await
        .expect_err("a temporary table would outlive the caller's transaction");
    assert!(
        matches!(
            ScopeError::find(&err),
            Some(ScopeError::SessionChanged { .. })
        ),
        "{err}"
    );
    txn.commit().await.expect("commit (as a rollback)");
    assert_eq!(tenants_of(db, "SELECT tenant FROM item").await, ["public"]);
    assert_eq!(session_state(db).await, baseline);
}
