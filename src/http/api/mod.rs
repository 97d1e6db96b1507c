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
//! - [`views`]: the response types, mapped from the store's rows (arrays, RFC 3339 times)

pub mod approvals;
pub mod names;
pub mod outages;
pub mod queue;
pub mod records;
pub mod views;

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

/// The API's routes and, at `/api/openapi.json`, their description. Errors, also those of
/// axum's extractors and of the listener's layers, are shaped by [`json_errors`] at the edge
/// ([`crate::http::router`]).
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
    router.route(
        "/api/openapi.json",
        get(move || {
            let api = api.clone();
            async move { Json(api.as_ref().clone()) }
        }),
    )
}

/// Turns the plain-text refusals under `/api` — of axum's extractors (a path id that is not a
/// number, a query that does not parse), of the router (no such route), of the listener's
/// layers (a body over the size limit, a request over the time limit) — into the documented
/// `{"code", "message"}`. Other paths pass unchanged.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let code = match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => "timeout",
        s if s.is_server_error() => "internal",
        _ => "invalid",
    };
    let text = match axum::body::to_bytes(resp.into_body(), 16 * 1024).await {
        Ok(text) => String::from_utf8_lossy(&text).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = match code {
        // Whatever a layer wrote there, a failure on our side shows no internals.
        "internal" => INTERNAL.to_owned(),
        "timeout" => "absage did not finish this within http.request_timeout_secs; \
                      look whether it was carried out before trying again"
            .to_owned(),
        _ if !text.is_empty() => text,
        _ => status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase(),
    };
    ApiError::new(status, code, message).into_response()
}

/// What a client reads about a failure on our side; the cause is in the log.
const INTERNAL: &str = "absage could not carry this out; the log says why";

/// The body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, for programs: `unauthorized` (401), `forbidden` (403), `not_found` (404),
    /// `invalid` (400, also 413 and 415), `conflict` (409), `timeout` (503: over
    /// `http.request_timeout_secs`), `internal` (500).
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

    /// `what` does not exist (for this caller).
    pub fn not_found(what: &str) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no {what}"))
    }

    /// A request that cannot be carried out as asked (400); the message says why.
    pub fn invalid(e: impl std::fmt::Display) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// A failure on our side (the database, a bug): logged with its whole chain of causes,
    /// answered 500 `internal` without any of it.
    pub fn internal(e: impl Into<anyhow::Error>) -> ApiError {
        let e: anyhow::Error = e.into();
        tracing::error!(error = %format!("{e:#}"), "a request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", INTERNAL)
    }

    /// The answer to a failed service action (the outage lifecycle, the queue): what the
    /// caller can act on keeps its meaning — [`Refused`](crate::lifecycle::Refused) `Invalid`
    /// 400, `NotFound` 404, `Conflict` 409, `Forbidden` 403; anything else is absage's fault
    /// ([`ApiError::internal`]).
    pub fn of_lifecycle(e: anyhow::Error) -> ApiError {
        use crate::lifecycle::Refused;
        match e.downcast_ref::<Refused>() {
            Some(Refused::Invalid(m)) => ApiError::invalid(m),
            Some(Refused::NotFound(m)) => Self::new(StatusCode::NOT_FOUND, "not_found", m.clone()),
            Some(Refused::Conflict(m)) => ApiError::conflict(m.clone()),
            Some(Refused::Forbidden(m)) => ApiError::forbidden(m.clone()),
            None => ApiError::internal(e),
        }
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.body.message
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.body.code
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

impl From<anyhow::Error> for ApiError {
    /// A service function's failure: its refusals keep their meaning.
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::of_lifecycle(e)
    }
}

/// A JSON request body. Unlike axum's `Json`, whatever is wrong with it is a 400 `invalid`
/// whose message names the field (`from: invalid type: integer, expected a string`), or says
/// that it is no JSON at all; a body without `Content-Type: application/json` is a 415.
pub struct JsonBody<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !json {
            return Err(Self::refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON, with Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Self::refused(e.status(), e.body_text()))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut *de)
            .map_err(|e| ApiError::invalid(body_error(&e)))?;
        de.end()
            .map_err(|e| ApiError::invalid(format!("the body is not valid JSON: {e}")))?;
        Ok(JsonBody(value))
    }
}

impl<T> JsonBody<T> {
    fn refused(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::new(status, "invalid", message)
    }
}

/// What is wrong with a JSON body, naming the field where it is one.
fn body_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_json::error::Category;
    let inner = e.inner();
    match inner.classify() {
        Category::Data => {
            let path = e.path().to_string();
            if path.is_empty() || path == "." {
                format!("the body does not fit: {inner}")
            } else {
                format!("{path}: {inner}")
            }
        }
        Category::Syntax | Category::Eof | Category::Io => {
            format!("the body is not valid JSON: {inner}")
        }
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
