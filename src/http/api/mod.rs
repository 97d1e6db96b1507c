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
//! - [`error`]: the errors with their stable codes, and JSON request bodies that name the
//!   field that is wrong
//! - [`views`]: the response types, mapped from the store's rows (arrays, RFC 3339 times)

pub mod approvals;
pub mod error;
pub mod names;
pub mod outages;
pub mod queue;
pub mod records;
pub mod views;

pub use error::{ApiError, ErrorBody, JsonBody, json_errors};

use crate::accounts::Caller;
use crate::domain::account::Role;
use crate::http::State as AppState;
use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::get;
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
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
        state.ctx.now(),
    )
    .await?;
    Ok(())
}
