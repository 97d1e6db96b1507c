//! What the commands write to stdout, apart from running them: each function takes a result
//! and the output format and writes text or JSON to any [`Write`], so the tests read it. One-line
//! confirmations ("account … removed") and text the library renders whole (the effective
//! configuration) stay with their command.
//!
//! - [`impact`]: a declaration or its preview
//! - [`change`]: an amendment, retraction or confirmation of removals
//! - [`outage`]: the outage list and one outage with its queue
//! - [`status`]: `status` and the import history
//! - [`import`]: the report of one import
//! - [`report`]: the per-booking report, the call list, the suppression list
//! - [`bounces`]: the addresses not mailed any more, and the returned mail
//! - [`preview`], [`admin`], [`db`]: a message preview, the accounts, the retention job

pub mod admin;
pub mod bounces;
pub mod change;
pub mod db;
#[cfg(test)]
mod fixtures;
pub mod impact;
pub mod import;
pub mod outage;
pub mod preview;
pub mod report;
pub mod status;

use crate::config::Settings;
use crate::store::outages::OutageRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::io::Write;

/// `value` as indented JSON and a line break, as every `--json` writes it.
fn json(out: &mut impl Write, value: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// ", about 0.15" for a known cost, else nothing.
fn about(cost: Option<f64>) -> String {
    cost.map(|c| format!(", about {c:.2}")).unwrap_or_default()
}

/// A time as the staff of `tenant` read it, in `format`.
fn local(settings: &Settings, tenant: &str, at: DateTime<Utc>, format: &str) -> String {
    let tz = settings.zone_of(tenant);
    at.with_timezone(&tz).format(format).to_string()
}

/// An outage's window in its tenant's time: `[2030-03-04 08:00 – 2030-03-04 18:00)`.
fn window(settings: &Settings, o: &OutageRow) -> String {
    let at = |t: Option<DateTime<Utc>>| {
        t.map_or("-".into(), |m| {
            local(settings, &o.tenant_id, m, "%Y-%m-%d %H:%M")
        })
    };
    format!("[{} – {})", at(o.window_from), at(o.window_to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixtures::{outage, settings};

    #[test]
    fn a_window_is_shown_in_the_tenants_zone_and_an_open_end_as_a_dash() {
        let s = settings();
        assert_eq!(
            window(&s, &outage(1)),
            "[2030-03-04 08:00 – 2030-03-04 18:00)"
        );
        let open = OutageRow {
            window_to: None,
            tenant_id: "gone".into(),
            ..outage(1)
        };
        assert_eq!(window(&s, &open), "[2030-03-04 07:00 – -)", "UTC");
    }

    #[test]
    fn a_cost_is_shown_to_the_cent_and_an_unknown_one_not_at_all() {
        assert_eq!(about(Some(0.22499999999999998)), ", about 0.22");
        assert_eq!(about(None), "");
    }
}
