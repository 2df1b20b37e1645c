//! Test support shared by every integration test of the workspace: throwaway databases on the
//! real PostgreSQL server named by `DATABASE_URL`, and catalog look-ups for assertions.
//!
//! Each [`TestDb`] is a database of its own with a unique name, dropped when the value is
//! dropped (also when the test panics), so tests run in parallel and can be rerun.

pub mod adversary;
pub mod citus;
pub mod cluster;
pub mod events;
pub mod fixtures;
pub mod live_migrations;
pub mod strict;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_tenant::testing::TestDatabase;
pub use sea_tenant::testing::{server_url, unique_name, url_with_database, url_with_user};

/// A database created for one test and dropped afterwards: a [`TestDatabase`] (which does the
/// creating and dropping) with its name, URL and pool as fields, as the tests read them.
pub struct TestDb {
    /// The database's name.
    pub name: String,
    /// A URL that connects to it.
    pub url: String,
    /// A pool on it (4 connections unless made with [`TestDb::with_pool_size`]).
    pub db: DatabaseConnection,
    /// Dropped last: drops the database.
    _database: TestDatabase,
}

impl TestDb {
    /// Creates a fresh database whose name starts with `st_{label}`.
    pub async fn new(label: &str) -> TestDb {
        Self::with_pool_size(label, 4).await
    }

    /// Like [`TestDb::new`], with a pool of `max_connections`.
    pub async fn with_pool_size(label: &str, max_connections: u32) -> TestDb {
        let database = TestDatabase::on_server(&server_url(), label, max_connections)
            .await
            .unwrap_or_else(|e| panic!("test database {label}: {e}"));
        TestDb {
            name: database.name().to_owned(),
            url: database.url().to_owned(),
            db: database.db().clone(),
            _database: database,
        }
    }

    /// A second, independent pool on the same database.
    pub async fn pool(&self, max_connections: u32) -> DatabaseConnection {
        connect(&self.url, max_connections).await
    }

    /// Puts the database in strict mode and returns a pool as the runtime role
    /// ([`sea_tenant::testing::strict_runtime`]).
    pub async fn strict_runtime(
        &self,
        strict: &sea_tenant::strict::Strict,
        max_connections: u32,
    ) -> DatabaseConnection {
        sea_tenant::testing::strict_runtime(&self._database, strict, max_connections)
            .await
            .unwrap_or_else(|e| panic!("strict mode for {}: {e}", self.name))
    }

    /// A pool on the same database through PgBouncer in transaction mode ([`pgbouncer_url`]).
    pub async fn pool_through_pgbouncer(&self, max_connections: u32) -> DatabaseConnection {
        connect(
            &url_with_database(&pgbouncer_url(), &self.name),
            max_connections,
        )
        .await
    }
}

/// PGBOUNCER_URL (set by scripts/ensure-pgbouncer.sh), or a failure that says how to get one:
/// a PgBouncer test never passes silently.
pub fn pgbouncer_url() -> String {
    match std::env::var("PGBOUNCER_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "PGBOUNCER_URL is unset in CI: scripts/ensure-pgbouncer.sh did not start PgBouncer"
            )
        }
        _ => panic!(
            "PGBOUNCER_URL is unset: run `source scripts/ensure-postgres.sh; source \
             scripts/ensure-pgbouncer.sh` first (or use scripts/test.sh)"
        ),
    }
}

/// Connects with SeaORM, statement logging off ([`sea_tenant::testing::connect`]), or fails
/// the test.
pub async fn connect(url: &str, max_connections: u32) -> DatabaseConnection {
    sea_tenant::testing::connect(url, max_connections)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// A pool of two on `url` that connects on first use, so that the code under test, not the
/// pool, is what meets a faulty server.
pub async fn lazy(url: &str) -> DatabaseConnection {
    let mut options = sea_orm::ConnectOptions::new(url.to_owned());
    options
        .max_connections(2)
        .min_connections(0)
        .connect_lazy(true)
        .sqlx_logging(false);
    sea_orm::Database::connect(options)
        .await
        .unwrap_or_else(|e| panic!("a lazy pool on {url}: {e}"))
}

/// Runs a query whose rows are one text column.
pub async fn strings(db: &impl ConnectionTrait, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("text column"))
        .collect()
}

/// The user schemas of the database, sorted.
pub async fn schemas(db: &impl ConnectionTrait) -> Vec<String> {
    strings(
        db,
        "SELECT nspname::text FROM pg_namespace \
         WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1",
    )
    .await
}

/// Whether a schema exists.
pub async fn schema_exists(db: &impl ConnectionTrait, schema: &str) -> bool {
    schemas(db).await.iter().any(|s| s == schema)
}

/// The tables of one schema, sorted.
pub async fn tables(db: &impl ConnectionTrait, schema: &str) -> Vec<String> {
    strings(
        db,
        &format!(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{}' AND c.relkind IN ('r', 'p') ORDER BY 1",
            schema.replace('\'', "''")
        ),
    )
    .await
}

/// The versions recorded in a version table, in order.
pub async fn versions(db: &impl ConnectionTrait, schema: &str, table: &str) -> Vec<String> {
    strings(
        db,
        &format!("SELECT version::text FROM \"{schema}\".\"{table}\" ORDER BY version"),
    )
    .await
}

/// A textual dump of every column, constraint and index in the given schemas, with the
/// schema name replaced by `<schema>` so that two tenants compare equal.
pub async fn catalog_dump(db: &impl ConnectionTrait, schema: &str) -> Vec<String> {
    let lit = schema.replace('\'', "''");
    let mut lines = strings(
        db,
        &format!(
            "SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name, data_type, is_nullable, coalesce(column_default, '-')) \
             FROM information_schema.columns WHERE table_schema = '{lit}'"
        ),
    )
    .await;
    lines.extend(
        strings(
            db,
            &format!(
                "SELECT format('constraint %s %s %s', c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)) \
                 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = '{lit}'"
            ),
        )
        .await,
    );
    lines.extend(
        strings(
            db,
            &format!(
                "SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = '{lit}'"
            ),
        )
        .await,
    );
    for line in &mut lines {
        *line = line.replace(&format!("\"{schema}\"."), "<schema>.");
        *line = line.replace(&format!("{schema}."), "<schema>.");
    }
    lines.sort();
    lines
}

/// The `search_path` each of up to `n` pooled connections reports, taken all at once so that
/// every connection in the pool is looked at.
pub async fn pooled_search_paths(db: &DatabaseConnection, n: usize) -> Vec<String> {
    use sea_orm::TransactionTrait;
    let mut txns = Vec::new();
    let mut paths = Vec::new();
    for _ in 0..n {
        let txn = db.begin().await.expect("begin");
        paths.extend(strings(&txn, "SELECT current_setting('search_path')").await);
        txns.push(txn);
    }
    for txn in txns {
        txn.rollback().await.ok();
    }
    paths
}

/// The server's default `search_path` (the value a fresh session starts with).
pub async fn default_search_path(db: &impl ConnectionTrait) -> String {
    strings(
        db,
        "SELECT reset_val FROM pg_settings WHERE name = 'search_path'",
    )
    .await
    .remove(0)
}

/// Small entities without `schema_name`, and a suite of tenant-isolation checks that the
/// scope tests run directly and through PgBouncer.
pub mod scope_support {
    use futures::TryStreamExt;
    use sea_orm::entity::prelude::*;
    use sea_orm::{
        ActiveValue::Set, ConnectionTrait, DatabaseConnection, QuerySelect, Statement,
        TransactionTrait,
    };
    use sea_tenant::{TenantConnectionExt, TenantName, TenantScope};

    /// `post (id serial, title text)`.
    pub mod post {
        use sea_orm::entity::prelude::*;

        /// A post.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "post")]
        pub struct Model {
            /// Key.
            #[sea_orm(primary_key)]
            pub id: i32,
            /// Title.
            pub title: String,
        }

        /// Relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            /// Its comments.
            #[sea_orm(has_many = "super::comment::Entity")]
            Comment,
        }

        impl Related<super::comment::Entity> for Entity {
            fn to() -> RelationDef {
                Relation::Comment.def()
            }
        }

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// `comment (id serial, post_id int references post, body text)`.
    pub mod comment {
        use sea_orm::entity::prelude::*;

        /// A comment.
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "comment")]
        pub struct Model {
            /// Key.
            #[sea_orm(primary_key)]
            pub id: i32,
            /// The post.
            pub post_id: i32,
            /// Text.
            pub body: String,
        }

        /// Relations.
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            /// The post.
            #[sea_orm(
                belongs_to = "super::post::Entity",
                from = "Column::PostId",
                to = "super::post::Column::Id"
            )]
            Post,
        }

        impl Related<super::post::Entity> for Entity {
            fn to() -> RelationDef {
                Relation::Post.def()
            }
        }

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// Creates `schema` with the `post` and `comment` tables, with plain SQL.
    pub async fn create_blog_schema(db: &impl ConnectionTrait, schema: &str) {
        let sql = format!(
            "CREATE SCHEMA \"{schema}\"; \
             CREATE TABLE \"{schema}\".post (id serial PRIMARY KEY, title text NOT NULL); \
             CREATE TABLE \"{schema}\".comment (id serial PRIMARY KEY, \
                post_id int NOT NULL REFERENCES \"{schema}\".post (id), body text NOT NULL)"
        );
        db.execute_unprepared(&sql)
            .await
            .unwrap_or_else(|e| panic!("create {schema}: {e}"));
    }

    /// A tenant name known to be valid.
    pub fn tenant(name: &str) -> TenantName {
        TenantName::new(name).unwrap_or_else(|e| panic!("{e}"))
    }

    async fn titles(t: &TenantScope) -> Vec<String> {
        let mut titles: Vec<String> = post::Entity::find()
            .all(t)
            .await
            .expect("find all")
            .into_iter()
            .map(|p| p.title)
            .collect();
        titles.sort();
        titles
    }

    /// Writes through tenant A and B with every query form and checks each sees only its own
    /// rows. `admin` creates the schemas (a direct connection); `db` is the pool under test.
    /// `named` is passed to [`TenantScope::with_named_statements`].
    pub async fn isolation_suite(admin: &DatabaseConnection, db: &DatabaseConnection, named: bool) {
        create_blog_schema(admin, "tenant_a").await;
        create_blog_schema(admin, "tenant_b").await;
        let (a, b) = (tenant("tenant_a"), tenant("tenant_b"));
        let (ta, tb) = (
            db.tenant(&a).with_named_statements(named),
            db.tenant(&b).with_named_statements(named),
        );

        // insert (INSERT … RETURNING through query_one) and insert_many.
        let a_post = post::ActiveModel {
            title: Set("a-post".to_owned()),
            ..Default::default()
        }
        .insert(&ta)
        .await
        .expect("insert in a");
        post::Entity::insert_many([post::ActiveModel {
            title: Set("b-post".to_owned()),
            ..Default::default()
        }])
        .exec(&tb)
        .await
        .expect("insert_many in b");
        comment::ActiveModel {
            post_id: Set(a_post.id),
            body: Set("a-comment".to_owned()),
            ..Default::default()
        }
        .insert(&ta)
        .await
        .expect("comment in a");

        // find
        assert_eq!(titles(&ta).await, ["a-post"]);
        assert_eq!(titles(&tb).await, ["b-post"]);
        let by_id_b = post::Entity::find_by_id(a_post.id)
            .one(&tb)
            .await
            .expect("find b");
        assert_eq!(
            by_id_b.map(|p| p.title),
            Some("b-post".to_owned()),
            "ids overlap, rows differ"
        );
        assert_eq!(post::Entity::find().count(&tb).await.expect("count"), 1);

        // find_related and joins
        let related = a_post
            .find_related(comment::Entity)
            .all(&ta)
            .await
            .expect("related a");
        assert_eq!(related.len(), 1);
        let related_b = a_post
            .find_related(comment::Entity)
            .all(&tb)
            .await
            .expect("related b");
        assert!(related_b.is_empty(), "b sees a's comment: {related_b:?}");
        let with_a = post::Entity::find()
            .find_with_related(comment::Entity)
            .all(&ta)
            .await
            .expect("with related a");
        assert_eq!(with_a.len(), 1);
        assert_eq!(with_a[0].1.len(), 1);
        let joined_b = comment::Entity::find()
            .inner_join(post::Entity)
            .all(&tb)
            .await
            .expect("join b");
        assert!(joined_b.is_empty());
        let joined_a: Vec<(comment::Model, Option<post::Model>)> = comment::Entity::find()
            .find_also_related(post::Entity)
            .all(&ta)
            .await
            .expect("also related a");
        assert_eq!(joined_a.len(), 1);

        // update_many
        let updated = post::Entity::update_many()
            .col_expr(post::Column::Title, Expr::value("b-updated"))
            .exec(&tb)
            .await
            .expect("update_many b");
        assert_eq!(updated.rows_affected, 1);
        assert_eq!(titles(&ta).await, ["a-post"]);
        assert_eq!(titles(&tb).await, ["b-updated"]);

        // delete_many
        let deleted = comment::Entity::delete_many()
            .exec(&tb)
            .await
            .expect("delete b");
        assert_eq!(deleted.rows_affected, 0);
        assert_eq!(
            comment::Entity::find().count(&ta).await.expect("count a"),
            1
        );

        // raw SQL through the scope: prepared, and unprepared (simple protocol)
        let raw = ta
            .query_all_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT title FROM post ORDER BY title",
            ))
            .await
            .expect("raw a");
        let raw: Vec<String> = raw
            .iter()
            .map(|r| r.try_get("", "title").expect("title"))
            .collect();
        assert_eq!(raw, ["a-post"]);
        let inserted = ta
            .execute_unprepared("INSERT INTO post (title) VALUES ('a-raw'); INSERT INTO post (title) VALUES ('a-raw2')")
            .await
            .expect("unprepared a");
        assert_eq!(inserted.rows_affected(), 2);
        assert_eq!(titles(&ta).await, ["a-post", "a-raw", "a-raw2"]);
        assert_eq!(titles(&tb).await, ["b-updated"]);
        let schema = crate::strings(&tb, "SELECT current_schema()::text").await;
        assert_eq!(schema, ["tenant_b"]);

        // streaming, on the scope and in a transaction
        let streamed: Vec<post::Model> = post::Entity::find()
            .stream(&tb)
            .await
            .expect("stream b")
            .try_collect()
            .await
            .expect("rows b");
        assert_eq!(streamed.len(), 1);
        assert_eq!(streamed[0].title, "b-updated");
        let txn = ta.begin().await.expect("begin a");
        {
            let streamed: Vec<post::Model> = post::Entity::find()
                .stream(&txn)
                .await
                .expect("stream a")
                .try_collect()
                .await
                .expect("rows a");
            assert_eq!(streamed.len(), 3);
        }
        txn.commit().await.expect("commit");

        // transactions: closure form commits, an error rolls back, a nested savepoint works
        let n = tb
            .transaction::<_, usize, sea_orm::DbErr>(|txn| {
                Box::pin(async move {
                    post::ActiveModel {
                        title: Set("b-txn".to_owned()),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?;
                    let nested = txn.begin().await?;
                    post::ActiveModel {
                        title: Set("b-nested-rolled-back".to_owned()),
                        ..Default::default()
                    }
                    .insert(&nested)
                    .await?;
                    nested.rollback().await?;
                    Ok(post::Entity::find().all(txn).await?.len())
                })
            })
            .await
            .expect("transaction b");
        assert_eq!(n, 2);
        let failed = ta
            .transaction::<_, (), sea_orm::DbErr>(|txn| {
                Box::pin(async move {
                    txn.execute_unprepared("INSERT INTO post (title) VALUES ('a-doomed')")
                        .await?;
                    Err(sea_orm::DbErr::Custom("no".to_owned()))
                })
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(titles(&ta).await, ["a-post", "a-raw", "a-raw2"]);
        assert_eq!(titles(&tb).await, ["b-txn", "b-updated"]);
        let ids: Vec<i32> = post::Entity::find()
            .select_only()
            .column(post::Column::Id)
            .into_tuple()
            .all(&ta)
            .await
            .expect("tuple");
        assert_eq!(ids.len(), 3);
    }
}
/// Owner entities (`#[tenant]`) for the `owner_*` tests.
pub mod owner_entities;
