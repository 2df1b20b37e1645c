//! The CRM api end to end, through `tower::ServiceExt::oneshot` against a real PostgreSQL
//! database of its own: sign-ups create tenants (with a migration set that reads), the
//! subdomain slug picks the tenant, tenants never see each other's rows, a rename moves the
//! data and the old slug stops resolving at once, hostile slugs are refused.
//!
//! Every test runs in strict mode (`sea_tenant::strict`): the api logs in as a runtime role that
//! holds no privilege on any tenant schema, and each scope runs as its tenant's role. Strict mode
//! is a process-wide setting and roles belong to the whole server, so the tests take turns, each
//! with tenant roles of its own prefix, dropped at its end.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_tenant::strict::{self, Strict};
use sea_tenant::testing::{TestDatabase, unique_name};
use serde_json::{Value, json};
use tower::ServiceExt;

const DOMAIN: &str = "crm.test";

/// One test's world: its database in strict mode, the api on the runtime role, and the turn it
/// holds.
struct Fixture {
    test: TestDatabase,
    /// What the api logs in as.
    runtime: DatabaseConnection,
    strict: Strict,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

async fn setup(label: &str) -> (Fixture, Router) {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let turn = TURN.lock().await;
    let prefix = format!("{}_", unique_name("crm"));
    let strict = Strict::new("crm_test_app", "crm_test_owner")
        .and_then(|s| s.with_role_prefix(&prefix[..prefix.len().min(24)]))
        .expect("a valid strict configuration");
    strict::enable(strict.clone());
    let test = TestDatabase::new(label).await.expect("a test database");
    let runtime = sea_tenant::testing::strict_runtime(&test, &strict, 4)
        .await
        .expect("strict mode");
    crm_api::prepare(test.db()).await.expect("prepare");
    let app = crm_api::app(runtime.clone(), DOMAIN).expect("the template resolves");
    let fixture = Fixture {
        test,
        runtime,
        strict,
        _turn: turn,
    };
    (fixture, app)
}

impl Fixture {
    fn db(&self) -> &DatabaseConnection {
        self.test.db()
    }

    /// Drops the tenants and their roles (roles outlive the test database).
    async fn finish(self) {
        let prefix = self.strict.role_prefix().replace('_', "\\_");
        self.db()
            .execute_unprepared(&format!(
                "DO $$ DECLARE r record; BEGIN \
                 FOR r IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'org\\_%' LOOP \
                   EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname); END LOOP; \
                 FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE '{prefix}%' LOOP \
                   EXECUTE format('DROP ROLE %I', r.rolname); END LOOP; END $$"
            ))
            .await
            .expect("drop the tenants and their roles");
    }
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    (status, value)
}

fn json_request(method: &str, uri: &str, host: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

fn get(uri: &str, slug: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .header(header::HOST, format!("{slug}.{DOMAIN}"))
        .body(Body::empty())
        .expect("request")
}

async fn sign_up(app: &Router, slug: &str) -> (StatusCode, Value) {
    let form = json!({
        "slug": slug,
        "name": format!("{slug} Inc."),
        "first_contact": { "name": format!("Founder of {slug}"), "email": format!("founder@{slug}.test") }
    });
    send(app, json_request("POST", "/organizations", DOMAIN, form)).await
}

fn names(contacts: &Value) -> Vec<String> {
    contacts
        .as_array()
        .expect("a list of contacts")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_owned())
        .collect()
}

async fn schemas(db: &DatabaseConnection) -> Vec<String> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'org\\_%' ORDER BY 1",
    ))
    .await
    .expect("schemas")
    .iter()
    .map(|row| row.try_get_by_index::<String>(0).expect("nspname"))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_organizations_signed_up_over_http_each_get_a_seeded_tenant() {
    let (test, app) = setup("crm_signup").await;
    for slug in ["acme", "globex", "initech"] {
        let (status, body) = sign_up(&app, slug).await;
        assert_eq!(status, StatusCode::CREATED, "{slug}: {body}");
        assert_eq!(body["slug"], slug);
    }
    assert_eq!(
        schemas(test.db()).await,
        ["org_acme", "org_globex", "org_initech"]
    );

    for slug in ["acme", "globex", "initech"] {
        // The seed migration inserted the stages through the entity and read their ids back.
        let (status, stages) = send(&app, get("/stages", slug)).await;
        assert_eq!(status, StatusCode::OK, "{stages}");
        let stage_names: Vec<&str> = stages
            .as_array()
            .expect("stages")
            .iter()
            .map(|s| s["name"].as_str().expect("name"))
            .collect();
        assert_eq!(stage_names, ["Lead", "Qualified", "Customer"]);
        let lead = stages[0]["id"].clone();

        // The sample contact points at the stage id the seed got back; the founder was added
        // in the sign-up's own transaction, through a scope on it.
        let (status, contacts) = send(&app, get("/contacts", slug)).await;
        assert_eq!(status, StatusCode::OK, "{contacts}");
        assert_eq!(
            names(&contacts),
            ["Sample Contact".to_owned(), format!("Founder of {slug}")]
        );
        assert_eq!(contacts[0]["stage_id"], lead);
        // The phone column came from the migration that asks `has_column` first.
        assert_eq!(contacts[0]["phone"], Value::Null);
    }
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subdomain_picks_the_tenant_and_tenants_stay_apart() {
    let (test, app) = setup("crm_isolation").await;
    for slug in ["acme", "globex"] {
        assert_eq!(sign_up(&app, slug).await.0, StatusCode::CREATED);
    }
    let contact = json!({ "name": "Wile E. Coyote", "email": "wile@acme.test", "phone": "555" });
    let (status, created) = send(
        &app,
        json_request("POST", "/contacts", &format!("acme.{DOMAIN}"), contact),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let (_, acme) = send(&app, get("/contacts", "acme")).await;
    let (_, globex) = send(&app, get("/contacts", "globex")).await;
    assert!(names(&acme).contains(&"Wile E. Coyote".to_owned()));
    assert!(!names(&globex).contains(&"Wile E. Coyote".to_owned()));
    assert_eq!(names(&globex).len(), 2, "{globex}");
    // Strict mode: the api's own login reaches no tenant outside a scope.
    let outside = test
        .runtime
        .query_all_raw(Statement::from_string(
            test.runtime.get_database_backend(),
            "SELECT name FROM org_acme.contact",
        ))
        .await
        .expect_err("the runtime role holds no privilege on a tenant");
    assert!(
        sea_tenant::DbError(&outside)
            .to_string()
            .contains("(SQLSTATE 42501)"),
        "{outside}"
    );

    // A host with a port still names the tenant; no subdomain, or an unknown one, does not.
    let with_port = Request::builder()
        .uri("/contacts")
        .header(header::HOST, format!("acme.{DOMAIN}:8000"))
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&app, with_port).await.0, StatusCode::OK);
    assert_eq!(
        send(&app, get("/contacts", "umbrella")).await.0,
        StatusCode::NOT_FOUND
    );
    let bare = Request::builder()
        .uri("/contacts")
        .header(header::HOST, DOMAIN)
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&app, bare).await.0, StatusCode::BAD_REQUEST);
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_moves_the_data_and_the_old_slug_stops_resolving_at_once() {
    let (test, app) = setup("crm_rename").await;
    assert_eq!(sign_up(&app, "acme").await.0, StatusCode::CREATED);
    // Warm the resolver's cache for the old slug: the rename must invalidate it.
    assert_eq!(send(&app, get("/contacts", "acme")).await.0, StatusCode::OK);

    let (status, renamed) = send(
        &app,
        json_request(
            "PATCH",
            "/organizations/acme",
            DOMAIN,
            json!({ "slug": "acmecorp" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["slug"], "acmecorp");

    assert_eq!(
        send(&app, get("/contacts", "acme")).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, contacts) = send(&app, get("/contacts", "acmecorp")).await;
    assert_eq!(status, StatusCode::OK, "{contacts}");
    assert_eq!(names(&contacts), ["Sample Contact", "Founder of acme"]);
    assert_eq!(schemas(test.db()).await, ["org_acmecorp"]);
    test.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_slugs_are_refused_and_leave_nothing_behind() {
    let (test, app) = setup("crm_hostile").await;
    assert_eq!(sign_up(&app, "acme").await.0, StatusCode::CREATED);

    for slug in [
        "acme\"; DROP SCHEMA org_acme CASCADE; --",
        "Acme",
        "",
        "x".repeat(80).as_str(),
    ] {
        let (status, body) = sign_up(&app, slug).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{slug:?}: {body}");
    }
    // A duplicate slug is a conflict, not a second tenant.
    assert_eq!(sign_up(&app, "acme").await.0, StatusCode::CONFLICT);

    for host in ["acme'.crm.test", "org_acme.crm.test", "ACME\".crm.test"] {
        let request = Request::builder()
            .uri("/contacts")
            .header(header::HOST, host)
            .body(Body::empty())
            .expect("request");
        let (status, body) = send(&app, request).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "{host}: {status} {body}"
        );
    }

    let organizations = test
        .db()
        .query_one_raw(Statement::from_string(
            test.db().get_database_backend(),
            "SELECT count(*) FROM public.organization",
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("count");
    assert_eq!(organizations, 1);
    assert_eq!(schemas(test.db()).await, ["org_acme"]);
    let (_, contacts) = send(&app, get("/contacts", "acme")).await;
    assert_eq!(names(&contacts).len(), 2, "{contacts}");
    test.finish().await;
}
