//! `/metrics` in the Prometheus text format, computed from the database at scrape time, so
//! every instance reports the same shared truth: queue depth by state and channel, destination
//! health, the age of each source's last import, how soon after a declaration the first
//! message left, and how messages ended per destination (sent, failed, expired, delivered …).

use super::State;
use crate::reports;
use crate::store::notifications;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// The metrics; with `http.metrics_token` set, only for a request that carries it.
pub async fn metrics(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    let token = state.ctx.settings.http.metrics_token.expose();
    if !token.is_empty()
        && !super::bearer(&headers).is_some_and(|given| {
            use crate::domain::account::token_hash;
            token_hash(given) == token_hash(token)
        })
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "metrics need Authorization: Bearer <http.metrics_token>\n",
        )
            .into_response();
    }
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

/// One metric family: its samples as (labels, value).
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn new(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: &[(&'static str, &str)], value: f64) {
        let labels = labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        self.samples.push((labels, value));
    }

    fn write(&self, out: &mut String) {
        family(out, self.name, "gauge", self.help);
        for (labels, value) in &self.samples {
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            sample(out, self.name, &labels, *value);
        }
    }
}

/// The exposition text: every family whole, with its HELP and TYPE.
pub async fn render(state: &State) -> anyhow::Result<String> {
    let now = state.ctx.now();
    let status = reports::status(&state.ctx, now).await?;
    let mut queue = Family::new(
        "absage_notifications",
        "Notifications by state and channel.",
    );
    for q in &status.queue {
        queue.add(
            &[("state", &q.state), ("channel", &q.channel)],
            q.count as f64,
        );
    }
    let mut up = Family::new(
        "absage_destination_up",
        "1 while a relay or gateway is up, 0 while it is marked down.",
    );
    let mut failures = Family::new(
        "absage_destination_consecutive_failures",
        "Connection-level failures in a row of a relay or gateway.",
    );
    for d in &status.destinations {
        let labels = [
            ("destination", d.name.as_str()),
            ("channel", d.channel.as_str()),
        ];
        up.add(&labels, if d.state == "up" { 1.0 } else { 0.0 });
        failures.add(&labels, d.consecutive_failures as f64);
    }
    let mut age = Family::new(
        "absage_source_import_age_seconds",
        "Seconds since the source's last successful import (absent: never).",
    );
    let mut stale = Family::new(
        "absage_source_stale",
        "1 when the source never imported or its data is older than stale_after_minutes.",
    );
    for s in &status.sources {
        let labels = [("source", s.source.as_str()), ("tenant", s.tenant.as_str())];
        if let Some(a) = s.age_secs {
            age.add(&labels, a as f64);
        }
        stale.add(&labels, if s.stale { 1.0 } else { 0.0 });
    }
    let mut active = Family::new("absage_active_outages", "Outages and batches still active.");
    active.add(&[], status.active_outages.len() as f64);
    let mut first = Family::new(
        "absage_first_send_seconds",
        "Seconds from an active outage's declaration to its first sent message.",
    );
    let mut conn = state.ctx.store.conn().await?;
    for o in &status.active_outages {
        if let Some(sent) = notifications::first_sent_at(&mut conn, o.id).await? {
            let id = o.id.to_string();
            first.add(
                &[("outage", &id), ("tenant", &o.tenant_id)],
                (sent - o.created_at).num_milliseconds() as f64 / 1000.0,
            );
        }
    }
    let mut not_informed = Family::new(
        "absage_citizens_not_informed_24h",
        "Per active outage: affected citizens whose appointment starts within 24 hours with no \
         evidence yet that they were informed (no delivery report, quiet period or call).",
    );
    let rules = reports::Rules::of(&state.ctx.settings);
    for (outage, tenant, count) in crate::store::outages::not_informed_by(
        &mut conn,
        now,
        now + chrono::Duration::hours(24),
        now - rules.quiet,
        rules.sms_reports,
    )
    .await?
    {
        let id = outage.to_string();
        not_informed.add(&[("outage", &id), ("tenant", &tenant)], count as f64);
    }
    let mut outcomes = Family::new(
        "absage_messages_finished",
        "Messages that reached a final state, by channel, destination and outcome (sent; failed: \
         refused for good or out of attempts; expired: too late, the appointment had begun; \
         cancelled: no longer needed), and delivery reports of SMS.",
    );
    for o in notifications::outcomes(&mut conn).await? {
        let destination = o.destination.as_deref().unwrap_or("none");
        outcomes.add(
            &[
                ("channel", &o.channel),
                ("destination", destination),
                ("outcome", &o.outcome),
            ],
            o.count as f64,
        );
    }
    let mut out = String::new();
    for f in [
        queue,
        up,
        failures,
        age,
        stale,
        active,
        first,
        not_informed,
        outcomes,
    ] {
        f.write(&mut out);
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
