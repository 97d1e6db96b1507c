//! Tests of the JSON reader: layouts, paths, positions, refusals, cut-off files, limits.

use super::*;
use crate::domain::booking::BookingRecord;
use crate::import::mapping::Field;
use chrono::{DateTime, TimeZone, Utc};
use serde::de::IgnoredAny;
use serde_json::json;
use std::fs::File;

fn fields() -> FieldMapping {
    let some = |s: &str| Some(s.to_string());
    FieldMapping {
        key: "id".into(),
        date: "start".into(),
        end: some("end"),
        service: "services.0.name".into(),
        name: "customer.name".into(),
        email: Some("customer.email".into()),
        phone: Some("attendees[0].phone".into()),
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

fn record(id: Value, start: Value) -> Value {
    json!({
        "id": id,
        "start": start,
        "services": [{"name": "Pass"}],
        "customer": {"name": "Erika Mustermann", "email": "erika@example.org"},
        "attendees": [{"phone": 491711234567_u64}],
    })
}

fn ndjson(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

fn open_with(text: &str, opts: &JsonOptions) -> Result<JsonRecords, JsonFormatError> {
    let input = io::Cursor::new(text.as_bytes().to_vec());
    let formats = Formats::default();
    open_reader(input, "termine.json", opts, &fields(), &formats, &ctx())
}

fn read_with(text: &str, opts: &JsonOptions) -> (Vec<Result<ParsedRow, RowError>>, ReadReport) {
    let mut records = open_with(text, opts).unwrap_or_else(|e| panic!("refused: {e}"));
    let rows: Vec<_> = records.by_ref().collect();
    (rows, records.report().clone())
}

fn read(text: &str) -> (Vec<Result<ParsedRow, RowError>>, ReadReport) {
    read_with(text, &JsonOptions::default())
}

fn ok(row: &Result<ParsedRow, RowError>) -> &BookingRecord {
    row.as_ref()
        .map(|parsed| &parsed.record)
        .unwrap_or_else(|err| panic!("record refused: {err}"))
}

fn keys(rows: &[Result<ParsedRow, RowError>]) -> Vec<&str> {
    rows.iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.record.key.as_str())
        .collect()
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("valid")
}

#[test]
fn ndjson_is_read_line_by_line_through_nested_paths() {
    let text = ndjson(&[
        record(json!(1234), json!("2026-03-02T10:30:00")),
        record(json!("B-7"), json!("02.03.2026 11:00")),
    ]);
    let (rows, report) = read(&format!("\n{text}\n"));
    let first = ok(&rows[0]);
    assert_eq!(first.key, "1234", "a numeric id becomes text");
    assert_eq!(first.starts_at, utc(2026, 3, 2, 9, 30));
    assert_eq!(first.service, "Pass");
    assert_eq!(first.name, "Erika Mustermann");
    assert_eq!(
        first.email.as_ref().map(|e| e.as_str()),
        Some("erika@example.org")
    );
    let phone = first.phone.as_ref().expect("a numeric phone is read");
    assert_eq!(phone.e164.as_deref(), Some("+491711234567"));
    assert_eq!(rows[1].as_ref().map(|r| r.line), Ok(3), "physical line");
    assert_eq!((report.rows, report.blank_rows), (2, 2));
}

#[test]
fn a_top_level_array_is_streamed_with_record_indices() {
    let text = json!([
        record(json!(1), json!("2026-03-02T10:30:00")),
        record(json!(2), json!("2026-03-02T10:45:00")),
        record(json!(3), json!("2026-03-02T11:00:00")),
    ]);
    let pretty = serde_json::to_string_pretty(&text).expect("printable");
    let (rows, report) = read(&pretty);
    assert_eq!(keys(&rows), ["1", "2", "3"]);
    let lines: Vec<u64> = rows.iter().flatten().map(|r| r.line).collect();
    assert_eq!(lines, [1, 2, 3]);
    assert_eq!((report.rows, report.aborted), (3, None));
}

#[test]
fn records_under_a_nested_key_are_found_and_their_siblings_skipped() {
    let text = json!({
        "meta": {"appointments": "not these", "count": 2},
        "data": {
            "page": 1,
            "appointments": [
                record(json!(1), json!("2026-03-02T10:30:00")),
                record(json!(2), json!("2026-03-02T10:45:00")),
            ],
            "more": [1, 2, 3],
        },
    });
    let opts = JsonOptions {
        records_path: Some("data.appointments".into()),
        ..JsonOptions::default()
    };
    let (rows, _) = read_with(&text.to_string(), &opts);
    assert_eq!(keys(&rows), ["1", "2"]);
}

#[test]
fn a_records_path_that_leads_nowhere_is_refused_naming_the_keys() {
    let text = json!({"data": {"items": [], "total": 0}}).to_string();
    let opts = JsonOptions {
        records_path: Some("data.appointments".into()),
        ..JsonOptions::default()
    };
    let err = open_with(&text, &opts).expect_err("refused");
    let message = err.to_string();
    assert!(
        matches!(err, JsonFormatError::NoRecords { .. }),
        "{message}"
    );
    assert!(message.starts_with("termine.json: "), "{message}");
    assert!(
        message.contains(r#""data" has no key "appointments""#),
        "{message}"
    );
    assert!(message.contains(r#""items", "total""#), "{message}");
    let err = open_with(
        &text,
        &JsonOptions {
            layout: Layout::Array,
            ..JsonOptions::default()
        },
    )
    .expect_err("an object, not an array");
    assert!(err.to_string().contains("records_path missing"), "{err}");
}

#[test]
fn numbers_become_unix_times_when_an_epoch_is_configured() {
    let end = |r: Value, end: Value| {
        let mut r = r;
        r["end"] = end;
        r
    };
    let seconds = 1_772_443_800_i64; // 2026-03-02 09:30 UTC
    let text = ndjson(&[
        end(record(json!(1), json!(seconds)), json!(seconds + 1200)),
        record(json!(2), json!(seconds.to_string())),
        record(json!(3), json!("2026-03-02T10:30:00")),
        record(json!(4), json!(seconds * 1000)),
    ]);
    let opts = |epoch| JsonOptions {
        epoch: Some(epoch),
        ..JsonOptions::default()
    };
    let (rows, _) = read_with(&text, &opts(Epoch::Seconds));
    assert_eq!(ok(&rows[0]).starts_at, utc(2026, 3, 2, 9, 30));
    assert_eq!(ok(&rows[0]).ends_at, utc(2026, 3, 2, 9, 50));
    assert_eq!(
        ok(&rows[1]).starts_at,
        utc(2026, 3, 2, 9, 30),
        "digits in a string"
    );
    assert_eq!(
        ok(&rows[2]).starts_at,
        utc(2026, 3, 2, 9, 30),
        "text still works"
    );
    let err = rows[3].as_ref().expect_err("milliseconds read as seconds");
    assert_eq!((err.line, err.target), (4, Some(Field::Date)));
    assert!(
        err.reason.contains(r#"is json.epoch "milliseconds"?"#),
        "{err}"
    );
    let (rows, _) = read_with(&text, &opts(Epoch::Milliseconds));
    assert_eq!(ok(&rows[3]).starts_at, utc(2026, 3, 2, 9, 30));
    assert!(rows[0].is_err(), "seconds read as milliseconds are 1970");
}

#[test]
fn bad_records_are_rejected_with_index_and_field_while_the_rest_import() {
    let mut no_key = record(json!(null), json!("2026-03-02T10:30:00"));
    no_key["customer"]["name"] = json!({"first": "Erika"});
    let text = json!([
        record(json!(1), json!("2026-03-02T10:30:00")),
        record(json!(2), json!("31.02.2026 10:30")),
        "not a record",
        no_key,
        record(json!(5), json!("2026-03-02T11:00:00")),
    ]);
    let (rows, report) = read(&text.to_string());
    let errors: Vec<(u64, String, Option<Field>)> = rows
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| (e.line, e.field.clone(), e.target))
        .collect();
    assert_eq!(
        errors,
        [
            (2, "start".to_string(), Some(Field::Date)),
            (3, String::new(), None),
            (4, "id".to_string(), Some(Field::Key)),
        ]
    );
    assert_eq!(keys(&rows), ["1", "5"]);
    assert_eq!((report.rows, report.aborted), (5, None));
    let broken = rows[1].as_ref().expect_err("bad date");
    assert_eq!(
        broken.key.as_deref(),
        Some("2"),
        "kept, not taken for removed"
    );
}

#[test]
fn a_syntax_error_mid_file_aborts_with_line_and_column() {
    let good = record(json!(1), json!("2026-03-02T10:30:00")).to_string();
    let array = format!("[\n{good},\n{good},\n{{\"id\": 3,, }}\n]");
    let lines = format!("{good}\n{good}\n{{\"id\": 3\n{good}\n");
    for (text, at, mark) in [
        (array, 3, "key must be a string at line 4 column 10"),
        (lines, 3, "EOF while parsing an object at line 3 column 8"),
    ] {
        let mut records = open_with(&text, &JsonOptions::default()).expect("starts well");
        let rows: Vec<_> = records.by_ref().collect();
        assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 2);
        let last = rows
            .last()
            .and_then(|r| r.as_ref().err())
            .expect("error last");
        assert_eq!((last.line, last.target), (at, None), "{last}");
        assert!(last.reason.contains(mark), "{last}");
        assert!(records.report().aborted.is_some(), "must not be applied");
        assert!(records.next().is_none(), "stays finished");
    }
}

#[test]
fn a_truncated_array_aborts() {
    let good = record(json!(1), json!("2026-03-02T10:30:00")).to_string();
    let (rows, report) = read(&format!("[{good}, {good}"));
    assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 2);
    assert!(report.aborted.is_some_and(|why| why.contains("EOF")));
}

/// Two records, then the third cut in the middle of the citizen's name.
fn cut_in_third(text: &str) -> &str {
    let third = text
        .match_indices("Erika Must")
        .nth(2)
        .expect("three records");
    &text[..third.0 + 10]
}

#[test]
fn a_file_cut_inside_its_last_record_looks_cut_off_at_its_position() {
    let records: Vec<Value> = (1..=3)
        .map(|id| record(json!(id), json!("2026-03-02T10:30:00")))
        .collect();
    let lines = ndjson(&records);
    let pretty = serde_json::to_string_pretty(&records).expect("printable");
    let line = pretty[..cut_in_third(&pretty).len()].lines().count();
    for (text, position, mark) in [
        (
            lines.as_str(),
            3,
            "looks cut off at line 3, column".to_string(),
        ),
        (
            pretty.as_str(),
            3,
            format!("looks cut off at line {line}, column "),
        ),
    ] {
        let (rows, report) = read(cut_in_third(text));
        assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 2);
        let last = rows.last().and_then(|r| r.as_ref().err()).expect("error");
        assert_eq!(last.line, position, "{last}");
        assert!(last.reason.starts_with(&mark), "{last}");
        if text == pretty {
            assert!(last.reason.contains(", after record 2: "), "{last}");
        }
        assert!(!last.reason.contains("Must"), "{last}");
        assert_eq!(report.aborted.as_ref(), Some(&last.reason));
    }
    let first = cut_in_third(&lines).lines().next().expect("a line");
    let err = open_with(&first[..first.len() - 20], &JsonOptions::default())
        .expect_err("cut in its first record");
    assert!(matches!(err, JsonFormatError::CutOff { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("termine.json: looks cut off at line 1, column"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_json_is_refused_with_one_message() {
    let csv = "Termin-Nr;Datum;Name\n1;02.03.2026;Erika Mustermann\n";
    for layout in [Layout::Auto, Layout::Ndjson, Layout::Array] {
        let opts = JsonOptions {
            layout,
            ..JsonOptions::default()
        };
        let err = open_with(csv, &opts).expect_err("not JSON");
        let message = err.to_string();
        assert!(matches!(err, JsonFormatError::NotJson { .. }), "{message}");
        assert!(message.starts_with("termine.json: is not "), "{message}");
        assert!(!message.contains("Erika"), "{message}");
    }
    let err = open_with(
        "[1, 2",
        &JsonOptions {
            layout: Layout::Ndjson,
            ..JsonOptions::default()
        },
    );
    let message = err.expect_err("an array read as NDJSON").to_string();
    assert!(message.ends_with(r#"is json.layout "array"?"#), "{message}");
}

#[test]
fn an_empty_file_is_refused_but_an_empty_array_is_an_empty_export() {
    for text in ["", " \n\n ", "\u{feff}"] {
        let err = open_with(text, &JsonOptions::default()).expect_err("empty");
        assert!(matches!(err, JsonFormatError::Empty { .. }), "{err}");
    }
    let (rows, report) = read(" [ ] ");
    assert!(rows.is_empty() && report.aborted.is_none());
}

#[test]
fn a_first_record_without_any_mapped_path_is_refused_naming_paths_not_values() {
    let text = ndjson(&[json!({"Nr": 1, "Kunde": "Erika Mustermann", "Tel": "0171 2345678"})]);
    let err = open_with(&text, &JsonOptions::default()).expect_err("refused");
    let message = err.to_string();
    assert!(
        message.contains(r#"first record (line 1) has none of the mapped paths "id" (key)"#),
        "{message}"
    );
    assert!(
        message.contains(r#""attendees[0].phone" (phone)"#),
        "{message}"
    );
    let keys = message.split_once("its keys are ").map_or("", |(_, k)| k);
    for key in [r#""Kunde""#, r#""Nr""#, r#""Tel""#] {
        assert!(keys.contains(key), "{message}");
    }
    assert!(
        !message.contains("Erika") && !message.contains("2345678"),
        "{message}"
    );
}

#[test]
fn personal_data_never_appears_in_row_messages() {
    let mut bad_email = record(json!(1), json!("2026-03-02T10:30:00"));
    bad_email["customer"]["email"] = json!("erika.mustermann-at-example.org");
    let mut bad_phone = record(json!(2), json!("2026-03-02T10:30:00"));
    bad_phone["attendees"][0]["phone"] = json!(1712345678901234567_u64);
    let mut nested_name = record(json!(3), json!("2026-03-02T10:30:00"));
    nested_name["customer"]["name"] = json!(["Erika", "Mustermann"]);
    let (rows, _) = read(&ndjson(&[bad_email, bad_phone, nested_name]));
    // Unusable contact data costs the channel, not the booking; a name that is no text
    // still rejects the row.
    let ok: Vec<&BookingRecord> = rows
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| &r.record)
        .collect();
    assert_eq!(ok.len(), 2);
    assert!(ok[0].email.is_none() && ok[0].email_problem.is_some());
    assert!(ok[1].phone.is_none() && ok[1].phone_problem.is_some());
    let targets: Vec<_> = rows
        .iter()
        .filter_map(|r| r.as_ref().err().and_then(|e| e.target))
        .collect();
    assert_eq!(targets, [Field::Name]);
    let problems = ok
        .iter()
        .flat_map(|r| [r.email_problem.clone(), r.phone_problem.clone()])
        .flatten();
    let errors = rows
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| e.to_string());
    for message in problems.chain(errors) {
        for secret in ["mustermann", "Erika", "12345678"] {
            assert!(!message.contains(secret), "{message}");
        }
    }
}

#[test]
fn a_path_may_be_a_flat_key_with_dots_and_values_may_be_booleans() {
    let fields = FieldMapping {
        key: "Termin.Nr".into(),
        date: "start".into(),
        status: Some("cancelled".into()),
        ..FieldMapping::default()
    };
    let formats = Formats {
        cancelled_values: vec!["true".into()],
        ..Formats::default()
    };
    let line = json!({"Termin.Nr": 7, "start": "2026-03-02T10:30:00", "cancelled": true});
    let input = io::Cursor::new(format!("{line}\n").into_bytes());
    let opts = JsonOptions::default();
    let mut records =
        open_reader(input, "t.ndjson", &opts, &fields, &formats, &ctx()).expect("opens");
    let row = records.next().expect("one record");
    let record = ok(&row);
    assert_eq!(record.key, "7");
    assert_eq!(
        record.status,
        crate::domain::booking::BookingStatus::Cancelled
    );
}

#[test]
fn the_options_deserialise_from_toml_and_bad_ones_are_config_errors() {
    let opts: JsonOptions = toml::from_str(
        "layout = \"array\"\nrecords_path = \"data.appointments\"\nepoch = \"milliseconds\"",
    )
    .expect("valid");
    assert_eq!(
        (opts.layout, opts.records_path.as_deref(), opts.epoch),
        (
            Layout::Array,
            Some("data.appointments"),
            Some(Epoch::Milliseconds)
        )
    );
    assert_eq!(
        toml::from_str::<JsonOptions>("").expect("empty"),
        JsonOptions::default()
    );
    assert!(toml::from_str::<JsonOptions>("layout = \"jsonl\"").is_err());
    assert!(toml::from_str::<JsonOptions>("record_path = \"x\"").is_err());
    let opts = JsonOptions {
        layout: Layout::Ndjson,
        records_path: Some("data".into()),
        ..JsonOptions::default()
    };
    let err = open_with("{}", &opts).expect_err("ndjson has no records path");
    assert!(
        matches!(err, JsonFormatError::Format(FormatError::Config { .. })),
        "{err}"
    );
    let bad_path = FieldMapping {
        email: Some("customer..email".into()),
        ..fields()
    };
    let input = io::Cursor::new(b"{}".to_vec());
    let err = open_reader(
        input,
        "t",
        &JsonOptions::default(),
        &bad_path,
        &Formats::default(),
        &ctx(),
    )
    .expect_err("bad path");
    assert!(err.to_string().contains("fields.email"), "{err}");
}

#[test]
fn a_file_on_disk_is_read_and_a_missing_one_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("termine.ndjson");
    let text = ndjson(&[record(json!(1), json!("2026-03-02T10:30:00"))]);
    std::fs::write(&path, format!("\u{feff}{text}")).expect("written");
    let (opts, formats) = (JsonOptions::default(), Formats::default());
    let records = open_file(&path, &opts, &fields(), &formats, &ctx()).expect("opens");
    assert_eq!(records.filter(Result::is_ok).count(), 1, "a BOM is dropped");
    let missing = dir.path().join("fehlt.json");
    let err = open_file(&missing, &opts, &fields(), &formats, &ctx()).expect_err("missing");
    assert!(matches!(
        err,
        JsonFormatError::Format(FormatError::Unreadable { .. })
    ));
    assert!(err.to_string().contains("fehlt.json"), "{err}");
}

#[test]
fn the_reader_can_move_to_a_blocking_thread_and_be_dropped_half_read() {
    fn assert_send<T: Send>() {}
    assert_send::<JsonRecords>();
    let one = record(json!(1), json!("2026-03-02T10:30:00")).to_string();
    let many = vec![one; 2 * stream::AHEAD];
    let mut records =
        open_with(&format!("[{}]", many.join(",")), &JsonOptions::default()).expect("opens");
    assert!(records.next().is_some_and(|r| r.is_ok()));
    drop(records);
}

/// Peak resident memory of this process so far, in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Writes `n` generated records as NDJSON or as one array, without holding them.
fn generate(path: &Path, n: u64, array: bool) {
    use std::io::Write;
    let file = File::create(path).expect("created");
    let mut out = io::BufWriter::new(file);
    let (open, sep, close) = if array {
        ("[\n", ",\n", "\n]\n")
    } else {
        ("", "\n", "\n")
    };
    out.write_all(open.as_bytes()).expect("written");
    for i in 0..n {
        let day = 1 + i % 28;
        let line = json!({
            "id": i,
            "start": format!("2026-03-{day:02}T{:02}:{:02}:00", 8 + i % 9, (i % 4) * 15),
            "services": [{"name": "Personalausweis"}],
            "customer": {"name": format!("Person {i}"), "email": format!("p{i}@example.org")},
            "attendees": [{"phone": 491_711_000_000_u64 + i}],
        });
        if i > 0 {
            out.write_all(sep.as_bytes()).expect("written");
        }
        serde_json::to_writer(&mut out, &line).expect("written");
    }
    out.write_all(close.as_bytes()).expect("written");
    out.flush().expect("flushed");
}

/// Seconds serde_json alone needs for the file, the yardstick: NDJSON lines into values;
/// an array only tokenised (building all values at once would not fit the point).
fn parse_only(path: &Path, array: bool) -> f64 {
    let started = std::time::Instant::now();
    let input = BufReader::new(File::open(path).expect("exists"));
    if array {
        serde_json::from_reader::<_, IgnoredAny>(input).expect("valid");
    } else {
        let count = input
            .lines()
            .filter(|l| {
                let line = l.as_deref().expect("read");
                serde_json::from_str::<Value>(line).is_ok()
            })
            .count();
        assert_eq!(count, 1_000_000);
    }
    started.elapsed().as_secs_f64()
}

#[test]
#[ignore = "release benchmark: cargo test --release -- --ignored --nocapture a_million"]
fn a_million_records_stream_in_bounded_memory() {
    const N: u64 = 1_000_000;
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, array) in [("million.ndjson", false), ("million.json", true)] {
        let path = dir.path().join(name);
        generate(&path, N, array);
        let size = std::fs::metadata(&path).expect("exists").len();
        let before = peak_kib();
        let started = std::time::Instant::now();
        let (opts, formats) = (JsonOptions::default(), Formats::default());
        let mut records = open_file(&path, &opts, &fields(), &formats, &ctx()).expect("opens");
        let imported = records.by_ref().filter(Result::is_ok).count() as u64;
        let seconds = started.elapsed().as_secs_f64();
        let grown_mib = (peak_kib() - before) / 1024;
        let yardstick = parse_only(&path, array);
        println!(
            "{name}: {} MiB, {imported} records in {seconds:.2} s = {:.0} rows/s \
             (yardstick, serde_json alone: {:.0}/s); peak memory grew by \
             {grown_mib} MiB",
            size / (1 << 20),
            imported as f64 / seconds,
            N as f64 / yardstick,
        );
        assert_eq!((imported, records.report().rows), (N, N));
        assert!(grown_mib < 64, "memory grew by {grown_mib} MiB");
        std::fs::remove_file(&path).expect("removed");
    }
}

/// Counts the bytes taken from the file.
struct Counted(
    io::Cursor<Vec<u8>>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
);

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads `text` to its end or its refusal: the rows, the refusal, the bytes taken.
fn read_counted(text: String, opts: &JsonOptions) -> (usize, Option<String>, usize) {
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let input = Counted(io::Cursor::new(text.into_bytes()), taken.clone());
    let formats = Formats::default();
    let opened = open_reader(input, "termine.json", opts, &fields(), &formats, &ctx());
    let (rows, refusal) = match opened {
        Ok(mut records) => {
            let rows = records.by_ref().filter(Result::is_ok).count();
            (rows, records.report().aborted.clone())
        }
        Err(e) => (0, Some(e.to_string())),
    };
    (
        rows,
        refusal,
        taken.load(std::sync::atomic::Ordering::Relaxed),
    )
}

/// A record of `n` bytes of JSON: many small values, no one of them long.
fn padded(id: u64, n: usize) -> Value {
    let mut r = record(json!(id), json!("2026-03-02T10:30:00"));
    r["padding"] = json!(vec!["abcdefgh"; n / 11]);
    r
}

#[test]
fn an_array_record_over_the_record_limit_stops_reading_there() {
    let records = [padded(1, 100), padded(2, 5 << 20), padded(3, 100)];
    let text = serde_json::to_string(&records).expect("json");
    let (rows, refusal, taken) = read_counted(text, &JsonOptions::default());
    let refusal = refusal.expect("refused");
    assert_eq!(rows, 1, "{refusal}");
    assert!(
        refusal
            .starts_with("record 2: a record is over the limit of 1 MiB (limits.max_record_bytes)"),
        "{refusal}"
    );
    assert!(
        taken < 2 << 20,
        "reading stopped early: {taken} bytes of 5 MiB"
    );
}

#[test]
fn an_ndjson_line_over_the_limit_and_a_value_over_the_cell_limit_are_refused() {
    let lines = ndjson(&[padded(1, 100), padded(2, 5 << 20), padded(3, 100)]);
    let (rows, refusal, taken) = read_counted(lines, &JsonOptions::default());
    let refusal = refusal.expect("refused");
    assert_eq!(rows, 1, "{refusal}");
    assert!(
        refusal.starts_with("line 2: a line is over the limit of 1 MiB (limits.max_line_bytes)"),
        "{refusal}"
    );
    assert!(taken < 2 << 20, "reading stopped early: {taken} bytes");
    let mut long = record(json!(2), json!("2026-03-02T10:30:00"));
    long["customer"]["name"] = json!("x".repeat(100 << 10));
    let text = ndjson(&[record(json!(1), json!("2026-03-02T10:30:00")), long]);
    let (_, refusal, _) = read_counted(text, &JsonOptions::default());
    let refusal = refusal.expect("refused");
    assert!(
        refusal.starts_with("line 2: a value is over the limit of 64 KiB (limits.max_cell_bytes)"),
        "{refusal}"
    );
}

#[test]
fn a_first_record_over_the_limit_refuses_the_file_as_too_large() {
    let text = serde_json::to_string(&[padded(1, 2 << 20)]).expect("json");
    let (_, refusal, _) = read_counted(text, &JsonOptions::default());
    let refusal = refusal.expect("refused");
    assert!(
        refusal.starts_with("termine.json: record 1: a record is over the limit"),
        "{refusal}"
    );
    let key = format!("{{\"{}\": 1, \"data\": []}}", "k".repeat(2 << 20));
    let opts = JsonOptions {
        records_path: Some("data".into()),
        ..JsonOptions::default()
    };
    let (_, refusal, _) = read_counted(key, &opts);
    let refusal = refusal.expect("refused");
    assert!(
        refusal.contains("before the records: an object key is over the limit"),
        "{refusal}"
    );
}
