//! Callbacks from outside: SMS delivery reports at `/hooks/dlr/{id}/{sig}?status=…`, and
//! Alertmanager's webhook at `/hooks/alertmanager` (see [`alertmanager`]).
//!
//! Kannel calls the URL absage gave it with each SMS (`dlr-url`), putting the report type
//! (1 delivered, 2 undelivered, 4 buffered, 8 submitted, 16 rejected) where `%d` stood. Other
//! gateways may send `status` as a word (`delivered`, …). A report is taken only when the URL's
//! signature belongs to its notification id; anything else is refused with 403 and changes
//! nothing.

use crate::http::State as AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
pub struct Report {
    status: Option<String>,
}

fn state_of(status: &str) -> Option<&'static str> {
    match status.trim().to_ascii_lowercase().as_str() {
        "delivered" => Some("delivered"),
        "undelivered" | "failed" => Some("undelivered"),
        "buffered" => Some("buffered"),
        "submitted" | "accepted" => Some("submitted"),
        "rejected" => Some("rejected"),
        number => number
            .parse()
            .ok()
            .and_then(crate::domain::dlr::delivery_state),
    }
}

pub async fn delivery_report(
    State(state): State<AppState>,
    Path((id, sig)): Path<(i64, String)>,
    Query(report): Query<Report>,
) -> (StatusCode, Json<serde_json::Value>) {
    let refuse = |status: StatusCode, code: &str, message: &str| {
        (status, Json(json!({ "code": code, "message": message })))
    };
    let Some((_, secret)) = state.settings.http.webhooks.delivery_reports() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "delivery reports are not configured",
        );
    };
    if !crate::domain::dlr::verify(secret, id, &sig) {
        tracing::warn!(
            notification = id,
            "refused a delivery report with a wrong signature"
        );
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the signature does not match",
        );
    }
    let Some(delivery) = report.status.as_deref().and_then(state_of) else {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "status: not a delivery report type",
        );
    };
    let now_ms = crate::domain::to_millis((state.clock)());
    let recorded = match state.store.conn().await {
        Ok(mut conn) => {
            crate::store::notifications::record_delivery(&mut conn, id, delivery, now_ms).await
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot record a delivery report");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "internal",
                "try again later",
            );
        }
    };
    match recorded {
        Ok(true) => {
            tracing::info!(notification = id, delivery, "delivery report");
            (
                StatusCode::OK,
                Json(json!({ "notification": id, "delivery": delivery })),
            )
        }
        // Signed but gone (purged by retention): nothing to update, and no reason to retry.
        Ok(false) => refuse(
            StatusCode::GONE,
            "gone",
            "the notification no longer exists",
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot record a delivery report");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "internal",
                "try again later",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_types_come_as_kannel_numbers_or_words() {
        assert_eq!(state_of("1"), Some("delivered"));
        assert_eq!(state_of("16"), Some("rejected"));
        assert_eq!(state_of("Failed"), Some("undelivered"));
        assert_eq!(state_of("%d"), None);
        assert_eq!(state_of("7"), None);
    }
}

/// Alertmanager's webhook payload (version 4), as far as absage needs it.
#[derive(Debug, Deserialize)]
pub struct AlertPayload {
    alerts: Vec<Alert>,
}

#[derive(Debug, Deserialize)]
struct Alert {
    status: String,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    fingerprint: String,
}

/// `/hooks/alertmanager`: each firing alert that matches an `[[alerts.rules]]` entry declares an
/// outage from the alert's start for the rule's hours, once per alert (repeats are ignored), as
/// the account "alertmanager" — so above the tenant's approval threshold it waits for an
/// approver like any other declaration.
pub async fn alertmanager(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Json(payload): Json<AlertPayload>,
) -> (StatusCode, Json<serde_json::Value>) {
    let refuse = |status: StatusCode, code: &str, message: &str| {
        (status, Json(json!({ "code": code, "message": message })))
    };
    let alerts = &state.settings.alerts;
    if alerts.rules.is_empty() {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "no alert rules are configured",
        );
    }
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Digests compared, so the time taken says nothing about the token.
    let digest = |t: &str| crate::domain::account::token_hash(t);
    if digest(given) != digest(alerts.token.expose()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong or missing bearer token",
        );
    }
    let now_ms = crate::domain::to_millis((state.clock)());
    let mut outcomes = Vec::new();
    for alert in payload.alerts.iter().filter(|a| a.status == "firing") {
        for (i, rule) in alerts.rules.iter().enumerate() {
            if !rule.matches(&alert.labels) {
                continue;
            }
            let key = format!(
                "rule{i}/{}/{}",
                alert.fingerprint,
                crate::domain::to_millis(alert.starts_at)
            );
            let claimed = match state.store.conn().await {
                Ok(mut conn) => {
                    crate::store::alert_runs::claim(&mut conn, &key, &rule.tenant, now_ms)
                        .await
                        .map_err(anyhow::Error::from)
                }
                Err(e) => Err(e),
            };
            match claimed {
                Ok(true) => {}
                Ok(false) => {
                    outcomes.push(json!({ "rule": i, "status": "repeat" }));
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "cannot record an alert");
                    return refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "internal",
                        "try again later",
                    );
                }
            }
            let request = crate::declare::DeclareRequest {
                from: Some(alert.starts_at.to_rfc3339()),
                to: Some(
                    (alert.starts_at + chrono::Duration::hours(i64::from(rule.hours))).to_rfc3339(),
                ),
                services: rule.services.clone(),
                locations: rule.locations.clone(),
                keys: None,
                batch: false,
                reason: rule.reason.clone(),
            };
            let caller = crate::accounts::Caller {
                name: "alertmanager".into(),
                tenant: rule.tenant.clone(),
                role: crate::domain::account::Role::Operator,
            };
            match crate::http::api::outages::submit(&state, &caller, &request, false).await {
                Ok((_, declared)) => outcomes.push(json!({
                    "rule": i,
                    "status": declared.status,
                    "outage": declared.impact.id,
                    "approval": declared.approval.as_ref().map(|a| a.id),
                    "affected": declared.impact.stats.affected,
                })),
                Err(e) => {
                    tracing::error!(rule = i, error = ?e, "an alert could not declare its outage");
                    outcomes.push(json!({ "rule": i, "status": "failed" }));
                }
            }
        }
    }
    (StatusCode::OK, Json(json!({ "outcomes": outcomes })))
}
