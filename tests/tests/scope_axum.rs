//! The axum extractor against a real PostgreSQL, through `oneshot` on a `Router`.
//!
//! Schema-name mode (`X-Tenant: acme`), and owner mode: a slug from a header, a subdomain or
//! a path segment resolved through the owner's template (`org_<slug>`), sources in order,
//! hostile values refused with 400 before any SQL, unknown slugs 404 (with the owner-row
//! check), renames and deletes seen at once despite the cache, and tenants that never mix.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::routing::get;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait, NotSet, Set,
};
use sea_tenant::axum::{Tenant, TenantRejection, TenantResolver, TenantSource};
use sea_tenant::{Error, NameError};
use sea_tenant_tests::TestDb;
use sea_tenant_tests::owner_entities::OWNER_TABLES_SQL;
use sea_tenant_tests::owner_entities::classic::{org_id, org_slug};
use sea_tenant_tests::owner_entities::two_fields;
use sea_tenant_tests::scope_support::{create_blog_schema, post};
use tower::ServiceExt;

async fn titles(Tenant(t): Tenant) -> Result<String, (StatusCode, String)> {
    let rows = post::Entity::find()
        .all(&t)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(rows
        .into_iter()
        .map(|p| p.title)
        .collect::<Vec<_>>()
        .join(","))
}

/// `/posts`, `/t/{slug}/posts`, and `/n/{slug}/posts` nested (axum strips the nest's
/// prefix from the URI the handler sees).
fn app(resolver: TenantResolver) -> Router {
    let nested = Router::new().route("/posts", get(titles));
    Router::new()
        .route("/posts", get(titles))
        .route("/t/{slug}/posts", get(titles))
        .nest("/n/{slug}", nested)
        .with_state(resolver)
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn request(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).expect("request")
}

fn get_with(header: Option<(&str, &str)>) -> Request<Body> {
    request("/posts", header.as_slice())
}

fn ok(body: &str) -> (StatusCode, String) {
    (StatusCode::OK, body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_name_mode_resolves_from_header_and_subdomain() {
    let test = TestDb::new("scope_axum").await;
    create_blog_schema(&test.db, "acme").await;
    create_blog_schema(&test.db, "globex").await;
    test.db
        .execute_unprepared(
            "INSERT INTO acme.post (title) VALUES ('acme-1'); \
             INSERT INTO globex.post (title) VALUES ('globex-1')",
        )
        .await
        .expect("rows");

    // The header name as people write it: no panic, matched in any case.
    let by_header = app(TenantResolver::new(
        test.db.clone(),
        TenantSource::header("X-Tenant"),
    ));

    assert_eq!(
        call(&by_header, get_with(Some(("x-tenant", "acme")))).await,
        ok("acme-1")
    );
    // Cached the second time; still the right tenant.
    assert_eq!(
        call(&by_header, get_with(Some(("x-tenant", "acme")))).await,
        ok("acme-1")
    );
    assert_eq!(
        call(&by_header, get_with(Some(("X-TENANT", "globex")))).await,
        ok("globex-1")
    );
    let (status, body) = call(&by_header, get_with(Some(("x-tenant", "Acme;DROP")))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = call(&by_header, get_with(Some(("x-tenant", "public")))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = call(&by_header, get_with(None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        "the request names no tenant (looked at: header x-tenant)"
    );
    let (status, body) = call(&by_header, get_with(Some(("x-tenant", "initech")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("initech"), "{body}");

    // A tenant created after a 404 is found at once (unknown names are not cached).
    create_blog_schema(&test.db, "initech").await;
    assert_eq!(
        call(&by_header, get_with(Some(("x-tenant", "initech")))).await,
        ok("")
    );

    let by_host = app(TenantResolver::new(
        test.db.clone(),
        TenantSource::subdomain("example.com"),
    ));
    assert_eq!(
        call(
            &by_host,
            get_with(Some(("host", "globex.example.com:8080")))
        )
        .await,
        ok("globex-1")
    );
    let (status, _) = call(&by_host, get_with(Some(("host", "nobody.example.com")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&by_host, get_with(Some(("host", "Bad-Name.example.com")))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&by_host, get_with(Some(("host", "example.com")))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A database with the owner tables and two organizations, `acme` and `globex`, created
/// through the hooks (so `org_acme` and `org_globex` exist), one post each.
async fn two_orgs(label: &str) -> (TestDb, org_slug::Model, org_slug::Model) {
    let test = TestDb::new(label).await;
    test.db
        .execute_unprepared(OWNER_TABLES_SQL)
        .await
        .expect("owner tables");
    let acme = insert_org(&test.db, "acme").await;
    let globex = insert_org(&test.db, "globex").await;
    test.db
        .execute_unprepared(
            "INSERT INTO org_acme.post (title) VALUES ('acme-1'); \
             INSERT INTO org_globex.post (title) VALUES ('globex-1')",
        )
        .await
        .expect("rows");
    (test, acme, globex)
}

async fn insert_org(db: &DatabaseConnection, slug: &str) -> org_slug::Model {
    org_slug::ActiveModel {
        id: NotSet,
        slug: Set(slug.to_owned()),
        name: Set(slug.to_uppercase()),
    }
    .insert(db)
    .await
    .unwrap_or_else(|e| panic!("insert {slug}: {e}"))
}

/// Header, then subdomain, then `/t/{slug}` (or `/n/{slug}`), resolved through `org_<slug>`.
fn by_slug(db: &DatabaseConnection) -> TenantResolver {
    TenantResolver::for_owner::<org_slug::Entity>(db.clone(), TenantSource::header("X-Tenant"))
        .expect("org_<slug> has one placeholder")
        .or(TenantSource::subdomain("example.com"))
        .or(TenantSource::path("/t"))
        .or(TenantSource::path("/n"))
        .require_owner_row(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slug_names_its_tenant_from_each_source_in_order() {
    let (test, _acme, _globex) = two_orgs("axum_sources").await;
    let app = app(by_slug(&test.db));

    // Each source alone.
    assert_eq!(
        call(&app, request("/posts", &[("x-tenant", "acme")])).await,
        ok("acme-1")
    );
    assert_eq!(
        call(&app, request("/posts", &[("host", "globex.example.com")])).await,
        ok("globex-1")
    );
    // Host names are case-insensitive; the port and a trailing dot do not matter.
    assert_eq!(
        call(
            &app,
            request("/posts", &[("host", "GLOBEX.Example.com.:8443")])
        )
        .await,
        ok("globex-1")
    );
    assert_eq!(
        call(&app, request("/t/acme/posts", &[])).await,
        ok("acme-1")
    );
    // Inside a nested router: the original path is read.
    assert_eq!(
        call(&app, request("/n/globex/posts", &[])).await,
        ok("globex-1")
    );

    // In order: the header beats the subdomain, the subdomain beats the path.
    assert_eq!(
        call(
            &app,
            request(
                "/t/acme/posts",
                &[("x-tenant", "globex"), ("host", "acme.example.com")]
            )
        )
        .await,
        ok("globex-1")
    );
    assert_eq!(
        call(
            &app,
            request("/t/acme/posts", &[("host", "globex.example.com")])
        )
        .await,
        ok("globex-1")
    );
    // A host that is no tenant subdomain is absent, so the path decides.
    assert_eq!(
        call(&app, request("/t/acme/posts", &[("host", "example.com")])).await,
        ok("acme-1")
    );
    // A source present with a bad value is refused, not skipped for the next one.
    let (status, body) = call(
        &app,
        request("/posts", &[("x-tenant", ""), ("host", "acme.example.com")]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        "invalid tenant \"\" from header x-tenant: invalid tenant name \"\": it is empty"
    );

    let (status, body) = call(&app, request("/posts", &[("host", "example.com")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        "the request names no tenant (looked at: header x-tenant, subdomain of example.com, \
         path /t/{tenant}, path /n/{tenant})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_identifiers_are_refused_with_400_before_any_sql() {
    let (test, _acme, _globex) = two_orgs("axum_hostile").await;
    let live = app(by_slug(&test.db));
    // The same resolver on no database at all: any query would answer 500.
    let no_db = app(by_slug(&DatabaseConnection::default()));

    let too_long = "a".repeat(60); // `org_` + 60 bytes: one past PostgreSQL's 63
    let cases: [(&str, &str); 9] = [
        ("acme; DROP", "character ';' at byte 8"),
        (
            "acme; DROP SCHEMA org_globex CASCADE",
            "character ';' at byte 8",
        ),
        ("../x", "character '.' at byte 4"),
        ("acme\"", "character '\"' at byte 8"),
        ("o'hara", "character '\\'' at byte 5"),
        ("Acme", "character 'A' at byte 4"),
        ("acme-corp", "character '-' at byte 8"),
        (&too_long, "it is 64 bytes long, the limit is 63"),
        ("", "it is empty"),
    ];
    for (value, rule) in cases {
        for app in [&live, &no_db] {
            let (status, body) = call(app, request("/posts", &[("x-tenant", value)])).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{value:?}: {body}");
            assert!(
                body.starts_with(&format!("invalid tenant {value:?} from header x-tenant: ")),
                "{value:?}: {body}"
            );
            assert!(body.contains(rule), "{value:?}: {body}");
        }
    }
    // Through the path (percent-encoded, as a client sends it) and the host.
    for uri in ["/t/acme%3B%20DROP/posts", "/t/%2E%2E/posts", "/t//posts"] {
        let (status, body) = call(&no_db, request(uri, &[])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.contains("from path /t/{tenant}"), "{uri}: {body}");
    }
    // A header value that is not text: its bytes show as U+FFFD, which no name allows.
    let mut binary = request("/posts", &[]);
    binary.headers_mut().insert(
        "x-tenant",
        HeaderValue::from_bytes(b"acme\xff").expect("opaque bytes are a valid header value"),
    );
    let (status, body) = call(&no_db, binary).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("character '\u{fffd}' at byte 8"), "{body}");
    let (status, body) = call(&no_db, request("/posts", &[("host", "a_b%.example.com")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("from subdomain of example.com"), "{body}");

    // The longest slug that fits is valid: asked for, and unknown.
    let longest = "a".repeat(59);
    let (status, _) = call(&live, request("/posts", &[("x-tenant", &longest)])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The hostile values left every schema as it was.
    assert_eq!(
        call(&live, request("/posts", &[("x-tenant", "globex")])).await,
        ok("globex-1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_slug_is_404_and_the_owner_row_check_sees_orphan_schemas() {
    let (test, _acme, _globex) = two_orgs("axum_unknown").await;
    // A schema with the template's shape but no owner row.
    create_blog_schema(&test.db, "org_ghost").await;
    let with_row = app(by_slug(&test.db));
    let schema_only = app(by_slug(&test.db).require_owner_row(false));

    let (status, body) = call(&with_row, request("/posts", &[("x-tenant", "nobody")])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body, "unknown tenant \"nobody\"");
    let (status, _) = call(&schema_only, request("/posts", &[("x-tenant", "nobody")])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = call(&with_row, request("/posts", &[("x-tenant", "ghost")])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        call(&schema_only, request("/posts", &[("x-tenant", "ghost")])).await,
        ok("")
    );

    // The rejection is typed: the value, and the tenant it names.
    let parts = request("/posts", &[("x-tenant", "nobody")]).into_parts().0;
    match by_slug(&test.db).resolve(&parts).await {
        Err(TenantRejection::Unknown { value, tenant }) => {
            assert_eq!((value.as_str(), tenant.as_str()), ("nobody", "org_nobody"));
        }
        other => panic!("{other:?}"),
    }
    let parts = request("/posts", &[("x-tenant", "a.b")]).into_parts().0;
    assert!(matches!(
        by_slug(&test.db).resolve(&parts).await,
        Err(TenantRejection::Invalid {
            reason: NameError::InvalidChar { ch: '.', .. },
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_moves_the_slug_at_once_despite_the_cache() {
    let (test, acme, _globex) = two_orgs("axum_rename").await;
    let with_row = app(by_slug(&test.db));
    let schema_only = app(by_slug(&test.db).require_owner_row(false));
    for app in [&with_row, &schema_only] {
        // Now cached for 30 s.
        assert_eq!(
            call(app, request("/posts", &[("x-tenant", "acme")])).await,
            ok("acme-1")
        );
    }

    let mut renamed: org_slug::ActiveModel = acme.into();
    renamed.slug = Set("acme_corp".to_owned());
    renamed.update(&test.db).await.expect("rename");

    for app in [&with_row, &schema_only] {
        let (status, body) = call(app, request("/posts", &[("x-tenant", "acme")])).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        // The same data under the new slug, from every source.
        assert_eq!(
            call(app, request("/posts", &[("x-tenant", "acme_corp")])).await,
            ok("acme-1")
        );
        assert_eq!(
            call(app, request("/t/acme_corp/posts", &[])).await,
            ok("acme-1")
        );
        assert_eq!(
            call(app, request("/posts", &[("x-tenant", "globex")])).await,
            ok("globex-1")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_owner_is_404_at_once() {
    let (test, acme, _globex) = two_orgs("axum_delete").await;
    // `org_slug` drops its schema with the row.
    let app_slug = app(by_slug(&test.db));
    assert_eq!(
        call(&app_slug, request("/posts", &[("x-tenant", "acme")])).await,
        ok("acme-1")
    );
    acme.delete(&test.db).await.expect("delete");
    let (status, body) = call(&app_slug, request("/posts", &[("x-tenant", "acme")])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        call(&app_slug, request("/posts", &[("x-tenant", "globex")])).await,
        ok("globex-1")
    );

    // `org_id` keeps its schema (`drop = false`): only the owner-row check refuses it, at
    // once. Its template, `org_<id>`, is an integer placeholder.
    let org = org_id::ActiveModel {
        id: Set(7),
        name: Set("Seven".to_owned()),
    }
    .insert(&test.db)
    .await
    .expect("insert org 7");
    let by_id = app(TenantResolver::for_owner::<org_id::Entity>(
        test.db.clone(),
        TenantSource::path("/t"),
    )
    .expect("org_<id> has one placeholder")
    .require_owner_row(true));
    assert_eq!(call(&by_id, request("/t/7/posts", &[])).await, ok(""));
    // No row 8; `x7` is no number, so no row at all; `007` finds row 7, whose tenant is
    // `org_7`, not `org_007`.
    for uri in ["/t/8/posts", "/t/x7/posts", "/t/007/posts"] {
        let (status, body) = call(&by_id, request(uri, &[])).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
    }
    org.delete(&test.db).await.expect("delete org 7");
    let (status, body) = call(&by_id, request("/t/7/posts", &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_rows_never_mix_under_concurrent_requests() {
    let (test, _acme, _globex) = two_orgs("axum_isolation").await;
    test.db
        .execute_unprepared(
            "INSERT INTO org_acme.post (title) SELECT 'acme-' || g FROM generate_series(2, 20) g; \
             INSERT INTO org_globex.post (title) SELECT 'globex-' || g FROM generate_series(2, 20) g",
        )
        .await
        .expect("rows");
    let app = app(by_slug(&test.db).cache_ttl(std::time::Duration::ZERO));
    let requests = (0..60).map(|i| {
        let app = app.clone();
        async move {
            let slug = if i % 2 == 0 { "acme" } else { "globex" };
            let req = match i % 3 {
                0 => request("/posts", &[("x-tenant", slug)]),
                1 => request("/posts", &[("host", &format!("{slug}.example.com"))]),
                _ => request(&format!("/t/{slug}/posts"), &[]),
            };
            (slug, call(&app, req).await)
        }
    });
    for (slug, (status, body)) in futures::future::join_all(requests).await {
        assert_eq!(status, StatusCode::OK, "{body}");
        let titles: Vec<&str> = body.split(',').collect();
        assert_eq!(titles.len(), 20, "{slug}: {body}");
        assert!(
            titles.iter().all(|t| t.starts_with(&format!("{slug}-"))),
            "{slug} saw another tenant's rows: {body}"
        );
    }
}

#[test]
fn an_owner_template_with_two_placeholders_is_refused_at_start_up() {
    let err = TenantResolver::for_owner::<two_fields::Entity>(
        DatabaseConnection::default(),
        TenantSource::subdomain("example.com"),
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::TemplateNotResolvable {
                template: "org_<region>_<slug>",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "tenant template \"org_<region>_<slug>\" cannot resolve a tenant from one public \
         identifier: it has 2 placeholders (<region>, <slug>); exactly one is needed"
    );
    assert!(TenantSource::try_header("X Tenant").is_err());
}
