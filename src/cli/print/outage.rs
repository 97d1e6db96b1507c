//! `absage outage list` and `absage outage show`.

use super::{json, window};
use crate::config::Settings;
use crate::reports::OutageQueue;
use crate::store::outages::OutageRow;
use std::io::Write;

/// One line per outage or batch: id, kind, state, tenant, window, reason.
pub fn list(
    out: &mut impl Write,
    list: &[OutageRow],
    settings: &Settings,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        return json(out, &list);
    }
    for o in list {
        writeln!(
            out,
            "#{:<5} {:<7} {:<9} {} {}  {}",
            o.id,
            o.kind,
            o.state,
            o.tenant_id,
            window(settings, o),
            o.reason
        )?;
    }
    Ok(())
}

/// An outage or batch with its notifications per channel and state.
pub fn show(
    out: &mut impl Write,
    shown: &OutageQueue,
    settings: &Settings,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        // Through a JSON value, whose keys are sorted: the order `outage show --json` has.
        return json(out, &serde_json::to_value(shown)?);
    }
    let o = &shown.outage;
    writeln!(
        out,
        "#{} {} ({}) tenant {} {}",
        o.id,
        o.kind,
        o.state,
        o.tenant_id,
        window(settings, o)
    )?;
    writeln!(out, "  reason:    {}", o.reason)?;
    writeln!(out, "  services:  {}", o.services_json)?;
    writeln!(out, "  locations: {}", o.locations_json)?;
    writeln!(out, "  declared by {}", o.created_by)?;
    for c in &shown.queue {
        writeln!(out, "  {:<6} {:<10} {}", c.channel, c.state, c.count)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::print::fixtures::{outage, settings, written};
    use crate::store::notifications::QueueCount;

    #[test]
    fn the_list_has_one_aligned_line_per_outage() {
        let rows = [outage(12), outage(3)];
        let text = written(|out| list(out, &rows, &settings(), false));
        assert_eq!(
            text,
            "#12    outage  active    soest [2030-03-04 08:00 – 2030-03-04 18:00)  IT-Ausfall\n\
             #3     outage  active    soest [2030-03-04 08:00 – 2030-03-04 18:00)  IT-Ausfall\n"
        );
        let json = written(|out| list(out, &rows, &settings(), true));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v[1]["id"], 3);
    }

    #[test]
    fn one_outage_shows_its_scope_and_queue_and_in_json_sorted_keys() {
        let shown = OutageQueue {
            outage: outage(1),
            queue: vec![QueueCount {
                state: "queued".into(),
                channel: "email".into(),
                count: 2,
            }],
        };
        let text = written(|out| show(out, &shown, &settings(), false));
        assert_eq!(
            text,
            "#1 outage (active) tenant soest [2030-03-04 08:00 – 2030-03-04 18:00)\n\
             \x20 reason:    IT-Ausfall\n\
             \x20 services:  []\n\
             \x20 locations: [\"Soest\"]\n\
             \x20 declared by cli:kim\n\
             \x20 email  queued     2\n"
        );
        let json = written(|out| show(out, &shown, &settings(), true));
        assert!(
            json.starts_with("{\n  \"outage\": {\n    \"closed_at\": null,\n    \"created_at\""),
            "{json}"
        );
        assert!(
            json.contains(
                "\"queue\": [\n    {\n      \"channel\": \"email\",\n      \"count\": 2,"
            ),
            "{json}"
        );
    }
}
