//! The example's HTTP API: organizations, tenant routes, and the 200/400/404 paths.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use sea_orm_migration::MigratorTrait;
use sea_tenant_tests::{TestDb, schema_exists};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    tenant: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = tenant {
        req = req.header("x-tenant", t);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

#[tokio::test(flavor = "multi_thread")]
async fn organizations_projects_and_tasks_over_http() {
    let t = TestDb::new("api").await;
    migration::Migrator::up(&t.db, None).await.unwrap();
    let app = saas_example::api::router(t.db.clone());

    let (status, org) = call(
        &app,
        "POST",
        "/orgs",
        None,
        Some(json!({"slug": "acme", "name": "Acme"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    assert!(schema_exists(&t.db, "org_acme").await);
    call(
        &app,
        "POST",
        "/orgs",
        None,
        Some(json!({"slug": "globex", "name": "Globex"})),
    )
    .await;

    let (status, err) = call(
        &app,
        "POST",
        "/orgs",
        None,
        Some(json!({"slug": "Bad Slug", "name": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("invalid tenant name"),
        "{err}"
    );
    let (status, _) = call(
        &app,
        "POST",
        "/orgs",
        None,
        Some(json!({"slug": "acme", "name": "again"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, project) = call(
        &app,
        "POST",
        "/projects",
        Some("org_acme"),
        Some(json!({"name": "Rocket"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    let pid = project["id"].as_i64().unwrap();
    let (status, _) = call(
        &app,
        "POST",
        "/tasks",
        Some("org_acme"),
        Some(json!({"project_id": pid, "title": "fuel"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, list) = call(&app, "GET", "/projects", Some("org_acme"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([{"id": pid, "name": "Rocket"}]));
    let (status, tasks) = call(
        &app,
        "GET",
        &format!("/projects/{pid}/tasks"),
        Some("org_acme"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tasks[0]["title"], "fuel");
    assert_eq!(tasks[0]["assignee"], Value::Null);

    // Another tenant sees none of it.
    let (status, list) = call(&app, "GET", "/projects", Some("org_globex"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]));

    let (status, _) = call(&app, "GET", "/projects", None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&app, "GET", "/projects", Some("Org\"x"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&app, "GET", "/projects", Some("org_nobody"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
