//! `/api/outages`: declare (with a preview, and the four-eyes rule above the tenant's
//! `approval_threshold`), list, show, amend, retract, report and call list.

use super::views::{self, Approval, Outage, QueueCount};
use super::{ApiError, ErrorBody, JsonBody, require};
use crate::accounts::Caller;
use crate::domain::account::Role;
use crate::http::State as AppState;
use crate::lifecycle::four_eyes::{self, Action, Submitted};
use crate::lifecycle::{Amendment, Conservation, DeclareRequest, Impact};
use crate::reports::{CallListEntry, PendingRemoval, ReportRow};
use crate::store::approvals::ApprovalRow;
use crate::store::outages::{self, OutageRow};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An outage or batch of the caller's tenant, or 404.
pub(super) async fn own_outage(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<OutageRow, ApiError> {
    Ok(crate::overview::own_outage(&state.ctx, &caller.tenant, id).await?)
}

/// The outages and batches of the caller's tenant, newest first.
#[utoipa::path(get, path = "/api/outages", tag = "outages",
    responses((status = 200, body = Vec<Outage>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Outage>>, ApiError> {
    let mut conn = state.ctx.store.conn().await.map_err(ApiError::internal)?;
    let rows = outages::list(&mut conn, Some(&caller.tenant)).await?;
    Ok(Json(views::all(rows).map_err(ApiError::internal)?))
}

/// A declaration; with `dry_run` only its impact. Times are RFC 3339 or local times in the
/// tenant's zone (`2026-11-02 08:00`). (Its own fields rather than a flattened
/// [`DeclareRequest`], so that a refusal can name the field that is wrong.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareBody {
    /// Start of the window (inclusive).
    pub from: Option<String>,
    /// End of the window (exclusive).
    pub to: Option<String>,
    /// Only these services (default: all).
    #[serde(default)]
    pub services: Vec<String>,
    /// Only these locations (default: all).
    #[serde(default)]
    pub locations: Vec<String>,
    /// A batch of these booking keys instead of a window.
    pub keys: Option<Vec<String>>,
    /// `true`: a batch (a manual run) rather than an outage, also for a window.
    #[serde(default)]
    pub batch: bool,
    /// The reason, as citizens will read it.
    pub reason: String,
    /// Show what would happen; change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl DeclareBody {
    fn request(self) -> DeclareRequest {
        DeclareRequest {
            from: self.from,
            to: self.to,
            services: self.services,
            locations: self.locations,
            keys: self.keys,
            batch: self.batch,
            reason: self.reason,
        }
    }
}

/// What a declaration did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Declared {
    /// `preview` (a dry run: nothing was kept), `declared` (its notifications are queued) or
    /// `pending_approval` (above the tenant's approval threshold: waits for a different
    /// approver).
    pub status: &'static str,
    pub impact: Impact,
    /// The request waiting for approval.
    pub approval: Option<Approval>,
}

/// Declares an outage (a window) or a batch (a window or booking keys) in the caller's
/// tenant. Above the tenant's `approval_threshold` it waits for approval instead.
#[utoipa::path(post, path = "/api/outages", tag = "outages", request_body = DeclareBody,
    responses(
        (status = 200, description = "dry run", body = Declared),
        (status = 201, description = "declared", body = Declared),
        (status = 202, description = "waits for approval", body = Declared),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn declare(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<DeclareBody>,
) -> Result<Response, ApiError> {
    require(&caller, Role::Operator)?;
    let dry_run = body.dry_run;
    let (status, declared) = submit(&state, &caller, &body.request(), dry_run).await?;
    Ok((status, Json(declared)).into_response())
}

/// Declares `request` for the caller — or, under the four-eyes rule, keeps it for a different
/// approver.
pub async fn submit(
    state: &AppState,
    caller: &Caller,
    request: &DeclareRequest,
    dry_run: bool,
) -> Result<(StatusCode, Declared), ApiError> {
    let action = Action::Declare(request.clone());
    Ok(match gate(state, caller, &action, dry_run).await? {
        Submitted::Preview(impact) => (StatusCode::OK, declared("preview", impact, None)?),
        Submitted::Done(impact) => (StatusCode::CREATED, declared("declared", impact, None)?),
        Submitted::Pending(impact, approval) => (
            StatusCode::ACCEPTED,
            declared("pending_approval", impact, Some(*approval))?,
        ),
    })
}

fn declared(
    status: &'static str,
    impact: Impact,
    approval: Option<ApprovalRow>,
) -> Result<Declared, ApiError> {
    Ok(Declared {
        status,
        impact,
        approval: approval
            .map(Approval::try_from)
            .transpose()
            .map_err(ApiError::internal)?,
    })
}

/// Submits an action under the four-eyes rule for the caller.
async fn gate(
    state: &AppState,
    caller: &Caller,
    action: &Action,
    dry_run: bool,
) -> Result<Submitted, ApiError> {
    four_eyes::submit(&state.ctx, caller, action, state.ctx.now(), dry_run)
        .await
        .map_err(ApiError::of_lifecycle)
}

/// An amendment, retraction or confirmation: its impact (200), or 202 with the approval it
/// waits for.
async fn changed(
    state: &AppState,
    caller: &Caller,
    action: Action,
    dry_run: bool,
) -> Result<Response, ApiError> {
    Ok(match gate(state, caller, &action, dry_run).await? {
        Submitted::Preview(impact) | Submitted::Done(impact) => Json(impact).into_response(),
        Submitted::Pending(impact, approval) => (
            StatusCode::ACCEPTED,
            Json(declared("pending_approval", impact, Some(*approval))?),
        )
            .into_response(),
    })
}

/// An outage with the state of its notifications.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutageView {
    pub outage: Outage,
    pub queue: Vec<QueueCount>,
    /// Affected = with a message + call list, as it stands now (`holds` says whether it adds
    /// up). None for a retracted run: its appointments stand, nobody is to be told or phoned.
    pub conservation: Option<ConservationView>,
    /// Bookings that vanished from the export while the outage ran: still affected until a
    /// person confirms (`POST …/confirm-removals`).
    pub removal_pending: Vec<PendingRemoval>,
}

/// The conservation line with its verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConservationView {
    #[serde(flatten)]
    pub counts: Conservation,
    /// affected == with_message + call_list; false is a bug to report.
    pub holds: bool,
    /// The line as `absage outage show` prints it.
    pub line: String,
}

impl From<Conservation> for ConservationView {
    fn from(counts: Conservation) -> Self {
        ConservationView {
            holds: counts.holds(),
            line: counts.to_string(),
            counts,
        }
    }
}

#[utoipa::path(get, path = "/api/outages/{id}", tag = "outages",
    params(("id" = i64, Path, description = "outage or batch id")),
    responses((status = 200, body = OutageView), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<OutageView>, ApiError> {
    let outage = own_outage(&state, &caller, id).await?;
    let standing = crate::overview::standing(&state.ctx, &outage).await?;
    Ok(Json(OutageView {
        outage: outage.try_into().map_err(ApiError::internal)?,
        queue: views::all(standing.queue).map_err(ApiError::internal)?,
        conservation: standing.conservation.map(ConservationView::from),
        removal_pending: standing.removal_pending,
    }))
}

/// A change of window or scope; what is left out stays.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AmendBody {
    pub from: Option<String>,
    pub to: Option<String>,
    pub services: Option<Vec<String>>,
    pub locations: Option<Vec<String>>,
    #[serde(default)]
    pub dry_run: bool,
}

/// Amends an active outage: newly affected citizens are told, queued notices of those no
/// longer affected are cancelled, and those already told hear that their appointment stands.
#[utoipa::path(post, path = "/api/outages/{id}/amend", tag = "outages", request_body = AmendBody,
    params(("id" = i64, Path, description = "outage id")),
    responses((status = 200, body = Impact),
        (status = 202, description = "waits for approval (four-eyes rule)", body = Declared),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn amend(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<AmendBody>,
) -> Result<Response, ApiError> {
    require(&caller, Role::Operator)?;
    own_outage(&state, &caller, id).await?;
    let tz = state
        .ctx
        .tenant(&caller.tenant)
        .map_err(ApiError::internal)?
        .time_zone;
    let at = |s: &Option<String>| {
        s.as_deref()
            .map(|s| crate::lifecycle::parse_instant(s, tz))
            .transpose()
            .map_err(ApiError::of_lifecycle)
    };
    let change = Amendment {
        from: at(&body.from)?,
        to: at(&body.to)?,
        services: body.services,
        locations: body.locations,
    };
    let action = Action::Amend { outage: id, change };
    changed(&state, &caller, action, body.dry_run).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RetractBody {
    /// Why, as citizens already told will read it.
    pub reason: String,
    #[serde(default)]
    pub dry_run: bool,
}

/// Retracts an outage declared by mistake: queued notices are cancelled and everyone already
/// told hears that their appointment stands.
#[utoipa::path(post, path = "/api/outages/{id}/retract", tag = "outages", request_body = RetractBody,
    params(("id" = i64, Path, description = "outage id")),
    responses((status = 200, body = Impact),
        (status = 202, description = "waits for approval (four-eyes rule)", body = Declared),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retract(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<RetractBody>,
) -> Result<Response, ApiError> {
    require(&caller, Role::Operator)?;
    own_outage(&state, &caller, id).await?;
    let action = Action::Retract {
        outage: id,
        reason: body.reason,
    };
    changed(&state, &caller, action, body.dry_run).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ConfirmRemovalsBody {
    #[serde(default)]
    pub dry_run: bool,
}

/// Confirms that the bookings which vanished from the export while the outage ran are really
/// gone (`removal_pending` of the outage): they leave it, and what is still queued for them is
/// cancelled. Nobody is told the appointment stands: it no longer exists.
#[utoipa::path(post, path = "/api/outages/{id}/confirm-removals", tag = "outages",
    request_body = ConfirmRemovalsBody,
    params(("id" = i64, Path, description = "outage id")),
    responses((status = 200, body = Impact),
        (status = 202, description = "waits for approval (four-eyes rule)", body = Declared),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn confirm_removals(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<ConfirmRemovalsBody>,
) -> Result<Response, ApiError> {
    require(&caller, Role::Operator)?;
    own_outage(&state, &caller, id).await?;
    let action = Action::ConfirmRemovals { outage: id };
    changed(&state, &caller, action, body.dry_run).await
}

/// `?format=csv` for a spreadsheet; JSON otherwise.
#[derive(Debug, Deserialize, IntoParams)]
pub struct FormatQuery {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

fn csv_or_json<T: Serialize>(rows: &[T], format: Option<&str>) -> Result<Response, ApiError> {
    match format {
        Some("csv") => {
            let mut bytes = Vec::new();
            crate::reports::write_csv(&mut bytes, rows).map_err(ApiError::internal)?;
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response())
        }
        None | Some("json") => Ok(Json(rows).into_response()),
        Some(other) => Err(ApiError::invalid(format!(
            "format {other:?}: use json or csv"
        ))),
    }
}

/// One row per booking the run affected: what was sent on which channel, and the reach.
#[utoipa::path(get, path = "/api/outages/{id}/report", tag = "outages",
    params(("id" = i64, Path, description = "outage or batch id"), FormatQuery),
    responses((status = 200, body = Vec<ReportRow>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    own_outage(&state, &caller, id).await?;
    let ctx = state.ctx.clone();
    let (_, rows) = (state.heavy(async move { crate::reports::report(&ctx, id).await }))
        .await
        .map_err(ApiError::internal)?;
    csv_or_json(&rows, q.format.as_deref())
}

/// The citizens no channel reached, by appointment time, to phone them.
#[utoipa::path(get, path = "/api/outages/{id}/calllist", tag = "outages",
    params(("id" = i64, Path, description = "outage or batch id"), FormatQuery),
    responses((status = 200, body = Vec<CallListEntry>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn call_list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    own_outage(&state, &caller, id).await?;
    let ctx = state.ctx.clone();
    let list = (state.heavy(async move { crate::reports::call_list(&ctx, id).await }))
        .await
        .map_err(ApiError::internal)?;
    csv_or_json(&list, q.format.as_deref())
}
