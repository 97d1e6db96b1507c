//! Caps on what one export may make absage hold or do (`[sources.limits]`), so that a zip bomb,
//! a file without line breaks or a sheet of a million repeated rows is refused — naming the
//! file, the position and the limit — instead of exhausting the memory or the CPU of the
//! process that sends the cancellations. A refusal refuses the whole import: nothing changes.
//!
//! The defaults are far above what a booking needs (a name is a few dozen bytes, a row a few
//! hundred) and far below what hurts a small VM. Sizes are written as bytes or with a unit:
//! `max_cell_bytes = "64 KiB"`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The caps of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// One cell, field value or iCalendar property value.
    pub max_cell_bytes: ByteSize,
    /// One row or record: a CSV record, a JSON record or NDJSON line, an iCalendar VEVENT, a
    /// spreadsheet row (with its XML markup).
    pub max_record_bytes: ByteSize,
    /// One physical line of a CSV, NDJSON or iCalendar file (an iCalendar line after unfolding).
    pub max_line_bytes: ByteSize,
    /// One part of a spreadsheet file (a zip entry) that is read whole into memory: XLSX shared
    /// strings, styles and workbook, an XLS/XLSB sheet. The sheet that is streamed row by row
    /// (an XLSX worksheet, an ODS `content.xml`) counts only against `max_unzipped_bytes`.
    pub max_zip_entry_bytes: ByteSize,
    /// All parts of a spreadsheet file together, unzipped.
    pub max_unzipped_bytes: ByteSize,
    /// ODS rows with content that a sheet may add by repeating a row
    /// (`table:number-rows-repeated`), summed over the sheet. Repeated empty rows cost nothing.
    pub max_repeated_rows: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_cell_bytes: ByteSize(64 * KIB),
            max_record_bytes: ByteSize(MIB),
            max_line_bytes: ByteSize(MIB),
            max_zip_entry_bytes: ByteSize(64 * MIB),
            max_unzipped_bytes: ByteSize(GIB),
            max_repeated_rows: 1000,
        }
    }
}

/// Which limit was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Cell,
    Record,
    Line,
    ZipEntry,
    Unzipped,
    RepeatedRows,
}

impl Limit {
    /// The configuration key.
    pub fn key(self) -> &'static str {
        match self {
            Limit::Cell => "max_cell_bytes",
            Limit::Record => "max_record_bytes",
            Limit::Line => "max_line_bytes",
            Limit::ZipEntry => "max_zip_entry_bytes",
            Limit::Unzipped => "max_unzipped_bytes",
            Limit::RepeatedRows => "max_repeated_rows",
        }
    }
}

impl Limits {
    /// The value of `which`, in bytes (rows for [`Limit::RepeatedRows`]).
    pub fn get(&self, which: Limit) -> u64 {
        match which {
            Limit::Cell => self.max_cell_bytes.0,
            Limit::Record => self.max_record_bytes.0,
            Limit::Line => self.max_line_bytes.0,
            Limit::ZipEntry => self.max_zip_entry_bytes.0,
            Limit::Unzipped => self.max_unzipped_bytes.0,
            Limit::RepeatedRows => self.max_repeated_rows,
        }
    }

    /// The refusal when `what` at `at` went over `which`: "line 7: a cell is over the limit of
    /// 64 KiB (limits.max_cell_bytes); …". Never repeats content from the file.
    pub fn exceeded(&self, which: Limit, at: impl fmt::Display, what: &str) -> String {
        let limit = match which {
            Limit::RepeatedRows => format!("{} rows", self.max_repeated_rows),
            other => ByteSize(self.get(other)).to_string(),
        };
        format!(
            "{at}: {what} is over the limit of {limit} (limits.{}); no booking export needs that \
             much: the file is damaged or not an export (raise the limit if it really is one)",
            which.key()
        )
    }

    /// The first problem with the values, naming the key.
    pub fn check(&self) -> Result<(), String> {
        let all = [
            Limit::Cell,
            Limit::Record,
            Limit::Line,
            Limit::ZipEntry,
            Limit::Unzipped,
        ];
        if let Some(zero) = all.into_iter().find(|l| self.get(*l) < 1024) {
            return Err(format!("limits.{}: must be at least 1 KiB", zero.key()));
        }
        if self.max_cell_bytes > self.max_record_bytes {
            return Err("limits.max_cell_bytes: must not be larger than max_record_bytes".into());
        }
        Ok(())
    }
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// A number of bytes, written in the configuration as a number or with a unit (`"64 KiB"`,
/// `"1 MiB"`, `"2 GiB"`; `KB`, `MB`, `GB` mean the same), shown with the largest unit that
/// divides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }

    fn parse(text: &str) -> Result<ByteSize, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a size like 65536, \"64 KiB\" or \"1 MiB\""))?;
        let factor = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => KIB,
            "m" | "mb" | "mib" => MIB,
            "g" | "gb" | "gib" => GIB,
            other => return Err(format!("{other:?} is not a unit (use KiB, MiB or GiB)")),
        };
        number
            .checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        match n {
            0 => write!(f, "0 bytes"),
            _ if n.is_multiple_of(GIB) => write!(f, "{} GiB", n / GIB),
            _ if n.is_multiple_of(MIB) => write!(f, "{} MiB", n / MIB),
            _ if n.is_multiple_of(KIB) => write!(f, "{} KiB", n / KIB),
            _ if n >= MIB => write!(f, "{:.1} MiB", n as f64 / MIB as f64),
            _ => write!(f, "{n} bytes"),
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => ByteSize::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_as_numbers_or_with_units_and_shown_with_the_largest_unit() {
        let limits: Limits = toml::from_str(
            "max_cell_bytes = \"32 KiB\"\nmax_record_bytes = 2097152\nmax_unzipped_bytes = \"2GiB\"",
        )
        .unwrap();
        assert_eq!(limits.max_cell_bytes, ByteSize(32 * 1024));
        assert_eq!(limits.max_record_bytes.to_string(), "2 MiB");
        assert_eq!(limits.max_unzipped_bytes.to_string(), "2 GiB");
        assert_eq!(limits.max_line_bytes, Limits::default().max_line_bytes);
        assert_eq!(ByteSize(1536).to_string(), "1536 bytes");
        let err = toml::from_str::<Limits>("max_cell_bytes = \"64 kilo\"").unwrap_err();
        assert!(err.to_string().contains("not a unit"), "{err}");
        assert!(limits.check().is_ok());
        let small = Limits {
            max_record_bytes: ByteSize(1024),
            ..Limits::default()
        };
        assert!(small.check().unwrap_err().contains("max_cell_bytes"));
    }

    #[test]
    fn a_refusal_names_the_position_the_limit_and_its_key() {
        let m = Limits::default().exceeded(Limit::Cell, "line 7, column 3", "a cell");
        assert!(
            m.starts_with(
                "line 7, column 3: a cell is over the limit of 64 KiB (limits.max_cell_bytes)"
            ),
            "{m}"
        );
        let m = Limits::default().exceeded(Limit::RepeatedRows, "Termine!A5", "repetition");
        assert!(m.contains("1000 rows (limits.max_repeated_rows)"), "{m}");
    }
}
