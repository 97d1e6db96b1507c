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
use std::io::Read;
use std::path::Path;

use csv::ByteRecord;
use encoding_rs::WINDOWS_1252;
use encoding_rs_io::DecodeReaderBytesBuilder;
use serde::{Deserialize, Deserializer, Serialize};

use crate::import::limits::{Limit, Limits};
use crate::import::mapping::{
    Field, FieldMapping, Formats, ParseContext, ParsedRow, RowError, RowParser, RowSource,
};
use crate::import::read::{Columns, FormatError, ReadReport, ReadRows, Records, open_path};
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

/// The bookings of a CSV or TSV export, one row at a time.
pub type CsvRecords = Records<CsvRows>;

/// Reading a CSV export row by row ([`CsvRecords`] hands the rows out).
pub struct CsvRows {
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
}

#[derive(Debug, Clone, Copy)]
struct LastRecord {
    fields: usize,
    blank: bool,
}

/// Opens an export file and reads its header.
pub fn open_file(
    path: &Path,
    opts: &CsvOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
) -> Result<CsvRecords, FormatError> {
    open_path(path, |input, name| {
        open_reader(input, name, opts, fields, formats, ctx)
    })
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
    let columns = Columns::resolve(fields, &found).map_err(|missing| {
        let hint = header_hint(&found, opts);
        FormatError::missing_columns(name, fields, missing, found.clone(), found.len(), hint)
    })?;
    Ok(Records::new(CsvRows {
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
    }))
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

impl ReadRows for CsvRows {
    type Report = ReadReport;

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
                    key: key.filter(|k| !k.is_empty()),
                    ..RowError::whole(line, reason)
                }));
            }
            let parsed = self.parser.parse(line, &row);
            return Some(self.report.noted(parsed));
        }
    }

    fn report(&self) -> &ReadReport {
        &self.report
    }
}

impl CsvRows {
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
        self.report.abort(line, reason)
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
mod tests;
