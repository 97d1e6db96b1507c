//! `absage db retention`: what the retention job closed and deleted.

use crate::store::retention::Purged;
use std::io::Write;

/// `done` is None when another instance ran the job just then. The JSON is on one line.
pub fn retention(
    out: &mut impl Write,
    done: Option<&(u64, Purged)>,
    as_json: bool,
) -> anyhow::Result<()> {
    let Some((closed, purged)) = done else {
        writeln!(
            out,
            "another instance is running the retention job just now"
        )?;
        return Ok(());
    };
    if as_json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "closed": closed, "purged": purged })
        )?;
    } else {
        writeln!(
            out,
            "closed {closed} finished outages; deleted contact data of {} outages ({} messages, {} bookings), {} returned emails and {} suppressed addresses",
            purged.runs,
            purged.notifications,
            purged.bookings,
            purged.returned_mail,
            purged.suppressions
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::print::fixtures::written;

    #[test]
    fn the_retention_job_reports_what_it_did_or_that_another_instance_runs_it() {
        let purged = Purged {
            runs: 2,
            notifications: 9,
            bookings: 7,
            returned_mail: 4,
            suppressions: 1,
        };
        let text = written(|out| retention(out, Some(&(3, purged.clone())), false));
        assert_eq!(
            text,
            "closed 3 finished outages; deleted contact data of 2 outages (9 messages, 7 bookings), 4 returned emails and 1 suppressed addresses\n"
        );
        let json = written(|out| retention(out, Some(&(3, purged)), true));
        assert_eq!(
            json,
            "{\"closed\":3,\"purged\":{\"bookings\":7,\"notifications\":9,\"returned_mail\":4,\"runs\":2,\"suppressions\":1}}\n"
        );
        let busy = written(|out| retention(out, None, true));
        assert_eq!(
            busy,
            "another instance is running the retention job just now\n"
        );
    }
}
