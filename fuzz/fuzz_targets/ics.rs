//! Fuzzes the iCalendar reader (both passes, recurrence expansion, attendee selection): any
//! bytes must either be refused whole or yield bookings and rejections to the end, never
//! panic or hang. The import time is fixed so that a finding reproduces.

#![no_main]

use std::io::Cursor;

use absage::import::ics::{AllDay, IcsOptions, open_reader_at};
use absage::import::mapping::{FieldMapping, Formats, ParseContext};
use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

/// The mapping of the ics tests: values, a parameter, and a labelled description line.
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

/// Every fixed field spelled out, the phone taken from the description.
fn full_fields() -> FieldMapping {
    let some = |s: &str| Some(s.to_string());
    FieldMapping {
        duration: some("DURATION"),
        status: some("STATUS"),
        phone: Some("DESCRIPTION:Telefon".into()),
        language: some("X-LANGUAGE"),
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

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("a valid instant")
}

fn drain(bytes: &[u8], opts: &IcsOptions, fields: &FieldMapping) {
    let input = Cursor::new(bytes.to_vec());
    let formats = Formats::default();
    let opened = open_reader_at(input, "fuzz.ics", opts, fields, &formats, &ctx(), now());
    let Ok(mut records) = opened else {
        return;
    };
    for row in records.by_ref() {
        if let Err(err) = row {
            let _ = err.to_string();
        }
    }
    let _ = records.report();
}

fuzz_target!(|bytes: &[u8]| {
    drain(bytes, &IcsOptions::default(), &fields());
    let wide = IcsOptions {
        recurrence_horizon_days: 3660,
        all_day: AllDay::Skip,
    };
    drain(bytes, &wide, &full_fields());
});
