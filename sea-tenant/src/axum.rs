//! axum 0.8 integration (cargo feature `axum`): an extractor that resolves the request's
//! tenant and hands the handler a [`TenantScope`].
//!
//! # Where the tenant comes from
//!
//! A [`TenantResolver`] asks one or more [`TenantSource`]s in order, and the first one
//! present in the request wins: a header (any case: `TenantSource::header("X-Tenant")`), the
//! subdomain under a base domain (`acme.example.com` → `acme`), or a path segment after a
//! prefix (`/t/acme/posts` → `acme`).
//!
//! # What the value means
//!
//! - **Owner mode**, [`TenantResolver::for_owner`]: the value is a public identifier, the
//!   value of the one placeholder of the owner entity's template. With
//!   `#[sea_tenant::tenant(template = "org_<slug>")]` on `organization`, the host
//!   `acme.example.com` names the tenant `org_acme`. With
//!   [`require_owner_row(true)`](TenantResolver::require_owner_row) the owner row must exist
//!   too (`WHERE slug = $1`, a bound parameter).
//! - **Schema-name mode**, [`TenantResolver::new`]: the value is the schema name itself
//!   (`X-Tenant: org_acme`), for apps without an owner entity.
//!
//! # Answers
//!
//! No source present: `400`. A value that does not make a valid [`TenantName`] (empty,
//! `acme; DROP`, `../x`, quotes, upper case, too long for PostgreSQL's 63 bytes): `400`,
//! with the value and the rule it breaks ([`TenantRejection::Invalid`]); such a value never
//! reaches SQL. A valid value without a schema (or without an owner row, if required): `404`.
//!
//! # Caching
//!
//! The existence checks (the owner row by its field, the schema in `pg_namespace`, each by a
//! unique index) run on a tenant's first request; a positive answer is cached for
//! [`TenantResolver::cache_ttl`] (30 s by default), so a busy tenant costs no query. Unknown
//! values are not cached: a tenant created a moment ago is found at once. An owner renamed
//! or deleted through the owner hooks **in this process** is forgotten at once by every
//! resolver (see [`events`](crate::events)): the old slug answers 404 on the next request
//! and the new one resolves. A change made elsewhere (another app server, raw SQL) is seen
//! when the entry expires; until then a renamed or dropped schema's queries fail with
//! "relation does not exist", they never reach another schema. Inside a caller's
//! transaction the hooks announce a rename before it commits: a request in between may cache
//! the old name until the entry expires.
//!
//! # Example: the tenant by subdomain slug
//!
//! ```no_run
//! # mod organization {
//! #     use sea_orm::entity::prelude::*;
//! #     #[sea_tenant::tenant(template = "org_<slug>")]
//! #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
//! #     #[sea_orm(table_name = "organization")]
//! #     pub struct Model { #[sea_orm(primary_key)] pub id: i32, pub slug: String }
//! #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//! #     pub enum Relation {}
//! # }
//! use axum::{Router, routing::get};
//! use sea_orm::{ConnectionTrait, DatabaseConnection};
//! use sea_tenant::axum::{Tenant, TenantResolver, TenantSource};
//!
//! async fn count_posts(Tenant(t): Tenant) -> String {
//!     let rows = t.execute_unprepared("SELECT 1 FROM post").await;
//!     format!("{}: {:?}", t.tenant(), rows.map(|r| r.rows_affected()))
//! }
//!
//! fn app(db: DatabaseConnection) -> Result<Router, sea_tenant::Error> {
//!     // acme.example.com → org_acme, if an organization has the slug `acme`.
//!     let by_host = TenantSource::subdomain("example.com");
//!     let tenants = TenantResolver::for_owner::<organization::Entity>(db, by_host)?
//!         .require_owner_row(true);
//!     Ok(Router::new().route("/posts", get(count_posts)).with_state(tenants))
//! }
//! ```
//!
//! Several sources, in order; schema-name mode:
//!
//! ```no_run
//! # fn demo(db: sea_orm::DatabaseConnection) {
//! use sea_tenant::axum::{TenantResolver, TenantSource};
//!
//! // `X-Tenant: org_acme`, else `org_acme.example.com`, else `/t/org_acme/…`.
//! let tenants = TenantResolver::new(db, TenantSource::header("X-Tenant"))
//!     .or(TenantSource::subdomain("example.com"))
//!     .or(TenantSource::path("/t"));
//! # }
//! ```

use ::axum::extract::{FromRef, FromRequestParts};
use ::axum::http::StatusCode;
use ::axum::http::request::Parts;
use ::axum::response::{IntoResponse, Response};

use crate::{Error, NameError, TenantName, TenantScope};

mod resolver;
mod source;

pub use resolver::TenantResolver;
pub use source::TenantSource;

/// The extractor: the request's tenant scope.
///
/// ```no_run
/// use sea_orm::EntityTrait;
/// use sea_tenant::axum::Tenant;
///
/// async fn handler(Tenant(t): Tenant) -> String {
///     // e.g. `post::Entity::find().all(&t).await`
///     t.tenant().to_string()
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Tenant(pub TenantScope);

impl<S> FromRequestParts<S> for Tenant
where
    TenantResolver: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = TenantRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        TenantResolver::from_ref(state)
            .resolve(parts)
            .await
            .map(Tenant)
    }
}

/// Why a request has no tenant scope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TenantRejection {
    /// None of the resolver's sources is present in the request: 400.
    #[error("the request names no tenant (looked at: {})", list(.looked_at))]
    Missing {
        /// The sources asked, in order.
        looked_at: Vec<TenantSource>,
    },
    /// The value does not make a valid tenant name: 400. Its `Display` shows the value
    /// escaped and the rule it breaks.
    #[error("invalid tenant {value:?} from {from}: {reason}")]
    Invalid {
        /// The source the value came from.
        from: TenantSource,
        /// The value as sent.
        value: String,
        /// The rule it breaks, about the whole name (in owner mode, the template rendered
        /// with the value).
        reason: NameError,
    },
    /// No such tenant (no schema, or no owner row if one is required): 404.
    #[error("unknown tenant {value:?}")]
    Unknown {
        /// The value as sent.
        value: String,
        /// The tenant it names.
        tenant: TenantName,
    },
    /// The database could not be asked: 500.
    #[error(transparent)]
    Database(Error),
}

fn list(sources: &[TenantSource]) -> String {
    let names: Vec<String> = sources.iter().map(ToString::to_string).collect();
    names.join(", ")
}

impl TenantRejection {
    /// The HTTP status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            TenantRejection::Missing { .. } | TenantRejection::Invalid { .. } => {
                StatusCode::BAD_REQUEST
            }
            TenantRejection::Unknown { .. } => StatusCode::NOT_FOUND,
            TenantRejection::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for TenantRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            // Database details stay in the logs, not in the response.
            TenantRejection::Database(err) => {
                tracing::error!(error = %err, "tenant lookup failed");
                "tenant lookup failed".to_owned()
            }
            other => other.to_string(),
        };
        (status, body).into_response()
    }
}
