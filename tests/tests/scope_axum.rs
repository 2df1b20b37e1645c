//! The axum extractor: 200 for a known tenant, 400 for a missing or invalid name, 404 for an
//! unknown one; by header and by subdomain.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use sea_orm::{ConnectionTrait, EntityTrait};
use sea_tenant::axum::{Tenant, TenantResolver, TenantSource};
use sea_tenant_tests::TestDb;
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

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get_with(header: Option<(&str, &str)>) -> Request<Body> {
    let mut builder = Request::builder().uri("/posts");
    if let Some((name, value)) = header {
        builder = builder.header(name, value);
    }
    builder.body(Body::empty()).expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolves_tenants_from_header_and_subdomain() {
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

    let by_header = Router::new()
        .route("/posts", get(titles))
        .with_state(TenantResolver::new(
            test.db.clone(),
            TenantSource::header("x-tenant"),
        ));

    assert_eq!(
        call(&by_header, get_with(Some(("x-tenant", "acme")))).await,
        (StatusCode::OK, "acme-1".to_owned())
    );
    // Cached the second time; still the right tenant.
    assert_eq!(
        call(&by_header, get_with(Some(("x-tenant", "acme")))).await,
        (StatusCode::OK, "acme-1".to_owned())
    );
    assert_eq!(
        call(&by_header, get_with(Some(("X-Tenant", "globex")))).await,
        (StatusCode::OK, "globex-1".to_owned())
    );
    let (status, body) = call(&by_header, get_with(Some(("x-tenant", "Acme;DROP")))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = call(&by_header, get_with(Some(("x-tenant", "public")))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&by_header, get_with(None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = call(&by_header, get_with(Some(("x-tenant", "initech")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("initech"), "{body}");

    // A tenant created after a 404 is found at once (unknown names are not cached).
    create_blog_schema(&test.db, "initech").await;
    assert_eq!(
        call(&by_header, get_with(Some(("x-tenant", "initech")))).await,
        (StatusCode::OK, String::new())
    );

    let by_host = Router::new()
        .route("/posts", get(titles))
        .with_state(TenantResolver::new(
            test.db.clone(),
            TenantSource::subdomain("example.com"),
        ));
    assert_eq!(
        call(
            &by_host,
            get_with(Some(("host", "globex.example.com:8080")))
        )
        .await,
        (StatusCode::OK, "globex-1".to_owned())
    );
    let (status, _) = call(&by_host, get_with(Some(("host", "nobody.example.com")))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&by_host, get_with(Some(("host", "Bad-Name.example.com")))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&by_host, get_with(Some(("host", "example.com")))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
