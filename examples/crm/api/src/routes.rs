use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use crm_entity::{contact, organization, stage};
use crm_service::{Mutation, NewContact, NewOrganization, Query};
use sea_tenant::axum::Tenant;
use serde::Deserialize;

use crate::{ApiError, AppState};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/organizations", post(create_organization))
        .route("/organizations/{slug}", patch(rename_organization))
        .route("/contacts", get(list_contacts).post(create_contact))
        .route("/stages", get(list_stages))
}

async fn create_organization(
    State(state): State<AppState>,
    Json(form): Json<NewOrganization>,
) -> Result<(StatusCode, Json<organization::Model>), ApiError> {
    let org = Mutation::create_organization(&state.db, form).await?;
    Ok((StatusCode::CREATED, Json(org)))
}

#[derive(Deserialize)]
struct Rename {
    slug: String,
}

async fn rename_organization(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Json(rename): Json<Rename>,
) -> Result<Json<organization::Model>, ApiError> {
    Ok(Json(
        Mutation::rename_organization(&state.db, &slug, rename.slug).await?,
    ))
}

async fn list_contacts(Tenant(tenant): Tenant) -> Result<Json<Vec<contact::Model>>, ApiError> {
    Ok(Json(Query::contacts(&tenant).await?))
}

async fn create_contact(
    Tenant(tenant): Tenant,
    Json(form): Json<NewContact>,
) -> Result<(StatusCode, Json<contact::Model>), ApiError> {
    let created = Mutation::create_contact(&tenant, form).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list_stages(Tenant(tenant): Tenant) -> Result<Json<Vec<stage::Model>>, ApiError> {
    Ok(Json(Query::stages(&tenant).await?))
}
