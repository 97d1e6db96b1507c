//! Reading bookings from a spreadsheet export: XLSX, ODS, and (as calamine reads them) XLS
//! and XLSB.
//!
//! One sheet is read, the first or the configured one; its header row names the columns,
//! matched to the field mapping like CSV headers. Cells are turned into text by
//! [`cells`] (numbers without `.0`, serial and ISO dates in the source's formats) and then
//! parsed by the shared [`RowParser`], so a spreadsheet row and a CSV row follow the same rules.
//!
//! Memory: XLSX sheets are streamed cell by cell (calamine's `worksheet_cells_reader`); only
//! the workbook's shared-string table is held whole, as Excel keeps every distinct text there.
//! ODS sheets are streamed row by row by our own reader ([`ods`]; calamine loads every sheet of
//! an ODS file when it opens it). XLS and XLSB sheets are loaded whole by calamine
//! (`workbook.rs`). Either way a worker thread reads the sheet and hands rows over a bounded
//! channel, because calamine's cell reader borrows the workbook and cannot live in the iterator.
//!
//! Positions: a rejected row's `line` is its spreadsheet row number, and its `cell` the sheet
//! and cell of the failing field as a spreadsheet's name box takes it (`Termine!C17`,
//! `'Termine 2026'!C17`).
//!
//! A workbook cut off at its end (an XLSX or ODS zip without the directory that closes every
//! complete zip archive) is refused whole, naming its length.
//!
//! Zip bombs and other oversized content are refused whole, naming the part, cell or row and
//! the limit (`[sources.limits]`): the parts' unzipped sizes are checked before anything is
//! unzipped, XLSX worksheets are scanned once before calamine streams them ([`zipped`]), ODS is
//! checked while it is read ([`ods`]), and every row and cell handed on is within its limit.

mod cells;
mod ods;
mod workbook;
mod zipped;

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::mpsc::{Receiver, sync_channel};

use calamine::{Data, Reader, open_workbook_auto};
use serde::{Deserialize, Serialize};

use crate::import::limits::Limits;
use crate::import::mapping::{
    Field, FieldMapping, Formats, ParseContext, ParsedRow, RowError, RowParser, RowSource,
};
use crate::import::read::{Columns, FormatError, ReadReport, ReadRows, Records};
use cells::{Render, column_letters};
use workbook::{is_1904, spawn_reader, unreadable};

/// Which sheet and where its header is (`[sources.sheet]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SheetOptions {
    /// The sheet's name as its tab shows it; the first sheet when not given.
    pub sheet: Option<String>,
    /// The spreadsheet row number of the header (1 = the first row); rows above it are skipped.
    pub header_row: u32,
}

impl Default for SheetOptions {
    fn default() -> Self {
        SheetOptions {
            sheet: None,
            header_row: 1,
        }
    }
}

/// Rows waiting between the reading thread and the iterator; bounds memory while streaming
/// (each row is within `limits.max_record_bytes`).
const ROWS_IN_FLIGHT: usize = 64;

/// One spreadsheet row: cells by 0-based column, `Empty` where nothing was written.
#[derive(Debug)]
struct SheetRow {
    /// 0-based row index; the spreadsheet's row number is one more.
    index: u32,
    cells: Vec<Data>,
}

impl SheetRow {
    fn is_blank(&self) -> bool {
        self.cells.iter().all(|cell| match cell {
            Data::Empty => true,
            Data::String(text) => text.trim().is_empty(),
            _ => false,
        })
    }
}

/// What the reading thread hands over. The explicit `End` tells a complete sheet apart
/// from a thread that died: a truncated sheet must never pass as a full snapshot.
enum Msg {
    Row(SheetRow),
    Failed(String),
    /// Over a limit: the reason names where and which.
    TooLarge(String),
    End,
}

/// Why a reading thread stopped before the end of its sheet.
#[derive(Debug)]
enum Stop {
    /// The file is broken or could not be read.
    Failed(String),
    /// A part, row or cell over the source's limits; the refusal, naming where and which.
    TooLarge(String),
}

impl From<String> for Stop {
    fn from(reason: String) -> Stop {
        Stop::Failed(reason)
    }
}

impl Stop {
    fn into_msg(self) -> Msg {
        match self {
            Stop::Failed(reason) => Msg::Failed(reason),
            Stop::TooLarge(reason) => Msg::TooLarge(reason),
        }
    }
}

/// The bookings of one sheet, one row at a time.
pub type SheetRecords = Records<SheetRows>;

/// Reading one sheet row by row ([`SheetRecords`] hands the rows out).
pub struct SheetRows {
    rows: Receiver<Msg>,
    sheet: String,
    /// The header row's names, to find a failing field's column.
    header: Vec<String>,
    /// The spreadsheet row number of the last row read, for where reading stopped.
    last_row: u64,
    columns: Columns,
    render: Render,
    parser: RowParser,
    report: ReadReport,
}

/// Opens a workbook, picks the sheet and reads its header row.
///
/// Refused whole ([`FormatError`]): an unreadable or unknown file, a sheet name that does not
/// exist (the message lists those that do), an empty sheet, a header row without the mapped
/// columns. The file kind is taken from the extension, or sniffed when there is none.
pub fn open_file(
    path: &Path,
    opts: &SheetOptions,
    fields: &FieldMapping,
    formats: &Formats,
    ctx: &ParseContext,
) -> Result<SheetRecords, FormatError> {
    let file = path.display().to_string();
    let config = |reason: String| FormatError::Config {
        file: file.clone(),
        reason,
    };
    let parser = RowParser::new(fields, formats, ctx).map_err(config)?;
    if opts.header_row == 0 {
        return Err(config("sheet.header_row counts from 1".to_string()));
    }
    check_zip_end(path, &file)?;
    let limits = ctx.limits;
    let streamed = |name: &str| zipped::is_xlsx_worksheet(name) || name == "content.xml";
    let zipped = zipped::check(path, &file, &limits, streamed)?;
    let (rows, sheet, render) = if is_ods(path, zipped) {
        let names = ods::sheet_names(path, &limits).map_err(|stop| match stop {
            Stop::TooLarge(reason) => FormatError::TooLarge {
                file: file.clone(),
                reason,
            },
            Stop::Failed(reason) => FormatError::Unreadable {
                file: file.clone(),
                source: std::io::Error::other(format!("{reason}; is it an ODS spreadsheet?")),
            },
        })?;
        let sheet = pick_sheet(&names, opts.sheet.as_deref()).map_err(config)?;
        let render = Render::new(formats, fields.time.is_some(), false);
        let rows = spawn_ods_reader(path.to_owned(), sheet.clone(), limits);
        (rows, sheet, render)
    } else {
        if zipped.is_some() {
            zipped::scan_worksheets(path, &file, &limits)?;
        }
        let workbook = open_workbook_auto(path).map_err(|err| unreadable(&file, err))?;
        let sheet = pick_sheet(&workbook.sheet_names(), opts.sheet.as_deref()).map_err(config)?;
        let render = Render::new(formats, fields.time.is_some(), is_1904(&workbook));
        let rows = spawn_reader(workbook, sheet.clone(), limits);
        (rows, sheet, render)
    };
    let rows = rows.map_err(|source| FormatError::Unreadable {
        file: file.clone(),
        source,
    })?;
    let header = read_header(&rows, opts.header_row - 1, &file)?;
    let found = header_names(&header, &render);
    let columns = Columns::resolve(fields, &found).map_err(|missing| {
        let hint = format!(
            "the header was read from row {} of sheet {sheet:?}",
            header.index + 1
        );
        let columns = found.iter().filter(|h| !h.is_empty()).count();
        FormatError::missing_columns(&file, fields, missing, found.clone(), columns, Some(hint))
    })?;
    Ok(Records::new(SheetRows {
        rows,
        sheet,
        header: found,
        last_row: u64::from(header.index) + 1,
        columns,
        render,
        parser,
        report: ReadReport::default(),
    }))
}

impl ReadRows for SheetRows {
    type Report = ReadReport;

    fn read_row(&mut self) -> Option<Result<ParsedRow, RowError>> {
        loop {
            let row = match self.rows.recv() {
                Ok(Msg::Row(row)) => row,
                Ok(Msg::End) => return None,
                Ok(Msg::Failed(reason)) => return Some(Err(self.abort(reason))),
                Ok(Msg::TooLarge(reason)) => return Some(Err(self.refuse(reason))),
                Err(_) => return Some(Err(self.abort("the reader stopped unexpectedly".into()))),
            };
            let line = u64::from(row.index) + 1;
            self.last_row = line;
            if row.is_blank() {
                self.report.blank_rows += 1;
                continue;
            }
            self.report.rows += 1;
            let source = RowCells {
                row: &row,
                columns: &self.columns,
                render: &self.render,
            };
            let parsed = self.parser.parse(line, &source);
            return Some(self.report.noted(parsed.map_err(|err| self.locate(err))));
        }
    }

    fn report(&self) -> &ReadReport {
        &self.report
    }
}

impl SheetRows {
    /// Names the failing field's cell, `Termine!C17`, found by the column's header.
    fn locate(&self, err: RowError) -> RowError {
        let wanted = err.field.trim().to_lowercase();
        let column = (err.target.is_some() && !wanted.is_empty())
            .then(|| {
                self.header
                    .iter()
                    .position(|h| h.trim().to_lowercase() == wanted)
            })
            .flatten();
        let cell = column.map(|column| cell_ref(&self.sheet, column, err.line));
        RowError { cell, ..err }
    }

    fn abort(&mut self, reason: String) -> RowError {
        let reason = format!(
            "reading stopped, the rest of sheet {} is lost: {reason}",
            self.sheet
        );
        self.refuse(reason)
    }

    /// Stops reading for `reason`: the snapshot is incomplete and must not be applied.
    fn refuse(&mut self, reason: String) -> RowError {
        self.report.abort(self.last_row, reason)
    }
}

/// A cell reference as a spreadsheet's name box takes it: `Termine!C17`, `'Termine 2026'!C17`.
fn cell_ref(sheet: &str, column: usize, row: u64) -> String {
    let plain = !sheet.starts_with(|c: char| c.is_ascii_digit())
        && sheet
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    let column = column_letters(u32::try_from(column).unwrap_or(u32::MAX - 1));
    match plain {
        true => format!("{sheet}!{column}{row}"),
        false => format!("'{}'!{column}{row}", sheet.replace('\'', "''")),
    }
}

/// A whole row as a spreadsheet's name box takes it: `Termine!17:17`.
fn row_ref(sheet: &str, row: u64) -> String {
    let cell = cell_ref(sheet, 0, row);
    let (sheet, _) = cell.rsplit_once('!').unwrap_or(("", ""));
    format!("{sheet}!{row}:{row}")
}

/// Refuses a zip (XLSX, ODS) that lacks the end-of-central-directory record every complete
/// zip archive ends with: it was cut off, or is still being written or copied. Only the first
/// bytes and the last 64 KiB are read; other files pass, to be judged by their reader.
fn check_zip_end(path: &Path, file: &str) -> Result<(), FormatError> {
    const EOCD: &[u8] = b"PK\x05\x06";
    // The record is 22 bytes plus a comment of up to 65,535.
    const TAIL: u64 = 22 + 65_535;
    let unreadable = |source: std::io::Error| FormatError::Unreadable {
        file: file.to_string(),
        source,
    };
    let mut input = File::open(path).map_err(unreadable)?;
    let mut head = [0_u8; 4];
    if input.read_exact(&mut head).is_err() || head != *b"PK\x03\x04" {
        return Ok(());
    }
    let len = input.metadata().map_err(unreadable)?.len();
    let from = len.saturating_sub(TAIL);
    input.seek(SeekFrom::Start(from)).map_err(unreadable)?;
    let mut tail = Vec::with_capacity((len - from) as usize);
    input.read_to_end(&mut tail).map_err(unreadable)?;
    if tail.windows(EOCD.len()).any(|w| w == EOCD) {
        return Ok(());
    }
    Err(FormatError::CutOff {
        file: file.to_string(),
        at: format!("after {len} bytes"),
        reason: "it is a zip archive (as XLSX and ODS files are) without the directory that \
                 ends every complete one: was it still being written or copied?"
            .to_string(),
    })
}

/// The configured sheet (exact name, else the only case-insensitive match), or the first.
fn pick_sheet(names: &[String], wanted: Option<&str>) -> Result<String, String> {
    let listed = || {
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        quoted.join(", ")
    };
    let Some(wanted) = wanted else {
        return names
            .first()
            .cloned()
            .ok_or_else(|| "the workbook has no sheets".to_string());
    };
    if let Some(exact) = names.iter().find(|n| *n == wanted) {
        return Ok(exact.clone());
    }
    let folded: Vec<&String> = names
        .iter()
        .filter(|n| n.trim().to_lowercase() == wanted.trim().to_lowercase())
        .collect();
    match folded.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(format!(
            "sheet.sheet {wanted:?} is not in the workbook; its sheets are {}",
            listed()
        )),
    }
}

/// An ODS file by its extension, or by its zip's `mimetype` entry when it has none.
fn is_ods(path: &Path, zipped: Option<zipped::Zipped>) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => ext.eq_ignore_ascii_case("ods"),
        None => zipped.is_some_and(|z| z.ods),
    }
}

/// Starts the thread that streams an ODS sheet's rows, in order, then `End`.
fn spawn_ods_reader(
    path: std::path::PathBuf,
    sheet: String,
    limits: Limits,
) -> std::io::Result<Receiver<Msg>> {
    let (tx, rx) = sync_channel(ROWS_IN_FLIGHT);
    std::thread::Builder::new()
        .name("ods-reader".to_string())
        .spawn(move || {
            let _ = tx.send(match ods::stream(&path, &sheet, &limits, &tx) {
                Ok(()) => Msg::End,
                Err(stop) => stop.into_msg(),
            });
        })?;
    Ok(rx)
}

/// Puts a cell's value at its 0-based column, filling the gap before it with empty cells.
fn put(cells: &mut Vec<Data>, column: u32, value: Data) {
    let column = column as usize;
    if cells.len() <= column {
        cells.resize(column + 1, Data::Empty);
    }
    cells[column] = value;
}

/// Takes rows up to the header row and returns it; rows above it are not data.
fn read_header(rows: &Receiver<Msg>, header: u32, file: &str) -> Result<SheetRow, FormatError> {
    let empty = || FormatError::Empty {
        file: file.to_string(),
    };
    loop {
        match rows.recv() {
            Ok(Msg::Row(row)) if row.index < header => continue,
            Ok(Msg::Row(row)) if row.index == header => return Ok(row),
            // The header row itself is empty: the first row below stands in, unread.
            Ok(Msg::Row(row)) => {
                return Ok(SheetRow {
                    index: header,
                    cells: vec![Data::Empty; row.cells.len()],
                });
            }
            Ok(Msg::End) => return Err(empty()),
            Ok(Msg::Failed(reason)) => {
                return Err(FormatError::Unreadable {
                    file: file.to_string(),
                    source: std::io::Error::other(reason),
                });
            }
            Ok(Msg::TooLarge(reason)) => {
                return Err(FormatError::TooLarge {
                    file: file.to_string(),
                    reason,
                });
            }
            Err(_) => return Err(empty()),
        }
    }
}

/// The header row's cells as column names.
fn header_names(header: &SheetRow, render: &Render) -> Vec<String> {
    header
        .cells
        .iter()
        .map(|cell| {
            let text = render.text(cell, Field::Key).unwrap_or_default();
            text.trim().to_string()
        })
        .collect()
}

/// One row seen through the column map.
struct RowCells<'r> {
    row: &'r SheetRow,
    columns: &'r Columns,
    render: &'r Render,
}

impl RowSource for RowCells<'_> {
    fn text(&self, field: Field) -> Result<Option<Cow<'_, str>>, String> {
        self.text_nth(field, 0)
    }

    fn text_nth(&self, field: Field, nth: usize) -> Result<Option<Cow<'_, str>>, String> {
        let Some(column) = self.columns.nth(field, nth) else {
            return Ok(None);
        };
        let cell = self.row.cells.get(column).unwrap_or(&Data::Empty);
        self.render.text(cell, field).map(Some)
    }
}

#[cfg(test)]
mod tests;
