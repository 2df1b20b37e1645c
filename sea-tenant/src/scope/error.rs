//! Why a tenant scope refused a statement.

use sea_orm::{DbErr, RuntimeErr};

use crate::TenantName;

/// A statement a [`TenantScope`](crate::TenantScope) or
/// [`TenantTransaction`](crate::TenantTransaction) would not send. Nothing of the call ran.
///
/// It reaches the caller inside a [`DbErr`] (scopes implement sea-orm's traits);
/// [`ScopeError::find`] gets it back out.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeError {
    /// The statement would end or split the scope's transaction, or leave state on the pooled
    /// connection that the scope cannot take back.
    #[error("tenant {tenant}: refused `{statement}`: {rule}")]
    Refused {
        /// The tenant of the scope.
        tenant: TenantName,
        /// The refused statement (shortened).
        statement: String,
        /// The rule it breaks.
        rule: &'static str,
    },

    /// A quoted string, identifier or comment does not end, so the text cannot be split into
    /// statements the way the server would.
    #[error("tenant {tenant}: unterminated quote or comment in `{statement}`")]
    Unterminated {
        /// The tenant of the scope.
        tenant: TenantName,
        /// The text from the statement that does not end (shortened).
        statement: String,
    },

    /// A statement of a [`TransactionScope`](crate::TransactionScope) changed what would
    /// outlive the caller's transaction on the pooled connection (the path or role at session
    /// level, temporary objects, `LISTEN`, held cursors, advisory locks). The scope aborted the
    /// caller's transaction, so its commit rolls everything back: roll it back.
    #[error(
        "tenant {tenant}: `{statement}` changed {what}, which would outlive the caller's \
         transaction on a pooled connection; the transaction was aborted: roll it back"
    )]
    SessionChanged {
        /// The tenant of the scope.
        tenant: TenantName,
        /// The statement (shortened).
        statement: String,
        /// What changed.
        what: String,
    },

    /// Several statements were passed where only one can be sent.
    #[error(
        "tenant {tenant}: several statements in one call are only accepted by execute_unprepared: `{statement}`"
    )]
    MultipleStatements {
        /// The tenant of the scope.
        tenant: TenantName,
        /// The text (shortened).
        statement: String,
    },
}

impl ScopeError {
    /// The scope error inside `err`, if `err` is one.
    ///
    /// ```no_run
    /// # async fn demo(db: sea_orm::DatabaseConnection) -> Result<(), sea_tenant::Error> {
    /// use sea_orm::ConnectionTrait;
    /// use sea_tenant::{TenantConnectionExt, TenantName, scope::ScopeError};
    ///
    /// let t = db.tenant(&TenantName::new("org_7")?);
    /// let err = t.execute_unprepared("COMMIT").await.unwrap_err();
    /// assert!(matches!(ScopeError::find(&err), Some(ScopeError::Refused { .. })));
    /// # Ok(()) }
    /// ```
    pub fn find(err: &DbErr) -> Option<&ScopeError> {
        let runtime = match err {
            DbErr::Exec(r) | DbErr::Query(r) => r,
            _ => return None,
        };
        let RuntimeErr::SqlxError(sqlx) = runtime else {
            return None;
        };
        match sqlx.as_ref() {
            sea_orm::sqlx::Error::AnyDriverError(inner) => inner.downcast_ref::<ScopeError>(),
            _ => None,
        }
    }
}

impl From<ScopeError> for DbErr {
    fn from(err: ScopeError) -> DbErr {
        DbErr::Exec(RuntimeErr::SqlxError(std::sync::Arc::new(
            sea_orm::sqlx::Error::AnyDriverError(Box::new(err)),
        )))
    }
}
