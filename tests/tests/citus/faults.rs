//! A tenant moved under load, and a stopped worker.

use std::collections::BTreeSet;
use std::time::Instant;

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use sea_tenant::citus;
use sea_tenant::{Outcome, TenantConnectionExt, TenantMigrator, provision};
use sea_tenant_tests::citus::{CitusDb, StoppedNode, cluster_exclusive, cluster_shared};
use sea_tenant_tests::fixtures::{BlogMigrations, BlogV2Migrations};
use sea_tenant_tests::scope_support::{post, tenant};
use sea_tenant_tests::strings;

use super::{names, per_node};

/// What a scoped writer saw while its tenant moved.
#[derive(Default, Debug)]
struct Writes {
    /// Titles whose insert committed (the client got an answer).
    committed: Vec<String>,
    /// Errors, each followed by a retry of the same insert.
    errors: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn a_tenant_moves_while_a_scoped_reader_and_writer_run() {
    let _cluster = cluster_shared().await;
    let c = CitusDb::new("citus_live_move").await;
    let (a, b) = (tenant("live_a"), tenant("live_b"));
    for t in [&a, &b] {
        provision::provision_tenant_on::<BlogMigrations, _>(&c.db, t)
            .await
            .expect("provision");
    }
    c.db.tenant(&b)
        .execute_unprepared("INSERT INTO post (title) VALUES ('b-only')")
        .await
        .expect("b row");
    let from = citus::tenant_node(&c.db, &a)
        .await
        .expect("node")
        .expect("placed");
    let to = citus::workers(&c.db)
        .await
        .expect("workers")
        .into_iter()
        .find(|w| *w != from)
        .expect("another worker");
    let app = c.pool(6).await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    // The writer: one insert per transaction, each retried until it commits.
    let writer = {
        let (app, a, done) = (app.clone(), a.clone(), done.clone());
        tokio::spawn(async move {
            let mut writes = Writes::default();
            let mut i = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || i < 20 {
                let title = format!("a-{i}");
                loop {
                    let result = post::ActiveModel {
                        title: Set(title.clone()),
                        ..Default::default()
                    }
                    .insert(&app.tenant(&a))
                    .await;
                    match result {
                        Ok(_) => break,
                        Err(e) => {
                            writes.errors.push(e.to_string());
                            assert!(writes.errors.len() < 200, "{:?}", writes.errors);
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    }
                }
                writes.committed.push(title);
                i += 1;
            }
            writes
        })
    };
    // The reader: both tenants, through scopes, never a row of the other one.
    let reader = {
        let (app, a, b, done) = (app.clone(), a.clone(), b.clone(), done.clone());
        tokio::spawn(async move {
            let (mut reads, mut errors) = (0, Vec::new());
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for (t, prefix) in [(&a, "a-"), (&b, "b-")] {
                    match try_titles(&app.tenant(t)).await {
                        Ok(titles) => {
                            reads += 1;
                            assert!(
                                titles.iter().all(|x| x.starts_with(prefix)),
                                "{t} read another tenant's rows: {titles:?}"
                            );
                        }
                        Err(e) => errors.push(e),
                    }
                }
            }
            (reads, errors)
        })
    };
    // A transaction open on the tenant across the move: begun before it, committed while the
    // move runs. The move's switch-over waits for it; it is not broken.
    let long = {
        let (app, a) = (app.clone(), a.clone());
        tokio::spawn(async move {
            let txn = app.tenant(&a).begin().await?;
            txn.execute_unprepared("INSERT INTO post (title) VALUES ('a-long-1')")
                .await?;
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            txn.execute_unprepared("INSERT INTO post (title) VALUES ('a-long-2')")
                .await?;
            txn.commit().await?;
            Ok::<_, sea_orm::DbErr>(Instant::now())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = Instant::now();
    citus::move_tenant(&c.db, &a, &to, citus::TransferMode::Auto)
        .await
        .expect("move");
    let moved_in = started.elapsed();
    let long_committed = long
        .await
        .expect("long transaction task")
        .expect("a transaction open across the move commits");
    assert!(
        long_committed <= started + moved_in,
        "the move finished only after the open transaction committed"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut writes = writer.await.expect("writer");
    writes
        .committed
        .extend(["a-long-1".to_owned(), "a-long-2".to_owned()]);
    let (reads, read_errors) = reader.await.expect("reader");
    println!(
        "moved live_a {from} -> {to} in {moved_in:?}: {} inserts committed, {} insert errors \
         (retried), {reads} reads, {} read errors",
        writes.committed.len(),
        writes.errors.len(),
        read_errors.len()
    );
    for e in writes.errors.iter().chain(&read_errors) {
        println!("  error during the move: {e}");
    }
    assert_eq!(citus::tenant_node(&c.db, &a).await.expect("node"), Some(to));
    // No row lost, none doubled: exactly the committed inserts are there.
    let mut stored = strings(&c.db.tenant(&a), "SELECT title FROM post").await;
    stored.sort();
    let mut expected = writes.committed.clone();
    expected.sort();
    assert_eq!(stored, expected);
    assert_eq!(
        strings(&c.db.tenant(&b), "SELECT title FROM post").await,
        ["b-only"]
    );
    app.close().await.ok();
}

/// Titles of the scope's posts, or the error as text.
async fn try_titles(db: &impl ConnectionTrait) -> Result<Vec<String>, String> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT title FROM post",
        ))
        .await
        .map_err(|e| e.to_string())?;
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).map_err(|e| e.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn a_stopped_worker_fails_its_tenants_and_a_rerun_completes() {
    // Stops a worker: no other test may run meanwhile.
    let _cluster = cluster_exclusive().await;
    let c = CitusDb::new("citus_down").await;
    let tenants = names("dn", 10);
    let source = || sea_tenant::tenants::fixed(tenants.clone());
    let v2 = TenantMigrator::new(c.db.clone(), BlogV2Migrations, source()).create_missing(true);
    assert!(v2.up(None).await.expect("up").is_success());
    let spread = per_node(&c.db).await;
    assert_eq!(spread.len(), 2, "{spread:?}");
    let (down_node, down_tenants) = spread.iter().next().expect("a worker");
    let (_, up_tenants) = spread.iter().nth(1).expect("another worker");
    let down_set: BTreeSet<String> = down_tenants.iter().cloned().collect();

    let stopped = StoppedNode::stop(&c.worker_label(down_node));
    // Tenants on the other worker keep serving through their scopes.
    for t in up_tenants {
        c.db.tenant(&tenant(t))
            .execute_unprepared("INSERT INTO post (title) VALUES ('still here')")
            .await
            .unwrap_or_else(|e| panic!("{t} on the running worker: {e}"));
    }
    // The node of every tenant is still known (coordinator metadata only).
    assert_eq!(per_node(&c.db).await, spread);

    // status and a no-op deploy: the state is read on the coordinator; only the stopped
    // worker's tenants (whose version tables are on it) fail `status`.
    let started = Instant::now();
    let status = v2.status().await.expect("status with a worker down");
    println!(
        "status with {down_node} down: {:?}\n{status}",
        started.elapsed()
    );
    let failed: BTreeSet<String> = status.problems().map(|t| t.tenant.clone()).collect();
    assert_eq!(failed, down_set, "{status}");
    for t in status.problems() {
        let text = t.outcome.to_string();
        assert!(
            text.contains(&format!("tenant {}", t.tenant))
                && text.contains(&format!("{}:{}", down_node.host, down_node.port)),
            "the error names the tenant and the unreachable worker: {text}"
        );
    }
    let report = v2.up(None).await.expect("no-op up with a worker down");
    assert!(
        report
            .tenants
            .iter()
            .all(|t| matches!(t.outcome, Outcome::UpToDate)),
        "{report}"
    );

    // A migration with DDL: Citus applies DDL on a distributed table to the metadata of every
    // node, so with a node down it refuses it for every tenant, also those on the running
    // worker. Each tenant fails with Citus's error naming the stopped node, nothing is half
    // applied, and the run is not cut short by the circuit breaker.
    let v3 = TenantMigrator::new(c.db.clone(), BlogMigrations, source());
    let started = Instant::now();
    let report = v3.up(None).await.expect("up with a worker down");
    println!(
        "up (DDL) with {down_node} down: {:?}\n{report}",
        started.elapsed()
    );
    assert_eq!(report.problems().count(), tenants.len(), "{report}");
    for t in &report.tenants {
        let Outcome::Failed { error, applied, .. } = &t.outcome else {
            panic!("{}: {}", t.tenant, t.outcome)
        };
        assert!(applied.is_empty(), "{}: {}", t.tenant, t.outcome);
        let text = error.to_string();
        assert!(
            text.contains(&format!("{}:{}", down_node.host, down_node.port)),
            "{text}"
        );
    }

    drop(stopped);
    // After the worker is back, a rerun completes the rest.
    let report = v3.up(None).await.expect("rerun");
    assert!(report.is_success(), "{report}");
    assert_eq!(report.applied_count(), tenants.len(), "{report}");
    let status = v3.status().await.expect("status");
    assert!(status.is_success(), "{status}");
    assert!(
        status
            .tenants
            .iter()
            .all(|t| t.outcome.to_string().starts_with("3 applied, 0 pending")),
        "{status}"
    );
}
