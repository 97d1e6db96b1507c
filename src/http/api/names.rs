//! `/api/tenants/{tenant}/names`: the calendar's own services and locations, for picking an
//! outage's scope from what the bookings really say instead of typing it.

use super::{ApiError, ErrorBody};
use crate::accounts::Caller;
use crate::domain::names::Names;
use crate::http::State as AppState;
use axum::Json;
use axum::extract::{Path, State};

/// The services and locations of the tenant's upcoming active bookings (not yet ended), each
/// with how many bookings hold it, most frequent first. These are the names a declaration's
/// `services` and `locations` may give. Only the tenant's own accounts see them; for anyone
/// else the tenant does not exist (404).
#[utoipa::path(get, path = "/api/tenants/{tenant}/names", tag = "outages",
    params(("tenant" = String, Path, description = "tenant id (the caller's own)")),
    responses((status = 200, body = Names), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn names(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Names>, ApiError> {
    if tenant != caller.tenant {
        return Err(ApiError::not_found(&format!("tenant {tenant:?}")));
    }
    let mut conn = state.ctx.store.conn().await.map_err(ApiError::internal)?;
    let names = crate::lifecycle::declare::known_names(&mut conn, &caller.tenant, state.ctx.now())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(names))
}
