//! Callbacks from outside: SMS delivery reports at `/hooks/dlr/{id}/{claim}/{sig}?status=…`,
//! and Alertmanager's webhook at `/hooks/alertmanager` (see [`alertmanager`]).
//!
//! Kannel calls the URL absage gave it with each SMS (`dlr-url`), putting the report type
//! (1 delivered, 2 undelivered, 4 buffered, 8 submitted, 16 rejected) where `%d` stood. Other
//! gateways may send `status` as a word (`delivered`, …). A report is taken only when the URL's
//! signature belongs to its notification and send (see [`crate::domain::dlr`]); anything else
//! is refused with 403 and changes nothing. The first final report of a send stays; another
//! final one is refused with 409. A report that the SMS did not arrive moves its citizen on:
//! to the other channel where the tenant's policy has one waiting, else to the call list.

use crate::config::ReportMapping;
use crate::http::State as AppState;
use crate::store::notifications;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

/// A delivery report as it came: its query string and its form or JSON body. Where the
/// status (and, for a provider's one callback URL, absage's reference) sits is the gateway's
/// [`ReportMapping`]; without one, `status` in the query or form.
pub struct Report {
    fields: Vec<(String, String)>,
    json: Option<serde_json::Value>,
}

impl Report {
    fn new(query: Vec<(String, String)>, headers: &HeaderMap, body: &[u8]) -> Report {
        let content_type = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut fields = query;
        let mut json = None;
        if content_type.starts_with("application/json") {
            json = serde_json::from_slice(body).ok();
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            fields.extend(url::form_urlencoded::parse(body).into_owned());
        }
        Report { fields, json }
    }

    /// A form or query field by name, or with a leading `/` a JSON pointer into the body
    /// (a number or boolean there reads as its text).
    fn field(&self, place: &str) -> Option<String> {
        if place.starts_with('/') {
            return match self.json.as_ref()?.pointer(place)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            };
        }
        self.fields
            .iter()
            .find(|(k, _)| k == place)
            .map(|(_, v)| v.clone())
    }

    /// absage's delivery state: by the gateway's mapping, or from `status`.
    fn delivery(&self, mapping: Option<&ReportMapping>) -> Result<&'static str, Option<String>> {
        match mapping {
            Some(m) => {
                let status = self.field(&m.status).ok_or(None)?;
                m.state_of(&status).ok_or(Some(status))
            }
            None => self
                .field("status")
                .as_deref()
                .and_then(state_of)
                .ok_or(None),
        }
    }
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

/// A report for one send of a notification (its own signed URL, `{dlr_url}`).
pub async fn delivery_report(
    State(state): State<AppState>,
    Path((id, claim, sig)): Path<(i64, i64, String)>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let report = Report::new(query, &headers, &body);
    take_report(&state, id, Some(claim), &sig, &report, None).await
}

/// A report at a URL handed out before sends were counted (`/hooks/dlr/{id}/{sig}`): taken for
/// the notification's current send.
pub async fn delivery_report_unclaimed(
    State(state): State<AppState>,
    Path((id, sig)): Path<(i64, String)>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let report = Report::new(query, &headers, &body);
    take_report(&state, id, None, &sig, &report, None).await
}

/// A report to a gateway's one callback URL (`/hooks/dlr/gateway/{name}`), set once at the
/// provider: the message is named by absage's signed reference `{dlr_ref}`, which the provider
/// hands back where the gateway's `delivery_reports.reference` says.
pub async fn gateway_report(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let refuse = |status: StatusCode, code: &str, message: &str| {
        (status, Json(json!({ "code": code, "message": message })))
    };
    let Some(mapping) = gateway_mapping(&state, &name).filter(|m| m.reference.is_some()) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "no gateway of this name takes reports by reference",
        );
    };
    let report = Report::new(query, &headers, &body);
    let reference = mapping.reference.as_deref().and_then(|r| report.field(r));
    let Some((id, claim, sig)) = reference
        .as_deref()
        .and_then(crate::domain::dlr::parse_reference)
    else {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden",
            "no reference of absage's in the report",
        );
    };
    take_report(&state, id, Some(claim), &sig, &report, Some(mapping)).await
}

/// The report mapping of the HTTP gateway `name`, if it has one.
fn gateway_mapping<'a>(state: &'a AppState, name: &str) -> Option<&'a ReportMapping> {
    state
        .ctx
        .settings
        .sms
        .gateways
        .iter()
        .find_map(|g| match g {
            crate::config::SmsGatewayConfig::Http(h) if h.name == name => {
                h.delivery_reports.as_deref()
            }
            _ => None,
        })
}

async fn take_report(
    state: &AppState,
    id: i64,
    claim: Option<i64>,
    sig: &str,
    report: &Report,
    mapping: Option<&ReportMapping>,
) -> (StatusCode, Json<serde_json::Value>) {
    use crate::store::notifications::Delivery;
    let refuse = |status: StatusCode, code: &str, message: &str| {
        (status, Json(json!({ "code": code, "message": message })))
    };
    let Some((_, secret)) = state.ctx.settings.http.webhooks.delivery_reports() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "delivery reports are not configured",
        );
    };
    if !crate::domain::dlr::verify(secret, id, claim, sig) {
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
    // The gateway that sent the message says how its reports read.
    let mapping = match mapping {
        Some(m) => Some(m),
        None => match sent_through(state, id).await {
            Ok(gateway) => gateway.and_then(|g| gateway_mapping(state, &g)),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot read a notification's gateway");
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "internal",
                    "try again later",
                );
            }
        },
    };
    let delivery = match report.delivery(mapping) {
        Ok(d) => d,
        // A status the mapping does not list: taken as nothing (the provider would only send
        // it again), and logged so the mapping can be completed.
        Err(Some(status)) => {
            tracing::warn!(
                notification = id,
                status,
                "a delivery report with a status the gateway's mapping does not list"
            );
            return (
                StatusCode::OK,
                Json(json!({ "notification": id, "ignored": status })),
            );
        }
        Err(None) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "status: not a delivery report type",
            );
        }
    };
    let now = state.ctx.now();
    let recorded = async {
        let mut tx = state.ctx.store.begin().await?;
        let taken = notifications::record_delivery(&mut tx, id, claim, delivery, now).await?;
        let mut moved_on = 0;
        if taken == (Delivery::Recorded { sent: true }) && crate::domain::dlr::is_failure(delivery)
        {
            moved_on = notifications::delivery_failed(&mut tx, id, delivery, now).await?;
        }
        tx.commit().await?;
        anyhow::Ok((taken, moved_on))
    };
    match recorded.await {
        Ok((Delivery::Recorded { .. }, fallbacks)) => {
            tracing::info!(notification = id, delivery, fallbacks, "delivery report");
            (
                StatusCode::OK,
                Json(
                    json!({ "notification": id, "delivery": delivery, "fallbacks_queued": fallbacks }),
                ),
            )
        }
        Ok((Delivery::Kept(kept), _)) => (
            StatusCode::OK,
            Json(json!({ "notification": id, "delivery": kept, "ignored": delivery })),
        ),
        Ok((Delivery::Conflict(kept), _)) => {
            tracing::warn!(notification = id, kept = %kept, refused = delivery, "refused a delivery report contradicting a final one");
            refuse(
                StatusCode::CONFLICT,
                "conflict",
                &format!("the send already has the final report {kept}"),
            )
        }
        // A report for an earlier send (one the gateway did not take, say): nothing to do.
        Ok((Delivery::EarlierSend, _)) => (
            StatusCode::OK,
            Json(json!({ "notification": id, "ignored": "a report for an earlier send" })),
        ),
        // Signed but gone (purged by retention): nothing to update, and no reason to retry.
        Ok((Delivery::Gone, _)) => refuse(
            StatusCode::GONE,
            "gone",
            "the notification no longer exists",
        ),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot record a delivery report");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "internal",
                "try again later",
            )
        }
    }
}

/// The destination a notification was last sent through.
async fn sent_through(state: &AppState, id: i64) -> anyhow::Result<Option<String>> {
    let mut conn = state.ctx.store.conn().await?;
    Ok(notifications::destination_of(&mut conn, id).await?)
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
    body: axum::body::Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let refuse = |status: StatusCode, code: &str, message: &str| {
        (status, Json(json!({ "code": code, "message": message })))
    };
    let alerts = &state.ctx.settings.alerts;
    if alerts.rules.is_empty() {
        return refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "no alert rules are configured",
        );
    }
    let given = crate::http::bearer(&headers).unwrap_or("");
    // Digests compared, so the time taken says nothing about the token.
    let digest = |t: &str| crate::domain::account::token_hash(t);
    if digest(given) != digest(alerts.token.expose()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong or missing bearer token",
        );
    }
    // Parsed only once the caller is known: a stranger's body costs nothing.
    let payload: AlertPayload = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid",
                &format!("the body is no Alertmanager webhook payload: {e}"),
            );
        }
    };
    let now = state.ctx.now();
    let mut outcomes = Vec::new();
    for alert in payload.alerts.iter().filter(|a| a.status == "firing") {
        for (i, rule) in alerts.rules.iter().enumerate() {
            if !rule.matches(&alert.labels) {
                continue;
            }
            let key = format!("rule{i}/{}/{}", alert.fingerprint, alert.starts_at);
            let claimed = match state.ctx.store.conn().await {
                Ok(mut conn) => crate::store::alert_runs::claim(&mut conn, &key, &rule.tenant, now)
                    .await
                    .map_err(anyhow::Error::from),
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
            let request = crate::lifecycle::DeclareRequest {
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
            let action = crate::lifecycle::four_eyes::Action::Declare(request);
            let now = state.ctx.now();
            use crate::lifecycle::four_eyes::Submitted;
            match crate::lifecycle::four_eyes::submit(&state.ctx, &caller, &action, now, false)
                .await
            {
                Ok(Submitted::Pending(impact, approval)) => outcomes.push(json!({
                    "rule": i,
                    "status": "pending_approval",
                    "outage": impact.id,
                    "approval": approval.id,
                    "affected": impact.stats.affected,
                })),
                Ok(Submitted::Done(impact) | Submitted::Preview(impact)) => outcomes.push(json!({
                    "rule": i,
                    "status": "declared",
                    "outage": impact.id,
                    "approval": null,
                    "affected": impact.stats.affected,
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
