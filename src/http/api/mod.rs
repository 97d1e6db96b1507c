//! The admin API: JSON under `/api`, for the people who run absage in a crisis and for their
//! tools. Every request carries an API token (`Authorization: Bearer absage_…`, issued by
//! `absage admin token NAME`); the token's account fixes the tenant, and another tenant's
//! objects answer 404 as if they did not exist. Errors are JSON `{"code", "message"}` with a
//! stable code.
//!
//! The OpenAPI description at `/api/openapi.json` is generated from the same handlers the
//! router serves (utoipa-axum), so the two cannot drift apart.
//!
//! - [`outages`]: declare (with preview and the four-eyes rule), list, show, amend, retract,
//!   report, call list
//! - [`approvals`]: what waits for a second pair of eyes; approve, reject
//! - [`queue`]: notifications (list, retry, cancel) and the booking search
//! - [`records`]: audit log, imports (history, trigger), destinations, queue depth
//! - [`names`]: the calendar's services and locations with counts, to pick a scope from

pub mod approvals;
pub mod names;
pub mod outages;
pub mod queue;
pub mod records;

use crate::accounts::Caller;
use crate::domain::account::Role;
use crate::http::State as AppState;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "absage admin API",
        description = "Declare outages, follow their cancellations and the queue; tenant-scoped by the caller's token."
    ),
    modifiers(&BearerToken),
    security(("token" = []))
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "token",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// The API's routes and, at `/api/openapi.json`, their description.
pub fn router() -> axum::Router<AppState> {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(outages::list, outages::declare))
        .routes(routes!(outages::show))
        .routes(routes!(outages::amend))
        .routes(routes!(outages::retract))
        .routes(routes!(outages::confirm_removals))
        .routes(routes!(outages::report))
        .routes(routes!(outages::call_list))
        .routes(routes!(approvals::list))
        .routes(routes!(approvals::approve))
        .routes(routes!(approvals::reject))
        .routes(routes!(records::audit))
        .routes(routes!(records::imports))
        .routes(routes!(records::import))
        .routes(routes!(records::trigger_import))
        .routes(routes!(records::destinations))
        .routes(routes!(records::queue))
        .routes(routes!(queue::list))
        .routes(routes!(queue::retry))
        .routes(routes!(queue::cancel))
        .routes(routes!(queue::search))
        .routes(routes!(names::names))
        .split_for_parts();
    let api = Arc::new(api);
    router
        .route(
            "/api/openapi.json",
            get(move || {
                let api = api.clone();
                async move { Json(api.as_ref().clone()) }
            }),
        )
        .layer(axum::middleware::map_response(json_errors))
}

/// Turns the plain-text refusals of axum's extractors (a body that is not JSON, a missing
/// field, a path id that is not a number, a body over the size limit) into the documented
/// `{"code", "message"}`.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        s if s.is_server_error() => "internal",
        _ => "invalid",
    };
    let message = match axum::body::to_bytes(resp.into_body(), 16 * 1024).await {
        Ok(text) if !text.is_empty() => String::from_utf8_lossy(&text).trim().to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase(),
    };
    ApiError::new(status, code, message).into_response()
}

/// The body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, for programs: `unauthorized`, `forbidden`, `not_found`, `invalid`, `conflict`,
    /// `internal`.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
            },
        }
    }

    pub fn unauthorized() -> ApiError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an API token is required: Authorization: Bearer absage_…",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no {what}"))
    }

    /// A request that cannot be carried out as asked; the message says why.
    pub fn invalid(e: impl std::fmt::Display) -> ApiError {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// A failure on our side (the database); logged, not shown.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "admin API request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "absage could not carry this out; the log says why",
        )
    }
}

impl ApiError {
    /// The answer to a failed lifecycle action: what the caller can act on keeps its meaning
    /// (422, 404, 409); anything else is absage's fault — logged with its cause, answered 500
    /// without internals.
    pub fn of_lifecycle(e: anyhow::Error) -> ApiError {
        use crate::lifecycle::Refused;
        match e.downcast_ref::<Refused>() {
            Some(Refused::Invalid(m)) => ApiError::invalid(m),
            Some(Refused::NotFound(m)) => Self::new(StatusCode::NOT_FOUND, "not_found", m.clone()),
            Some(Refused::Conflict(m)) => ApiError::conflict(m.clone()),
            Some(Refused::Forbidden(m)) => ApiError::forbidden(m.clone()),
            None => ApiError::internal(format!("{e:#}")),
        }
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.body.message
    }

    /// The HTTP status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        ApiError::internal(e)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let token = crate::http::bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        crate::accounts::by_token(&state.ctx.store, token, state.ctx.now())
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(ApiError::unauthorized)
    }
}

/// Refuses the caller unless their role includes `needed`.
pub fn require(caller: &Caller, needed: Role) -> Result<(), ApiError> {
    if caller.role >= needed {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "this needs the {} role; {} is {}",
            needed.as_str(),
            caller.name,
            caller.role.as_str()
        )))
    }
}

/// Appends to the audit log in its own statement (after the action committed).
pub async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    subject: Option<String>,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let mut conn = state.ctx.store.conn().await.map_err(ApiError::internal)?;
    crate::store::audit::append(
        &mut conn,
        &crate::store::audit::Entry {
            tenant: Some(&caller.tenant),
            actor: &caller.name,
            action,
            subject,
            details,
        },
        crate::domain::to_millis(state.ctx.now()),
    )
    .await?;
    Ok(())
}
