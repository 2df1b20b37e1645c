//! Single `SELECT`s through a scope travel as one simple-protocol message with their values
//! written in: the rows decode exactly as through the prepared path, hostile strings stay
//! values, and a `SELECT` that writes fails instead of being rolled back silently.

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use sea_tenant::TenantConnectionExt;
use sea_tenant_tests::scope_support::tenant;
use sea_tenant_tests::{TestDb, default_search_path, pooled_search_paths};

const SETUP: &str = "
    CREATE SCHEMA t1;
    CREATE TABLE t1.item (id int PRIMARY KEY, small int2, big int8, ratio float8, flag bool,
                          label text, raw bytea, maybe int4);
    INSERT INTO t1.item VALUES (1, 2, 9000000000, 0.125, true, 'it''s \\ fine', '\\x00ff', NULL);
    CREATE TABLE t1.log (n int);
    CREATE FUNCTION t1.writes(i int) RETURNS int LANGUAGE sql AS 'INSERT INTO t1.log VALUES (i) RETURNING i';
";

fn select(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_selects_decode_like_prepared_ones() {
    let test = TestDb::new("scope_onemsg").await;
    test.db.execute_unprepared(SETUP).await.expect("setup");
    let t = test.db.tenant(&tenant("t1"));
    let stmt = || {
        select(
            "SELECT id, small, big, ratio, flag, label, raw, maybe FROM item WHERE id = $1 AND label = $2 AND flag = $3",
            vec![1i32.into(), "it's \\ fine".into(), true.into()],
        )
    };
    // The one-message path (a plain scope) and the prepared path (inside a transaction).
    let fast = t.query_one_raw(stmt()).await.expect("query").expect("row");
    let txn = t.begin().await.expect("begin");
    let prepared = txn
        .query_one_raw(stmt())
        .await
        .expect("query")
        .expect("row");
    txn.commit().await.expect("commit");
    for row in [&fast, &prepared] {
        assert_eq!(row.try_get::<i32>("", "id").unwrap(), 1);
        assert_eq!(row.try_get::<i16>("", "small").unwrap(), 2);
        assert_eq!(row.try_get::<i64>("", "big").unwrap(), 9_000_000_000);
        assert_eq!(row.try_get::<f64>("", "ratio").unwrap(), 0.125);
        assert!(row.try_get::<bool>("", "flag").unwrap());
        assert_eq!(row.try_get::<String>("", "label").unwrap(), "it's \\ fine");
        assert_eq!(row.try_get::<Vec<u8>>("", "raw").unwrap(), vec![0u8, 255]);
        assert_eq!(row.try_get::<Option<i32>>("", "maybe").unwrap(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_strings_stay_values() {
    let test = TestDb::new("scope_onemsg_host").await;
    test.db.execute_unprepared(SETUP).await.expect("setup");
    let t = test.db.tenant(&tenant("t1"));
    for hostile in [
        "x'; DROP TABLE item; --",
        "x\\'; DROP TABLE item; --",
        "$1",
        "'' OR ''=''",
        "é\u{1F600}\n\t",
    ] {
        let rows = t
            .query_all_raw(select(
                "SELECT $1::text AS echoed, count(*)::int4 AS n FROM item WHERE label = $1",
                vec![hostile.into()],
            ))
            .await
            .expect("query");
        assert_eq!(rows[0].try_get::<String>("", "echoed").unwrap(), hostile);
        assert_eq!(rows[0].try_get::<i32>("", "n").unwrap(), 0);
    }
    let left = test
        .db
        .query_one_raw(select("SELECT count(*)::int4 FROM t1.item", vec![]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(left.try_get_by_index::<i32>(0).unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writing_select_fails_and_leaves_nothing() {
    let test = TestDb::new("scope_onemsg_ro").await;
    test.db.execute_unprepared(SETUP).await.expect("setup");
    let t = test.db.tenant(&tenant("t1"));
    let err = t
        .query_one_raw(select("SELECT writes($1)", vec![5i32.into()]))
        .await
        .expect_err("a write inside a single SELECT must fail");
    assert!(err.to_string().contains("read-only transaction"), "{err}");
    let logged = test
        .db
        .query_one_raw(select("SELECT count(*)::int4 FROM t1.log", vec![]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(logged.try_get_by_index::<i32>(0).unwrap(), 0);
    let default = default_search_path(&test.db).await;
    for path in pooled_search_paths(&test.db, 4).await {
        assert_eq!(path, default);
    }
}
