use sea_orm::DbErr;

/// Why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No organization has this slug.
    #[error("no organization with slug {0:?}")]
    UnknownOrganization(String),
    /// The organization's tenant could not be entered (its slug gives no valid name).
    #[error(transparent)]
    Tenant(#[from] sea_tenant::Error),
    /// The database refused, or an owner hook did (see [`ServiceError::tenant_error`]).
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl ServiceError {
    /// sea-tenant's own error, when sea-tenant refused: directly, or through an owner hook
    /// (which can only return a `DbErr`).
    pub fn tenant_error(&self) -> Option<&sea_tenant::Error> {
        match self {
            ServiceError::Tenant(err) => Some(err),
            ServiceError::Db(err) => sea_tenant::owner::tenant_error(err),
            ServiceError::UnknownOrganization(_) => None,
        }
    }
}
