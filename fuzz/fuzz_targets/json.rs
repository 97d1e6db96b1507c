//! Fuzzes the JSON/NDJSON reader in each layout and epoch setting: any bytes must either be
//! refused whole or yield records and rejections to the end, never panic or hang.

#![no_main]

use std::io::Cursor;

use absage::import::json::{Epoch, JsonOptions, Layout, open_reader};
use absage::import::mapping::{FieldMapping, Formats, ParseContext};
use libfuzzer_sys::fuzz_target;

/// Nested paths, list indexes in both spellings, and every optional field.
fn fields() -> FieldMapping {
    let some = |s: &str| Some(s.to_string());
    FieldMapping {
        key: "id".into(),
        date: "start".into(),
        time: None,
        end: some("end"),
        duration: some("duration"),
        service: "services.0.name".into(),
        location: Some("office.name".into()),
        name: "customer.name".into(),
        email: Some("customer.email".into()),
        phone: Some("attendees[0].phone".into()),
        language: some("customer.lang"),
        status: some("status"),
    }
}

fn ctx() -> ParseContext {
    ParseContext {
        tz: chrono_tz::Europe::Berlin,
        default_language: None,
        limits: Default::default(),
    }
}

fn drain(bytes: &[u8], opts: &JsonOptions) {
    let input = Cursor::new(bytes.to_vec());
    let formats = Formats::default();
    let Ok(mut records) = open_reader(input, "fuzz.json", opts, &fields(), &formats, &ctx()) else {
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
    let variants = [
        (Layout::Auto, None, None),
        (Layout::Ndjson, None, Some(Epoch::Seconds)),
        (Layout::Array, None, Some(Epoch::Milliseconds)),
        (Layout::Auto, Some("data.appointments"), None),
    ];
    for (layout, records_path, epoch) in variants {
        let opts = JsonOptions {
            layout,
            records_path: records_path.map(str::to_string),
            epoch,
        };
        drain(bytes, &opts);
    }
});
