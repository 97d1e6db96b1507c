//! `/api/audit`, `/api/imports`, `/api/destinations`, `/api/queue`: what happened and how
//! things stand, for the caller's tenant.

use super::views::{self, AuditEntry, Counts, Destination, Import, ImportOutcome, QueueCount};
use super::{ApiError, ErrorBody, audit as append_audit, require};
use crate::accounts::Caller;
use crate::domain::account::Role;
use crate::http::State as AppState;
use crate::import::{ContactProblems, ImportOptions, Outcome};
use crate::store::{audit, destinations, imports, notifications};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
pub struct LimitQuery {
    /// How many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

impl LimitQuery {
    fn get(&self) -> i64 {
        self.limit.unwrap_or(100).clamp(1, 1000)
    }
}

/// The tenant's audit log, newest first.
#[utoipa::path(get, path = "/api/audit", tag = "records", params(LimitQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<LimitQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let mut conn = state.ctx.store.conn().await.map_err(ApiError::internal)?;
    let rows = audit::list(&mut conn, &caller.tenant, q.get()).await?;
    Ok(Json(views::all(rows).map_err(ApiError::internal)?))
}

/// The import history of the tenant's sources, newest first.
#[utoipa::path(get, path = "/api/imports", tag = "records", params(LimitQuery),
    responses((status = 200, body = Vec<Import>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn imports(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<LimitQuery>,
) -> Result<Json<Vec<Import>>, ApiError> {
    let mut conn = state.ctx.store.conn().await.map_err(ApiError::internal)?;
    let rows = imports::history_of_tenant(&mut conn, &caller.tenant, q.get()).await?;
    Ok(Json(views::all(rows).map_err(ApiError::internal)?))
}

/// One import with the rows it rejected and its contact problems (position, field, reason;
/// never personal data).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportDetail {
    #[serde(flatten)]
    pub import: Import,
    /// The first rejected rows (at most 1,000 are kept).
    #[schema(value_type = Object)]
    pub rejected: serde_json::Value,
    /// Imported bookings whose email or phone could not be used (they lost that channel only):
    /// counts per field and the first of them with position, field and reason, never the value.
    pub contact: ContactProblems,
}

#[utoipa::path(get, path = "/api/imports/{id}", tag = "records",
    params(("id" = i64, Path, description = "import id")),
    responses((status = 200, body = ImportDetail), (status = 404, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ImportDetail>, ApiError> {
    let detail = crate::overview::import_detail(&state.ctx, &caller.tenant, id).await?;
    Ok(Json(ImportDetail {
        import: detail.import.try_into().map_err(ApiError::internal)?,
        rejected: detail.rejected,
        contact: detail.contact,
    }))
}

/// How an import triggered through the API ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportSummary {
    pub import_id: i64,
    pub source: String,
    /// `applied` or `refused`.
    pub outcome: ImportOutcome,
    pub message: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Imports one of the tenant's sources now (as `absage import` does). The import runs on its
/// own task: a client that disconnects does not stop it, and it still releases the source and
/// records its outcome and audit entry. 409 while another run imports the source.
#[utoipa::path(post, path = "/api/sources/{source}/import", tag = "records",
    params(("source" = String, Path, description = "source name")),
    responses((status = 200, body = ImportSummary), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn trigger_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ImportSummary>, ApiError> {
    require(&caller, Role::Operator)?;
    let source = state
        .ctx
        .settings
        .source(&name)
        .filter(|s| s.tenant == caller.tenant)
        .ok_or_else(|| ApiError::not_found(&format!("source {name:?}")))?
        .clone();
    let running = tokio::spawn(import_and_audit(state, caller, source));
    running.await.map_err(ApiError::internal)?
}

async fn import_and_audit(
    state: AppState,
    caller: Caller,
    source: crate::import::SourceSettings,
) -> Result<Json<ImportSummary>, ApiError> {
    let opts = ImportOptions {
        by: format!("api:{}", caller.name),
        ..ImportOptions::default()
    };
    // The API's runs are named by their caller; `opts.by` is set, so no instance is needed.
    let ran = crate::jobs::imports::import_now(&state.ctx, "", &source, &opts, &|_| {}).await;
    let report = match ran {
        Ok(report) => report,
        Err(e) if e.is::<crate::import::Busy>() => return Err(ApiError::conflict(e.to_string())),
        Err(e) => return Err(ApiError::internal(e)),
    };
    let summary = ImportSummary {
        import_id: report.import_id,
        source: report.source,
        outcome: match report.outcome {
            Outcome::Applied => ImportOutcome::Applied,
            Outcome::Refused => ImportOutcome::Refused,
        },
        message: report.message,
        counts: report.counts.into(),
    };
    append_audit(
        &state,
        &caller,
        "import.trigger",
        Some(format!("source {}", source.name)),
        serde_json::json!({
            "import": summary.import_id, "outcome": summary.outcome.as_str(),
            "read": summary.counts.rows_read, "rejected": summary.counts.rows_rejected,
        }),
    )
    .await?;
    Ok(Json(summary))
}

/// The health of every relay and gateway (shared by all tenants).
#[utoipa::path(get, path = "/api/destinations", tag = "records",
    responses((status = 200, body = Vec<Destination>), (status = 401, body = ErrorBody)))]
pub async fn destinations(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<Destination>>, ApiError> {
    let mut conn = state.ctx.store.conn().await.map_err(ApiError::internal)?;
    let rows = destinations::all(&mut conn).await?;
    Ok(Json(views::all(rows).map_err(ApiError::internal)?))
}

/// The tenant's notifications by state and channel.
#[utoipa::path(get, path = "/api/queue", tag = "records",
    responses((status = 200, body = Vec<QueueCount>), (status = 401, body = ErrorBody)))]
pub async fn queue(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<QueueCount>>, ApiError> {
    let mut conn = state.ctx.store.conn().await.map_err(ApiError::internal)?;
    let rows = notifications::counts_of_tenant(&mut conn, &caller.tenant).await?;
    Ok(Json(views::all(rows).map_err(ApiError::internal)?))
}
