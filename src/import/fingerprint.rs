//! What an import reads, as one value: a SHA-256 of the export's bytes and of the settings they
//! are read with. An export whose fingerprint is that of the source's latest applied import
//! would leave the calendar as it is, and the import writes nothing but its record
//! (`snapshot.rs`). During an outage the booking system is down and the same last export is
//! read again at every scheduled import; on SQLite each such import held the write lock (and
//! held up the sending) for as long as it took to read.

use super::{ImportMode, SourceKind, SourceSettings, csv, ics, json, limits, mapping, sheet};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// What decides how an export's bytes become bookings; not where they come from, nor when.
#[derive(Serialize)]
struct ReadWith<'a> {
    version: &'a str,
    tenant: &'a str,
    source: &'a str,
    time_zone: &'a str,
    kind: SourceKind,
    mode: ImportMode,
    max_removal_share: f64,
    csv: &'a csv::CsvOptions,
    json: &'a json::JsonOptions,
    ics: &'a ics::IcsOptions,
    sheet: &'a sheet::SheetOptions,
    limits: &'a limits::Limits,
    fields: &'a mapping::FieldMapping,
    formats: &'a mapping::Formats,
    /// iCalendar series are expanded up to a horizon counted from today: a new day may bring
    /// occurrences the same file did not hold yesterday.
    day: Option<NaiveDate>,
}

/// The fingerprint (hex) of reading `file` with `source`'s settings in `time_zone` on the day
/// of `now`; none for what is not a regular file (a pipe can be read only once).
pub(super) fn of(
    file: &Path,
    source: &SourceSettings,
    time_zone: Tz,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    if !std::fs::metadata(file)?.is_file() {
        return Ok(None);
    }
    let settings = ReadWith {
        version: env!("CARGO_PKG_VERSION"),
        tenant: &source.tenant,
        source: &source.name,
        time_zone: time_zone.name(),
        kind: source.kind,
        mode: source.mode,
        max_removal_share: source.max_removal_share,
        csv: &source.csv,
        json: &source.json,
        ics: &source.ics,
        sheet: &source.sheet,
        limits: &source.limits,
        fields: &source.fields,
        formats: &source.formats,
        day: (source.kind == SourceKind::Ics).then(|| now.date_naive()),
    };
    let mut hash = Sha256::new();
    hash.update(serde_json::to_vec(&settings)?);
    hash.update([0]);
    let mut export = std::fs::File::open(file)?;
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = export.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(Some(hex::encode(hash.finalize())))
}
