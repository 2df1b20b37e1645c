//! [`TenantResolver`]: a request's sources → a public identifier → a checked tenant scope,
//! with a cache of the tenants found.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::axum::http::request::Parts;
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ColumnType, ConnectionTrait, DatabaseConnection, DbBackend, QueryFilter,
    QuerySelect, QueryTrait, Statement,
};

use super::{TenantRejection, TenantSource};
use crate::owner::{IdentifierTemplate, TenantOwner};
use crate::{Error, NameError, TenantConnectionExt, TenantName, TenantScope, events};

/// Known tenants kept at most; past that the cache starts over (a crude bound that keeps
/// memory flat under a flood of distinct names).
const MAX_CACHED: usize = 10_000;

/// Resolves a request's tenant; the state the [`Tenant`](super::Tenant) extractor needs
/// (directly, or through [`FromRef`](::axum::extract::FromRef) from a larger state). Cloning
/// is cheap and clones share the cache.
///
/// See the [module docs](super) for the two modes (schema name, owner identifier).
#[derive(Clone)]
pub struct TenantResolver {
    db: DatabaseConnection,
    sources: Arc<[TenantSource]>,
    owner: Option<Arc<OwnerLookup>>,
    require_owner_row: bool,
    shared_schemas: Arc<[String]>,
    named_statements: bool,
    ttl: Duration,
    known: Arc<Mutex<HashMap<TenantName, Checked>>>,
}

/// A tenant found to exist: when, and under which owner generation (see [`events`]).
#[derive(Debug, Clone, Copy)]
struct Checked {
    at: Instant,
    generation: u64,
}

/// Builds the owner-row query for one identifier (see [`OwnerLookup::row_query`]).
type RowQuery = dyn Fn(&str) -> Option<Statement> + Send + Sync;

/// How an identifier maps to its owner's tenant, and how its owner row is found.
struct OwnerLookup {
    template: IdentifierTemplate,
    table: String,
    /// `SELECT 1 FROM <owner> WHERE <field> = $1 LIMIT 1` for the identifier given; `None`
    /// if no row can have it (not a number, for a number field).
    row_query: Box<RowQuery>,
}

impl std::fmt::Debug for TenantResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("TenantResolver");
        out.field("sources", &self.sources);
        if let Some(owner) = &self.owner {
            out.field("owner_table", &owner.table)
                .field("template", &owner.template.template())
                .field("require_owner_row", &self.require_owner_row);
        }
        out.field("ttl", &self.ttl).finish()
    }
}

impl TenantResolver {
    /// Schema-name mode: the request's value *is* the tenant's schema name (`X-Tenant:
    /// org_acme`), checked against the catalog. Add sources with [`TenantResolver::or`].
    pub fn new(db: DatabaseConnection, source: TenantSource) -> TenantResolver {
        TenantResolver {
            db,
            sources: Arc::from([source]),
            owner: None,
            require_owner_row: false,
            shared_schemas: Arc::from(Vec::new()),
            named_statements: true,
            ttl: Duration::from_secs(30),
            known: Arc::default(),
        }
    }

    /// Owner mode: the request's value is a public identifier, the value of the one
    /// placeholder of `E`'s template: with `org_<slug>`, the slug `acme` names the tenant
    /// `org_acme`. [`Error::TemplateNotResolvable`] if the template has more than one
    /// placeholder (or its field is no column of `E`): call this at start-up.
    ///
    /// The tenant's schema must exist; with [`require_owner_row`](Self::require_owner_row)
    /// its owner row must exist too.
    pub fn for_owner<E: TenantOwner>(
        db: DatabaseConnection,
        source: TenantSource,
    ) -> Result<TenantResolver, Error> {
        let template = IdentifierTemplate::of::<E>()?;
        let column =
            E::Column::from_str(template.field()).map_err(|_| Error::TemplateNotResolvable {
                template: template.template(),
                reason: format!("<{}> is no column of its entity", template.field()),
            })?;
        // The identifier is always a bound parameter. An integer column gets it as a number
        // (a non-number has no row), so that its index serves; any other column is compared
        // as text, which for text and varchar columns is the column itself, index included.
        let integer = matches!(
            column.def().get_column_type(),
            ColumnType::TinyInteger
                | ColumnType::SmallInteger
                | ColumnType::Integer
                | ColumnType::BigInteger
        );
        let row_query = move |identifier: &str| {
            let condition = if integer {
                Expr::col((E::default(), column)).eq(identifier.parse::<i64>().ok()?)
            } else {
                Expr::col((E::default(), column))
                    .cast_as(Alias::new("text"))
                    .eq(identifier)
            };
            let query = E::find()
                .select_only()
                .expr(Expr::cust("1"))
                .filter(condition)
                .limit(1);
            Some(query.build(DbBackend::Postgres))
        };
        let mut resolver = TenantResolver::new(db, source);
        resolver.owner = Some(Arc::new(OwnerLookup {
            template,
            table: E::default().table_name().to_owned(),
            row_query: Box::new(row_query),
        }));
        Ok(resolver)
    }

    /// Asks `source` too, after the sources given so far: the first source present in a
    /// request names its tenant (a present but invalid value is refused, not skipped).
    pub fn or(mut self, source: TenantSource) -> TenantResolver {
        let mut sources = self.sources.to_vec();
        sources.push(source);
        self.sources = sources.into();
        self
    }

    /// Owner mode: whether an identifier needs its owner row (`WHERE <field> = $1`) as well
    /// as its schema; without one it answers 404. Off by default; no effect in schema-name
    /// mode.
    pub fn require_owner_row(mut self, require: bool) -> TenantResolver {
        self.require_owner_row = require;
        self
    }

    /// How long an existing tenant is trusted without asking the database again;
    /// `Duration::ZERO` checks on every request. An owner renamed or deleted through the
    /// owner hooks of this process is forgotten at once (see [`events`]).
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
        let (from, value) = self
            .sources
            .iter()
            .find_map(|source| source.value(parts).map(|value| (source, value)))
            .ok_or_else(|| TenantRejection::Missing {
                looked_at: self.sources.to_vec(),
            })?;
        let invalid = |value: &str, reason| TenantRejection::Invalid {
            from: from.clone(),
            value: value.to_owned(),
            reason,
        };
        // A header value that is not text keeps its bytes as U+FFFD, which no name allows.
        let value = value.unwrap_or_else(Cow::Owned);
        let name = self
            .tenant_name(&value)
            .map_err(|reason| invalid(&value, reason))?;
        let scope = self
            .db
            .tenant(&name)
            .with_shared_schemas(self.shared_schemas.iter().cloned())
            .with_named_statements(self.named_statements);
        if !self.is_cached(&name) {
            // Read before the look-up: a rename committed meanwhile invalidates the result.
            let generation = events::owner_generation();
            let found = self
                .exists(&scope, &value)
                .await
                .map_err(|e| TenantRejection::Database(Error::tenant_db(&name)(e)))?;
            if !found {
                return Err(TenantRejection::Unknown {
                    value: value.into_owned(),
                    tenant: name,
                });
            }
            self.remember(name, generation);
        }
        Ok(scope)
    }

    /// The tenant `value` names; the reason if it is not valid.
    fn tenant_name(&self, value: &str) -> Result<TenantName, NameError> {
        if value.is_empty() {
            // Owner mode would render the template's bare text (`org_`).
            return Err(NameError::Empty {
                value: String::new(),
            });
        }
        match &self.owner {
            None => TenantName::new(value),
            Some(owner) => TenantName::new(owner.template.render(value)),
        }
    }

    /// Whether the tenant exists: its schema, and in owner mode with
    /// [`require_owner_row`](Self::require_owner_row) its owner row.
    async fn exists(&self, scope: &TenantScope, value: &str) -> Result<bool, sea_orm::DbErr> {
        if let Some(owner) = self.owner.as_ref().filter(|_| self.require_owner_row) {
            let Some(query) = (owner.row_query)(value) else {
                return Ok(false);
            };
            if self.db.query_one_raw(query).await?.is_none() {
                return Ok(false);
            }
        }
        scope.schema_exists().await
    }

    fn is_cached(&self, name: &TenantName) -> bool {
        // A poisoned lock only means another request panicked mid-update: the map is still
        // usable, at worst missing an entry.
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.get(name).is_some_and(|checked| {
            checked.at.elapsed() < self.ttl && checked.generation == events::owner_generation()
        })
    }

    fn remember(&self, name: TenantName, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= MAX_CACHED {
            known.clear();
        }
        known.insert(
            name,
            Checked {
                at: Instant::now(),
                generation,
            },
        );
    }
}
