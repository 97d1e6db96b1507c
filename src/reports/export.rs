//! Lists for other programs: CSV safe to open in a spreadsheet, and the suppression list
//! (`absage suppressions`) of bookings absage cancelled, as CSV, JSON or iCalendar.

use crate::ctx::Ctx;
use crate::store::outages::{self, Suppression};
use anyhow::Context;
use serde::Serialize;

/// The bookings absage cancelled, of one tenant or all, for the booking system to suppress its
/// reminders.
pub async fn suppressions(ctx: &Ctx, tenant: Option<&str>) -> anyhow::Result<Vec<Suppression>> {
    let mut conn = ctx.store.conn().await?;
    Ok(outages::suppressions(&mut conn, tenant).await?)
}

/// Writes `rows` as CSV with a header line, every cell made safe to open in a spreadsheet: a
/// cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return would be read by Excel
/// or LibreOffice as a formula (`=HYPERLINK(…)` in a citizen's name from an export), so it gets
/// a leading `'` (the OWASP rule). That includes phone numbers: `'+49 171 …` shows its
/// apostrophe, but stays text instead of turning into `4.9171E+12`.
pub fn write_csv<W: std::io::Write, T: Serialize>(out: W, rows: &[T]) -> anyhow::Result<()> {
    // csv serialises a row only into a writer: write plainly, read the records back, neutralise.
    let mut plain = csv::Writer::from_writer(Vec::new());
    for row in rows {
        plain.serialize(row)?;
    }
    let plain = plain.into_inner().context("writing CSV")?;
    let mut records = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(plain.as_slice());
    let mut w = csv::Writer::from_writer(out);
    for record in records.records() {
        let record = record?;
        let cells: Vec<_> = record.iter().map(neutralise_cell).collect();
        w.write_record(cells.iter().map(|c| c.as_bytes()))?;
    }
    w.flush()?;
    Ok(())
}

/// A cell with a `'` before a character that would start a formula.
pub fn neutralise_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The suppression list as iCalendar: one cancelled VEVENT per booking, its UID the booking key,
/// so a booking system that imports it knows which appointments not to remind.
pub fn suppressions_ics(list: &[Suppression]) -> String {
    use icalendar::{Calendar, Component, Event, EventLike, EventStatus};
    let mut cal = Calendar::new();
    cal.name("absage: cancelled appointments");
    for s in list {
        let event = Event::new()
            .uid(&format!("{}@{}.{}", s.booking_key, s.source, s.tenant_id))
            .summary(&s.service)
            .location(&s.location)
            .starts(s.starts_at)
            .ends(s.ends_at)
            .status(EventStatus::Cancelled)
            .add_property("X-ABSAGE-BOOKING-KEY", &s.booking_key)
            .add_property("X-ABSAGE-OUTAGE", s.outage_id.to_string())
            .done();
        cal.push(event);
    }
    cal.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_suppression_calendar_marks_each_booking_cancelled_under_its_key() {
        let s = Suppression {
            tenant_id: "soest".into(),
            source: "termine".into(),
            booking_key: "T-1001".into(),
            starts_at: crate::domain::from_millis(1_894_000_000_000),
            ends_at: crate::domain::from_millis(1_894_000_900_000),
            service: "Zulassung".into(),
            location: "Soest".into(),
            outage_id: 3,
        };
        let ics = suppressions_ics(&[s]);
        assert!(ics.starts_with("BEGIN:VCALENDAR"), "{ics}");
        assert!(ics.contains("UID:T-1001@termine.soest"), "{ics}");
        assert!(ics.contains("STATUS:CANCELLED"), "{ics}");
        assert!(ics.contains("X-ABSAGE-BOOKING-KEY:T-1001"), "{ics}");
    }

    #[test]
    fn csv_cells_that_would_start_a_formula_get_an_apostrophe() {
        #[derive(Serialize)]
        struct Row {
            name: &'static str,
            phone: Option<&'static str>,
            n: i64,
        }
        let rows = [
            Row {
                name: "=HYPERLINK(\"http://evil\",\"x\")",
                phone: Some("+49 171 1234567"),
                n: -1,
            },
            Row {
                name: "@SUM(A1)",
                phone: Some("\t=1+1"),
                n: 2,
            },
            Row {
                name: "\r-2+3",
                phone: None,
                n: 3,
            },
            Row {
                name: "Müller, Anna",
                phone: Some("0171 1234567"),
                n: 4,
            },
        ];
        let mut out = Vec::new();
        write_csv(&mut out, &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "name,phone,n\n\
             \"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",'+49 171 1234567,'-1\n\
             '@SUM(A1),'\t=1+1,2\n\
             \"'\r-2+3\",,3\n\
             \"Müller, Anna\",0171 1234567,4\n"
        );
        let mut none = Vec::new();
        write_csv(&mut none, &[] as &[Row]).unwrap();
        assert!(none.is_empty());
    }
}
