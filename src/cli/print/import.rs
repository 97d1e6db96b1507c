//! The report of one import: outcome, the conservation line, counts, contact problems,
//! warnings, rejected rows and the outages matched again.

use super::json;
use crate::import::{ImportReport, Outcome};
use std::io::Write;

/// How many warnings and contact problems the text shows (`--json` has all that were kept).
const FIRST: usize = 20;
/// How many rejected rows the text shows.
const REJECTED: usize = 50;

pub fn report(out: &mut impl Write, report: &ImportReport, as_json: bool) -> anyhow::Result<()> {
    let applied = report.outcome == Outcome::Applied;
    let c = &report.counts;
    if as_json {
        let mut value = serde_json::to_value(report)?;
        value["conservation"] = c.conservation(applied).into();
        return json(out, &value);
    }
    let outcome = if applied { "applied" } else { "REFUSED" };
    writeln!(
        out,
        "import #{} of source {} ({}): {outcome}",
        report.import_id,
        report.source,
        report.file.display()
    )?;
    writeln!(out, "  {}", c.conservation(applied))?;
    writeln!(
        out,
        "  new {}, updated {}, unchanged {}, removed {}",
        c.rows_new, c.rows_updated, c.rows_unchanged, c.rows_removed
    )?;
    if let Some(m) = &report.message {
        writeln!(out, "  {m}")?;
    }
    problems(out, report)?;
    rematched(out, report)
}

/// Contact problems, warnings and rejected rows, the first of each.
fn problems(out: &mut impl Write, report: &ImportReport) -> anyhow::Result<()> {
    if let Some(summary) = report.contact.summary() {
        writeln!(out, "  {summary}")?;
        for p in report.contact.first.iter().take(FIRST) {
            writeln!(
                out,
                "  contact problem: {} {}, field {}: {}",
                report.position, p.line, p.field, p.reason
            )?;
        }
    }
    for w in report.first_warnings.iter().take(FIRST) {
        writeln!(out, "  warning: {w}")?;
    }
    for r in report.rejected.iter().take(REJECTED) {
        let field = match r.field.as_str() {
            "" => String::new(),
            name => format!(", field {name}"),
        };
        let place = r.place(report.position);
        writeln!(out, "  rejected: {place}{field}: {}", r.reason)?;
    }
    if report.rejected.len() > REJECTED {
        writeln!(
            out,
            "  … and {} more rejected rows (see --json)",
            report.counts.rows_rejected - REJECTED as i64
        )?;
    }
    Ok(())
}

/// The active outages matched again after the import, and the bookings they keep waiting for
/// a person to confirm their removal.
fn rematched(out: &mut impl Write, report: &ImportReport) -> anyhow::Result<()> {
    for (id, s) in &report.rematched {
        writeln!(
            out,
            "  outage #{id} matched again: {} affected, {} added, {} withdrawn, {} queued, {} cancelled",
            s.affected, s.added, s.withdrawn, s.queued, s.cancelled
        )?;
        if s.removal_pending > 0 {
            writeln!(
                out,
                "  outage #{id}: {} affected bookings are missing from this export; they stay \
                 cancelled until a person confirms (absage outage confirm-removals {id}, or \
                 import again with --force)",
                s.removal_pending
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::print::fixtures::written;
    use crate::import::{ContactProblems, Rejected};
    use crate::lifecycle::MatchStats;
    use crate::store::imports::ImportCounts;

    fn rejected(line: u64, field: &str) -> Rejected {
        Rejected {
            line,
            cell: None,
            field: field.into(),
            reason: "not a date".into(),
        }
    }

    fn sample(outcome: Outcome) -> ImportReport {
        ImportReport {
            import_id: 4,
            source: "termine".into(),
            tenant: "soest".into(),
            file: "/srv/export.csv".into(),
            position: "line",
            outcome,
            message: (outcome == Outcome::Refused)
                .then(|| "refused: it would remove 5 of 6".into()),
            counts: ImportCounts {
                rows_read: 7,
                rows_new: 5,
                rows_rejected: 2,
                ..ImportCounts::default()
            },
            warnings: 1,
            first_warnings: vec!["line 3, field \"Dauer\": ignored".into()],
            rejected: vec![rejected(7, "start"), rejected(9, "")],
            contact: ContactProblems {
                email: 1,
                phone: 0,
                no_channel: 2,
                first: vec![Rejected {
                    reason: "email address unusable: it has no @".into(),
                    ..rejected(5, "email")
                }],
            },
            rematched: vec![(
                3,
                MatchStats {
                    affected: 4,
                    added: 1,
                    removal_pending: 2,
                    ..MatchStats::default()
                },
            )],
        }
    }

    #[test]
    fn an_applied_import_shows_its_counts_problems_and_rematched_outages() {
        let text = written(|out| report(out, &sample(Outcome::Applied), false));
        assert_eq!(
            text,
            "import #4 of source termine (/srv/export.csv): applied\n\
             \x20 read 7 = imported 5 + rejected 2\n\
             \x20 new 5, updated 0, unchanged 0, removed 0\n\
             \x20 contact problems: 1 email, 0 phone (imported without that channel); without email address and mobile number: 2 (the call list, when affected)\n\
             \x20 contact problem: line 5, field email: email address unusable: it has no @\n\
             \x20 warning: line 3, field \"Dauer\": ignored\n\
             \x20 rejected: line 7, field start: not a date\n\
             \x20 rejected: line 9: not a date\n\
             \x20 outage #3 matched again: 4 affected, 1 added, 0 withdrawn, 0 queued, 0 cancelled\n\
             \x20 outage #3: 2 affected bookings are missing from this export; they stay cancelled until a person confirms (absage outage confirm-removals 3, or import again with --force)\n"
        );
    }

    #[test]
    fn a_refused_import_says_so_loudly_with_its_reason() {
        let text = written(|out| report(out, &sample(Outcome::Refused), false));
        assert!(
            text.starts_with(
                "import #4 of source termine (/srv/export.csv): REFUSED\n\
                 \x20 read 7 = readable 5 + rejected 2; refused, nothing applied\n\
                 \x20 new 5, updated 0, unchanged 0, removed 0\n\
                 \x20 refused: it would remove 5 of 6\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn only_the_first_fifty_rejected_rows_are_listed() {
        let mut many = sample(Outcome::Applied);
        many.rejected = (1..=60).map(|l| rejected(l, "start")).collect();
        many.counts.rows_rejected = 75;
        let text = written(|out| report(out, &many, false));
        assert_eq!(text.matches("  rejected: ").count(), 50);
        assert!(
            text.contains("  … and 25 more rejected rows (see --json)\n"),
            "counted from all rejected rows: {text}"
        );
    }

    #[test]
    fn with_json_the_report_carries_its_conservation_line() {
        let text = written(|out| report(out, &sample(Outcome::Refused), true));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["conservation"],
            "read 7 = readable 5 + rejected 2; refused, nothing applied"
        );
        assert_eq!(v["outcome"], "refused");
        assert_eq!(v["rows_read"], 7);
        assert_eq!(v["rejected"][1]["line"], 9);
    }
}
