//! `absage status` and `absage imports`: the sources' freshness, the import history, active
//! outages, the queue and the destinations.

use super::{json, local, window};
use crate::config::Settings;
use crate::reports::{SourceStatus, Status};
use crate::store::imports::{ImportCounts, ImportRow};
use std::io::Write;

/// The sources, recent imports, active outages, queue and destinations; times in each
/// tenant's zone.
pub fn status(
    out: &mut impl Write,
    s: &Status,
    settings: &Settings,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        return json(out, s);
    }
    sources(out, &s.sources)?;
    writeln!(out, "recent imports (all: absage imports):")?;
    imports(out, &s.recent_imports, settings)?;
    writeln!(out, "active outages: {}", s.active_outages.len())?;
    for o in &s.active_outages {
        let window = window(settings, o);
        writeln!(out, "  #{} {} {window} {}", o.id, o.kind, o.reason)?;
    }
    writeln!(out, "queue:")?;
    for q in &s.queue {
        writeln!(out, "  {:<6} {:<10} {}", q.channel, q.state, q.count)?;
    }
    writeln!(out, "destinations:")?;
    for d in &s.destinations {
        writeln!(
            out,
            "  {:<16} {:<6} {:<5} {}",
            d.name,
            d.channel,
            d.state,
            d.last_error.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// Each source with the age and outcome of its last import.
fn sources(out: &mut impl Write, sources: &[SourceStatus]) -> anyhow::Result<()> {
    writeln!(out, "sources:")?;
    for src in sources {
        let age = src.age_secs.map_or("never imported".to_string(), |a| {
            format!("last import {} ago", human_age(a))
        });
        let stale = if src.stale { "  STALE" } else { "" };
        writeln!(
            out,
            "  {:<20} tenant {:<10} {age} (last outcome: {}){stale}",
            src.source,
            src.tenant,
            src.last_outcome.as_deref().unwrap_or("-")
        )?;
        if let Some(c) = &src.last_counts {
            writeln!(out, "      {}", counts(c))?;
        }
        if let Some(m) = &src.last_message {
            writeln!(out, "      {m}")?;
        }
    }
    Ok(())
}

/// The import history (`absage imports`).
pub fn history(
    out: &mut impl Write,
    rows: &[ImportRow],
    settings: &Settings,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        return json(out, &rows);
    }
    imports(out, rows, settings)
}

/// One line per import: when (in its tenant's zone), source, outcome, duration and counts.
fn imports(out: &mut impl Write, rows: &[ImportRow], settings: &Settings) -> anyhow::Result<()> {
    if rows.is_empty() {
        writeln!(out, "  none yet")?;
    }
    for r in rows {
        let started = local(settings, &r.tenant_id, r.started_at, "%Y-%m-%d %H:%M:%S");
        let took = r
            .duration_ms()
            .map_or("-".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
        writeln!(
            out,
            "  #{:<5} {started} {:<16} {:<8} {took:>8}  {}",
            r.id,
            r.source,
            r.outcome,
            counts(&r.counts)
        )?;
        if let Some(m) = &r.message {
            writeln!(out, "          {m}")?;
        }
    }
    Ok(())
}

/// "read 7, new 6, updated 0, unchanged 0, removed 0, rejected 1".
fn counts(c: &ImportCounts) -> String {
    format!(
        "read {}, new {}, updated {}, unchanged {}, removed {}, rejected {}",
        c.rows_read, c.rows_new, c.rows_updated, c.rows_unchanged, c.rows_removed, c.rows_rejected
    )
}

/// "90 s", "12 min", "5 h", "3 days".
fn human_age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::print::fixtures::{outage, settings, written};
    use crate::store::destinations::DestinationRow;
    use crate::store::notifications::QueueCount;

    fn import_row(id: i64, message: Option<&str>) -> ImportRow {
        ImportRow {
            id,
            tenant_id: "soest".into(),
            source: "termine".into(),
            location: "/srv/export.csv".into(),
            // 2026-12-04 20:59:13 in Berlin, 1.5 s long
            started_at: crate::domain::from_millis(1_796_414_353_000),
            finished_at: Some(crate::domain::from_millis(1_796_414_354_500)),
            outcome: "applied".into(),
            counts: ImportCounts {
                rows_read: 7,
                rows_new: 6,
                rows_rejected: 1,
                ..ImportCounts::default()
            },
            message: message.map(Into::into),
        }
    }

    fn sample() -> Status {
        Status {
            sources: vec![SourceStatus {
                source: "termine".into(),
                tenant: "soest".into(),
                schedule: None,
                last_outcome: Some("refused".into()),
                last_message: Some("refused: too many removed".into()),
                last_success: None,
                age_secs: Some(4000),
                stale: true,
                last_counts: Some(import_row(2, None).counts),
            }],
            recent_imports: vec![import_row(2, Some("refused: too many removed"))],
            active_outages: vec![outage(1)],
            queue: vec![QueueCount {
                state: "queued".into(),
                channel: "sms".into(),
                count: 4,
            }],
            destinations: vec![DestinationRow {
                name: "relay-1".into(),
                channel: "email".into(),
                state: "down".into(),
                consecutive_failures: 3,
                last_error: Some("connection refused".into()),
                down_since: None,
                next_probe_at: None,
                send_micros: None,
                updated_at: crate::domain::from_millis(0),
            }],
        }
    }

    #[test]
    fn the_status_shows_every_part_with_times_in_the_tenants_zone() {
        let text = written(|out| status(out, &sample(), &settings(), false));
        assert_eq!(
            text,
            "sources:\n\
             \x20 termine              tenant soest      last import 66 min ago (last outcome: refused)  STALE\n\
             \x20     read 7, new 6, updated 0, unchanged 0, removed 0, rejected 1\n\
             \x20     refused: too many removed\n\
             recent imports (all: absage imports):\n\
             \x20 #2     2026-12-04 20:59:13 termine          applied     1.5 s  read 7, new 6, updated 0, unchanged 0, removed 0, rejected 1\n\
             \x20         refused: too many removed\n\
             active outages: 1\n\
             \x20 #1 outage [2030-03-04 08:00 – 2030-03-04 18:00) IT-Ausfall\n\
             queue:\n\
             \x20 sms    queued     4\n\
             destinations:\n\
             \x20 relay-1          email  down  connection refused\n"
        );
    }

    #[test]
    fn with_json_the_status_is_written_whole() {
        let text = written(|out| status(out, &sample(), &settings(), true));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["sources"][0]["stale"], true);
        assert_eq!(v["recent_imports"][0]["rows_new"], 6, "counts flattened");
        assert_eq!(v["destinations"][0]["last_error"], "connection refused");
    }

    #[test]
    fn an_empty_history_says_so_and_a_running_import_has_no_duration() {
        let text = written(|out| history(out, &[], &settings(), false));
        assert_eq!(text, "  none yet\n");
        let running = ImportRow {
            finished_at: None,
            ..import_row(5, None)
        };
        let text = written(|out| history(out, &[running], &settings(), false));
        assert!(text.contains(" applied         -  read 7"), "{text}");
        let json = written(|out| history(out, &[], &settings(), true));
        assert_eq!(json, "[]\n");
    }

    #[test]
    fn ages_are_rounded_down_to_a_readable_unit() {
        assert_eq!(human_age(0), "0 s");
        assert_eq!(human_age(119), "119 s");
        assert_eq!(human_age(120), "2 min");
        assert_eq!(human_age(7200), "2 h");
        assert_eq!(human_age(172_800), "2 days");
    }
}
