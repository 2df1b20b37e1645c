//! B6: queries through a tenant scope against the same queries on a plain pool connection.

use std::time::Instant;

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, Set, TransactionTrait};
use sea_tenant::{TenantConnectionExt, TenantName};

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
const SINGLE_OPS: usize = 2000;
const UNITS: usize = 500;

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

    let (mut s_plain, mut s_scoped, mut u_plain, mut u_scoped) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..b.args.rounds.max(3) {
        s_plain.push(single(&pool, SINGLE_OPS).await?);
        s_scoped.push(single(&scope, SINGLE_OPS).await?);
        u_plain.push(unit_plain(&pool).await?);
        u_scoped.push(unit_scoped(&pool, &tenant).await?);
    }
    pool.close().await?;
    Ok(vec![
        Figure::ratio_at_most(
            "B6",
            "find by primary key (per query)",
            median(s_scoped),
            "plain",
            median(s_plain),
            1.5,
            "<= 1.5",
        ),
        Figure::ratio_at_most(
            "B6",
            "unit of work: 3 finds + 1 update in a transaction (per unit)",
            median(u_scoped),
            "plain",
            median(u_plain),
            1.1,
            "<= 1.1",
        ),
    ])
}

/// Mean milliseconds per find.
async fn single<C: ConnectionTrait>(conn: &C, ops: usize) -> BenchResult<f64> {
    let start = Instant::now();
    for i in 0..ops {
        let id = (i as i32 % ROWS) + 1;
        row::Entity::find_by_id(id)
            .one(conn)
            .await?
            .ok_or("B6: row not found")?;
    }
    Ok(ms(start.elapsed()) / ops as f64)
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

/// Mean milliseconds per unit of work.
async fn unit_plain(pool: &DatabaseConnection) -> BenchResult<f64> {
    let start = Instant::now();
    for i in 0..UNITS {
        let txn = pool.begin().await?;
        unit_of_work(&txn, i).await?;
        txn.commit().await?;
    }
    Ok(ms(start.elapsed()) / UNITS as f64)
}

async fn unit_scoped(pool: &DatabaseConnection, tenant: &TenantName) -> BenchResult<f64> {
    let start = Instant::now();
    for i in 0..UNITS {
        let txn = pool.tenant(tenant).begin().await?;
        unit_of_work(&txn, i).await?;
        txn.commit().await?;
    }
    Ok(ms(start.elapsed()) / UNITS as f64)
}
