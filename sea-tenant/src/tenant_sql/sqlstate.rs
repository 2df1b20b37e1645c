//! The SQLSTATEs sea-tenant's statements raise and look for, and the `DO` block that raises
//! one.

use sea_orm::DbErr;

use crate::name::quote_literal;

/// SQLSTATE `duplicate_schema`: raised by sea-tenant's scripts when a schema that must not
/// exist does (and by PostgreSQL itself).
pub(crate) const DUPLICATE_SCHEMA: &str = "42P06";
/// SQLSTATE `invalid_schema_name`: raised when a schema that must exist does not.
pub(crate) const MISSING_SCHEMA: &str = "3F000";
/// SQLSTATE `serialization_failure`: an owner row changed between reading it and acting on
/// it (only possible outside a transaction); the hook reads it again.
pub(crate) const ROW_CHANGED: &str = "40001";
/// SQLSTATE `no_data_found`: an owner row is gone.
pub(crate) const ROW_GONE: &str = "P0002";
/// SQLSTATE `serialization_failure`, raised by [`require_tenant_state`](super::require_tenant_state): another caller
/// provisioned the tenant between reading its state and acting on it; read it again.
pub(crate) const TENANT_CHANGED: &str = "40001";
/// SQLSTATE `feature_not_supported`: [`require_citus`](super::require_citus) found no Citus.
pub(crate) const NO_CITUS: &str = "0A000";

/// The SQLSTATE of a database error, if it is one.
pub(crate) fn sqlstate(err: &DbErr) -> Option<String> {
    crate::error::sqlx_error_of(err).and_then(crate::error::sqlstate_of)
}

/// SQLSTATE `invalid_transaction_state`, raised by [`abort_transaction`](super::abort_transaction).
pub(crate) const SESSION_CHANGED: &str = "25000";

/// SQLSTATE `lock_not_available`: a lock wait ran into `lock_timeout`.
#[cfg(feature = "testing")]
pub(crate) const LOCK_NOT_AVAILABLE: &str = "55P03";

/// A `DO` block raising `sqlstate` with `message` when `condition` (SQL) holds.
pub(super) fn raise_if(condition: &str, sqlstate: &str, message: &str) -> String {
    format!(
        "DO $sea_tenant_chk$ BEGIN IF {condition} THEN RAISE EXCEPTION USING ERRCODE = \
         '{sqlstate}', MESSAGE = {message}; END IF; END $sea_tenant_chk$",
        message = quote_literal(message),
    )
}
