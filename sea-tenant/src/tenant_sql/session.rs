//! A scope inside a caller's transaction (`scope::in_transaction`): the path and role swapped
//! in and put back around each statement, with what a statement can leave on the session read
//! in the same round trips.

use std::sync::LazyLock;

use super::sqlstate::{SESSION_CHANGED, raise_if};

/// What a statement can leave on a session that outlives a transaction, read cheaply (each
/// part is an index scan or a small in-memory list): objects in this session's temporary
/// schema, `LISTEN` channels, `WITH HOLD` cursors and advisory locks (which cannot be told
/// apart from transaction-level ones, so any new one counts).
const SESSION_STATE: &str = "pg_catalog.concat_ws(' ', \
     (SELECT count(*) FROM pg_catalog.pg_depend WHERE refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass \
      AND refobjid = pg_catalog.pg_my_temp_schema()), \
     (SELECT count(*) FROM pg_catalog.pg_listening_channels()), \
     (SELECT count(*) FROM pg_catalog.pg_cursors WHERE is_holdable), \
     (SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid()))";

/// Sets the search path to `$1` and the role to `$2` (the current one when NULL) until the
/// transaction ends, and returns the caller's path, role and [`SESSION_STATE`] (first three
/// columns) for [`struct@PUT_BACK_SEARCH_PATH`]. The subquery (kept apart by `OFFSET 0`) reads them
/// before the outer `set_config`s run. A bound statement, for a caller's transaction, where
/// the scope cannot send messages of its own.
pub(crate) static SWAP_SEARCH_PATH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT saved.path, saved.role, saved.session, \
         pg_catalog.set_config('search_path', $1, true), \
         pg_catalog.set_config('role', COALESCE($2::text, saved.role), true) FROM \
         (SELECT pg_catalog.current_setting('search_path') AS path, \
          pg_catalog.current_setting('role') AS role, {SESSION_STATE} AS session OFFSET 0) AS saved"
    )
});

/// Puts back the search path (`$1`) and role (`$2`) that [`struct@SWAP_SEARCH_PATH`] returned, and
/// returns the path, role and [`SESSION_STATE`] found before (first three columns), so the
/// caller can tell whether the statement in between changed them.
pub(crate) static PUT_BACK_SEARCH_PATH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT during.path, during.role, during.session, \
         pg_catalog.set_config('search_path', $1, true), \
         pg_catalog.set_config('role', $2, true) FROM \
         (SELECT pg_catalog.current_setting('search_path') AS path, \
          pg_catalog.current_setting('role') AS role, {SESSION_STATE} AS session OFFSET 0) AS during"
    )
});

/// A `DO` block that fails with `message`: aborts the transaction it runs in, so that its
/// commit rolls back.
pub(crate) fn abort_transaction(message: &str) -> String {
    raise_if("true", SESSION_CHANGED, message)
}
