//! Fuzzes the CSV/TSV reader: any bytes, read with every encoding and the usual delimiters,
//! must either be refused whole or yield rows and rejections to the end, never panic or hang.

#![no_main]

use std::io::Cursor;

use absage::import::csv::{CsvOptions, Encoding, open_reader};
use absage::import::mapping::{FieldMapping, Formats, ParseContext};
use libfuzzer_sys::fuzz_target;

/// Every booking field mapped, under the German headers a Terminvergabe export uses.
fn german() -> FieldMapping {
    let some = |s: &str| Some(s.to_string());
    FieldMapping {
        key: "Termin-Nr".into(),
        date: "Datum".into(),
        time: some("Uhrzeit"),
        end: some("Ende"),
        duration: some("Dauer"),
        service: "Dienstleistung".into(),
        location: Some("Standort".into()),
        name: "Name".into(),
        email: Some("E-Mail".into()),
        phone: Some("Telefon".into()),
        language: some("Sprache"),
        status: some("Status"),
    }
}

/// Only the required fields; the date column holds date and time.
fn minimal() -> FieldMapping {
    FieldMapping::default()
}

fn ctx() -> ParseContext {
    ParseContext {
        tz: chrono_tz::Europe::Berlin,
        default_language: None,
        limits: Default::default(),
    }
}

fn drain(bytes: &[u8], delimiter: char, encoding: Encoding, fields: &FieldMapping) {
    let opts = CsvOptions {
        delimiter,
        encoding,
        ..CsvOptions::default()
    };
    let input = Cursor::new(bytes.to_vec());
    let Ok(mut records) = open_reader(
        input,
        "fuzz.csv",
        &opts,
        fields,
        &Formats::default(),
        &ctx(),
    ) else {
        return;
    };
    for row in records.by_ref() {
        // Formatting exercises the messages built from the row (cut values, line numbers).
        if let Err(err) = row {
            let _ = err.to_string();
        }
    }
    let _ = records.report();
}

fuzz_target!(|bytes: &[u8]| {
    for encoding in [Encoding::Auto, Encoding::Utf8, Encoding::Windows1252] {
        for delimiter in [';', ','] {
            drain(bytes, delimiter, encoding, &german());
        }
    }
    drain(bytes, '\t', Encoding::Auto, &german());
    drain(bytes, ',', Encoding::Auto, &minimal());
});
