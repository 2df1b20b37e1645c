//! Which connection type an owner hook was handed.
//!
//! `ActiveModelBehavior` hooks get `&C` with only `C: ConnectionTrait`: no `TransactionTrait`,
//! and `C` is not `'static`, so `Any` cannot downcast it. Running a migration set live needs
//! the concrete `&DatabaseConnection` (to open a transaction) or `&DatabaseTransaction` (to
//! open a savepoint): `SchemaManager` accepts nothing else. `typeid::of` gives the `TypeId` of
//! `C` with its lifetimes erased; when it equals the id of one of the three types below, the
//! reference is cast. This is the crate's only `unsafe`, hence the workspace lint is `deny`
//! (not `forbid`) and this module allows it.
#![allow(unsafe_code)]

use std::any::TypeId;

use sea_orm::{DatabaseConnection, DatabaseExecutor, DatabaseTransaction};

/// The connection behind a `&C`, as far as live provisioning cares.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Concrete<'a> {
    /// A pool: each statement may take another connection; a transaction must be opened.
    Pool(&'a DatabaseConnection),
    /// An open transaction (also behind a `DatabaseExecutor`).
    Transaction(&'a DatabaseTransaction),
    /// Anything else (`RestrictedConnection`, an application's own wrapper).
    Other,
}

/// Recognises `db` as a pool, a transaction or an executor on either.
pub(crate) fn of<'a, C>(db: &'a C) -> Concrete<'a> {
    let id = typeid::of::<C>();
    if id == TypeId::of::<DatabaseConnection>() {
        // SAFETY: `DatabaseConnection` has no lifetime or type parameters, so it is the only
        // type whose lifetime-erased `TypeId` is this one: `C` is `DatabaseConnection`.
        return Concrete::Pool(unsafe { same_type(db) });
    }
    if id == TypeId::of::<DatabaseTransaction>() {
        // SAFETY: as above, `C` is `DatabaseTransaction`.
        return Concrete::Transaction(unsafe { same_type(db) });
    }
    if id == typeid::of::<DatabaseExecutor<'static>>() {
        // SAFETY: `C` is `DatabaseExecutor<'x>` for some `'x` (only that lifetime is erased).
        // `&'a C` being a valid reference means `'x: 'a`, and `DatabaseExecutor` is covariant
        // in its lifetime (it holds `&'x` references or an owned transaction), so the value
        // may be viewed as a `DatabaseExecutor<'a>`: the lifetime is shortened, never
        // extended, and nothing longer than `'a` leaves this function.
        let executor: &'a DatabaseExecutor<'a> = unsafe { same_type(db) };
        return match executor {
            DatabaseExecutor::Connection(pool) => Concrete::Pool(pool),
            DatabaseExecutor::Transaction(txn) => Concrete::Transaction(txn),
            DatabaseExecutor::OwnedTransaction(txn) => Concrete::Transaction(txn),
        };
    }
    Concrete::Other
}

/// Views `db` as a `&T`, borrowed as long as `db`.
///
/// # Safety
/// `C` must be `T`, up to lifetimes that `T` may shorten (covariance).
unsafe fn same_type<C, T>(db: &C) -> &T {
    // SAFETY: the caller guarantees `C` and `T` are the same type, so the pointer is a valid,
    // aligned `T` for as long as `db` is borrowed.
    unsafe { &*std::ptr::from_ref(db).cast::<T>() }
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, MockDatabase, TransactionTrait};

    use super::*;

    fn mock() -> DatabaseConnection {
        MockDatabase::new(DbBackend::Postgres).into_connection()
    }

    #[test]
    fn a_pool_is_recognised_as_itself() {
        let db = mock();
        match of(&db) {
            Concrete::Pool(pool) => assert!(std::ptr::eq(pool, &db)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_transaction_is_recognised_as_itself() {
        let db = mock();
        let txn = db.begin().await.expect("begin");
        match of(&txn) {
            Concrete::Transaction(found) => assert!(std::ptr::eq(found, &txn)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_executor_gives_what_it_wraps() {
        let db = mock();
        let txn = db.begin().await.expect("begin");
        // A short-lived executor, borrowing locals: the non-'static case.
        let on_pool = DatabaseExecutor::from(&db);
        assert!(matches!(of(&on_pool), Concrete::Pool(p) if std::ptr::eq(p, &db)));
        let on_txn = DatabaseExecutor::from(&txn);
        assert!(matches!(of(&on_txn), Concrete::Transaction(t) if std::ptr::eq(t, &txn)));
        let owned = DatabaseExecutor::OwnedTransaction(db.begin().await.expect("begin"));
        let DatabaseExecutor::OwnedTransaction(inner) = &owned else {
            unreachable!()
        };
        assert!(matches!(of(&owned), Concrete::Transaction(t) if std::ptr::eq(t, inner)));
    }

    #[tokio::test]
    async fn anything_else_is_other() {
        let db = mock();
        let restricted_like = (&db, 1u8);
        assert!(matches!(of(&restricted_like), Concrete::Other));
        // A reference to a pool is not a pool: the hook's `C` is matched exactly.
        let by_ref = &db;
        assert!(matches!(of(&by_ref), Concrete::Other));
        assert!(matches!(of(&42u32), Concrete::Other));
    }
}
