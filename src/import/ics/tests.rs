//! The ics reader end to end: text in, bookings and rejections out.

use super::*;
use crate::domain::booking::BookingRecord;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const ORGANIZER: &str = "ORGANIZER;CN=Buergeramt:mailto:termine@stadt.example";

fn fields() -> FieldMapping {
    let some = |s: &str| Some(s.to_string());
    FieldMapping {
        key: "UID".into(),
        date: "DTSTART".into(),
        end: some("DTEND"),
        service: "SUMMARY".into(),
        location: Some("LOCATION".into()),
        name: "ATTENDEE;CN".into(),
        email: Some("ATTENDEE".into()),
        phone: Some("X-PHONE".into()),
        language: some("DESCRIPTION:Sprache"),
        ..FieldMapping::default()
    }
}

fn ctx() -> ParseContext {
    ParseContext {
        tz: chrono_tz::Europe::Berlin,
        default_language: None,
        limits: Default::default(),
    }
}

fn now() -> DateTime<Utc> {
    utc("2026-03-01T00:00:00Z")
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid instant")
}

/// A calendar around the given events (each a list of lines without BEGIN/END).
fn calendar(events: &[&[&str]]) -> String {
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n");
    for event in events {
        text.push_str("BEGIN:VEVENT\r\n");
        for line in *event {
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str("END:VEVENT\r\n");
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

fn open_with(text: &str, opts: &IcsOptions) -> Result<IcsRecords, FormatError> {
    let input = Cursor::new(text.as_bytes().to_vec());
    let formats = Formats::default();
    open_reader_at(
        input,
        "termine.ics",
        opts,
        &fields(),
        &formats,
        &ctx(),
        now(),
    )
}

fn read_with(text: &str, opts: &IcsOptions) -> (Vec<Result<ParsedRow, RowError>>, IcsReport) {
    let mut records = open_with(text, opts).expect("opens");
    let rows: Vec<_> = records.by_ref().collect();
    (rows, records.report().clone())
}

fn read(text: &str) -> Vec<Result<ParsedRow, RowError>> {
    read_with(text, &IcsOptions::default()).0
}

fn ok(row: &Result<ParsedRow, RowError>) -> &BookingRecord {
    row.as_ref()
        .map(|parsed| &parsed.record)
        .unwrap_or_else(|err| panic!("refused: {err}"))
}

fn only(text: &str) -> BookingRecord {
    let rows = read(text);
    assert_eq!(rows.len(), 1, "{rows:?}");
    ok(&rows[0]).clone()
}

#[test]
fn zoned_times_are_read_in_their_own_zone() {
    let record = only(&calendar(&[&[
        "UID:a-1",
        "DTSTART;TZID=Europe/Berlin:20260302T103000",
        "DTEND;TZID=Europe/Berlin:20260302T110000",
        "SUMMARY:Personalausweis",
    ]]));
    assert_eq!(record.key, "a-1");
    assert_eq!(record.starts_at, utc("2026-03-02T09:30:00Z"));
    assert_eq!(record.ends_at, utc("2026-03-02T10:00:00Z"));
    assert_eq!(record.service, "Personalausweis");
    assert_eq!(record.status, BookingStatus::Active);
    let record = only(&calendar(&[&[
        "UID:a-2",
        "DTSTART;TZID=America/New_York:20260302T103000",
    ]]));
    assert_eq!(record.starts_at, utc("2026-03-02T15:30:00Z"));
}

#[test]
fn utc_and_floating_times_are_both_understood() {
    let record = only(&calendar(&[&[
        "UID:z",
        "DTSTART:20260302T103000Z",
        "DTEND:20260302T110000Z",
    ]]));
    assert_eq!(record.starts_at, utc("2026-03-02T10:30:00Z"));
    let record = only(&calendar(&[&["UID:f", "DTSTART:20260701T103000"]]));
    assert_eq!(
        record.starts_at,
        utc("2026-07-01T08:30:00Z"),
        "tenant zone, summer"
    );
    assert_eq!(
        record.ends_at,
        utc("2026-07-01T08:45:00Z"),
        "default duration"
    );
}

#[test]
fn a_zone_only_a_vtimezone_declares_is_taken_as_the_tenants() {
    let text = calendar(&[&[
        "UID:w",
        "DTSTART;TZID=W. Europe Standard Time:20260302T103000",
    ]])
    .replace(
        "END:VCALENDAR",
        "BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nEND:VTIMEZONE\r\nEND:VCALENDAR",
    );
    assert_eq!(only(&text).starts_at, utc("2026-03-02T09:30:00Z"));
    let rows = read(&calendar(&[&[
        "UID:u",
        "DTSTART;TZID=Atlantis:20260302T103000",
    ]]));
    let err = rows[0].as_ref().expect_err("undeclared zone");
    assert_eq!(
        (err.field.as_str(), err.key.as_deref()),
        ("DTSTART", Some("u"))
    );
}

#[test]
fn a_duration_stands_in_for_dtend() {
    let record = only(&calendar(&[&[
        "UID:d",
        "DTSTART:20260302T100000Z",
        "DURATION:PT45M",
    ]]));
    assert_eq!(record.ends_at, utc("2026-03-02T10:45:00Z"));
    let rows = read(&calendar(&[&[
        "UID:e",
        "DTSTART:20260302T100000Z",
        "DTEND:20260302T090000Z",
    ]]));
    // The citizen relies on the start: an end before it costs the length only.
    let row = rows[0].as_ref().expect("the start is known");
    assert_eq!(row.record.ends_at, utc("2026-03-02T10:15:00Z"));
    let w = &row.warnings[0];
    assert_eq!(
        (w.line, w.field.as_str(), w.target),
        (4, "DTEND", Field::End)
    );
    assert!(w.to_string().contains("default length"), "{w}");
}

#[test]
fn a_cancelled_event_is_a_cancelled_booking() {
    let record = only(&calendar(&[&[
        "UID:c",
        "DTSTART:20260302T100000Z",
        "STATUS:CANCELLED",
    ]]));
    assert_eq!(record.status, BookingStatus::Cancelled);
    let record = only(&calendar(&[&[
        "UID:c",
        "DTSTART:20260302T100000Z",
        "STATUS:CONFIRMED",
    ]]));
    assert_eq!(record.status, BookingStatus::Active);
}

#[test]
fn the_citizen_is_the_attendee_who_is_not_the_organizer() {
    let record = only(&calendar(&[&[
        "UID:p",
        "DTSTART:20260302T100000Z",
        ORGANIZER,
        "ATTENDEE;CN=Buergeramt;ROLE=CHAIR:mailto:termine@stadt.example",
        "ATTENDEE;CN=\"Yılmaz, Ayşe\";ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:ayse@example.org",
        "X-PHONE:0171 1234567",
        "DESCRIPTION:Anliegen: Pass\\nSprache: Türkisch",
    ]]));
    assert_eq!(record.name, "Yılmaz, Ayşe");
    assert_eq!(record.email.expect("email").as_str(), "ayse@example.org");
    assert_eq!(
        record.phone.and_then(|p| p.e164).as_deref(),
        Some("+491711234567")
    );
    assert_eq!(record.language.expect("language").code(), "tr");
}

#[test]
fn the_highest_sequence_wins_and_the_older_version_is_no_error() {
    let (rows, report) = read_with(
        &calendar(&[
            &["UID:s", "SEQUENCE:2", "DTSTART:20260303T100000Z"],
            &["UID:s", "SEQUENCE:1", "DTSTART:20260302T100000Z"],
            &["UID:t", "DTSTART:20260302T100000Z"],
        ]),
        &IcsOptions::default(),
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(ok(&rows[0]).starts_at, utc("2026-03-03T10:00:00Z"));
    assert_eq!(report.superseded, 1);
}

#[test]
fn a_weekly_series_expands_without_its_exdate_and_with_its_override() {
    let text = calendar(&[
        // The override comes first: its place in the file does not matter.
        &[
            "UID:serie",
            "RECURRENCE-ID;TZID=Europe/Berlin:20260316T100000",
            "DTSTART;TZID=Europe/Berlin:20260316T140000",
            "DTEND;TZID=Europe/Berlin:20260316T143000",
            "SUMMARY:Beratung (verlegt)",
        ],
        &[
            "UID:serie",
            "DTSTART;TZID=Europe/Berlin:20260302T100000",
            "DTEND;TZID=Europe/Berlin:20260302T103000",
            "RRULE:FREQ=WEEKLY;COUNT=5",
            "EXDATE;TZID=Europe/Berlin:20260309T100000",
            "SUMMARY:Beratung",
        ],
    ]);
    let (rows, report) = read_with(&text, &IcsOptions::default());
    let got: Vec<(String, DateTime<Utc>, String)> = rows
        .iter()
        .map(ok)
        .map(|r| (r.key.clone(), r.starts_at, r.service.clone()))
        .collect();
    let want = [
        (
            "serie/20260316T090000Z",
            "2026-03-16T13:00:00Z",
            "Beratung (verlegt)",
        ),
        ("serie/20260302T090000Z", "2026-03-02T09:00:00Z", "Beratung"),
        ("serie/20260323T090000Z", "2026-03-23T09:00:00Z", "Beratung"),
        ("serie/20260330T080000Z", "2026-03-30T08:00:00Z", "Beratung"),
    ]
    .map(|(k, at, s)| (k.to_string(), utc(at), s.to_string()));
    assert_eq!(got, want);
    assert_eq!(ok(&rows[3]).ends_at, utc("2026-03-30T08:30:00Z"));
    assert_eq!(report.occurrences, 3);
}

#[test]
fn a_series_is_expanded_only_up_to_the_horizon() {
    let text = calendar(&[&["UID:daily", "DTSTART:20260101T090000Z", "RRULE:FREQ=DAILY"]]);
    let opts = IcsOptions {
        recurrence_horizon_days: 3,
        ..IcsOptions::default()
    };
    let (rows, _) = read_with(&text, &opts);
    let starts: Vec<DateTime<Utc>> = rows.iter().map(|r| ok(r).starts_at).collect();
    let want = [
        "2026-02-28T09:00:00Z",
        "2026-03-01T09:00:00Z",
        "2026-03-02T09:00:00Z",
        "2026-03-03T09:00:00Z",
    ];
    assert_eq!(starts, want.map(utc));
}

#[test]
fn folded_lines_and_escaped_text_are_read_whole() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:fold\nDTSTART:20260302T100000Z\n\
                SUMMARY:Fahrerlaubnis\\, Umtausch\\; inte\n rnational\nLOCATION:Rat\n\thaus\n\
                END:VEVENT\nEND:VCALENDAR\n";
    let record = only(text);
    assert_eq!(record.service, "Fahrerlaubnis, Umtausch; international");
    assert_eq!(record.location, "Rathaus");
}

#[test]
fn a_bom_and_crlf_are_accepted() {
    let text = format!(
        "\u{feff}{}",
        calendar(&[&["UID:b", "DTSTART:20260302T100000Z"]])
    );
    assert_eq!(only(&text).key, "b");
}

#[test]
fn a_broken_event_is_rejected_on_its_line_and_the_rest_imports() {
    let text = calendar(&[
        &["UID:ok-1", "DTSTART:20260302T100000Z"],
        &["UID:bad", "DTSTART:2026-03-02 10:00"],
        &["UID:ok-2", "DTSTART:20260302T110000Z"],
        &["DTSTART:20260302T120000Z"],
    ]);
    let rows = read(&text);
    assert_eq!(rows.len(), 4);
    assert_eq!(ok(&rows[0]).key, "ok-1");
    let err = rows[1].as_ref().expect_err("bad date");
    assert_eq!(err.line, 8, "the BEGIN:VEVENT of the second event");
    assert_eq!(err.key.as_deref(), Some("bad"));
    assert!(err.to_string().contains("\"2026-03-02 10:00\""), "{err}");
    assert_eq!(ok(&rows[2]).key, "ok-2");
    let err = rows[3].as_ref().expect_err("no UID");
    assert_eq!((err.line, err.target), (16, Some(Field::Key)));
}

#[test]
fn all_day_events_are_rejected_or_skipped_as_configured() {
    let text = calendar(&[&["UID:feiertag", "DTSTART;VALUE=DATE:20260406"]]);
    let rows = read(&text);
    let err = rows[0].as_ref().expect_err("not an appointment");
    assert!(err.reason.contains("all-day"), "{err}");
    let skip = IcsOptions {
        all_day: AllDay::Skip,
        ..IcsOptions::default()
    };
    let (rows, report) = read_with(&text, &skip);
    assert!(rows.is_empty());
    assert_eq!(report.all_day_skipped, 1);
}

#[test]
fn a_file_that_is_not_icalendar_is_refused_with_one_message() {
    let csv = "Termin-Nr;Datum;Uhrzeit\n1;02.03.2026;10:30\n";
    let err = open_with(csv, &IcsOptions::default()).expect_err("refused");
    let text = err.to_string();
    assert!(
        text.starts_with("termine.ics:") && text.contains("not an iCalendar file"),
        "{text}"
    );
    assert!(matches!(
        open_with("\n\n", &IcsOptions::default()),
        Err(FormatError::Empty { .. })
    ));
    let cut = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20260302T100000Z\n";
    let err = open_with(cut, &IcsOptions::default()).expect_err("cut off");
    assert!(matches!(err, FormatError::CutOff { .. }), "{err}");
    assert!(
        err.to_string().starts_with(
            "termine.ics: looks cut off at line 4: it ends there without END:VCALENDAR"
        ),
        "{err}"
    );
}

#[test]
fn messages_never_repeat_personal_data() {
    let rows = read(&calendar(&[
        &[
            "UID:m1",
            "DTSTART:20260302T100000Z",
            "ATTENDEE;CN=Erika Mustermann:mailto:erika.mustermann-at-example.org",
        ],
        &[
            "UID:m2",
            "DTSTART:20260302T100000Z",
            "ATTENDEE;CN=Erika Mustermann:mailto:erika@example.org",
            "X-PHONE:0171 12345678901234",
        ],
        &[
            "UID:m3",
            "DTSTART:20260302T100000Z",
            "Erika Mustermann 0171 1234567",
        ],
    ]));
    assert_eq!(rows.len(), 3);
    // Unusable contact data costs the channel, not the booking.
    let m1 = &rows[0].as_ref().expect("imported without email").record;
    let m2 = &rows[1].as_ref().expect("imported without phone").record;
    assert!(m1.email.is_none() && m1.email_problem.is_some());
    assert!(m2.phone.is_none() && m2.phone_problem.is_some());
    let mut texts: Vec<String> = [&m1.email_problem, &m2.phone_problem]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    texts.extend(
        rows.iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| e.to_string()),
    );
    assert_eq!(texts.len(), 3, "{texts:?}");
    for text in texts {
        assert!(
            !text.contains("ustermann") && !text.contains("erika") && !text.contains("12345"),
            "{text}"
        );
    }
}

#[test]
fn a_dst_gap_start_is_moved_and_warned_about() {
    let rows = read(&calendar(&[&[
        "UID:dst",
        "DTSTART;TZID=Europe/Berlin:20260329T023000",
    ]]));
    let parsed = rows[0].as_ref().expect("imported");
    assert_eq!(parsed.record.starts_at, utc("2026-03-29T01:30:00Z"));
    assert_eq!(parsed.warnings[0].kind, WarningKind::SkippedLocalTime);
    assert_eq!(parsed.warnings[0].field, "DTSTART");
}

/// Reads fine on the first pass and fails halfway through the second.
struct FailsOnSecondPass {
    inner: Cursor<Vec<u8>>,
    seeks: u32,
}

impl Read for FailsOnSecondPass {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let half = self.inner.get_ref().len() as u64 / 2;
        if self.seeks >= 2 && self.inner.position() >= half {
            return Err(io::Error::other("share disconnected"));
        }
        let room = if self.seeks >= 2 {
            (half - self.inner.position()) as usize
        } else {
            buf.len()
        };
        let n = buf.len().min(room.max(1));
        self.inner.read(&mut buf[..n])
    }
}

impl Seek for FailsOnSecondPass {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.seeks += 1;
        self.inner.seek(pos)
    }
}

#[test]
fn an_io_error_in_the_second_pass_marks_the_report_aborted() {
    let events: Vec<[String; 2]> = (0..40)
        .map(|i| [format!("UID:{i}"), "DTSTART:20260302T100000Z".to_string()])
        .collect();
    let refs: Vec<Vec<&str>> = events
        .iter()
        .map(|e| e.iter().map(String::as_str).collect())
        .collect();
    let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
    let input = FailsOnSecondPass {
        inner: Cursor::new(calendar(&slices).into_bytes()),
        seeks: 0,
    };
    let opts = IcsOptions::default();
    let mut records = open_reader_at(
        input,
        "t.ics",
        &opts,
        &fields(),
        &Formats::default(),
        &ctx(),
        now(),
    )
    .expect("the first pass reads it all");
    let rows: Vec<_> = records.by_ref().collect();
    let last = rows
        .last()
        .and_then(|r| r.as_ref().err())
        .expect("ends with the error");
    assert!(last.reason.contains("share disconnected"), "{last}");
    assert!(rows.len() < 40);
    assert!(records.report().read.aborted.is_some());
    assert!(records.next().is_none(), "stays finished");
}

/// Counts the bytes read since the last seek: how far the current pass has gone.
struct PassMeter {
    inner: Cursor<Vec<u8>>,
    read: Arc<AtomicU64>,
}

impl Read for PassMeter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Seek for PassMeter {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.read.store(0, Ordering::Relaxed);
        self.inner.seek(pos)
    }
}

#[test]
fn the_first_booking_comes_before_the_last_pass_has_read_far() {
    let events: Vec<[String; 3]> = (0..2000)
        .map(|i| {
            [
                format!("UID:stream-{i}"),
                "DTSTART:20260302T100000Z".to_string(),
                format!("ATTENDEE;CN=Person {i}:mailto:p{i}@example.org"),
            ]
        })
        .collect();
    let refs: Vec<Vec<&str>> = events
        .iter()
        .map(|e| e.iter().map(String::as_str).collect())
        .collect();
    let slices: Vec<&[&str]> = refs.iter().map(Vec::as_slice).collect();
    let text = calendar(&slices);
    let read = Arc::new(AtomicU64::new(0));
    let input = PassMeter {
        inner: Cursor::new(text.clone().into_bytes()),
        read: Arc::clone(&read),
    };
    let opts = IcsOptions::default();
    let mut records = open_reader_at(
        input,
        "t.ics",
        &opts,
        &fields(),
        &Formats::default(),
        &ctx(),
        now(),
    )
    .expect("opens");
    assert_eq!(
        read.load(Ordering::Relaxed),
        0,
        "the passes before read it all"
    );
    let first = records.next().expect("a row");
    assert_eq!(ok(&first).key, "stream-0");
    let so_far = read.load(Ordering::Relaxed);
    assert!(
        so_far <= 16 * 1024 && so_far * 10 < text.len() as u64,
        "{so_far} of {} bytes read for the first booking",
        text.len()
    );
    assert_eq!(records.count(), 1999);
}

#[test]
fn options_deserialise_strictly_and_are_checked() {
    let opts: IcsOptions =
        toml::from_str("recurrence_horizon_days = 30\nall_day = \"skip\"").expect("valid");
    assert_eq!(
        (opts.recurrence_horizon_days, opts.all_day),
        (30, AllDay::Skip)
    );
    assert!(toml::from_str::<IcsOptions>("horizon = 30").is_err());
    let zero = IcsOptions {
        recurrence_horizon_days: 0,
        ..IcsOptions::default()
    };
    let err = open_with(&calendar(&[]), &zero).expect_err("config");
    assert!(
        err.to_string().contains("ics.recurrence_horizon_days"),
        "{err}"
    );
}

#[test]
fn the_reader_can_move_to_a_blocking_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<IcsRecords>();
}

#[test]
fn a_calendar_cut_at_half_its_size_is_refused_naming_its_last_line() {
    let events: Vec<Vec<String>> = (0..40)
        .map(|i| {
            vec![
                format!("UID:t-{i}"),
                "DTSTART:20260302T100000Z".to_string(),
                "ATTENDEE;CN=Erika Mustermann:mailto:erika@exa".to_string(),
                " mple.org".to_string(),
            ]
        })
        .collect();
    let events: Vec<Vec<&str>> = events
        .iter()
        .map(|e| e.iter().map(String::as_str).collect())
        .collect();
    let slices: Vec<&[&str]> = events.iter().map(Vec::as_slice).collect();
    let text = calendar(&slices);
    let mut half = text.len() / 2;
    while text[..half].ends_with('\n') || !text.is_char_boundary(half) {
        half += 1;
    }
    let cut = &text[..half];
    let err = open_with(cut, &IcsOptions::default()).expect_err("cut off");
    let at = format!("looks cut off at line {}: ", cut.lines().count());
    assert!(err.to_string().contains(&at), "{err}");
    assert!(!err.to_string().contains("Erika"), "{err}");
}

#[test]
fn a_file_with_a_line_over_the_limit_is_refused_whole_naming_line_and_limit() {
    let long = format!("DESCRIPTION:{}", "x".repeat(2 << 20));
    let text = calendar(&[
        &["UID:1", "DTSTART:20260302T093000Z", "SUMMARY:Pass"],
        &["UID:2", "DTSTART:20260302T103000Z", "SUMMARY:Pass", &long],
    ]);
    let err = open_with(&text, &IcsOptions::default()).expect_err("too large");
    let message = err.to_string();
    assert!(
        matches!(err, FormatError::TooLarge { .. })
            && message.starts_with(
                "termine.ics: line 13: a line is over the limit of 1 MiB (limits.max_line_bytes)"
            ),
        "{message}"
    );
}
