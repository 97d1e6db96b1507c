//! `/api/approvals`: actions waiting for the four-eyes rule ([`crate::lifecycle::four_eyes`]). Only an
//! approver who is not the requester may approve; approving carries out what was requested.

use super::views::{self, Approval};
use super::{ApiError, ErrorBody};
use crate::accounts::Caller;
use crate::http::State as AppState;
use crate::lifecycle::Impact;
use crate::lifecycle::four_eyes;
use crate::store::approvals;
use axum::Json;
use axum::extract::{Path, State};

#[utoipa::path(get, path = "/api/approvals", tag = "approvals",
    responses((status = 200, body = Vec<Approval>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Approval>>, ApiError> {
    let mut conn = state.ctx.store.conn().await.map_err(ApiError::internal)?;
    let rows = approvals::list(&mut conn, &caller.tenant).await?;
    Ok(Json(views::all(rows).map_err(ApiError::internal)?))
}

/// Approves and declares the run as requested (matched against the calendar as it is now).
#[utoipa::path(post, path = "/api/approvals/{id}/approve", tag = "approvals",
    params(("id" = i64, Path, description = "approval id")),
    responses((status = 201, body = Impact), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<(axum::http::StatusCode, Json<Impact>), ApiError> {
    let impact = four_eyes::approve(&state.ctx, &caller, id, state.ctx.now())
        .await
        .map_err(ApiError::of_lifecycle)?;
    Ok((axum::http::StatusCode::CREATED, Json(impact)))
}

/// Rejects: nothing is declared.
#[utoipa::path(post, path = "/api/approvals/{id}/reject", tag = "approvals",
    params(("id" = i64, Path, description = "approval id")),
    responses((status = 200, body = Approval), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Approval>, ApiError> {
    let rejected = four_eyes::reject(&state.ctx, &caller, id, state.ctx.now())
        .await
        .map_err(ApiError::of_lifecycle)?;
    Ok(Json(rejected.try_into().map_err(ApiError::internal)?))
}
