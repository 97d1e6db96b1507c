//! `/metrics` in the Prometheus text format, computed from the database at scrape time, so
//! every instance reports the same shared truth: queue depth by state and channel, destination
//! health, the age of each source's last import, and how soon after a declaration the first
//! message left.

use super::State;
use crate::reports;
use crate::store::notifications;
use axum::extract::State as Extract;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

pub async fn metrics(Extract(state): Extract<State>) -> Response {
    match render(&state).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "rendering metrics failed");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable\n").into_response()
        }
    }
}

/// The exposition text.
pub async fn render(state: &State) -> anyhow::Result<String> {
    let now = (state.clock)();
    let status = reports::status(&state.store, &state.settings, now).await?;
    let mut out = String::new();
    family(
        &mut out,
        "absage_notifications",
        "gauge",
        "Notifications by state and channel.",
    );
    for q in &status.queue {
        sample(
            &mut out,
            "absage_notifications",
            &[("state", &q.state), ("channel", &q.channel)],
            q.count as f64,
        );
    }
    family(
        &mut out,
        "absage_destination_up",
        "gauge",
        "1 while a relay or gateway is up, 0 while it is marked down.",
    );
    for d in &status.destinations {
        let up = if d.state == "up" { 1.0 } else { 0.0 };
        sample(
            &mut out,
            "absage_destination_up",
            &[("destination", &d.name), ("channel", &d.channel)],
            up,
        );
        sample(
            &mut out,
            "absage_destination_consecutive_failures",
            &[("destination", &d.name)],
            d.consecutive_failures as f64,
        );
    }
    family(
        &mut out,
        "absage_source_import_age_seconds",
        "gauge",
        "Seconds since the source's last successful import (absent: never).",
    );
    for s in &status.sources {
        if let Some(age) = s.age_secs {
            sample(
                &mut out,
                "absage_source_import_age_seconds",
                &[("source", &s.source), ("tenant", &s.tenant)],
                age as f64,
            );
        }
        sample(
            &mut out,
            "absage_source_stale",
            &[("source", &s.source), ("tenant", &s.tenant)],
            if s.stale { 1.0 } else { 0.0 },
        );
    }
    family(
        &mut out,
        "absage_active_outages",
        "gauge",
        "Outages and batches still active.",
    );
    sample(
        &mut out,
        "absage_active_outages",
        &[],
        status.active_outages.len() as f64,
    );
    family(
        &mut out,
        "absage_first_send_seconds",
        "gauge",
        "Seconds from an active outage's declaration to its first sent message.",
    );
    let mut conn = state.store.conn().await?;
    for o in &status.active_outages {
        if let Some(first) = notifications::first_sent_at(&mut conn, o.id).await? {
            let secs = (first - o.created_at) as f64 / 1000.0;
            sample(
                &mut out,
                "absage_first_send_seconds",
                &[("outage", &o.id.to_string()), ("tenant", &o.tenant_id)],
                secs,
            );
        }
    }
    Ok(out)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_written_in_the_text_format_with_escaped_labels() {
        let mut out = String::new();
        family(&mut out, "x", "gauge", "An x.");
        sample(&mut out, "x", &[("a", "b\"c"), ("d", "e")], 2.0);
        sample(&mut out, "y", &[], 1.5);
        assert_eq!(
            out,
            "# HELP x An x.\n# TYPE x gauge\nx{a=\"b\\\"c\",d=\"e\"} 2\ny 1.5\n"
        );
    }
}
