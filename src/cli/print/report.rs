//! `absage report`, `absage calllist` and `absage suppressions`: as text, CSV (safe to open in
//! a spreadsheet), JSON, or for suppressions iCalendar.

use super::json;
use crate::cli::report::{Format, SuppressionFormat};
use crate::reports::{self, CallListEntry, ReportRow};
use crate::store::outages::Suppression;
use std::io::Write;

/// One row per affected booking: what was sent on which channel and whether it reached anyone.
pub fn rows(out: &mut impl Write, rows: &[ReportRow], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => return json(out, &rows),
        Format::Csv => return reports::write_csv(out, rows),
        Format::Text => {}
    }
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    for r in rows {
        let stands = match (&r.retraction_email, &r.retraction_sms) {
            (None, None) => String::new(),
            (e, s) => format!("  stands: email {} sms {}", dash(e), dash(s)),
        };
        let left = if r.affected {
            ""
        } else {
            "  (no longer affected)"
        };
        writeln!(
            out,
            "{:<12} {} {:<20} {:<20} email {:<9} sms {:<9} {:?}{stands}{left}",
            r.booking_key,
            r.starts_at,
            r.service,
            r.location,
            dash(&r.email),
            dash(&r.sms),
            r.reach
        )?;
    }
    Ok(())
}

/// The citizens of run `id` to phone, with why no message reached them.
pub fn call_list(
    out: &mut impl Write,
    id: i64,
    list: &[CallListEntry],
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Json => return json(out, &list),
        Format::Csv => return reports::write_csv(out, list),
        Format::Text => {}
    }
    writeln!(out, "call list for #{id}: {} citizens to phone", list.len())?;
    for e in list {
        writeln!(
            out,
            "{}  {:<28} {:<18} {} / {}  ({})",
            e.starts_at,
            e.name,
            e.phone.as_deref().unwrap_or("no number"),
            e.service,
            e.location,
            e.why
        )?;
    }
    Ok(())
}

/// The bookings absage cancelled, for a booking system to suppress its reminders.
pub fn suppressions(
    out: &mut impl Write,
    list: &[Suppression],
    format: SuppressionFormat,
) -> anyhow::Result<()> {
    match format {
        SuppressionFormat::Json => json(out, &list),
        SuppressionFormat::Ics => Ok(write!(out, "{}", reports::suppressions_ics(list))?),
        SuppressionFormat::Csv => reports::write_csv(out, list),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::print::fixtures::written;
    use crate::reports::{CallTask, Reach};
    use crate::store::bookings::BookingRow;

    fn entry(booking_id: i64, name: &str, phone: Option<&str>) -> CallListEntry {
        CallListEntry {
            booking_id,
            task: CallTask::Cancellation,
            since: None,
            starts_at: "2030-03-04 11:00".into(),
            name: name.into(),
            phone: phone.map(Into::into),
            service: "Führerschein".into(),
            location: "Soest".into(),
            booking_key: format!("K{booking_id}"),
            why: "no email address; no mobile number".into(),
            called_by: None,
            called_at: None,
        }
    }

    #[test]
    fn the_call_list_counts_the_citizens_and_says_why_each_is_on_it() {
        let list = [
            entry(3, "Cem C", None),
            entry(4, "Dora D", Some("02921 123")),
        ];
        let text = written(|out| call_list(out, 1, &list, Format::Text));
        assert_eq!(
            text,
            "call list for #1: 2 citizens to phone\n\
             2030-03-04 11:00  Cem C                        no number          Führerschein / Soest  (no email address; no mobile number)\n\
             2030-03-04 11:00  Dora D                       02921 123          Führerschein / Soest  (no email address; no mobile number)\n"
        );
        let empty = written(|out| call_list(out, 9, &[], Format::Text));
        assert_eq!(empty, "call list for #9: 0 citizens to phone\n");
    }

    #[test]
    fn the_call_list_as_csv_and_json_has_every_field() {
        let list = [entry(4, "=Dora D", Some("+49 2921 123"))];
        let csv = written(|out| call_list(out, 1, &list, Format::Csv));
        assert_eq!(
            csv,
            "booking_id,task,starts_at,name,phone,service,location,booking_key,why,since,called_by,called_at\n\
             4,cancellation,2030-03-04 11:00,'=Dora D,'+49 2921 123,Führerschein,Soest,K4,no email address; no mobile number,,,\n"
        );
        let json = written(|out| call_list(out, 1, &list, Format::Json));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v[0]["phone"], "+49 2921 123",
            "JSON is not for spreadsheets"
        );
        assert_eq!(v[0]["called_by"], serde_json::Value::Null);
    }

    fn row(key: &str, affected: bool, retraction_email: Option<&str>) -> ReportRow {
        ReportRow {
            booking_key: key.into(),
            starts_at: "2030-03-04 09:00".into(),
            service: "Zulassung".into(),
            location: "Soest".into(),
            email: Some("sent".into()),
            sms: None,
            retraction_email: retraction_email.map(Into::into),
            retraction_sms: None,
            sms_delivery: None,
            email_delivery: None,
            email_suppressed: None,
            why_not_reached: None,
            reach: Reach::Informed,
            messages_reach: Reach::Informed,
            stands_arrived: false,
            late_reason: None,
            evidence: Vec::new(),
            affected,
            last_error: None,
            booking: BookingRow {
                id: 1,
                tenant_id: "soest".into(),
                source: "termine".into(),
                booking_key: key.into(),
                starts_at: crate::domain::from_millis(0),
                ends_at: crate::domain::from_millis(0),
                service: "Zulassung".into(),
                location: "Soest".into(),
                name: "Anna A".into(),
                email: None,
                phone_raw: None,
                phone_e164: None,
                phone_mobile: 0,
                language: None,
                status: "active".into(),
                revision: 1,
                email_problem: None,
                phone_problem: None,
                phone_other: None,
            },
        }
    }

    #[test]
    fn the_report_shows_each_channel_and_what_became_of_a_booking_that_left() {
        let rows_ = [row("K1", true, None), row("K2", false, Some("queued"))];
        let text = written(|out| rows(out, &rows_, Format::Text));
        assert_eq!(
            text,
            "K1           2030-03-04 09:00 Zulassung            Soest                email sent      sms -         Informed\n\
             K2           2030-03-04 09:00 Zulassung            Soest                email sent      sms -         Informed  stands: email queued sms -  (no longer affected)\n"
        );
        let json = written(|out| rows(out, &rows_, Format::Json));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v[1]["reach"], "informed");
        assert!(
            v[1].get("booking").is_none(),
            "no contact data in the report"
        );
    }
}
