//! Callbacks from outside: SMS delivery reports at `/hooks/dlr/{id}/{sig}?status=…`.
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
