//! `/api/notifications` and `/api/bookings`: the tenant's messages (list, retry a failed one,
//! cancel a queued one) and a search in its copy of the calendar.

use super::views::{self, Booking, Notification};
use super::{ApiError, ErrorBody, require};
use crate::accounts::Caller;
use crate::domain::account::Role;
use crate::http::State as AppState;
use crate::store::bookings;
use crate::store::queue_admin::{self, Filter};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
pub struct NotificationQuery {
    /// queued, sending, sent, failed, expired or cancelled.
    pub state: Option<String>,
    /// email or sms.
    pub channel: Option<String>,
    /// Only this outage's or batch's.
    pub outage: Option<i64>,
    /// At most this many (default 200, at most 5000).
    pub limit: Option<i64>,
}

/// The tenant's notifications, earliest appointment first.
#[utoipa::path(get, path = "/api/notifications", tag = "queue", params(NotificationQuery),
    responses((status = 200, body = Vec<Notification>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<NotificationQuery>,
) -> Result<Json<Vec<Notification>>, ApiError> {
    let filter = Filter {
        state: q.state.as_deref(),
        channel: q.channel.as_deref(),
        outage_id: q.outage,
        limit: q.limit.unwrap_or(200).clamp(1, 5000),
    };
    let mut conn = state.ctx.store.conn().await.map_err(ApiError::internal)?;
    let rows = queue_admin::list(&mut conn, &caller.tenant, &filter).await?;
    Ok(Json(views::all(rows).map_err(ApiError::internal)?))
}

/// Sends a failed notification again with fresh attempts, unless its appointment has begun.
#[utoipa::path(post, path = "/api/notifications/{id}/retry", tag = "queue",
    params(("id" = i64, Path, description = "notification id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    require(&caller, Role::Operator)?;
    crate::follow_up::retry(&state.ctx, &caller, id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Cancels a notification that has not gone out yet.
#[utoipa::path(post, path = "/api/notifications/{id}/cancel", tag = "queue",
    params(("id" = i64, Path, description = "notification id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::http::StatusCode, ApiError> {
    require(&caller, Role::Operator)?;
    crate::follow_up::cancel(&state.ctx, &caller, id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct BookingQuery {
    /// Part of a booking key or a citizen's name (case-insensitive).
    pub q: String,
    /// At most this many (default 50, at most 500).
    pub limit: Option<i64>,
}

/// Active bookings of the tenant whose key or name contains `q`.
#[utoipa::path(get, path = "/api/bookings", tag = "queue", params(BookingQuery),
    responses((status = 200, body = Vec<Booking>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<BookingQuery>,
) -> Result<Json<Vec<Booking>>, ApiError> {
    let text = q.q.trim();
    if text.is_empty() {
        return Err(ApiError::invalid("q: give part of a booking key or a name"));
    }
    let mut conn = state.ctx.store.conn().await.map_err(ApiError::internal)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let rows = bookings::search(&mut conn, &caller.tenant, text, limit).await?;
    Ok(Json(views::all(rows).map_err(ApiError::internal)?))
}
