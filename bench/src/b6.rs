//! B6: queries through a tenant scope against the same queries on a plain pool connection.

use std::time::Instant;

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, Set, TransactionTrait};
use sea_tenant::strict;
use sea_tenant::{TenantConnectionExt, TenantName, TenantScope};

use crate::{Bench, BenchResult, Figure, median, ms};

/// `t_1` of the workload, as an entity without a schema: a plain connection reads
/// `public.t_1`, a tenant scope reads the tenant's.
mod row {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "t_1")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub label: String,
        pub flag: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

const ROWS: i32 = 100;
/// Per side and round: 20 blocks of 100 finds and 20 blocks of 25 units of work.
const FIND_BLOCK: usize = 100;
const UNIT_BLOCK: usize = 25;
const BLOCKS: usize = 20;
/// B6 strict's target: what strict mode may add to a find or a unit of work.
const MAX_ADDED_US: f64 = 5.0;

/// One side's time and the other's over the same stretch of a round.
#[derive(Default)]
struct Paired {
    scoped_ms: f64,
    plain_ms: f64,
}

impl Paired {
    /// Runs `plain` and `scoped` in alternating blocks, each side first in every other block,
    /// so that whatever else the machine does meanwhile (autovacuum after the earlier
    /// scenarios, a checkpoint, the other core's load) falls on both sides alike.
    async fn add<P, S, FP, FS>(&mut self, block: usize, plain: P, scoped: S) -> BenchResult
    where
        P: Fn() -> FP,
        S: Fn() -> FS,
        FP: std::future::Future<Output = BenchResult<f64>>,
        FS: std::future::Future<Output = BenchResult<f64>>,
    {
        if block.is_multiple_of(2) {
            self.plain_ms += plain().await?;
            self.scoped_ms += scoped().await?;
        } else {
            self.scoped_ms += scoped().await?;
            self.plain_ms += plain().await?;
        }
        Ok(())
    }
}

/// Each round's mean per operation on both sides, and per round their ratio and difference.
#[derive(Default)]
struct Rounds {
    scoped: Vec<f64>,
    plain: Vec<f64>,
    ratios: Vec<f64>,
    /// Per round, scoped minus plain per operation (ms).
    differences: Vec<f64>,
}

impl Rounds {
    fn push(&mut self, round: Paired, ops: usize) {
        self.scoped.push(round.scoped_ms / ops as f64);
        self.plain.push(round.plain_ms / ops as f64);
        self.ratios.push(round.scoped_ms / round.plain_ms);
        self.differences
            .push((round.scoped_ms - round.plain_ms) / ops as f64);
    }

    /// The added time per operation (µs) of the "scoped" side over the "plain" side: the
    /// median over rounds of the paired difference (both sides measured in the same round,
    /// as the ratio is), passing at most [`MAX_ADDED_US`].
    fn added(self, id: &str, scenario: &str) -> Figure {
        let (scoped, plain) = (median(self.scoped), median(self.plain));
        let added_us = median(self.differences) * 1000.0;
        let mut figure = Figure::ratio_at_most(
            id,
            scenario,
            scoped,
            "strict off",
            plain,
            f64::INFINITY,
            format!("<= +{MAX_ADDED_US} us"),
        );
        figure.ratio = median(self.ratios);
        figure.pass = added_us <= MAX_ADDED_US;
        figure.note(format!(
            "added {added_us:+.1} us per operation (median over rounds of the paired difference, {BLOCKS} alternating blocks each)"
        ))
    }

    fn figure(self, scenario: &str, max_ratio: f64, target: &str) -> Figure {
        let ratio = median(self.ratios);
        let mut figure = Figure::ratio_at_most(
            "B6",
            scenario,
            median(self.scoped),
            "plain",
            median(self.plain),
            max_ratio,
            target,
        );
        figure.ratio = ratio;
        figure.pass = ratio <= max_ratio;
        figure.note(format!(
            "ratio: median over rounds of scoped/plain, {BLOCKS} alternating blocks per round"
        ))
    }
}

/// `rounds` rounds, each of [`BLOCKS`] alternating blocks of finds, then of units of work, on a
/// "plain" and a "scoped" side; what each side took, per round.
async fn measure<PF, SF, PU, SU, FPF, FSF, FPU, FSU>(
    rounds: usize,
    plain_find: PF,
    scoped_find: SF,
    plain_unit: PU,
    scoped_unit: SU,
) -> BenchResult<(Rounds, Rounds)>
where
    PF: Fn() -> FPF,
    SF: Fn() -> FSF,
    PU: Fn() -> FPU,
    SU: Fn() -> FSU,
    FPF: std::future::Future<Output = BenchResult<f64>>,
    FSF: std::future::Future<Output = BenchResult<f64>>,
    FPU: std::future::Future<Output = BenchResult<f64>>,
    FSU: std::future::Future<Output = BenchResult<f64>>,
{
    let (mut finds, mut units) = (Rounds::default(), Rounds::default());
    for _ in 0..rounds {
        let (mut find, mut unit) = (Paired::default(), Paired::default());
        for block in 0..BLOCKS {
            find.add(block, &plain_find, &scoped_find).await?;
        }
        for block in 0..BLOCKS {
            unit.add(block, &plain_unit, &scoped_unit).await?;
        }
        finds.push(find, FIND_BLOCK * BLOCKS);
        units.push(unit, UNIT_BLOCK * BLOCKS);
    }
    Ok((finds, units))
}

pub async fn b6_scoped_queries(b: &Bench) -> BenchResult<Vec<Figure>> {
    let tenant = TenantName::new("b6_tenant")?;
    b.db.execute_unprepared(
        "DROP SCHEMA IF EXISTS b6_tenant CASCADE; DROP TABLE IF EXISTS public.t_1 CASCADE",
    )
    .await?;
    sea_tenant::migrate_tenant::<crate::workload::Ten>(&b.db, &tenant).await?;
    let [create_table, _] = crate::workload::create_sql(1);
    b.db.execute_unprepared(&create_table).await?;
    let fill = format!(
        "INSERT INTO b6_tenant.t_1 (label) SELECT 'row ' || g FROM generate_series(1, {ROWS}) g; \
         INSERT INTO public.t_1 (label) SELECT 'row ' || g FROM generate_series(1, {ROWS}) g"
    );
    b.db.execute_unprepared(&fill).await?;

    let pool = crate::connect(&b.url, 4).await?;
    let scope = pool.tenant(&tenant);
    // Warm both paths (connections, prepared statement caches).
    single(&pool, 200).await?;
    single(&scope, 200).await?;
    unit_plain(&pool, UNIT_BLOCK).await?;
    unit_scoped(&pool, &tenant, UNIT_BLOCK).await?;

    let (finds, units) = measure(
        b.args.rounds.max(3),
        || single(&pool, FIND_BLOCK),
        || single(&scope, FIND_BLOCK),
        || unit_plain(&pool, UNIT_BLOCK),
        || unit_scoped(&pool, &tenant, UNIT_BLOCK),
    )
    .await?;
    pool.close().await?;
    Ok(vec![
        finds.figure("find by primary key (per query)", 1.5, "<= 1.5"),
        units.figure(
            "unit of work: 3 finds + 1 update in a transaction (per unit)",
            1.1,
            "<= 1.1",
        ),
    ])
}

/// Milliseconds for `ops` finds.
async fn single<C: ConnectionTrait>(conn: &C, ops: usize) -> BenchResult<f64> {
    let start = Instant::now();
    for i in 0..ops {
        let id = (i as i32 % ROWS) + 1;
        row::Entity::find_by_id(id)
            .one(conn)
            .await?
            .ok_or("B6: row not found")?;
    }
    Ok(ms(start.elapsed()))
}

async fn unit_of_work<C: ConnectionTrait>(txn: &C, i: usize) -> Result<(), DbErr> {
    let base = (i as i32 * 3) % (ROWS - 3) + 1;
    let mut last = None;
    for id in base..base + 3 {
        last = row::Entity::find_by_id(id).one(txn).await?;
    }
    let last = last.ok_or_else(|| DbErr::RecordNotFound("B6 row".into()))?;
    let mut active: row::ActiveModel = last.into();
    active.flag = Set(i.is_multiple_of(2));
    active.update(txn).await?;
    Ok(())
}

/// Milliseconds for `units` units of work.
async fn unit_plain(pool: &DatabaseConnection, units: usize) -> BenchResult<f64> {
    let start = Instant::now();
    for i in 0..units {
        let txn = pool.begin().await?;
        unit_of_work(&txn, i).await?;
        txn.commit().await?;
    }
    Ok(ms(start.elapsed()))
}

/// Milliseconds for `units` units of work through a tenant scope.
async fn unit_scoped(
    pool: &DatabaseConnection,
    tenant: &TenantName,
    units: usize,
) -> BenchResult<f64> {
    unit_in(|| pool.tenant(tenant), units).await
}

/// Milliseconds for `units` units of work, each through a scope `scope` makes (per request, as
/// an application makes them).
async fn unit_in(scope: impl Fn() -> TenantScope, units: usize) -> BenchResult<f64> {
    let start = Instant::now();
    for i in 0..units {
        let txn = scope().begin().await?;
        unit_of_work(&txn, i).await?;
        txn.commit().await?;
    }
    Ok(ms(start.elapsed()))
}

/// B6 strict: the same scoped find and unit of work with strict mode on (every statement as the
/// tenant's role, `SET LOCAL ROLE` in the scope's first message) against off, in alternating
/// blocks; the target is the added time per operation.
pub async fn b6_strict(b: &Bench) -> BenchResult<Vec<Figure>> {
    let config = crate::strict_config()?;
    strict::setup(&b.db, &config).await?;
    let tenant = TenantName::new("b6_strict")?;
    b.db.execute_unprepared("DROP SCHEMA IF EXISTS b6_strict CASCADE")
        .await?;
    // Provisioned in strict mode: its role, its grants, tables owned by the owner role.
    let migrator = sea_tenant::TenantMigrator::new(
        b.db.clone(),
        crate::workload::Ten,
        sea_tenant::tenants::fixed(vec![tenant.as_str().to_owned()]),
    )
    .create_missing(true)
    .strict(Some(config.clone()));
    let report = migrator.up(None).await?;
    if !report.is_success() {
        return Err(format!("B6 strict: provisioning failed: {report}").into());
    }
    b.db.execute_unprepared(&format!(
        "INSERT INTO b6_strict.t_1 (label) SELECT 'row ' || g FROM generate_series(1, {ROWS}) g"
    ))
    .await?;

    // As an application logs in: strict off, an ordinary role with the owner's privileges (an
    // app that owns its tables); strict on, the runtime role. And both on the superuser login,
    // which skips every privilege check, so strict mode's checks show in full.
    let app = "sea_tenant_bench_plain";
    b.db.execute_unprepared(&format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{app}') THEN \
         CREATE ROLE {app} LOGIN INHERIT; END IF; END $$; GRANT {owner} TO {app}",
        owner = config.owner_role()
    ))
    .await?;
    // The commit's WAL flush (130-160 µs here, the same on both sides but varying from run to
    // run) only widens the spread of the unit of work: B6S's sessions commit asynchronously.
    let without_flush = |url: String| {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}options=-c%20synchronous_commit%3Doff")
    };
    let plain_pool = crate::connect(
        &without_flush(sea_tenant::testing::url_with_user(&b.url, app)),
        4,
    )
    .await?;
    let runtime_pool = crate::connect(
        &without_flush(sea_tenant::testing::url_with_user(
            &b.url,
            config.runtime_role(),
        )),
        4,
    )
    .await?;
    let mut figures = strict_pair(
        &plain_pool,
        &runtime_pool,
        &tenant,
        &config,
        b.args.rounds.max(3),
        "logins as in production",
    )
    .await?;
    plain_pool.close().await?;
    runtime_pool.close().await?;
    let pool = crate::connect(&without_flush(b.url.clone()), 4).await?;
    figures.extend(
        strict_pair(
            &pool,
            &pool,
            &tenant,
            &config,
            b.args.rounds.max(3),
            "superuser login",
        )
        .await?,
    );
    pool.close().await?;
    Ok(figures)
}

/// Strict mode on (`on_pool`) against off (`off_pool`): scoped finds and units of work in
/// alternating blocks, `rounds` rounds.
async fn strict_pair(
    off_pool: &DatabaseConnection,
    on_pool: &DatabaseConnection,
    tenant: &TenantName,
    config: &strict::Strict,
    rounds: usize,
    logins: &str,
) -> BenchResult<Vec<Figure>> {
    let off = || off_pool.tenant(tenant).with_strict(None);
    let on = || on_pool.tenant(tenant).with_strict(Some(config));
    single(&off(), 200).await?;
    single(&on(), 200).await?;
    unit_in(off, UNIT_BLOCK).await?;
    unit_in(on, UNIT_BLOCK).await?;

    let (finds, units) = measure(
        rounds,
        || async { single(&off(), FIND_BLOCK).await },
        || async { single(&on(), FIND_BLOCK).await },
        || unit_in(off, UNIT_BLOCK),
        || unit_in(on, UNIT_BLOCK),
    )
    .await?;
    Ok(vec![
        finds.added(
            "B6S",
            &format!("find by primary key, strict mode on vs off, {logins} (per query)"),
        ),
        units.added(
            "B6S",
            &format!("unit of work, strict mode on vs off, {logins} (per unit)"),
        ),
    ])
}
