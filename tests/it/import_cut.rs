//! Exports cut off at their end are refused whole, and rejected rows name a position the
//! operator can open (file line, cell) — through the real import path, during an outage.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
use absage::import::SourceKind;
use absage::import::{ImportReport, Outcome};
use std::path::PathBuf;

/// Text that must never appear in a message: the personal data of the exports below.
const PERSONAL: [&str; 3] = ["Bürger", "@example.org", "0171"];

pub(crate) fn rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            Row::new(
                &format!("K{i:04}"),
                &format!("2030-01-{:02} 09:00", 8 + i % 20),
            )
        })
        .collect()
}

/// The first half of `full`, ending in the middle of a line as a copy that broke off does.
fn half(full: &[u8]) -> &[u8] {
    let mut at = full.len() / 2;
    while matches!(full[at - 1], b'\n' | b'\r') {
        at += 1;
    }
    &full[..at]
}

/// The number of the line a text ends on.
fn last_line(text: &[u8]) -> usize {
    text.iter().filter(|b| **b == b'\n').count() + 1
}

pub(crate) async fn state(
    t: &TestApp,
) -> (Vec<(String, i64, String)>, Vec<(String, String, String)>) {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let bookings =
        sqlx::query_as("select booking_key, starts_at, status from bookings order by booking_key")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let notices = t
        .notifications()
        .await
        .into_iter()
        .map(|n| (n.key, n.channel, n.state))
        .collect();
    (bookings, notices)
}

/// Imports `full` into `file`, declares an outage over all of it, then imports `cut`: the
/// import must be refused, change nothing (bookings, queued cancellations), and say so in
/// its message and the history, naming the file and `position`. Returns the message.
pub(crate) async fn refused_whole(
    t: &TestApp,
    file: &str,
    full: &[u8],
    cut: &[u8],
    position: &str,
) -> String {
    let path = t.dir.path().join(file);
    std::fs::write(&path, full).unwrap();
    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_rejected),
        (Outcome::Applied, 0),
        "{file} whole: {:?} {:?}",
        r.message,
        r.rejected
    );
    t.declare("2030-01-07 08:00", "2030-03-01 00:00", Scope::default())
        .await;
    let before = state(t).await;
    std::fs::write(&path, cut).unwrap();
    let r: ImportReport = t.import().await;
    assert_eq!(r.outcome, Outcome::Refused, "{file}: {:?}", r.message);
    let line = r.counts.conservation(false);
    assert!(
        line.ends_with("; refused, nothing applied"),
        "{file}: {line}"
    );
    assert_eq!(r.counts.rows_removed, 0, "{file}: nothing removed");
    let message = r.message.clone().unwrap_or_default();
    // The refusal is said once, in the message; it is no row of the file.
    assert!(
        r.rejected
            .iter()
            .all(|x| !x.field.is_empty() || !message.contains(&x.reason)),
        "{file}: the refusal counted as a rejected row: {:?}",
        r.rejected
    );
    assert!(
        message.contains(&path.display().to_string()) && message.contains(position),
        "{file}: {message}"
    );
    assert!(
        PERSONAL.iter().all(|p| !message.contains(p)),
        "{file}: {message}"
    );
    assert_eq!(state(t).await, before, "{file}: nothing changed");
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let last = absage::store::imports::history(&mut conn, None, 1)
        .await
        .unwrap();
    assert_eq!(
        (last[0].outcome.as_str(), last[0].message.as_deref()),
        ("refused", Some(message.as_str()))
    );
    message
}

pub(crate) async fn app(kind: SourceKind, file: &str, fields: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    let src = &mut s.sources[0];
    src.kind = kind;
    src.path = dir.path().join(file);
    if !fields.is_empty() {
        src.fields = toml::from_str(fields).unwrap();
    }
    TestApp::start(dir, s).await
}

#[tokio::test]
async fn a_csv_cut_in_the_middle_of_a_line_at_half_its_size_keeps_every_cancellation() {
    // 200 bookings, the export cut at half: 99 whole rows and a broken one. Removing 100 of 200
    // is within max_removal_share = 0.5, so only the cut itself can refuse it.
    let t = app(SourceKind::Csv, "export.csv", "").await;
    let full = csv_text(&rows(200));
    let cut = half(full.as_bytes());
    let at = format!("looks cut off at line {}: ", last_line(cut));
    let message = refused_whole(&t, "export.csv", full.as_bytes(), cut, &at).await;
    assert!(
        message.starts_with("refused: ")
            && message.contains("csv.require_final_newline = false")
            && message.ends_with("nothing was changed"),
        "{message}"
    );
    let queued = count(&t.notifications().await, |n| n.state == "queued");
    assert_eq!(queued, 400, "every cancellation stays queued");
}

#[tokio::test]
async fn a_csv_that_ends_inside_a_quoted_value_is_refused_naming_where_it_opened() {
    let t = app(SourceKind::Csv, "export.csv", "").await;
    let full = csv_text(&rows(40)).replace(",Soest,", ",\"Soest\nMitte\",");
    let mid = full.len() / 2 + full[full.len() / 2..].find("Mitte").unwrap();
    let cut = &full.as_bytes()[..mid];
    let opened = last_line(&cut[..cut.len() - 1]);
    let at = format!("the quoted value that begins on line {opened} is never closed");
    refused_whole(&t, "export.csv", full.as_bytes(), cut, &at).await;
}

#[tokio::test]
async fn a_csv_without_a_final_line_break_imports_when_the_source_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.sources[0].csv.require_final_newline = false;
    let t = TestApp::start(dir, s).await;
    let full = csv_text(&rows(40));
    let r = {
        std::fs::write(t.dir.path().join("export.csv"), full.trim_end()).unwrap();
        t.import().await
    };
    assert_eq!(
        (r.outcome, r.counts.rows_new),
        (Outcome::Applied, 40),
        "{:?}",
        r.message
    );
    // A last line with fewer fields than the header still looks cut off.
    let cut = &full[..full.rfind("Bürger").unwrap() + 1];
    std::fs::write(t.dir.path().join("export.csv"), cut).unwrap();
    let r = t.import().await;
    let message = r.message.unwrap_or_default();
    assert_eq!(r.outcome, Outcome::Refused, "{message}");
    assert!(
        message.contains("looks cut off at line 41: the last line has 6 of the header's 9 fields"),
        "{message}"
    );
}

pub(crate) fn json_records(n: usize) -> Vec<serde_json::Value> {
    rows(n)
        .iter()
        .map(|r| {
            serde_json::json!({"id": r.key, "start": r.start, "service": r.service,
                "name": r.name, "email": r.email})
        })
        .collect()
}

pub(crate) const JSON_FIELDS: &str =
    "key = \"id\"\ndate = \"start\"\nservice = \"service\"\nname = \"name\"\nemail = \"email\"\n";

#[tokio::test]
async fn an_ndjson_export_cut_in_a_record_is_refused_naming_its_line() {
    let t = app(SourceKind::Json, "export.ndjson", JSON_FIELDS).await;
    let full: String = json_records(60).iter().map(|r| format!("{r}\n")).collect();
    let cut = half(full.as_bytes());
    let at = format!("looks cut off at line {}, column ", last_line(cut));
    refused_whole(&t, "export.ndjson", full.as_bytes(), cut, &at).await;
}

#[tokio::test]
async fn a_json_array_cut_in_a_record_is_refused_naming_line_and_record() {
    let t = app(SourceKind::Json, "export.json", JSON_FIELDS).await;
    let full = serde_json::to_string_pretty(&json_records(60)).unwrap();
    let cut = half(full.as_bytes());
    // Every whole record ends with a brace indented by two.
    let whole = String::from_utf8_lossy(cut).matches("\n  }").count();
    let at = format!(
        "looks cut off at line {}, column {}, after record {whole}: ",
        last_line(cut),
        cut.len() - cut.iter().rposition(|b| *b == b'\n').unwrap() - 1
    );
    let message = refused_whole(&t, "export.json", full.as_bytes(), cut, &at).await;
    assert!(message.contains("the JSON ends unfinished"), "{message}");
}

#[tokio::test]
async fn a_json_syntax_error_mid_file_refuses_the_whole_import() {
    let t = app(SourceKind::Json, "export.ndjson", JSON_FIELDS).await;
    let records = json_records(60);
    let full: String = records.iter().map(|r| format!("{r}\n")).collect();
    let broken = full.replacen("\"id\":", "\"id\"", 30);
    let broken = broken.replacen("\"id\"", "\"id\":", 29);
    let at = "reading stopped, the rest of the file is lost: expected `:` at line 30 column";
    refused_whole(&t, "export.ndjson", full.as_bytes(), broken.as_bytes(), at).await;
}

#[tokio::test]
async fn an_icalendar_export_cut_at_half_is_refused_naming_its_last_line() {
    let fields = "key = \"UID\"\ndate = \"DTSTART\"\nservice = \"SUMMARY\"\n\
                  name = \"ATTENDEE;CN\"\nemail = \"ATTENDEE\"\n";
    let t = app(SourceKind::Ics, "termine.ics", fields).await;
    let mut full = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n");
    for (i, r) in rows(60).iter().enumerate() {
        full.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{}\r\nDTSTAMP:20300101T000000Z\r\n\
             DTSTART:203001{:02}T080000Z\r\nSUMMARY:Zulassung\r\n\
             ATTENDEE;CN={}:mailto:\r\n {}\r\nEND:VEVENT\r\n",
            r.key,
            8 + i % 20,
            r.name,
            r.email
        ));
    }
    full.push_str("END:VCALENDAR\r\n");
    let cut = half(full.as_bytes());
    let at = format!("looks cut off at line {}: ", last_line(cut));
    refused_whole(&t, "termine.ics", full.as_bytes(), cut, &at).await;
}

/// An XLSX workbook of `rows` under a header, on sheet "Termine", with the start in column C.
pub(crate) fn workbook(path: &std::path::Path, rows: &[Row], bad_start_at: Option<u32>) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Termine").unwrap();
    for (c, name) in ["key", "service", "start", "name", "email"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *name).unwrap();
    }
    for (i, r) in rows.iter().enumerate() {
        let at = i as u32 + 1;
        let start = match bad_start_at {
            Some(bad) if bad == at + 1 => "2030-01-32 09:00",
            _ => r.start.as_str(),
        };
        let values = [r.key.as_str(), &r.service, start, &r.name, &r.email];
        for (c, value) in values.iter().enumerate() {
            sheet.write_string(at, c as u16, *value).unwrap();
        }
    }
    book.save(path).unwrap();
}

pub(crate) const SHEET_FIELDS: &str =
    "key = \"key\"\ndate = \"start\"\nservice = \"service\"\nname = \"name\"\nemail = \"email\"\n";

#[tokio::test]
async fn spreadsheets_cut_at_half_are_refused_naming_their_length() {
    let t = app(SourceKind::Spreadsheet, "export.xlsx", SHEET_FIELDS).await;
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("export.xlsx");
    workbook(&path, &rows(300), None);
    let full = std::fs::read(&path).unwrap();
    let cut = half(&full);
    let at = format!("looks cut off after {} bytes: ", cut.len());
    refused_whole(&t, "export.xlsx", &full, cut, &at).await;

    let fields = "key = \"Termin-Nr\"\ndate = \"Datum\"\ntime = \"Uhrzeit\"\n\
                  service = \"Dienstleistung\"\nname = \"Name\"\nphone = \"Telefon\"\n";
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.sources[0].kind = SourceKind::Spreadsheet;
    s.sources[0].path = dir.path().join("termine.ods");
    s.sources[0].fields = toml::from_str(fields).unwrap();
    s.sources[0].sheet = toml::from_str("sheet = \"Termine\"").unwrap();
    let t = TestApp::start(dir, s).await;
    let fixture: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/termine.ods"]
        .iter()
        .collect();
    let full = std::fs::read(fixture).unwrap();
    let path = t.dir.path().join("termine.ods");
    std::fs::write(&path, &full).unwrap();
    assert_eq!(t.import().await.outcome, Outcome::Applied);
    let before = state(&t).await;
    std::fs::write(&path, half(&full)).unwrap();
    let r = t.import().await;
    let message = r.message.unwrap_or_default();
    assert_eq!(r.outcome, Outcome::Refused, "{message}");
    let at = format!("looks cut off after {} bytes", half(&full).len());
    assert!(message.contains(&at), "{message}");
    assert_eq!(state(&t).await, before);
}

#[tokio::test]
async fn rejected_rows_point_at_the_line_an_editor_shows_in_a_windows_export() {
    let t = app(SourceKind::Csv, "export.csv", "").await;
    let mut text = String::from("\u{feff}");
    for (i, line) in csv_text(&rows(30)).lines().enumerate() {
        let line = match i {
            // Quoted line breaks in a cell, blank lines, and three impossible dates.
            4 | 17 => line.replace(",Soest,", ",\"Soest\r\nAm Markt\r\n1\","),
            7 | 20 | 28 => line.replace("2030-01-", "2030-13-"),
            _ => line.to_string(),
        };
        text.push_str(&line);
        text.push_str("\r\n");
        if i % 9 == 5 {
            text.push_str("\r\n");
        }
    }
    std::fs::write(t.dir.path().join("export.csv"), &text).unwrap();
    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_rejected),
        (Outcome::Applied, 3),
        "{:?}",
        r.message
    );
    let physical: Vec<&str> = text.split("\r\n").collect();
    let lines: Vec<u64> = r.rejected.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        [11, 27, 36],
        "header, quoted breaks and blank lines all count"
    );
    for (e, key) in r.rejected.iter().zip(["K0006", "K0019", "K0027"]) {
        assert!(
            physical[e.line as usize - 1].starts_with(&format!("{key},")),
            "line {} is {:?}",
            e.line,
            physical[e.line as usize - 1]
        );
        assert_eq!(e.place(r.position), format!("line {}", e.line));
    }
}

#[tokio::test]
async fn a_bad_spreadsheet_cell_is_named_sheet_and_cell_in_the_report_and_the_history() {
    let t = app(SourceKind::Spreadsheet, "export.xlsx", SHEET_FIELDS).await;
    workbook(&t.dir.path().join("export.xlsx"), &rows(20), Some(17));
    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_new, r.counts.rows_rejected),
        (Outcome::Applied, 19, 1),
        "{:?}",
        r.message
    );
    let e = &r.rejected[0];
    assert_eq!(
        (e.line, e.cell.as_deref(), e.field.as_str()),
        (17, Some("Termine!C17"), "start")
    );
    assert_eq!(e.place(r.position), "row 17 (Termine!C17)");
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let (_, history) = absage::store::imports::with_rejected(&mut conn, "soest", r.import_id)
        .await
        .unwrap()
        .expect("in the history");
    let kept: serde_json::Value = serde_json::from_str(&history.expect("rejected rows")).unwrap();
    assert_eq!(kept[0]["cell"], "Termine!C17");
    assert_eq!(kept[0]["line"], 17);
}
