//! What kind of failure an [`Error`] is, so that an application maps it to an answer (an HTTP
//! status, a retry) without reading every variant.

use sea_orm::DbErr;

use super::{Error, sqlstate_of, sqlx_error_of};

/// What kind of failure an [`Error`] is ([`Error::class`]).
///
/// ```
/// use sea_tenant::{Error, ErrorClass, TenantName};
///
/// let err = Error::from(TenantName::new("acme; DROP").unwrap_err());
/// assert_eq!(err.class(), ErrorClass::Invalid);
/// assert_eq!(err.class().http_status(), 400);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The caller's input is wrong and will stay wrong: an invalid tenant name, an empty
    /// template value, a run over every tenant that was not confirmed. HTTP 400.
    Invalid,
    /// Something named does not exist: the tenant's schema, a tenant `all_tenants` does not
    /// list. HTTP 404.
    NotFound,
    /// The request conflicts with what the database holds now: the schema exists already, the
    /// owner row changed or went away meanwhile, a unique value is taken. HTTP 409.
    Conflict,
    /// Worth trying again later: a lock wait ran out, the server could not be reached, a
    /// statement was cancelled. HTTP 503.
    Unavailable,
    /// A fault on the server's side: a failed migration, a database error, a configuration
    /// that cannot work. HTTP 500.
    Server,
}

impl ErrorClass {
    /// The HTTP status code an API answers with for this class.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorClass::Invalid => 400,
            ErrorClass::NotFound => 404,
            ErrorClass::Conflict => 409,
            ErrorClass::Unavailable => 503,
            ErrorClass::Server => 500,
        }
    }
}

impl Error {
    /// What kind of failure this is (see [`ErrorClass`]). A database error is classed by its
    /// SQLSTATE: a unique violation or a serialization failure is a conflict, a lock or
    /// connection failure or a cancelled statement is unavailability.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::InvalidName(_)
            | Error::EmptyTemplateValue { .. }
            | Error::AllTenantsNotConfirmed { .. }
            | Error::BadTenantRow { .. } => ErrorClass::Invalid,
            Error::MissingSchema { .. } | Error::NotListed { .. } => ErrorClass::NotFound,
            Error::SchemaExists { .. } | Error::OwnerRowGone { .. } => ErrorClass::Conflict,
            Error::LockTimeout { .. } | Error::TenantConnect { .. } | Error::Connect(_) => {
                ErrorClass::Unavailable
            }
            Error::Tenant { source, .. }
            | Error::Migration { source, .. }
            | Error::Db(source)
            | Error::AllTenants(source) => class_of_db(source),
            _ => ErrorClass::Server,
        }
    }
}

/// A database error's class, by its SQLSTATE.
fn class_of_db(err: &DbErr) -> ErrorClass {
    let Some(code) = sqlx_error_of(err).and_then(sqlstate_of) else {
        return match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => ErrorClass::Unavailable,
            _ => ErrorClass::Server,
        };
    };
    match code.as_str() {
        // unique_violation, serialization_failure, deadlock_detected
        "23505" | "40001" | "40P01" => ErrorClass::Conflict,
        // lock_not_available, query_canceled, admin/crash shutdown, cannot_connect_now
        "55P03" | "57014" | "57P01" | "57P02" | "57P03" => ErrorClass::Unavailable,
        // connection_exception and its subclasses
        c if c.starts_with("08") => ErrorClass::Unavailable,
        _ => ErrorClass::Server,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TenantName;

    fn tenant() -> TenantName {
        TenantName::new("org_7").expect("valid")
    }

    #[test]
    fn each_kind_of_failure_has_its_class_and_status() {
        let cases = [
            (
                Error::from(TenantName::new("a b").expect_err("invalid")),
                ErrorClass::Invalid,
                400,
            ),
            (
                Error::MissingSchema { tenant: tenant() },
                ErrorClass::NotFound,
                404,
            ),
            (
                Error::SchemaExists { tenant: tenant() },
                ErrorClass::Conflict,
                409,
            ),
            (
                Error::OwnerRowGone { tenant: tenant() },
                ErrorClass::Conflict,
                409,
            ),
            (
                Error::AllTenantsNotConfirmed {
                    operation: "fresh".into(),
                    tenants: 3,
                },
                ErrorClass::Invalid,
                400,
            ),
            (
                Error::NotListed {
                    tenant: "org_x".into(),
                },
                ErrorClass::NotFound,
                404,
            ),
            (
                Error::Db(DbErr::Custom("boom".into())),
                ErrorClass::Server,
                500,
            ),
        ];
        for (err, class, status) in cases {
            assert_eq!(err.class(), class, "{err}");
            assert_eq!(err.class().http_status(), status, "{err}");
        }
    }
}
