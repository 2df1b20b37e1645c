//! The HTTP API. Tenant routes take the tenant from the `X-Tenant` header: a missing or
//! invalid name answers 400, a name without a schema 404 (sea-tenant's axum extractor).
//!
//! | route | what |
//! |---|---|
//! | `GET /orgs`, `POST /orgs {slug, name}` | organizations (public); creating one provisions `org_<slug>` |
//! | `GET /projects`, `POST /projects {name}` | the tenant's projects |
//! | `GET /projects/{id}/tasks` | a project's tasks, each with its assignee from `public.user` |
//! | `POST /tasks {project_id, title, assignee_id?}` | a new task |

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use sea_tenant::Error;
use sea_tenant::axum::{Tenant, TenantResolver, TenantSource};
use serde::{Deserialize, Serialize};

use crate::entity::{organization, project, task, user};

/// The router's state: the pool, and the tenant resolver the `Tenant` extractor reads.
#[derive(Clone)]
pub struct AppState {
    db: DatabaseConnection,
    tenants: TenantResolver,
}

impl FromRef<AppState> for TenantResolver {
    fn from_ref(state: &AppState) -> TenantResolver {
        state.tenants.clone()
    }
}

/// The application's routes over `db`.
pub fn router(db: DatabaseConnection) -> Router {
    let tenants = TenantResolver::new(db.clone(), TenantSource::header("x-tenant"));
    Router::new()
        .route("/orgs", get(list_orgs).post(create_org))
        .route("/projects", get(list_projects).post(create_project))
        .route("/projects/{id}/tasks", get(list_tasks))
        .route("/tasks", post(create_task))
        .with_state(AppState { db, tenants })
}

/// Serves the API on `addr` over the database at `url`.
pub async fn serve(url: &str, addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let db = sea_orm::Database::connect(url).await?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("listening on http://{addr} (tenant routes need an X-Tenant header)");
    axum::serve(listener, router(db)).await?;
    Ok(())
}

/// An error answer: `{"error": "..."}` with a status.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

/// Owner hooks carry sea-tenant's typed error inside the `DbErr`: a bad slug is the client's
/// mistake, a taken one a conflict.
impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> ApiError {
        let status = match sea_tenant::owner::tenant_error(&err) {
            Some(Error::InvalidName(_)) => StatusCode::BAD_REQUEST,
            Some(Error::SchemaExists { .. }) => StatusCode::CONFLICT,
            _ if matches!(
                err.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
            {
                StatusCode::CONFLICT
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let text = match sea_tenant::owner::tenant_error(&err) {
            Some(e) => e.to_string(),
            None => err.to_string(),
        };
        ApiError(status, text)
    }
}

type ApiResult<T> = Result<T, ApiError>;

#[derive(Deserialize)]
struct NewOrg {
    slug: String,
    name: String,
}

async fn list_orgs(State(state): State<AppState>) -> ApiResult<Json<Vec<organization::Model>>> {
    let orgs = organization::Entity::find()
        .order_by_asc(organization::Column::Id)
        .all(&state.db)
        .await?;
    Ok(Json(orgs))
}

async fn create_org(
    State(state): State<AppState>,
    Json(new): Json<NewOrg>,
) -> ApiResult<(StatusCode, Json<organization::Model>)> {
    let org = organization::ActiveModel {
        slug: Set(new.slug),
        name: Set(new.name),
        ..Default::default()
    }
    .insert(&state.db)
    .await?;
    Ok((StatusCode::CREATED, Json(org)))
}

#[derive(Deserialize)]
struct NewProject {
    name: String,
}

async fn list_projects(Tenant(t): Tenant) -> ApiResult<Json<Vec<project::Model>>> {
    Ok(Json(
        project::Entity::find()
            .order_by_asc(project::Column::Id)
            .all(&t)
            .await?,
    ))
}

async fn create_project(
    Tenant(t): Tenant,
    Json(new): Json<NewProject>,
) -> ApiResult<(StatusCode, Json<project::Model>)> {
    let project = project::ActiveModel {
        name: Set(new.name),
        ..Default::default()
    }
    .insert(&t)
    .await?;
    Ok((StatusCode::CREATED, Json(project)))
}

#[derive(Serialize)]
struct TaskWithAssignee {
    #[serde(flatten)]
    task: task::Model,
    assignee: Option<user::Model>,
}

async fn list_tasks(
    Tenant(t): Tenant,
    Path(id): Path<i32>,
) -> ApiResult<Json<Vec<TaskWithAssignee>>> {
    let rows = task::Entity::find()
        .filter(task::Column::ProjectId.eq(id))
        .order_by_asc(task::Column::Id)
        .find_also_related(user::Entity)
        .all(&t)
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(task, assignee)| TaskWithAssignee { task, assignee })
            .collect(),
    ))
}

#[derive(Deserialize)]
struct NewTask {
    project_id: i32,
    title: String,
    assignee_id: Option<i32>,
}

async fn create_task(
    Tenant(t): Tenant,
    Json(new): Json<NewTask>,
) -> ApiResult<(StatusCode, Json<task::Model>)> {
    let task = task::ActiveModel {
        project_id: Set(new.project_id),
        title: Set(new.title),
        done: Set(false),
        assignee_id: Set(new.assignee_id),
        ..Default::default()
    }
    .insert(&t)
    .await?;
    Ok((StatusCode::CREATED, Json(task)))
}
