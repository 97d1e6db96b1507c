//! `/api/approvals`: declarations waiting for the four-eyes rule. Only an approver who is not
//! the requester may approve; approving declares the run as it was requested.

use super::{ApiError, ErrorBody, audit, require};
use crate::accounts::Caller;
use crate::declare::Impact;
use crate::domain::account::Role;
use crate::four_eyes::{self, Action};
use crate::http::State as AppState;
use crate::store::approvals::{self, ApprovalRow};
use axum::Json;
use axum::extract::{Path, State};

#[utoipa::path(get, path = "/api/approvals", tag = "approvals",
    responses((status = 200, body = Vec<ApprovalRow>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ApprovalRow>>, ApiError> {
    let mut conn = state.store.conn().await.map_err(ApiError::internal)?;
    Ok(Json(approvals::list(&mut conn, &caller.tenant).await?))
}

/// A pending approval of the caller's tenant that the caller may decide.
async fn decidable(state: &AppState, caller: &Caller, id: i64) -> Result<ApprovalRow, ApiError> {
    require(caller, Role::Approver)?;
    let mut conn = state.store.conn().await.map_err(ApiError::internal)?;
    let a = approvals::get(&mut conn, &caller.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("approval #{id}")))?;
    if a.state != "pending" {
        return Err(ApiError::conflict(format!(
            "approval #{id} was {} by {} already",
            a.state,
            a.decided_by.as_deref().unwrap_or("someone")
        )));
    }
    if a.requested_by == caller.name {
        return Err(ApiError::forbidden(
            "four-eyes rule: a different approver must approve what you requested",
        ));
    }
    Ok(a)
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
    let impact = approve_as(&state, &caller, id).await?;
    Ok((axum::http::StatusCode::CREATED, Json(impact)))
}

/// Approves for `caller` and carries out what was requested (also from the web UI).
pub(crate) async fn approve_as(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Impact, ApiError> {
    let a = decidable(state, caller, id).await?;
    let action = Action::of_approval(&a).map_err(ApiError::internal)?;
    let now = (state.clock)();
    let now_ms = crate::domain::to_millis(now);
    // Decide first: of two approvers at the same moment, one wins and only one run is declared.
    let mut conn = state.store.conn().await.map_err(ApiError::internal)?;
    if !approvals::decide(&mut conn, id, "approved", &caller.name, now_ms).await? {
        return Err(ApiError::conflict(format!(
            "approval #{id} was decided meanwhile"
        )));
    }
    let done = four_eyes::run(
        state.services(),
        &action,
        &a.tenant_id,
        &a.requested_by,
        now,
        false,
    )
    .await;
    let impact = match done {
        Ok(impact) => impact,
        Err(e) => {
            approvals::reopen(&mut conn, id).await?;
            return Err(ApiError::of_lifecycle(e));
        }
    };
    approvals::set_outage(&mut conn, id, impact.id.or(action.outage())).await?;
    drop(conn);
    audit(
        state,
        caller,
        "approval.approve",
        Some(format!("approval #{id}")),
        serde_json::json!({
            "requested_by": a.requested_by, "action": a.action, "outage": impact.id,
            "affected": impact.stats.affected,
        }),
    )
    .await?;
    Ok(impact)
}

/// Rejects: nothing is declared.
#[utoipa::path(post, path = "/api/approvals/{id}/reject", tag = "approvals",
    params(("id" = i64, Path, description = "approval id")),
    responses((status = 200, body = ApprovalRow), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ApprovalRow>, ApiError> {
    Ok(Json(reject_as(&state, &caller, id).await?))
}

/// Rejects for `caller` (also from the web UI).
pub(crate) async fn reject_as(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<ApprovalRow, ApiError> {
    decidable(state, caller, id).await?;
    let now_ms = crate::domain::to_millis((state.clock)());
    let mut conn = state.store.conn().await.map_err(ApiError::internal)?;
    if !approvals::decide(&mut conn, id, "rejected", &caller.name, now_ms).await? {
        return Err(ApiError::conflict(format!(
            "approval #{id} was decided meanwhile"
        )));
    }
    let a = approvals::get(&mut conn, &caller.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("approval #{id}")))?;
    drop(conn);
    audit(
        state,
        caller,
        "approval.reject",
        Some(format!("approval #{id}")),
        serde_json::json!({
            "requested_by": a.requested_by, "affected": a.affected,
        }),
    )
    .await?;
    Ok(a)
}
