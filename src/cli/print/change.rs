//! What an amendment, retraction or confirmation of removals did or would do to an outage.

use super::json;
use crate::lifecycle::Impact;
use std::io::Write;

/// A change to a declared outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Amended,
    ConfirmedRemovals,
    Retracted,
}

impl Change {
    /// How the change reads after "#3 …".
    fn words(self) -> &'static str {
        match self {
            Change::Amended => "amended",
            Change::ConfirmedRemovals => "confirmed the removals of",
            Change::Retracted => "retracted",
        }
    }
}

/// An amendment, retraction or confirmation of removals, or with `dry_run` its preview with
/// the "appointment stands" samples.
pub fn changed(
    out: &mut impl Write,
    i: &Impact,
    change: Change,
    dry_run: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        return json(out, i);
    }
    let (id, what) = (i.id.unwrap_or_default(), change.words());
    let head = if dry_run {
        format!("dry run (nothing changed): #{id} would be {what}")
    } else {
        format!("#{id} {what}")
    };
    let s = &i.stats;
    writeln!(
        out,
        "{head}: {} newly affected, {} no longer affected",
        s.added, s.withdrawn
    )?;
    if change != Change::Retracted {
        writeln!(out, "  {}", i.conservation)?;
    }
    writeln!(
        out,
        "  cancellations queued: {}, pending ones cancelled: {}, \"appointment stands\" messages queued: {}",
        s.queued, s.cancelled, s.retractions
    )?;
    if dry_run {
        for sample in i.samples.iter().filter(|s| s.kind == "retraction") {
            writeln!(
                out,
                "\n--- sample {} {} ({}) ---\n{}",
                sample.kind, sample.channel, sample.language, sample.text
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::print::fixtures::{impact, written};

    #[test]
    fn a_change_shows_what_it_did_and_a_retraction_has_no_conservation_line() {
        let amended = written(|out| changed(out, &impact(Some(3)), Change::Amended, false, false));
        assert_eq!(
            amended,
            "#3 amended: 5 newly affected, 1 no longer affected\n\
             \x20 affected 5 = with a message 3 + no channel (call list) 2\n\
             \x20 cancellations queued: 4, pending ones cancelled: 2, \"appointment stands\" messages queued: 1\n"
        );
        let retracted =
            written(|out| changed(out, &impact(Some(3)), Change::Retracted, true, false));
        assert_eq!(
            retracted,
            "dry run (nothing changed): #3 would be retracted: 5 newly affected, 1 no longer affected\n\
             \x20 cancellations queued: 4, pending ones cancelled: 2, \"appointment stands\" messages queued: 1\n\
             \n--- sample retraction sms (de) ---\nIhr Termin bleibt\n",
            "only the retraction samples"
        );
        let confirmed = written(|out| {
            changed(
                out,
                &impact(Some(3)),
                Change::ConfirmedRemovals,
                true,
                false,
            )
        });
        assert!(
            confirmed
                .starts_with("dry run (nothing changed): #3 would be confirmed the removals of: "),
            "{confirmed}"
        );
    }
}
