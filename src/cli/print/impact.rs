//! What a declaration did or would do (its impact): counts per channel and language, the
//! services and locations, SMS segments and costs, and with `--dry-run` sample messages.

use super::{about, json};
use crate::domain::names::{NameCount, Names};
use crate::lifecycle::Impact;
use std::collections::BTreeMap;
use std::io::Write;

/// A declaration (or batch), or with `dry_run` its preview with sample messages.
pub fn declared(
    out: &mut impl Write,
    i: &Impact,
    dry_run: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        return json(out, i);
    }
    let (affected, queued) = (i.stats.affected, i.stats.queued);
    match i.id {
        Some(id) => writeln!(
            out,
            "declared #{id}: {affected} bookings affected, {queued} notifications queued"
        )?,
        None => writeln!(
            out,
            "dry run (nothing changed): {affected} bookings would be affected, {queued} notifications queued"
        )?,
    }
    writeln!(out, "  {}", i.conservation)?;
    writeln!(out, "  per channel:  {}", counts(&i.per_channel))?;
    writeln!(out, "  per language: {}", counts(&i.per_language))?;
    names(out, &i.names)?;
    sms(out, i)?;
    if let Some(schedule) = &i.schedule {
        planned(out, schedule)?;
    }
    if dry_run {
        for s in &i.samples {
            writeln!(
                out,
                "\n--- sample {} {} ({}) ---",
                s.kind, s.channel, s.language
            )?;
            if let Some(subj) = &s.subject {
                writeln!(out, "Subject: {subj}\n")?;
            }
            writeln!(out, "{}", s.text)?;
        }
    }
    Ok(())
}

/// The planner's estimate: when each channel's last message leaves, and who would be too late.
fn planned(out: &mut impl Write, s: &crate::lifecycle::planner::Schedule) -> anyhow::Result<()> {
    for (channel, lane) in &s.channels {
        let last = lane
            .last_leaves_at
            .map_or("none before its appointment".into(), |t| {
                t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
            });
        use crate::lifecycle::planner::RateBasis;
        let r = (lane.rate_per_second * 100.0).round() / 100.0;
        let rate = match &lane.basis {
            RateBasis::RateLimit { destination } => format!("{r}/s ({destination}'s rate limit)"),
            RateBasis::Connections {
                destination,
                concurrency,
                send_ms,
            } => format!(
                "{r}/s ({destination}: {concurrency} at a time, {send_ms:.0} ms per send as measured)"
            ),
            RateBasis::Assumed { destination } => {
                format!("{r}/s assumed ({destination}: no rate limit, no send measured yet)")
            }
            RateBasis::Down => "nothing leaves: every destination is down".into(),
        };
        let slots = match lane.slots as usize {
            n if n > lane.messages && channel == "sms" => format!(" ({n} segments)"),
            _ => String::new(),
        };
        writeln!(
            out,
            "  {channel}: {} messages{slots}, {} waiting ahead, {rate}; the last leaves about {last}",
            lane.messages, lane.waiting_ahead
        )?;
    }
    if !s.late.is_empty() {
        let keys: Vec<&str> = s.late.iter().map(|l| l.booking_key.as_str()).collect();
        writeln!(
            out,
            "  too late by message, on the call list at once: {} ({})",
            s.late.len(),
            keys.join(", ")
        )?;
    }
    Ok(())
}

/// The SMS lines of an impact: per language, per country, and those too long to send.
fn sms(out: &mut impl Write, i: &Impact) -> anyhow::Result<()> {
    for (lang, c) in &i.sms {
        let encodings: Vec<String> = c
            .encodings
            .iter()
            .map(|(e, n)| format!("{e} {n}"))
            .collect();
        let short = match c.short {
            0 => String::new(),
            n => format!(", {n} in the short form (full text over max_sms_segments)"),
        };
        writeln!(
            out,
            "  SMS {lang}: {} messages ({}), {} segments{}{short}",
            c.messages,
            encodings.join(", "),
            c.segments,
            about(c.cost)
        )?;
    }
    for (country, c) in &i.sms_per_country {
        let skipped = match c.skipped {
            0 => String::new(),
            n => format!(", {n} booking(s) without SMS (not in sms_countries)"),
        };
        writeln!(
            out,
            "  SMS to {country}: {} messages, {} segments{}{skipped}",
            c.messages,
            c.segments,
            about(c.cost)
        )?;
    }
    if i.stats.sms_too_long > 0 {
        // By key, to look them up: their email still goes out; without one, the call list.
        writeln!(
            out,
            "  SMS not sent, too long even in the short form: {} booking(s): {}",
            i.stats.sms_too_long,
            i.stats.sms_skipped.join(", ")
        )?;
    }
    Ok(())
}

/// The services and locations of the affected bookings, each with its count.
fn names(out: &mut impl Write, names: &Names) -> anyhow::Result<()> {
    let list = |l: &[NameCount]| {
        l.iter()
            .map(|n| format!("{} {}", n.name, n.bookings))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !names.services.is_empty() {
        writeln!(out, "  services:     {}", list(&names.services))?;
    }
    if !names.locations.is_empty() {
        writeln!(out, "  locations:    {}", list(&names.locations))?;
    }
    Ok(())
}

/// "email 2, sms 1", or "-" for none.
fn counts(m: &BTreeMap<String, i64>) -> String {
    if m.is_empty() {
        return "-".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::print::fixtures::{impact, written};

    #[test]
    fn a_declaration_shows_its_counts_costs_and_names() {
        let text = written(|out| declared(out, &impact(Some(7)), false, false));
        assert_eq!(
            text,
            "declared #7: 5 bookings affected, 4 notifications queued\n\
             \x20 affected 5 = with a message 3 + no channel (call list) 2\n\
             \x20 per channel:  email 2, sms 2\n\
             \x20 per language: de 3, tr 1\n\
             \x20 services:     Zulassung 3, Führerschein 2\n\
             \x20 SMS tr: 1 messages (UCS-2 1), 3 segments, about 0.23, 1 in the short form (full text over max_sms_segments)\n\
             \x20 SMS to SY: 1 messages, 3 segments, 2 booking(s) without SMS (not in sms_countries)\n\
             \x20 SMS not sent, too long even in the short form: 1 booking(s): K9\n"
        );
    }

    #[test]
    fn a_dry_run_says_nothing_changed_and_shows_every_sample() {
        let text = written(|out| declared(out, &impact(None), true, false));
        assert!(
            text.starts_with(
                "dry run (nothing changed): 5 bookings would be affected, 4 notifications queued\n"
            ),
            "{text}"
        );
        assert!(
            text.ends_with(
                "\n--- sample cancellation email (de) ---\nSubject: Ihr Termin fällt aus\n\nGuten Tag\n\
                 \n--- sample retraction sms (de) ---\nIhr Termin bleibt\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn with_json_the_impact_is_written_whole_with_its_stats_flattened() {
        let text = written(|out| declared(out, &impact(Some(7)), true, true));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["affected"], 5);
        assert_eq!(v["sms_per_country"]["SY"]["skipped"], 2);
        assert_eq!(v["samples"][1]["text"], "Ihr Termin bleibt");
        assert!(text.starts_with("{\n  \"id\": 7,\n"), "indented: {text}");
        assert!(text.ends_with("}\n"), "{text}");
    }

    #[test]
    fn empty_counts_show_a_dash() {
        assert_eq!(counts(&BTreeMap::new()), "-");
    }
}
