//! Fuzzes the field mapping: one row of cells, parsed with a mapping and formats chosen by
//! the input, must become a booking or a rejection, never a panic.
//!
//! Input layout: byte 0 chooses the mapping and context, byte 1 the formats, the rest is the
//! row, its cells separated by `|` in the order of [`Field::ALL`] (key, date, time, end,
//! duration, service, location, name, email, phone, language, status). A cell that is not
//! UTF-8 is reported by the row as unreadable, as the CSV reader does in strict UTF-8 mode.

#![no_main]

use std::borrow::Cow;

use absage::domain::language::Language;
use absage::import::mapping::{Field, FieldMapping, Formats, ParseContext, RowParser, RowSource};
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;
use phonenumber::country;

struct Row<'a> {
    fields: &'a FieldMapping,
    cells: Vec<&'a [u8]>,
}

impl RowSource for Row<'_> {
    fn text(&self, field: Field) -> Result<Option<Cow<'_, str>>, String> {
        if self.fields.header(field).is_none() {
            return Ok(None);
        }
        let cell = self.cells.get(field as usize).copied().unwrap_or_default();
        std::str::from_utf8(cell)
            .map(|text| Some(Cow::Borrowed(text)))
            .map_err(|_| "is not valid UTF-8".to_string())
    }
}

/// Byte 0: bit 0 a time column (else the date column holds a date-time), bit 1 an end
/// column, bit 2 a duration column, bit 3 a default language, bits 4-5 the zone (two with
/// half-hour or unusual DST rules), bits 6-7 the phone region.
fn mapping_and_context(flags: u8) -> (FieldMapping, ParseContext, country::Id) {
    let some = |on: bool, s: &str| on.then(|| s.to_string());
    let fields = FieldMapping {
        key: "Termin-Nr".into(),
        date: "Datum".into(),
        time: some(flags & 1 != 0, "Uhrzeit"),
        end: some(flags & 2 != 0, "Ende"),
        duration: some(flags & 4 != 0, "Dauer"),
        service: "Dienstleistung".into(),
        location: Some("Standort".into()),
        name: "Name".into(),
        email: Some("E-Mail".into()),
        phone: Some("Telefon".into()),
        language: Some("Sprache".into()),
        status: Some("Status".into()),
    };
    let zones: [Tz; 4] = [
        chrono_tz::Europe::Berlin,
        chrono_tz::UTC,
        chrono_tz::America::Santiago,
        chrono_tz::Australia::Lord_Howe,
    ];
    let ctx = ParseContext {
        tz: zones[usize::from((flags >> 4) & 3)],
        default_language: (flags & 8 != 0)
            .then(|| Language::parse("de").expect("a known language")),
        limits: Default::default(),
    };
    let regions = [
        country::Id::DE,
        country::Id::AT,
        country::Id::US,
        country::Id::GB,
    ];
    (fields, ctx, regions[usize::from(flags >> 6)])
}

/// Byte 1: bits 0-1 the set of date/time formats, bits 2-3 the default duration.
fn formats(choice: u8, phone_region: country::Id) -> Formats {
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    let mut formats = Formats {
        phone_region,
        ..Formats::default()
    };
    match choice & 3 {
        1 => {
            formats.date = strings(&["%Y%m%d", "%d/%m/%Y", "%m/%d/%y"]);
            formats.time = strings(&["%H%M", "%I:%M %p", "%H.%M"]);
            formats.datetime = strings(&["%s", "%Y-%m-%dT%H:%M:%S%.f", "%Y%m%dT%H%M%S"]);
        }
        2 => {
            formats.date = strings(&["%d. %B %Y", "%e.%m.%Y", "%j/%Y"]);
            formats.time = strings(&["%k:%M", "%H:%M:%S%.3f"]);
            formats.datetime = strings(&["%d.%m.%Y %H:%M:%S", "%+", "%a, %d %b %Y %T"]);
        }
        3 => {
            formats.date = strings(&["%G-W%V-%u", "%Y-%j"]);
            formats.time = strings(&["%R", "%l%P"]);
            formats.datetime = strings(&["%F %T %z", "%c"]);
        }
        _ => {}
    }
    formats.default_duration_minutes = [15, 1, 1440, u32::MAX][usize::from((choice >> 2) & 3)];
    formats.cancelled_values.push("  Storniert (Kunde) ".into());
    formats
}

fuzz_target!(|bytes: &[u8]| {
    let [flags, choice, row @ ..] = bytes else {
        return;
    };
    let (fields, ctx, region) = mapping_and_context(*flags);
    let Ok(parser) = RowParser::new(&fields, &formats(*choice, region), &ctx) else {
        return;
    };
    let row = Row {
        fields: &fields,
        cells: row.split(|b| *b == b'|').collect(),
    };
    match parser.parse(2, &row) {
        Ok(parsed) => {
            assert!(
                parsed.record.ends_at > parsed.record.starts_at,
                "an end after the start"
            );
            for warning in &parsed.warnings {
                let _ = warning.to_string();
            }
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
