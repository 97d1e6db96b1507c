//! Tests of the CSV reader: encodings, positions, refusals, cut-off files, limits.

use super::*;
use crate::domain::booking::{BookingRecord, BookingStatus};
use chrono::{DateTime, TimeZone, Utc};

const HEADER: &str = "Termin-Nr;Datum;Uhrzeit;Dienstleistung;Name;Telefon;Sprache;Status\n";

fn fields() -> FieldMapping {
    let some = |s: &str| Some(s.to_string());
    FieldMapping {
        key: "Termin-Nr".into(),
        date: "Datum".into(),
        time: some("Uhrzeit"),
        service: "Dienstleistung".into(),
        name: "Name".into(),
        phone: Some("Telefon".into()),
        language: some("Sprache"),
        status: some("Status"),
        ..FieldMapping::default()
    }
}

fn semicolon(encoding: Encoding) -> CsvOptions {
    CsvOptions {
        delimiter: ';',
        encoding,
        ..CsvOptions::default()
    }
}

fn ctx() -> ParseContext {
    ParseContext {
        tz: chrono_tz::Europe::Berlin,
        default_language: None,
        limits: Default::default(),
    }
}

fn open(bytes: &[u8], opts: &CsvOptions, fields: &FieldMapping) -> Result<CsvRecords, FormatError> {
    let input = std::io::Cursor::new(bytes.to_vec());
    open_reader(
        input,
        "termine.csv",
        opts,
        fields,
        &Formats::default(),
        &ctx(),
    )
}

fn read_all(bytes: &[u8], opts: &CsvOptions) -> (Vec<Result<ParsedRow, RowError>>, ReadReport) {
    let mut records = open(bytes, opts, &fields()).expect("opens");
    let rows: Vec<_> = records.by_ref().collect();
    (rows, records.report().clone())
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid")
}

fn ok(row: &Result<ParsedRow, RowError>) -> &BookingRecord {
    row.as_ref()
        .map(|parsed| &parsed.record)
        .unwrap_or_else(|err| panic!("row refused: {err}"))
}

#[test]
fn windows_1252_umlauts_are_read_right() {
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"1;02.03.2026;10:30;Stra\xdfenverkehr;M\xfcller;;;\n");
    for encoding in [Encoding::Windows1252, Encoding::Auto] {
        let (rows, _) = read_all(&bytes, &semicolon(encoding));
        let record = ok(&rows[0]);
        assert_eq!(
            (record.name.as_str(), record.service.as_str()),
            ("Müller", "Straßenverkehr")
        );
    }
}

#[test]
fn strict_utf8_refuses_a_windows_1252_cell_without_echoing_it() {
    let mut bytes = HEADER.as_bytes().to_vec();
    bytes.extend_from_slice(b"1;02.03.2026;10:30;Zulassung;M\xfcller;;;\n");
    let (rows, _) = read_all(&bytes, &semicolon(Encoding::Utf8));
    let err = rows[0].as_ref().expect_err("invalid UTF-8");
    assert_eq!((err.line, err.target), (2, Some(Field::Name)));
    assert!(err.reason.contains("windows-1252"), "{err}");
}

#[test]
fn a_utf8_bom_does_not_hide_the_first_header() {
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend_from_slice(HEADER.as_bytes());
    bytes.extend_from_slice("1;02.03.2026;10:30;Zulassung;Jürgen Groß;;;\n".as_bytes());
    for encoding in [Encoding::Utf8, Encoding::Auto, Encoding::Windows1252] {
        let (rows, _) = read_all(&bytes, &semicolon(encoding));
        let record = ok(&rows[0]);
        assert_eq!(
            (record.key.as_str(), record.name.as_str()),
            ("1", "Jürgen Groß")
        );
    }
}

#[test]
fn german_dates_and_times_become_utc_instants() {
    let bytes = format!(
        "{HEADER}1;02.03.2026;10:30;Zulassung;Erika;;;\n2;01.07.2026;08:00;Zulassung;Max;;;\n"
    );
    let (rows, _) = read_all(bytes.as_bytes(), &semicolon(Encoding::Auto));
    assert_eq!(ok(&rows[0]).starts_at, utc(2026, 3, 2, 9, 30));
    assert_eq!(ok(&rows[0]).ends_at, utc(2026, 3, 2, 9, 45));
    assert_eq!(ok(&rows[1]).starts_at, utc(2026, 7, 1, 6, 0));
}

#[test]
fn an_iso_column_and_an_end_column_are_read() {
    let bytes = "id,start,end,service,name\n\
                 a,2026-03-02T10:30:00,11:00,Pass,Erika\n\
                 b,2026-03-02 10:30,,Pass,Max\n\
                 c,2026-03-02T10:30:00+01:00,2026-03-02T12:00:00+01:00,Pass,Ida\n";
    let fields = FieldMapping {
        key: "id".into(),
        date: "start".into(),
        end: Some("end".into()),
        ..FieldMapping::default()
    };
    let mut records = open(bytes.as_bytes(), &CsvOptions::default(), &fields).expect("opens");
    let rows: Vec<_> = records.by_ref().collect();
    assert_eq!(
        (ok(&rows[0]).starts_at, ok(&rows[0]).ends_at),
        (utc(2026, 3, 2, 9, 30), utc(2026, 3, 2, 10, 0))
    );
    assert_eq!(
        ok(&rows[1]).ends_at,
        utc(2026, 3, 2, 9, 45),
        "no end: default duration"
    );
    assert_eq!(ok(&rows[2]).ends_at, utc(2026, 3, 2, 11, 0));
}

#[test]
fn bad_rows_are_reported_by_line_and_the_rest_is_read() {
    let bytes = format!(
        "{HEADER}1;02.03.2026;10:30;Zulassung;Erika;;;\n\
         2;31.02.2026;10:30;Zulassung;Max;;;\n\
         3;02.03.2026;10:30;Zulassung\n\
         \"4\";02.03.2026;10:30;\"Zu-\nlassung\";Ida;;;\n\
         ;02.03.2026;10:30;Zulassung;Ole;;;\n\
         ;;;;;;;\n\
         6;02.03.2026;10:30;Zulassung;Eva;0171 1234567;de;storniert\n"
    );
    let (rows, report) = read_all(bytes.as_bytes(), &semicolon(Encoding::Auto));
    let lines: Vec<(u64, Option<Field>)> = rows
        .iter()
        .filter_map(|row| row.as_ref().err().map(|err| (err.line, err.target)))
        .collect();
    assert_eq!(
        lines,
        [(3, Some(Field::Date)), (4, None), (7, Some(Field::Key))]
    );
    let keys: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.record.key.as_str())
        .collect();
    assert_eq!(keys, ["1", "4", "6"]);
    assert_eq!((report.rows, report.blank_rows), (6, 1));
    let last = ok(&rows[5]);
    assert_eq!(last.status, BookingStatus::Cancelled);
    assert!(last.phone.as_ref().is_some_and(|p| p.mobile));
}

#[test]
fn a_missing_column_refuses_the_file_naming_it() {
    let bytes = "Termin-Nr;Datum;Dienstleistung;Name\n1;02.03.2026;Pass;Erika\n";
    let err = open(bytes.as_bytes(), &semicolon(Encoding::Auto), &fields()).expect_err("refused");
    let message = err.to_string();
    assert!(message.starts_with("termine.csv: "), "{message}");
    assert!(
        message.contains(r#""Uhrzeit" (time)"#) && message.contains(r#""Telefon" (phone)"#),
        "{message}"
    );
    assert!(message.contains(r#""Termin-Nr", "Datum""#), "{message}");
    assert!(!message.contains("delimiter"), "{message}");
}

#[test]
fn a_file_without_its_header_line_is_refused_without_repeating_the_first_row() {
    let bytes = "1;02.03.2026;10:30;Pass;Erika Mustermann;0171 2345678;de;\n";
    let err = open(bytes.as_bytes(), &semicolon(Encoding::Auto), &fields()).expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("header line missing"), "{message}");
    assert!(message.contains("8 columns"), "{message}");
    assert!(
        !message.contains("Erika") && !message.contains("2345678"),
        "{message}"
    );
}

#[test]
fn a_wrong_delimiter_is_suggested() {
    let bytes = format!("{HEADER}1;02.03.2026;10:30;Zulassung;Erika;;;\n");
    let err = open(bytes.as_bytes(), &CsvOptions::default(), &fields()).expect_err("refused");
    assert!(
        err.to_string().ends_with(r#"is the delimiter ";"?"#),
        "{err}"
    );
    let tsv = HEADER.replace(';', "\t");
    let err = open(tsv.as_bytes(), &semicolon(Encoding::Auto), &fields()).expect_err("refused");
    assert!(
        err.to_string().ends_with(r#"is the delimiter "\t"?"#),
        "{err}"
    );
}

#[test]
fn an_empty_file_is_refused() {
    let err = open(b"", &CsvOptions::default(), &fields()).expect_err("empty");
    assert!(matches!(err, FormatError::Empty { .. }), "{err}");
    assert!(err.to_string().contains("termine.csv"));
}

#[test]
fn an_unreadable_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fehlt.csv");
    let err = open_file(
        &path,
        &CsvOptions::default(),
        &fields(),
        &Formats::default(),
        &ctx(),
    )
    .expect_err("missing file");
    assert!(matches!(err, FormatError::Unreadable { .. }));
    assert!(err.to_string().contains("fehlt.csv"), "{err}");
}

#[test]
fn a_file_on_disk_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("termine.tsv");
    let tsv = format!("{HEADER}1;02.03.2026;10:30;Zulassung;Erika;;;\n").replace(';', "\t");
    std::fs::write(&path, tsv).expect("written");
    let opts = CsvOptions {
        delimiter: '\t',
        ..CsvOptions::default()
    };
    let records = open_file(&path, &opts, &fields(), &Formats::default(), &ctx()).expect("opens");
    assert_eq!(records.filter(Result::is_ok).count(), 1);
}

#[test]
fn dst_gap_and_repeat_are_resolved_and_counted() {
    let bytes = format!(
        "{HEADER}1;29.03.2026;02:30;Pass;A;;;\n2;25.10.2026;02:30;Pass;B;;;\n3;25.10.2026;02:30;Pass;C;;Klingonisch;\n"
    );
    let (rows, report) = read_all(bytes.as_bytes(), &semicolon(Encoding::Auto));
    assert_eq!(ok(&rows[0]).starts_at, utc(2026, 3, 29, 1, 30));
    assert_eq!(ok(&rows[1]).starts_at, utc(2026, 10, 25, 0, 30));
    assert_eq!(ok(&rows[2]).language, None);
    assert_eq!(
        (report.skipped_local_times, report.repeated_local_times),
        (1, 2)
    );
    assert_eq!(report.unknown_languages, 1);
    let first = rows[0].as_ref().map(|parsed| parsed.warnings[0].line);
    assert_eq!(first, Ok(2));
}

#[test]
fn the_csv_options_deserialise_from_toml() {
    let opts: CsvOptions =
        toml::from_str("delimiter = \"\\t\"\nencoding = \"windows-1252\"").expect("valid");
    assert_eq!(
        (opts.delimiter, opts.encoding, opts.quote),
        ('\t', Encoding::Windows1252, '"')
    );
    let opts: CsvOptions = toml::from_str("delimiter = \"tab\"").expect("valid");
    assert_eq!((opts.delimiter, opts.encoding), ('\t', Encoding::Auto));
    assert!(opts.require_final_newline, "by default");
    let opts: CsvOptions = toml::from_str("require_final_newline = false").expect("valid");
    assert!(!opts.require_final_newline);
    assert!(toml::from_str::<CsvOptions>("delimiter = \";;\"").is_err());
    assert!(toml::from_str::<CsvOptions>("encoding = \"latin-9\"").is_err());
    assert!(toml::from_str::<CsvOptions>("delimter = \";\"").is_err());
}

/// Hands out its bytes, then fails like a disk or network share going away.
struct BreaksAfter(std::io::Cursor<Vec<u8>>);

impl Read for BreaksAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::other("share disconnected")),
            n => Ok(n),
        }
    }
}

#[test]
fn a_read_error_mid_file_stops_reading_and_marks_the_report_aborted() {
    let bytes = format!("{HEADER}1;02.03.2026;10:30;Pass;A;;;\n2;02.03.2026;10:30;Pass;B;;;\n");
    let input = BreaksAfter(std::io::Cursor::new(bytes.into_bytes()));
    let opts = semicolon(Encoding::Auto);
    let mut records = open_reader(
        input,
        "termine.csv",
        &opts,
        &fields(),
        &Formats::default(),
        &ctx(),
    )
    .expect("header was readable");
    let rows: Vec<_> = records.by_ref().collect();
    assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 2);
    let last = rows
        .last()
        .and_then(|r| r.as_ref().err())
        .expect("ends with the error");
    assert!(
        last.target.is_none() && last.reason.contains("share disconnected"),
        "{last}"
    );
    assert!(records.report().aborted.is_some());
    assert!(records.next().is_none(), "stays finished");
}

#[test]
fn the_reader_can_move_to_a_blocking_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<CsvRecords>();
}

/// An export with what moves line numbers: a quoted cell over three lines, blank lines,
/// a BOM. Rows 2, 5 and 9 have an impossible date; every row's key begins its line.
fn awkward_export(end: &str) -> String {
    let lines = [
        "\u{feff}Termin-Nr;Datum;Uhrzeit;Dienstleistung;Name;Telefon;Sprache;Status",
        "1;02.03.2026;10:30;Zulassung;Erika;;;",
        "2;31.02.2026;10:30;Zulassung;Max;;;",
        "3;02.03.2026;10:30;\"Zulassung",
        "Kennzeichen",
        "Saisonkennzeichen\";Ida;;;",
        "",
        "4;02.03.2026;10:30;Zulassung;Ole;;;",
        "5;31.02.2026;10:30;Zulassung;Eva;;;",
        "   ",
        "",
        "6;02.03.2026;10:30;\"Pass \"\"eilig\"\"",
        "\";Ute;;;",
        "9;31.02.2026;10:30;Zulassung;Tom;;;",
        "",
    ];
    lines.join(end)
}

#[test]
fn rejected_rows_name_the_files_own_line_whatever_its_line_endings() {
    for end in ["\n", "\r\n", "\r"] {
        let text = awkward_export(end);
        for (opts, bytes) in [
            (semicolon(Encoding::Auto), text.clone().into_bytes()),
            (
                semicolon(Encoding::Windows1252),
                text.replace('\u{feff}', "").into_bytes(),
            ),
            (
                CsvOptions {
                    delimiter: '\t',
                    ..CsvOptions::default()
                },
                text.replace(';', "\t").into_bytes(),
            ),
        ] {
            let (rows, report) = read_all(&bytes, &opts);
            assert_eq!(report.aborted, None, "{end:?}");
            let errors: Vec<(u64, &str)> = rows
                .iter()
                .filter_map(|row| row.as_ref().err())
                .map(|err| (err.line, err.key.as_deref().unwrap_or_default()))
                .collect();
            assert_eq!(errors, [(3, "2"), (9, "5"), (14, "9")], "{end:?}");
            let read = String::from_utf8_lossy(&bytes);
            let physical: Vec<&str> = read.split(end).collect();
            for (line, key) in errors {
                let start = format!("{key}{}", opts.delimiter);
                assert!(physical[line as usize - 1].starts_with(&start), "{end:?}");
            }
            let lines: Vec<u64> = rows.iter().flatten().map(|row| row.line).collect();
            assert_eq!(lines, [2, 4, 8, 12], "{end:?}");
        }
    }
}

fn cut_message(bytes: &[u8], opts: &CsvOptions) -> (Vec<Result<ParsedRow, RowError>>, String) {
    let (rows, report) = read_all(bytes, opts);
    let aborted = report.aborted.expect("refused as cut off");
    let last = rows.last().and_then(|r| r.as_ref().err()).expect("error");
    assert_eq!(last.reason, aborted);
    let message = format!("line {}: {aborted}", last.line);
    (rows, message)
}

#[test]
fn a_file_cut_in_the_middle_of_its_last_line_is_refused_naming_the_line() {
    let full = format!(
        "{HEADER}1;02.03.2026;10:30;Zulassung;Erika Mustermann;0171 2345678;de;\n\
         2;02.03.2026;10:45;Zulassung;Max Mustermann;0171 3456789;de;storniert\n"
    );
    // Cut in the last field: every field is there, and the row would import as active.
    let cut = &full[..full.find("storniert").expect("in the text") + 4];
    let (rows, message) = cut_message(cut.as_bytes(), &semicolon(Encoding::Auto));
    assert!(rows[0].is_ok() && rows[1].is_ok());
    assert!(
        message.starts_with("line 3: looks cut off at line 3: the last line has no line break"),
        "{message}"
    );
    assert!(
        message.contains("csv.require_final_newline = false"),
        "{message}"
    );

    let lenient = CsvOptions {
        require_final_newline: false,
        ..semicolon(Encoding::Auto)
    };
    let (rows, report) = read_all(cut.as_bytes(), &lenient);
    assert_eq!((rows.len(), report.aborted), (2, None), "a hand-made file");
    // Cut in the name: fewer fields than the header, and no line break.
    let cut = &full[..full.find("Max Must").expect("in the text") + 8];
    let (_, message) = cut_message(cut.as_bytes(), &lenient);
    assert!(
        message.contains("looks cut off at line 3: the last line has 5 of the header's 8"),
        "{message}"
    );
    assert!(!message.contains("Must"), "{message}");
}

#[test]
fn a_file_that_ends_inside_a_quoted_value_is_refused_naming_where_it_opened() {
    let full = format!(
        "{HEADER}1;02.03.2026;10:30;Zulassung;Erika;;;\n\
         2;02.03.2026;10:45;\"Zulassung\nSaison\";Max;;;\n"
    );
    let cut = &full[..full.find("Saison").expect("in the text")];
    assert!(cut.ends_with('\n'), "a line break, but inside the quotes");
    for require_final_newline in [true, false] {
        let opts = CsvOptions {
            require_final_newline,
            ..semicolon(Encoding::Auto)
        };
        let (_, message) = cut_message(cut.as_bytes(), &opts);
        assert!(
            message.starts_with(
                "line 3: looks cut off: the quoted value that begins on line 3 is never closed"
            ),
            "{message}"
        );
    }
    // An opening quote that is never closed swallows every row after it.
    let stray = format!(
        "{HEADER}1;02.03.2026;10:30;\"Zulassung;Erika;;;\n\
         2;02.03.2026;10:45;Zulassung;Max;;;\n3;02.03.2026;11:00;Zulassung;Ida;;;\n"
    );
    let (rows, message) = cut_message(stray.as_bytes(), &semicolon(Encoding::Auto));
    assert_eq!(rows.len(), 2, "the swallowed row, then the refusal");
    assert!(
        message.contains("begins on line 2 is never closed"),
        "{message}"
    );
}

#[test]
fn a_complete_file_may_end_with_blank_space_or_a_quoted_value() {
    let ends = [
        format!("{HEADER}1;02.03.2026;10:30;Zulassung;Erika;;;\n  "),
        format!("{HEADER}1;02.03.2026;10:30;Zulassung;Erika;;;\r\n\r\n"),
        format!("{HEADER}1;02.03.2026;10:30;Zulassung;Erika;;;\"storniert\"\n"),
    ];
    for text in ends {
        let (rows, report) = read_all(text.as_bytes(), &semicolon(Encoding::Auto));
        assert_eq!((rows.len(), report.aborted), (1, None), "{text:?}");
    }
    let (_, message) = cut_message(
        format!("{HEADER}1;02.03.2026;10:30;Zulassung;Erika;;;\"storniert\"").as_bytes(),
        &semicolon(Encoding::Auto),
    );
    assert!(message.contains("no line break"), "{message}");
}

#[test]
fn a_non_ascii_delimiter_is_a_config_error() {
    let opts = CsvOptions {
        delimiter: '§',
        ..CsvOptions::default()
    };
    let err = open(HEADER.as_bytes(), &opts, &fields()).expect_err("refused");
    assert!(
        matches!(err, FormatError::Config { .. }) && err.to_string().contains("csv.delimiter"),
        "{err}"
    );
}

/// Counts the bytes taken from the file.
struct Counted(
    std::io::Cursor<Vec<u8>>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
);

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

#[test]
fn a_five_megabyte_line_stops_reading_at_the_cell_limit_naming_line_column_and_limit() {
    let mut bytes =
        format!("{HEADER}1;02.03.2026;10:30;Pass;A;;;\n2;02.03.2026;10:30;Pass;").into_bytes();
    bytes.extend(std::iter::repeat_n(b'x', 5 << 20));
    bytes.extend_from_slice(b";;;\n3;02.03.2026;10:30;Pass;C;;;\n");
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let input = Counted(std::io::Cursor::new(bytes), taken.clone());
    let opts = semicolon(Encoding::Auto);
    let records = open_reader(
        input,
        "termine.csv",
        &opts,
        &fields(),
        &Formats::default(),
        &ctx(),
    )
    .expect("opens");
    let mut records = records;
    let rows: Vec<_> = records.by_ref().collect();
    assert_eq!(rows.len(), 2, "the row before, then the refusal");
    let err = rows[1].as_ref().expect_err("refused");
    let aborted = records
        .report()
        .aborted
        .clone()
        .expect("the import is refused whole");
    assert_eq!((err.line, &err.reason), (3, &aborted));
    assert!(
        aborted.starts_with(
            "line 3, column 5: a cell is over the limit of 64 KiB (limits.max_cell_bytes)"
        ),
        "{aborted}"
    );
    let read = taken.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        read < 256 << 10,
        "reading stopped early: {read} bytes of 5 MiB"
    );
}

#[test]
fn a_header_over_the_line_limit_is_refused_as_too_large() {
    let header = "Termin-Nr;".repeat(200_000);
    let err = open(header.as_bytes(), &semicolon(Encoding::Auto), &fields()).expect_err("refused");
    assert!(
        matches!(err, FormatError::TooLarge { .. })
            && err
                .to_string()
                .starts_with("termine.csv: line 1: a line is over"),
        "{err}"
    );
}
