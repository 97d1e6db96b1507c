//! Tests of the spreadsheet reader: XLSX, ODS and XLS files written on the fly, positions as
//! cells, refusals, cut-off workbooks, limits.

use super::*;
use crate::domain::booking::BookingRecord;
use chrono::{DateTime, TimeZone, Utc};
use rust_xlsxwriter::{Format, Workbook};
use std::path::PathBuf;

/// A cell to write: text, a plain number, or a number in an Excel number format.
enum C<'a> {
    S(&'a str),
    N(f64),
    F(f64, &'a str),
}
use C::{F, N, S};

const HEADER: [C<'static>; 5] = [
    S("Termin-Nr"),
    S("Datum"),
    S("Uhrzeit"),
    S("Dienstleistung"),
    S("Name"),
];

/// The columns of [`HEADER`].
fn fields() -> FieldMapping {
    FieldMapping {
        key: "Termin-Nr".into(),
        date: "Datum".into(),
        time: Some("Uhrzeit".into()),
        service: "Dienstleistung".into(),
        name: "Name".into(),
        ..FieldMapping::default()
    }
}

/// The columns of the ODS fixture.
fn ods_fields() -> FieldMapping {
    FieldMapping {
        phone: Some("Telefon".into()),
        ..fields()
    }
}

/// The columns written by [`header_and`].
fn more_fields() -> FieldMapping {
    FieldMapping {
        phone: Some("Telefon".into()),
        duration: Some("Dauer".into()),
        ..fields()
    }
}

fn ctx() -> ParseContext {
    ParseContext {
        tz: chrono_tz::Europe::Berlin,
        default_language: None,
        limits: Default::default(),
    }
}

/// Writes an XLSX with the given sheets into a fresh temp dir.
fn xlsx(sheets: &[(&str, Vec<Vec<C<'_>>>)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("export.xlsx");
    let mut book = Workbook::new();
    for (name, rows) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(*name).expect("valid name");
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                let written = match cell {
                    S(text) => sheet.write_string(r, c, *text),
                    N(number) => sheet.write_number(r, c, *number),
                    F(number, format) => sheet.write_number_with_format(
                        r,
                        c,
                        *number,
                        &Format::new().set_num_format(*format),
                    ),
                };
                written.expect("cell written");
            }
        }
    }
    book.save(&path).expect("saved");
    (dir, path)
}

fn header_and(rows: Vec<Vec<C<'static>>>) -> Vec<Vec<C<'static>>> {
    let mut all = vec![
        HEADER
            .into_iter()
            .chain([S("Telefon"), S("Dauer")])
            .collect(),
    ];
    all.extend(rows);
    all
}

fn open(
    path: &Path,
    opts: &SheetOptions,
    fields: &FieldMapping,
) -> Result<SheetRecords, FormatError> {
    open_file(path, opts, fields, &Formats::default(), &ctx())
}

fn read(
    path: &Path,
    opts: &SheetOptions,
    fields: &FieldMapping,
) -> (Vec<Result<ParsedRow, RowError>>, ReadReport) {
    let mut records = open(path, opts, fields).expect("opens");
    let rows: Vec<_> = records.by_ref().collect();
    (rows, records.report().clone())
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn named(sheet: &str) -> SheetOptions {
    SheetOptions {
        sheet: Some(sheet.to_string()),
        ..SheetOptions::default()
    }
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
fn serial_dates_and_a_separate_time_cell_combine_in_the_tenants_zone() {
    let (_dir, path) = xlsx(&[(
        "Termine",
        header_and(vec![
            vec![
                S("T-1"),
                F(46083.0, "dd.mm.yyyy"),
                F(0.4375, "hh:mm"),
                S("Zulassung"),
                S("Erika"),
            ],
            // Summer time, and a whole date-time in the date cell: the time cell wins.
            vec![
                S("T-2"),
                F(46204.99, "dd.mm.yyyy hh:mm"),
                F(0.3333333333333333, "hh:mm"),
                S("Pass"),
                S("Max"),
            ],
        ]),
    )]);
    let (rows, report) = read(&path, &SheetOptions::default(), &more_fields());
    assert_eq!(ok(&rows[0]).starts_at, utc(2026, 3, 2, 9, 30));
    assert_eq!(ok(&rows[1]).starts_at, utc(2026, 7, 1, 6, 0));
    assert_eq!((report.rows, report.aborted), (2, None));
}

#[test]
fn one_date_time_cell_is_read_when_no_time_column_is_mapped() {
    let (_dir, path) = xlsx(&[(
        "Termine",
        vec![
            vec![S("id"), S("start"), S("service"), S("name")],
            vec![
                S("a"),
                F(46083.4375, "yyyy-mm-dd hh:mm"),
                S("Pass"),
                S("Ida"),
            ],
            vec![S("b"), F(46083.0, "yyyy-mm-dd"), S("Pass"), S("Ole")],
        ],
    )]);
    let fields = FieldMapping {
        key: "id".into(),
        date: "start".into(),
        ..FieldMapping::default()
    };
    let mut records = open_file(
        &path,
        &SheetOptions::default(),
        &fields,
        &Formats::default(),
        &ctx(),
    )
    .expect("opens");
    assert_eq!(
        ok(&records.next().expect("row")).starts_at,
        utc(2026, 3, 2, 9, 30)
    );
    let err = records
        .next()
        .expect("row")
        .expect_err("a date alone has no time");
    assert!(err.reason.contains("without a time"), "{err}");
}

#[test]
fn a_workbook_in_the_1904_system_counts_from_1904() {
    let (rows, _) = read(
        &fixture("termine-1904.xlsx"),
        &SheetOptions::default(),
        &fields(),
    );
    let record = ok(&rows[0]);
    assert_eq!(
        (record.key.as_str(), record.starts_at),
        ("1", utc(2026, 3, 2, 9, 30))
    );
}

#[test]
fn text_dates_numeric_keys_phones_and_durations_are_read() {
    let (_dir, path) = xlsx(&[(
        "Termine",
        header_and(vec![vec![
            N(1234.0),
            S("02.03.2026"),
            S("10:30"),
            S("Zulassung"),
            S("Erika"),
            N(491711234567.0),
            F(20.0 / 1440.0, "[h]:mm"),
        ]]),
    )]);
    let (rows, _) = read(&path, &SheetOptions::default(), &more_fields());
    let record = ok(&rows[0]);
    assert_eq!(record.key, "1234");
    assert_eq!(record.starts_at, utc(2026, 3, 2, 9, 30));
    assert_eq!(
        record.ends_at,
        utc(2026, 3, 2, 9, 50),
        "a 20-minute duration cell"
    );
    let phone = record.phone.as_ref().expect("phone");
    assert_eq!(phone.raw, "491711234567", "no .0, no exponent");
    assert_eq!(phone.e164.as_deref(), Some("+491711234567"));
}

#[test]
fn an_ods_export_reads_typed_and_text_cells_from_the_named_sheet() {
    let (rows, report) = read(&fixture("termine.ods"), &named("Termine"), &ods_fields());
    assert_eq!(report.rows, 4);
    let first = ok(&rows[0]);
    assert_eq!(
        (first.key.as_str(), first.starts_at),
        ("1234", utc(2026, 3, 2, 9, 30))
    );
    let phone = first.phone.as_ref().expect("phone");
    assert_eq!(
        phone.e164.as_deref(),
        Some("+491711234567"),
        "a national number stored as a number"
    );
    assert_eq!(
        ok(&rows[1]).starts_at,
        utc(2026, 3, 3, 7, 15),
        "text date and time"
    );
    assert_eq!(
        ok(&rows[2]).starts_at,
        utc(2026, 3, 4, 8, 45),
        "the time cell wins"
    );
    let err = rows[3].as_ref().expect_err("31 February");
    assert_eq!((err.line, err.key.as_deref()), (5, Some("1237")));
    assert_eq!(err.cell.as_deref(), Some("Termine!B5"), "{err}");
}

#[test]
fn the_first_sheet_is_the_default() {
    let err = open(
        &fixture("termine.ods"),
        &SheetOptions::default(),
        &ods_fields(),
    )
    .expect_err("notes sheet");
    let message = err.to_string();
    assert!(
        matches!(err, FormatError::MissingColumns { .. }),
        "{message}"
    );
    assert!(message.contains(r#"sheet "Hinweise""#), "{message}");
}

#[test]
fn a_wrong_sheet_name_is_refused_listing_the_sheets() {
    let err = open(&fixture("termine.ods"), &named("Buchungen"), &ods_fields())
        .expect_err("no such sheet");
    let message = err.to_string();
    assert!(message.starts_with(&fixture("termine.ods").display().to_string()));
    assert!(
        message.contains(
            r#""Buchungen" is not in the workbook; its sheets are "Hinweise", "Termine""#
        ),
        "{message}"
    );
    assert!(
        open(&fixture("termine.ods"), &named("termine"), &ods_fields()).is_ok(),
        "case is forgiven"
    );
}

#[test]
fn a_bad_row_is_rejected_with_its_cell_and_the_rest_imports() {
    let (_dir, path) = xlsx(&[(
        "Termine",
        header_and(vec![
            vec![S("1"), S("02.03.2026"), S("10:30"), S("Pass"), S("Erika")],
            vec![
                S("2"),
                S("02.03.2026"),
                S("10:30"),
                S("Pass"),
                S("Max"),
                S("0171 12345678901234"),
            ],
            vec![S(" "), S(" ")],
            vec![S("3"), S("02.03.2026"), S("25:00"), S("Pass"), S("Ida")],
            vec![S("4"), S("02.03.2026"), S("11:00"), S("Pass"), S("Ole")],
        ]),
    )]);
    let (rows, report) = read(&path, &SheetOptions::default(), &more_fields());
    let errors: Vec<(u64, &str, &str)> = rows
        .iter()
        .filter_map(|row| row.as_ref().err())
        .map(|err| (err.line, err.field.as_str(), err.reason.as_str()))
        .collect();
    // The unusable phone number costs row 3 its SMS, not its booking.
    assert_eq!(errors.len(), 1);
    assert_eq!((errors[0].0, errors[0].1), (5, "Uhrzeit"));
    let cells: Vec<Option<&str>> = rows
        .iter()
        .filter_map(|row| row.as_ref().err())
        .map(|err| err.cell.as_deref())
        .collect();
    assert_eq!(cells, [Some("Termine!C5")]);
    let ok: Vec<&BookingRecord> = rows
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| &r.record)
        .collect();
    let keys: Vec<&str> = ok.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["1", "2", "4"]);
    let problem = ok[1].phone_problem.as_deref().expect("phone problem");
    assert!(problem.starts_with("phone number unusable"), "{problem}");
    assert!(!problem.contains("12345"), "no phone number in messages");
    assert_eq!((report.rows, report.blank_rows), (4, 1));
}

#[test]
fn a_sheet_without_its_header_row_is_refused_without_repeating_the_first_row() {
    let (_dir, path) = xlsx(&[(
        "Termine",
        vec![vec![
            S("1"),
            S("02.03.2026"),
            S("10:30"),
            S("Pass"),
            S("Erika Mustermann"),
            S("0171 2345678"),
        ]],
    )]);
    let err = open(&path, &SheetOptions::default(), &fields()).expect_err("refused");
    let message = err.to_string();
    assert!(message.contains(r#""Uhrzeit" (time)"#), "{message}");
    assert!(message.contains("does not look like a header"), "{message}");
    assert!(
        !message.contains("Erika") && !message.contains("2345678"),
        "{message}"
    );
}

#[test]
fn the_header_row_can_sit_below_a_title() {
    let (_dir, path) = xlsx(&[(
        "Termine",
        vec![
            vec![S("Terminliste Bürgeramt")],
            vec![],
            HEADER.into_iter().collect(),
            vec![
                S("1"),
                F(46083.0, "dd.mm.yyyy"),
                S("10:30"),
                S("Pass"),
                S("Erika"),
            ],
        ],
    )]);
    let opts = SheetOptions {
        header_row: 3,
        ..SheetOptions::default()
    };
    let (rows, _) = read(&path, &opts, &fields());
    assert_eq!(rows[0].as_ref().map(|r| r.line), Ok(4));
    let err = open(&path, &SheetOptions::default(), &fields()).expect_err("row 1 is a title");
    assert!(err.to_string().contains("row 1"), "{err}");
    let zero = SheetOptions {
        header_row: 0,
        ..SheetOptions::default()
    };
    assert!(matches!(
        open(&path, &zero, &fields()),
        Err(FormatError::Config { .. })
    ));
}

#[test]
fn a_file_that_is_no_spreadsheet_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("termine.xlsx");
    std::fs::write(&path, "Termin-Nr;Datum\n1;02.03.2026\n").expect("written");
    let err = open(&path, &SheetOptions::default(), &fields()).expect_err("not a zip");
    assert!(matches!(err, FormatError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("termine.xlsx"), "{err}");
    let missing = open(
        &dir.path().join("fehlt.ods"),
        &SheetOptions::default(),
        &fields(),
    );
    assert!(matches!(missing, Err(FormatError::Unreadable { .. })));
}

#[test]
fn the_sheet_options_deserialise_from_toml() {
    let opts: SheetOptions = toml::from_str("sheet = \"Termine\"\nheader_row = 2").expect("valid");
    assert_eq!(
        (opts.sheet.as_deref(), opts.header_row),
        (Some("Termine"), 2)
    );
    let opts: SheetOptions = toml::from_str("").expect("defaults");
    assert_eq!(opts, SheetOptions::default());
    assert!(toml::from_str::<SheetOptions>("tab = \"Termine\"").is_err());
}

#[test]
fn the_reader_can_move_to_a_blocking_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<SheetRecords>();
}

#[test]
fn a_bad_cell_is_named_as_the_name_box_takes_it() {
    let keys: Vec<String> = (0..=16).map(|i| format!("T-{i}")).collect();
    for (sheet, want) in [
        ("Sheet1", "Sheet1!C17"),
        ("Termine 2026", "'Termine 2026'!C17"),
    ] {
        let mut rows: Vec<Vec<C<'_>>> = keys[2..]
            .iter()
            .map(|key| vec![S(key), S("02.03.2026"), S("10:30"), S("Pass"), S("Erika")])
            .collect();
        rows.insert(0, HEADER.into_iter().collect());
        rows.push(vec![
            S("T-17"),
            S("02.03.2026"),
            S("25:00"),
            S("Pass"),
            S("Max"),
        ]);
        rows.push(vec![
            S("T-18"),
            S("02.03.2026"),
            S("11:00"),
            S(""),
            S("Ole"),
        ]);
        let (_dir, path) = xlsx(&[(sheet, rows)]);
        let (rows, _) = read(&path, &SheetOptions::default(), &fields());
        let errors: Vec<(u64, Option<&str>, &str)> = rows
            .iter()
            .filter_map(|row| row.as_ref().err())
            .map(|err| (err.line, err.cell.as_deref(), err.field.as_str()))
            .collect();
        assert_eq!(errors, [(17, Some(want), "Uhrzeit")]);
        assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 16);
    }
    assert_eq!(cell_ref("Termine", 27, 5), "Termine!AB5");
    assert_eq!(cell_ref("2026", 0, 1), "'2026'!A1");
    assert_eq!(cell_ref("Bürger's", 1, 2), "'Bürger''s'!B2");
}

#[test]
fn a_workbook_cut_at_half_its_size_is_refused_as_cut_off() {
    let keys: Vec<String> = (1..=200).map(|i| format!("T-{i}")).collect();
    let mut rows = vec![HEADER.into_iter().chain([S("Telefon")]).collect()];
    rows.extend(
        keys.iter()
            .map(|key| vec![S(key), S("02.03.2026"), S("10:30"), S("Pass"), S("Erika")]),
    );
    let (dir, xlsx_path) = xlsx(&[("Termine", rows)]);
    let ods_path = dir.path().join("termine.ods");
    std::fs::copy(fixture("termine.ods"), &ods_path).expect("copied");
    for (path, opts) in [
        (xlsx_path, SheetOptions::default()),
        (ods_path, named("Termine")),
    ] {
        assert!(open(&path, &opts, &ods_fields()).is_ok(), "whole, it opens");
        let bytes = std::fs::read(&path).expect("written");
        let half = bytes.len() / 2;
        std::fs::write(&path, &bytes[..half]).expect("cut");
        let err = open(&path, &opts, &ods_fields()).expect_err("cut off");
        assert!(matches!(err, FormatError::CutOff { .. }), "{err}");
        let want = format!("{}: looks cut off after {half} bytes: ", path.display());
        assert!(err.to_string().starts_with(&want), "{err}");
    }
}

/// An XLSX written part by part (as `scripts/bench-export.py` writes it, inline strings),
/// with `extra` parts; `rows` are the `<row>` elements of its one sheet, "Termine".
fn xlsx_parts(rows: &str, extra: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
    use std::io::Write;
    const RELS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    let parts = [
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string(),
        ),
        (
            "_rels/.rels",
            format!(r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
        ),
        (
            "xl/workbook.xml",
            format!(r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{RELS}"><sheets><sheet name="Termine" sheetId="1" r:id="rId1"/></sheets></workbook>"#),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            format!(r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#),
        ),
        (
            "xl/worksheets/sheet1.xml",
            format!(r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>"#),
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("export.xlsx");
    let mut zip = zip::ZipWriter::new(File::create(&path).expect("created"));
    let deflated = zip::write::SimpleFileOptions::default();
    for (name, text) in &parts {
        zip.start_file(*name, deflated).expect("part");
        zip.write_all(text.as_bytes()).expect("written");
    }
    for (name, bytes) in extra {
        zip.start_file(*name, deflated).expect("part");
        zip.write_all(bytes).expect("written");
    }
    zip.finish().expect("finished");
    (dir, path)
}

/// The header row and one booking row of [`fields`], `name` in cell E2.
fn inline_rows(name: &str) -> String {
    let cell = |r: &str, t: &str| format!(r#"<c r="{r}" t="inlineStr"><is><t>{t}</t></is></c>"#);
    let header: String = ["A1", "B1", "C1", "D1", "E1"]
        .iter()
        .zip(["Termin-Nr", "Datum", "Uhrzeit", "Dienstleistung", "Name"])
        .map(|(r, t)| cell(r, t))
        .collect();
    let row: String = ["A2", "B2", "C2", "D2", "E2"]
        .iter()
        .zip(["K1", "02.03.2026", "10:30", "Pass", name])
        .map(|(r, t)| cell(r, t))
        .collect();
    format!(r#"<row r="1">{header}</row><row r="2">{row}</row>"#)
}

fn with_limits(limits: Limits) -> ParseContext {
    ParseContext { limits, ..ctx() }
}

#[test]
fn a_part_that_unzips_past_its_limit_is_refused_before_it_is_unzipped() {
    let bomb = vec![0_u8; 8 << 20];
    let (_dir, path) = xlsx_parts(&inline_rows("Erika"), &[("xl/sharedStrings.xml", &bomb)]);
    assert!(
        std::fs::metadata(&path).expect("written").len() < 64 << 10,
        "a small file"
    );
    let limits = Limits {
        max_zip_entry_bytes: crate::import::limits::ByteSize(1 << 20),
        ..Limits::default()
    };
    let opened = open_file(
        &path,
        &SheetOptions::default(),
        &fields(),
        &Formats::default(),
        &with_limits(limits),
    );
    let err = opened.expect_err("refused");
    let want = format!(
        "{}: part xl/sharedStrings.xml: it unzips to 8 MiB, which is over the limit of 1 MiB (limits.max_zip_entry_bytes)",
        path.display()
    );
    assert!(
        matches!(err, FormatError::TooLarge { .. }) && err.to_string().starts_with(&want),
        "{err}"
    );
    let small_total = Limits {
        max_unzipped_bytes: crate::import::limits::ByteSize(4 << 20),
        ..Limits::default()
    };
    let err = open_file(
        &path,
        &SheetOptions::default(),
        &fields(),
        &Formats::default(),
        &with_limits(small_total),
    )
    .expect_err("refused");
    assert!(
        err.to_string().contains("(limits.max_unzipped_bytes)"),
        "{err}"
    );
    let (_dir, fine) = xlsx_parts(&inline_rows("Erika"), &[]);
    let (rows, report) = read(&fine, &SheetOptions::default(), &fields());
    assert_eq!(
        (rows.len(), report.aborted),
        (1, None),
        "within the limits it reads"
    );
}

#[test]
fn a_long_text_in_a_streamed_worksheet_is_found_before_calamine_reads_it() {
    let (_dir, path) = xlsx_parts(&inline_rows(&"x".repeat(100_000)), &[]);
    let err = open(&path, &SheetOptions::default(), &fields()).expect_err("refused");
    let want = format!(
        "{}: part xl/worksheets/sheet1.xml, cell E2: a text is over the limit of 64 KiB (limits.max_cell_bytes)",
        path.display()
    );
    assert!(
        matches!(err, FormatError::TooLarge { .. }) && err.to_string().starts_with(&want),
        "{err}"
    );
}

#[test]
fn a_long_shared_string_refuses_the_sheet_at_its_cell() {
    // Excel keeps a text to 32,767 characters: a smaller limit stands in for the default.
    let long = "y".repeat(20_000);
    let rows = vec![
        HEADER.into_iter().collect(),
        vec![S("K1"), S("02.03.2026"), S("10:30"), S("Pass"), S("Erika")],
        vec![S("K2"), S("02.03.2026"), S("11:30"), S(&long), S("Max")],
    ];
    let (_dir, path) = xlsx(&[("Termine", rows)]);
    let limits = Limits {
        max_cell_bytes: crate::import::limits::ByteSize(16 << 10),
        ..Limits::default()
    };
    let ctx = with_limits(limits);
    let mut records = open_file(
        &path,
        &SheetOptions::default(),
        &fields(),
        &Formats::default(),
        &ctx,
    )
    .expect("opens");
    let rows: Vec<_> = records.by_ref().collect();
    let aborted = records.report().aborted.clone().expect("refused whole");
    assert!(
        aborted
            .starts_with("Termine!D3: a cell is over the limit of 16 KiB (limits.max_cell_bytes)"),
        "{aborted}"
    );
    assert!(rows.last().is_some_and(Result::is_err));
}

#[test]
fn a_part_that_unzips_to_more_than_its_directory_says_stops_at_the_stated_size() {
    // The directory says 100 bytes; the part holds 4 MiB of XML comment. The zip crate,
    // under calamine too, stops at the stated size.
    let mut lying = b"<?xml version=\"1.0\"?><sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"0\" uniqueCount=\"0\"><!--".to_vec();
    lying.extend(std::iter::repeat_n(b'-', 4 << 20));
    lying.extend_from_slice(b"--></sst>");
    let (_dir, path) = xlsx_parts(&inline_rows("Erika"), &[("xl/sharedStrings.xml", &lying)]);
    let mut bytes = std::fs::read(&path).expect("written");
    let name = b"xl/sharedStrings.xml";
    let at = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x01\x02")
        .map(|(at, _)| at)
        .find(|at| bytes[at + 46..].starts_with(name))
        .expect("its directory record");
    bytes[at + 24..at + 28].copy_from_slice(&100_u32.to_le_bytes());
    std::fs::write(&path, &bytes).expect("patched");
    let err = open(&path, &SheetOptions::default(), &fields()).expect_err("refused");
    assert!(
        err.to_string()
            .contains("larger than its declared uncompressed size"),
        "{err}"
    );
}

/// Where the benchmark workbook lives: `ABSAGE_SHEET_BENCH`, or the temp dir.
fn bench_path() -> PathBuf {
    std::env::var_os("ABSAGE_SHEET_BENCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("absage-million.xlsx"))
}

/// Writes 1,000,000 bookings the way Excel stores them (shared strings, date and time
/// cells). Run alone first: `cargo test --release -- --ignored --exact
/// import::sheet::tests::generate_a_million_row_workbook`.
#[test]
#[ignore = "writes a 1,000,000-row workbook for the memory benchmark"]
fn generate_a_million_row_workbook() {
    let mut book = Workbook::new();
    let (date, time) = (
        Format::new().set_num_format("dd.mm.yyyy"),
        Format::new().set_num_format("hh:mm"),
    );
    let sheet = book.add_worksheet_with_low_memory().expect("worksheet");
    sheet.set_name("Termine").expect("name");
    let header = [
        "Termin-Nr",
        "Datum",
        "Uhrzeit",
        "Dienstleistung",
        "Name",
        "Telefon",
        "E-Mail",
    ];
    for (c, text) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *text).expect("header");
    }
    let services = [
        "Personalausweis",
        "Reisepass",
        "Meldebescheinigung",
        "Zulassung",
    ];
    for i in 1..=1_000_000_u32 {
        let slot = f64::from(8 * 4 + i % 36) / 96.0;
        sheet.write_string(i, 0, format!("T-{i:07}")).expect("key");
        sheet
            .write_number_with_format(i, 1, f64::from(46083 + i % 250), &date)
            .expect("date");
        sheet
            .write_number_with_format(i, 2, slot, &time)
            .expect("time");
        sheet
            .write_string(i, 3, services[i as usize % 4])
            .expect("service");
        sheet
            .write_string(i, 4, format!("Person {i}"))
            .expect("name");
        sheet
            .write_string(i, 5, format!("0171 {:07}", i))
            .expect("phone");
        sheet
            .write_string(i, 6, format!("person{i}@example.org"))
            .expect("email");
    }
    book.save(bench_path()).expect("saved");
}

/// Reads the benchmark workbook and prints rows/s and the process's peak memory.
#[test]
#[ignore = "needs the workbook of generate_a_million_row_workbook; prints figures"]
fn a_million_row_workbook_is_read_with_rows_per_second_and_peak_memory() {
    let peak = || {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    };
    let before = peak();
    let started = std::time::Instant::now();
    let fields = FieldMapping {
        phone: Some("Telefon".into()),
        email: Some("E-Mail".into()),
        ..fields()
    };
    let opts = named("Termine");
    let mut records = open(&bench_path(), &opts, &fields).expect("opens");
    let good = records.by_ref().filter(Result::is_ok).count();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} rows in {seconds:.1} s = {:.0} rows/s; peak before {before}, after {}",
        records.report().rows,
        records.report().rows as f64 / seconds,
        peak()
    );
    assert_eq!((good, records.report().rows), (1_000_000, 1_000_000));
}
