use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crm_service::ServiceError;
use sea_orm::{DbErr, SqlErr};
use sea_tenant::ErrorClass;

/// A service error as an HTTP answer: the client's mistakes say what was wrong, the server's
/// stay in the log.
#[derive(Debug)]
pub struct ApiError(pub ServiceError);

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        ApiError(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match (&self.0, self.0.tenant_error()) {
            (ServiceError::UnknownOrganization(_), _) => StatusCode::NOT_FOUND,
            // sea-tenant's own classification; an invalid or empty slug is a form error here.
            (_, Some(err)) => match err.class() {
                ErrorClass::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
                class => StatusCode::from_u16(class.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            },
            (ServiceError::Db(err), None) if is_unique_violation(err) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self.0, "request failed");
            return (status, "internal error").into_response();
        }
        (status, self.0.to_string()).into_response()
    }
}

fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}
