//! axum 0.8 integration (cargo feature `axum`): an extractor that resolves the request's
//! tenant and hands the handler a [`TenantScope`].
//!
//! The tenant comes from a header (default `X-Tenant`) or from the first label of the `Host`
//! under a base domain (`acme.example.com` → `acme`). A missing or invalid name answers
//! `400 Bad Request`; a valid name whose schema does not exist answers `404 Not Found`.
//!
//! The existence check is one catalog query (`pg_namespace`, by its unique index), and a
//! positive answer is cached for [`TenantResolver::cache_ttl`] (30 s by default), so a busy
//! tenant costs no query at all. Unknown names are not cached: a tenant created a moment ago is
//! found at once. A schema dropped while cached is still handed out until the entry expires;
//! its queries then fail with "relation does not exist", never reach another schema.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use sea_orm::{ConnectionTrait, DatabaseConnection};
//! use sea_tenant::axum::{Tenant, TenantResolver, TenantSource};
//!
//! async fn count_posts(Tenant(t): Tenant) -> String {
//!     let rows = t.execute_unprepared("SELECT 1 FROM post").await;
//!     format!("{}: {:?}", t.tenant(), rows.map(|r| r.rows_affected()))
//! }
//!
//! fn app(db: DatabaseConnection) -> Router {
//!     let resolver = TenantResolver::new(db, TenantSource::header("x-tenant"));
//!     Router::new().route("/posts", get(count_posts)).with_state(resolver)
//! }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::axum::extract::{FromRef, FromRequestParts};
use ::axum::http::StatusCode;
use ::axum::http::header::{HOST, HeaderName};
use ::axum::http::request::Parts;
use ::axum::response::{IntoResponse, Response};
use sea_orm::DatabaseConnection;

use crate::{Error, NameError, TenantConnectionExt, TenantName, TenantScope};

/// Known tenants kept at most; past that the cache starts over (a crude bound that keeps
/// memory flat under a flood of distinct names).
const MAX_CACHED: usize = 10_000;

/// Where a request names its tenant.
#[derive(Debug, Clone)]
pub enum TenantSource {
    /// A request header holding the tenant name.
    Header(HeaderName),
    /// The label left of `base_domain` in the `Host` header (port ignored):
    /// `acme.example.com` with base `example.com` gives `acme`.
    Subdomain {
        /// The domain tenants are subdomains of, e.g. `example.com`.
        base_domain: String,
    },
}

impl TenantSource {
    /// The tenant comes from header `name` (e.g. `"x-tenant"`).
    ///
    /// # Panics
    /// If `name` is not a valid header name: a programming error, caught at start-up.
    pub fn header(name: &'static str) -> TenantSource {
        TenantSource::Header(HeaderName::from_static(name))
    }

    /// The tenant is the subdomain of `base_domain`.
    pub fn subdomain(base_domain: impl Into<String>) -> TenantSource {
        TenantSource::Subdomain {
            base_domain: base_domain.into().to_ascii_lowercase(),
        }
    }

    /// The raw tenant value of a request, if it names one.
    fn value<'p>(&self, parts: &'p Parts) -> Option<&'p str> {
        match self {
            TenantSource::Header(name) => parts.headers.get(name)?.to_str().ok(),
            TenantSource::Subdomain { base_domain } => {
                let host = parts
                    .headers
                    .get(HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| parts.uri.host())?;
                subdomain_of(host, base_domain)
            }
        }
    }
}

fn subdomain_of<'h>(host: &'h str, base_domain: &str) -> Option<&'h str> {
    let host = host.rsplit_once(':').map_or(host, |(h, _port)| h);
    let prefix = host.strip_suffix(base_domain)?.strip_suffix('.')?;
    // Only one label: `a.b.example.com` names no tenant.
    (!prefix.is_empty() && !prefix.contains('.')).then_some(prefix)
}

/// Resolves a request's tenant; the state the [`Tenant`] extractor needs (directly, or through
/// [`FromRef`] from a larger state). Cloning is cheap and clones share the cache.
#[derive(Clone)]
pub struct TenantResolver {
    db: DatabaseConnection,
    source: TenantSource,
    shared_schemas: Arc<[String]>,
    named_statements: bool,
    ttl: Duration,
    known: Arc<Mutex<HashMap<TenantName, Instant>>>,
}

impl std::fmt::Debug for TenantResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantResolver")
            .field("source", &self.source)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl TenantResolver {
    /// Resolves tenants from `source`, checking their schemas on `db`.
    pub fn new(db: DatabaseConnection, source: TenantSource) -> TenantResolver {
        TenantResolver {
            db,
            source,
            shared_schemas: Arc::from(Vec::new()),
            named_statements: true,
            ttl: Duration::from_secs(30),
            known: Arc::default(),
        }
    }

    /// How long an existing schema is trusted without asking the catalog again;
    /// `Duration::ZERO` checks on every request.
    pub fn cache_ttl(mut self, ttl: Duration) -> TenantResolver {
        self.ttl = ttl;
        self
    }

    /// Schemas appended to every scope's search path
    /// (see [`TenantScope::with_shared_schemas`]).
    pub fn shared_schemas<I, S>(mut self, schemas: I) -> TenantResolver
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.shared_schemas = schemas.into_iter().map(Into::into).collect();
        self
    }

    /// Whether scopes use named prepared statements
    /// (see [`TenantScope::with_named_statements`]).
    pub fn named_statements(mut self, named: bool) -> TenantResolver {
        self.named_statements = named;
        self
    }

    /// The scope for the request described by `parts`.
    pub async fn resolve(&self, parts: &Parts) -> Result<TenantScope, TenantRejection> {
        let raw = self.source.value(parts).ok_or(TenantRejection::Missing)?;
        let name = TenantName::new(raw).map_err(TenantRejection::Invalid)?;
        let scope = self
            .db
            .tenant(&name)
            .with_shared_schemas(self.shared_schemas.iter().cloned())
            .with_named_statements(self.named_statements);
        if !self.is_cached(&name) {
            let exists = scope
                .schema_exists()
                .await
                .map_err(|e| TenantRejection::Database(Error::tenant_db(&name)(e)))?;
            if !exists {
                return Err(TenantRejection::Unknown(name));
            }
            self.remember(name);
        }
        Ok(scope)
    }

    fn is_cached(&self, name: &TenantName) -> bool {
        // A poisoned lock only means another request panicked mid-update: the map is still
        // usable, at worst missing an entry.
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known
            .get(name)
            .is_some_and(|checked| checked.elapsed() < self.ttl)
    }

    fn remember(&self, name: TenantName) {
        if self.ttl.is_zero() {
            return;
        }
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= MAX_CACHED {
            known.clear();
        }
        known.insert(name, Instant::now());
    }
}

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
    /// The request names no tenant: 400.
    #[error("the request names no tenant")]
    Missing,
    /// The name is not a valid tenant name: 400.
    #[error(transparent)]
    Invalid(NameError),
    /// No schema has that name: 404.
    #[error("unknown tenant {0}")]
    Unknown(TenantName),
    /// The catalog could not be asked: 500.
    #[error(transparent)]
    Database(Error),
}

impl TenantRejection {
    /// The HTTP status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            TenantRejection::Missing | TenantRejection::Invalid(_) => StatusCode::BAD_REQUEST,
            TenantRejection::Unknown(_) => StatusCode::NOT_FOUND,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains() {
        assert_eq!(
            subdomain_of("acme.example.com", "example.com"),
            Some("acme")
        );
        assert_eq!(
            subdomain_of("acme.example.com:8080", "example.com"),
            Some("acme")
        );
        assert_eq!(subdomain_of("example.com", "example.com"), None);
        assert_eq!(subdomain_of("a.b.example.com", "example.com"), None);
        assert_eq!(subdomain_of("acmeexample.com", "example.com"), None);
        assert_eq!(subdomain_of("acme.other.org", "example.com"), None);
    }
}
