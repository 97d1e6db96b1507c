//! Reading bookings from a CSV or TSV export, streaming, row by row.
//!
//! The file is never held in memory: bytes flow through a decoder (for Windows-1252
//! exports) into the `csv` reader, one reused record at a time. A file that cannot be
//! read at all (unreadable, empty, header without the mapped columns) is refused whole
//! with one [`FormatError`]; a bad row becomes a [`RowError`] and the rows after it go on.
//!
//! Encodings: `utf-8` (a BOM is allowed and dropped), `windows-1252` (what Excel writes
//! on German Windows), and `auto`, the default: each cell is taken as UTF-8 when it is
//! valid UTF-8 and as Windows-1252 otherwise. Deciding per cell rather than by sniffing
//! the start of the file keeps streaming and still gets a file right whose first
//! umlaut is on row 90,000. Windows-1252 text with umlauts is practically never valid
//! UTF-8, so the choice is safe.
//!
//! Positions: a row's `line` is the physical line where it starts, as an editor shows it (the
//! header is line 1; blank lines and line breaks inside quoted values count; CRLF, LF and CR
//! endings alike), found by [`scan`] since the `csv` crate's own positions are off in CRLF files.
//!
//! A file whose end is cut off is refused whole (the report is `aborted`, naming the line): one
//! that ends inside a quoted value, or whose last line has no line break. Every exporter ends
//! its last line with one, so a missing one means the file was cut in the middle of a line
//! (or is still being written); `csv.require_final_newline = false` accepts hand-made files
//! without it, and then only a last line with fewer fields than the header is taken for cut.

mod scan;

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use csv::ByteRecord;
use encoding_rs::WINDOWS_1252;
use encoding_rs_io::DecodeReaderBytesBuilder;
use serde::{Deserialize, Deserializer, Serialize};

use crate::import::limits::{Limit, Limits};
use crate::import::mapping::{
    Field, FieldMapping, Formats, ParseContext, ParsedRow, RowError, RowParser, RowSource,
    RowWarning, WarningKind,
};
use scan::Scan;

/// How the export is written (`[sources.csv]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsvOptions {
    /// One ASCII character; `"\t"` (or `"tab"`) for TSV.
    #[serde(deserialize_with = "one_char")]
    pub delimiter: char,
    pub encoding: Encoding,
    #[serde(deserialize_with = "one_char")]
    pub quote: char,
    /// Refuse a file whose last line has no line break, as cut off. Exporters end every line
    /// with one; `false` accepts hand-made files that do not (a last line with fewer fields
    /// than the header is still taken for cut off).
    pub require_final_newline: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: ',',
            encoding: Encoding::Auto,
            quote: '"',
            require_final_newline: true,
        }
    }
}

/// The character encoding of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    #[serde(
        rename = "windows-1252",
        alias = "cp1252",
        alias = "latin1",
        alias = "iso-8859-1"
    )]
    Windows1252,
    /// Per cell: UTF-8 if valid, else Windows-1252.
    #[serde(rename = "auto")]
    Auto,
}

fn one_char<'de, D: Deserializer<'de>>(deserializer: D) -> Result<char, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text == "\\t" || text.eq_ignore_ascii_case("tab") {
        return Ok('\t');
    }
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(serde::de::Error::custom(format!(
            "{text:?} is not one character (write \"\\t\" for a tab)"
        ))),
    }
}

/// A whole export refused; the message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{file}: cannot be read: {source}")]
    Unreadable {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: is empty, there is not even a header line")]
    Empty { file: String },
    #[error("{file}: {}", missing_message(.missing, .found, *.columns, .hint))]
    MissingColumns {
        file: String,
        /// The configured headers not found, with their booking field.
        missing: Vec<(String, Field)>,
        /// The header as found in the file; empty when the first line does not look like a
        /// header at all (it may be a data row: names and numbers are not repeated in messages).
        found: Vec<String>,
        /// How many columns the first line has.
        columns: usize,
        /// A likely cause ("is the delimiter \";\"?"), when one is apparent.
        hint: Option<String>,
    },
    #[error("{file}: the source's configuration is not usable: {reason}")]
    Config { file: String, reason: String },
    /// A cell, record, line or zip entry over the source's limits (a zip bomb, a file without
    /// line breaks): `reason` names the position and the limit.
    #[error("{file}: {reason}")]
    TooLarge { file: String, reason: String },
    /// The file ends where a complete export would go on: cut off, or still being written.
    #[error("{file}: looks cut off {at}: {reason}")]
    CutOff {
        file: String,
        /// Where it ends: "at line 57", "after 40961 bytes".
        at: String,
        reason: String,
    },
}

fn missing_message(
    missing: &[(String, Field)],
    found: &[String],
    columns: usize,
    hint: &Option<String>,
) -> String {
    let missing: Vec<String> = missing
        .iter()
        .map(|(header, field)| format!("{header:?} ({})", field.as_str()))
        .collect();
    let found: Vec<String> = found.iter().map(|header| format!("{header:?}")).collect();
    let hint = hint
        .as_ref()
        .map(|hint| format!("; {hint}"))
        .unwrap_or_default();
    let seen = if found.is_empty() {
        format!(
            "the first line ({columns} columns) does not look like a header: is the header line \
             missing?"
        )
    } else {
        format!("the header found is {}", found.join(", "))
    };
    format!(
        "the header lacks the mapped column(s) {}; {seen}{hint}",
        missing.join(", ")
    )
}

/// What happened while reading, beyond the rows themselves; complete once iteration ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadReport {
    /// Data rows read (header and blank rows not counted).
    pub rows: u64,
    /// Rows whose every cell was empty (Excel writes them); skipped.
    pub blank_rows: u64,
    /// Warnings of the rows handed out (each [`ParsedRow`] carries its own), by kind.
    pub repeated_local_times: u64,
    pub skipped_local_times: u64,
    pub unknown_languages: u64,
    /// Rows whose end or duration could not be used: imported with the default duration.
    pub ends_guessed: u64,
    /// Set when reading stopped early (an I/O error mid-file) or the file looks cut off at its
    /// end: the export is incomplete and must not be applied as a snapshot.
    pub aborted: Option<String>,
}

impl ReadReport {
    /// Counts a row's warning (shared by every reader).
    pub(crate) fn note(&mut self, warning: &RowWarning) {
        match warning.kind {
            WarningKind::RepeatedLocalTime => self.repeated_local_times += 1,
            WarningKind::SkippedLocalTime => self.skipped_local_times += 1,
            WarningKind::UnknownLanguage { .. } => self.unknown_languages += 1,
            WarningKind::EndGuessed { .. } => self.ends_guessed += 1,
        }
    }
}

/// The bookings of an export, one row at a time.
pub struct CsvRecords {
    reader: csv::Reader<Scan<Box<dyn Read + Send>>>,
    record: ByteRecord,
    columns: Columns,
    header_len: usize,
    encoding: Encoding,
    quote: char,
    require_final_newline: bool,
    /// The last record read (the header before any): the end of the file is judged by it.
    last: LastRecord,
    parser: RowParser,
    limits: Limits,
    report: ReadReport,
    done: bool,
}

#[derive(Debug, Clone, Copy)]
struct LastRecord {
    fields: usize,
    blank: bool,
}

impl fmt::Debug for CsvRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvRecords")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// Opens an export file and reads its header.
pub fn open_file(
    path: &Path,
    opts: &CsvOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
) -> Result<CsvRecords, FormatError> {
    let file = path.display().to_string();
    let handle = File::open(path).map_err(|source| FormatError::Unreadable {
        file: file.clone(),
        source,
    })?;
    open_reader(handle, &file, opts, fields, formats, ctx)
}

/// Like [`open_file`] for any reader; `name` stands for the file in messages.
pub fn open_reader<R: Read + Send + 'static>(
    input: R,
    name: &str,
    opts: &CsvOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
) -> Result<CsvRecords, FormatError> {
    let config = |reason: String| FormatError::Config {
        file: name.to_string(),
        reason,
    };
    let parser = RowParser::new(fields, formats, ctx).map_err(config)?;
    let (delimiter, quote) = check_options(opts).map_err(config)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quote(quote)
        .from_reader(Scan::new(
            decoder(input, opts.encoding),
            delimiter,
            quote,
            &ctx.limits,
        ));
    let mut header = ByteRecord::new();
    match reader.read_byte_record(&mut header) {
        Ok(true) => {
            reader.get_mut().take_start();
        }
        Ok(false) => {
            return Err(FormatError::Empty {
                file: name.to_string(),
            });
        }
        Err(err) => {
            return Err(match reader.get_ref().over() {
                Some(over) => FormatError::TooLarge {
                    file: name.to_string(),
                    reason: too_large(&ctx.limits, over),
                },
                None => unreadable(name, err),
            });
        }
    }
    let found: Vec<String> = header
        .iter()
        .map(|cell| decode(cell, opts.encoding).into_owned())
        .collect();
    let columns =
        Columns::resolve(fields, &found).map_err(|missing| FormatError::MissingColumns {
            file: name.to_string(),
            hint: header_hint(&found, opts),
            missing,
            found: if looks_like_header(&found, fields) {
                found.clone()
            } else {
                Vec::new()
            },
            columns: found.len(),
        })?;
    Ok(CsvRecords {
        reader,
        record: ByteRecord::new(),
        columns,
        header_len: found.len(),
        encoding: opts.encoding,
        quote: opts.quote,
        require_final_newline: opts.require_final_newline,
        last: LastRecord {
            fields: found.len(),
            blank: false,
        },
        parser,
        limits: ctx.limits,
        report: ReadReport::default(),
        done: false,
    })
}

/// The refusal for a limit the file went over.
fn too_large(limits: &Limits, over: scan::Over) -> String {
    let (at, what) = match (over.limit, over.column) {
        (Limit::Cell, Some(column)) => (format!("line {}, column {column}", over.line), "a cell"),
        (Limit::Record, _) => (format!("line {}", over.line), "the record beginning here"),
        _ => (format!("line {}", over.line), "a line"),
    };
    limits.exceeded(over.limit, at, what)
}

impl CsvRecords {
    /// Counts and warnings so far; final once the iterator returned `None`.
    pub fn report(&self) -> &ReadReport {
        &self.report
    }

    fn read_row(&mut self) -> Option<Result<ParsedRow, RowError>> {
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => return self.cut_off().map(Err),
                Err(err) => return Some(Err(self.abort(err))),
            }
            let line = self.reader.get_mut().take_start().unwrap_or_else(|| {
                // Only if the scanner and the reader disagreed on where records begin.
                self.record.position().map_or(0, |at| at.line())
            });
            let blank = self
                .record
                .iter()
                .all(|cell| cell.iter().all(u8::is_ascii_whitespace));
            self.last = LastRecord {
                fields: self.record.len(),
                blank,
            };
            if blank {
                self.report.blank_rows += 1;
                continue;
            }
            self.report.rows += 1;
            let row = CsvRow {
                record: &self.record,
                columns: &self.columns,
                encoding: self.encoding,
            };
            if self.record.len() != self.header_len {
                let reason = format!(
                    "has {} fields but the header has {}; is a delimiter or quote inside a value?",
                    self.record.len(),
                    self.header_len
                );
                // The key usually comes first and survives a stray delimiter further on.
                let key = row
                    .text(Field::Key)
                    .ok()
                    .flatten()
                    .map(|k| k.trim().to_owned());
                return Some(Err(RowError {
                    line,
                    field: String::new(),
                    target: None,
                    reason,
                    key: key.filter(|k| !k.is_empty()),
                    cell: None,
                }));
            }
            let parsed = self.parser.parse(line, &row);
            if let Ok(parsed) = &parsed {
                parsed.warnings.iter().for_each(|w| self.report.note(w));
            }
            return Some(parsed);
        }
    }

    /// At the end of the file: the refusal when it looks cut off there, naming the line.
    fn cut_off(&mut self) -> Option<RowError> {
        let scan = self.reader.get_ref();
        let end = scan.line();
        let reason = if let Some(line) = scan.open_quote() {
            Some((
                line,
                format!(
                    "looks cut off: the quoted value that begins on line {line} is never closed \
                     (the file ends inside it, or a closing {:?} is missing)",
                    self.quote
                ),
            ))
        } else if scan.ends_with_line_break() || self.last.blank {
            None
        } else if self.require_final_newline {
            Some((
                end,
                format!(
                    "looks cut off at line {end}: the last line has no line break at its end, \
                     which every line of a complete export has (was the file still being \
                     written or copied?). If this source's files really end without one, set \
                     csv.require_final_newline = false for it"
                ),
            ))
        } else if self.last.fields < self.header_len {
            Some((
                end,
                format!(
                    "looks cut off at line {end}: the last line has {} of the header's {} \
                     fields and no line break at its end",
                    self.last.fields, self.header_len
                ),
            ))
        } else {
            None
        };
        let (line, reason) = reason?;
        Some(self.stop(line, reason))
    }

    fn abort(&mut self, err: csv::Error) -> RowError {
        if let Some(over) = self.reader.get_ref().over() {
            return self.stop(over.line, too_large(&self.limits, over));
        }
        let line = self.reader.get_ref().line();
        self.stop(
            line,
            format!("reading stopped, the rest of the file is lost: {err}"),
        )
    }

    /// Ends reading with `reason`: the export is incomplete and must not be applied.
    fn stop(&mut self, line: u64, reason: String) -> RowError {
        self.done = true;
        self.report.aborted = Some(reason.clone());
        RowError {
            line,
            field: String::new(),
            target: None,
            reason,
            key: None,
            cell: None,
        }
    }
}

impl Iterator for CsvRecords {
    type Item = Result<ParsedRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.read_row();
        if item.is_none() {
            self.done = true;
        }
        item
    }
}

fn unreadable(file: &str, err: csv::Error) -> FormatError {
    let source = match err.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    };
    FormatError::Unreadable {
        file: file.to_string(),
        source,
    }
}

fn check_options(opts: &CsvOptions) -> Result<(u8, u8), String> {
    let byte = |key: &str, c: char| {
        u8::try_from(c)
            .ok()
            .filter(u8::is_ascii)
            .ok_or_else(|| format!("csv.{key} {c:?} must be one ASCII character"))
    };
    let (delimiter, quote) = (
        byte("delimiter", opts.delimiter)?,
        byte("quote", opts.quote)?,
    );
    if delimiter == quote {
        return Err("csv.delimiter and csv.quote must differ".to_string());
    }
    Ok((delimiter, quote))
}

/// Bytes into the reader: Windows-1252 transcoded to UTF-8; otherwise passed through
/// (a UTF-8 BOM dropped), leaving validation to [`decode`] per cell.
fn decoder<R: Read + Send + 'static>(input: R, encoding: Encoding) -> Box<dyn Read + Send> {
    let mut builder = DecodeReaderBytesBuilder::new();
    builder.strip_bom(true).bom_override(true);
    match encoding {
        Encoding::Windows1252 => builder.encoding(Some(WINDOWS_1252)),
        Encoding::Utf8 | Encoding::Auto => builder.encoding(None).utf8_passthru(true),
    };
    Box::new(builder.build(input))
}

/// A cell as text; only for the header, where a bad byte must not stop matching.
fn decode(bytes: &[u8], encoding: Encoding) -> Cow<'_, str> {
    match (std::str::from_utf8(bytes), encoding) {
        (Ok(text), _) => Cow::Borrowed(text.trim()),
        (Err(_), Encoding::Auto) => Cow::Owned(
            WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
                .trim()
                .to_string(),
        ),
        (Err(_), _) => String::from_utf8_lossy(bytes),
    }
}

/// The column indexes of each mapped field, in mapping order (shared by the readers of
/// tabular exports).
#[derive(Debug, Clone)]
pub(crate) struct Columns(pub(crate) [Vec<usize>; Field::ALL.len()]);

impl Columns {
    /// The `nth` column mapped to `field`.
    pub(crate) fn nth(&self, field: Field, nth: usize) -> Option<usize> {
        self.0[field as usize].get(nth).copied()
    }

    /// Finds each mapped header (trimmed, case-insensitive); on failure lists the missing.
    pub(crate) fn resolve(
        fields: &FieldMapping,
        header: &[String],
    ) -> Result<Columns, Vec<(String, Field)>> {
        let mut columns: [Vec<usize>; Field::ALL.len()] = Default::default();
        let mut missing = Vec::new();
        let lowered: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
        for field in Field::ALL {
            for name in fields.headers(field) {
                let wanted = name.trim().to_lowercase();
                match lowered.iter().position(|h| *h == wanted) {
                    Some(index) => columns[field as usize].push(index),
                    None => missing.push((name.to_string(), field)),
                }
            }
        }
        if missing.is_empty() {
            Ok(Columns(columns))
        } else {
            Err(missing)
        }
    }
}

/// Whether some mapped header name appears in the header line (even glued together by a wrong
/// delimiter). A line without any is likely a data row and is not repeated in messages.
pub(crate) fn looks_like_header(found: &[String], fields: &FieldMapping) -> bool {
    let names: Vec<String> = Field::ALL
        .iter()
        .flat_map(|f| fields.headers(*f))
        .map(|h| h.to_lowercase())
        .collect();
    found.iter().any(|cell| {
        let cell = cell.to_lowercase();
        !cell.is_empty() && names.iter().any(|n| cell.contains(n.as_str()))
    })
}

/// "is the delimiter X?" when the header is one column holding another likely delimiter,
/// or an encoding hint when it is not valid UTF-8 but UTF-8 was configured.
fn header_hint(found: &[String], opts: &CsvOptions) -> Option<String> {
    if opts.encoding == Encoding::Utf8 && found.iter().any(|h| h.contains('\u{fffd}')) {
        return Some(
            "the header is not valid UTF-8: is the encoding \"windows-1252\"?".to_string(),
        );
    }
    let [only] = found else { return None };
    [';', ',', '\t', '|']
        .into_iter()
        .filter(|c| *c != opts.delimiter)
        .map(|c| (only.matches(c).count(), c))
        .filter(|(count, _)| *count > 0)
        .max()
        .map(|(_, c)| format!("is the delimiter {:?}?", c.to_string()))
}

/// One record seen through the column map.
struct CsvRow<'r> {
    record: &'r ByteRecord,
    columns: &'r Columns,
    encoding: Encoding,
}

impl RowSource for CsvRow<'_> {
    fn text(&self, field: Field) -> Result<Option<Cow<'_, str>>, String> {
        self.text_nth(field, 0)
    }

    fn text_nth(&self, field: Field, nth: usize) -> Result<Option<Cow<'_, str>>, String> {
        let Some(index) = self.columns.nth(field, nth) else {
            return Ok(None);
        };
        let bytes = self.record.get(index).unwrap_or_default();
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Some(Cow::Borrowed(text))),
            Err(_) if self.encoding == Encoding::Auto => {
                Ok(Some(WINDOWS_1252.decode_without_bom_handling(bytes).0))
            }
            Err(_) => {
                Err("is not valid UTF-8: is the encoding \"windows-1252\" or \"auto\"?".to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
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

    fn open(
        bytes: &[u8],
        opts: &CsvOptions,
        fields: &FieldMapping,
    ) -> Result<CsvRecords, FormatError> {
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
        let err =
            open(bytes.as_bytes(), &semicolon(Encoding::Auto), &fields()).expect_err("refused");
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
        let err =
            open(bytes.as_bytes(), &semicolon(Encoding::Auto), &fields()).expect_err("refused");
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
        let records =
            open_file(&path, &opts, &fields(), &Formats::default(), &ctx()).expect("opens");
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
        let err =
            open(header.as_bytes(), &semicolon(Encoding::Auto), &fields()).expect_err("refused");
        assert!(
            matches!(err, FormatError::TooLarge { .. })
                && err
                    .to_string()
                    .starts_with("termine.csv: line 1: a line is over"),
            "{err}"
        );
    }
}
