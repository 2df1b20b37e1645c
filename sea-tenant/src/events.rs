//! Owner changes made in this process, for caches that map a public identifier (a slug, a
//! host label) to a tenant.
//!
//! The owner hooks bump one process-wide counter after they renamed a tenant or deleted its
//! owner row; a cache remembers the counter's value from *before* it looked an entry up and
//! trusts the entry only while the counter still has that value. So a lookup that raced with
//! a rename is never trusted afterwards, and the hooks pay one atomic increment, whether or
//! not anything (such as the `axum` feature's `TenantResolver`) reads the counter.
//!
//! Only this process's hooks bump it: another process (a second app server, the tenant CLI)
//! renaming a tenant is seen when the cache entry expires.

use std::sync::atomic::{AtomicU64, Ordering};

static OWNER_GENERATION: AtomicU64 = AtomicU64::new(0);

/// The number of owner renames and deletes the hooks of this process have done. A cache of
/// tenant look-ups reads it before a look-up, stores it with the result, and drops the result
/// once it differs.
///
/// ```
/// use sea_tenant::events::owner_generation;
///
/// let stamp = owner_generation(); // before the look-up
/// // … look the tenant up, cache it with `stamp` …
/// let trusted = |cached_stamp: u64| cached_stamp == owner_generation();
/// assert!(trusted(stamp)); // until an owner hook of this process renames or deletes
/// ```
pub fn owner_generation() -> u64 {
    OWNER_GENERATION.load(Ordering::SeqCst)
}

/// Called by the owner hooks once a rename or delete is done (committed, on a pool).
pub(crate) fn owners_changed() {
    OWNER_GENERATION.fetch_add(1, Ordering::SeqCst);
}
