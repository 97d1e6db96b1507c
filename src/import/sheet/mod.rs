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
//! an ODS file when it opens it). XLS and XLSB sheets are loaded whole by calamine. Either way a worker thread reads the sheet and hands rows over a bounded channel,
//! because calamine's cell reader borrows the workbook and cannot live in the iterator.
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
mod zipped;

use crate::import::csv::{Columns, looks_like_header};
use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{Data, Reader, Sheets, open_workbook_auto};
use serde::{Deserialize, Serialize};

use crate::import::csv::{FormatError, ReadReport};
use crate::import::limits::{Limit, Limits};
use crate::import::mapping::{
    Field, FieldMapping, Formats, ParseContext, ParsedRow, RowError, RowParser, RowSource,
};
use cells::{Render, column_letters};

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
pub struct SheetRecords {
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
    done: bool,
}

impl fmt::Debug for SheetRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SheetRecords")
            .field("sheet", &self.sheet)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
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
        missing_columns(&file, fields, missing, found.clone(), hint)
    })?;
    Ok(SheetRecords {
        rows,
        sheet,
        header: found,
        last_row: u64::from(header.index) + 1,
        columns,
        render,
        parser,
        report: ReadReport::default(),
        done: false,
    })
}

impl SheetRecords {
    /// Counts and warnings so far; final once the iterator returned `None`.
    pub fn report(&self) -> &ReadReport {
        &self.report
    }

    /// The name of the sheet being read.
    pub fn sheet(&self) -> &str {
        &self.sheet
    }

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
            return Some(match self.parser.parse(line, &source) {
                Ok(parsed) => {
                    self.note(&parsed);
                    Ok(parsed)
                }
                Err(err) => Err(self.locate(err)),
            });
        }
    }

    fn note(&mut self, parsed: &ParsedRow) {
        for warning in &parsed.warnings {
            self.report.note(warning);
        }
    }

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
        self.done = true;
        self.report.aborted = Some(reason.clone());
        RowError {
            line: self.last_row,
            field: String::new(),
            target: None,
            reason,
            key: None,
            cell: None,
        }
    }
}

impl Iterator for SheetRecords {
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

fn unreadable(file: &str, err: calamine::Error) -> FormatError {
    let source = match err {
        calamine::Error::Io(io) => io,
        other => std::io::Error::other(format!("{other}; is it an XLSX, ODS or XLS spreadsheet?")),
    };
    FormatError::Unreadable {
        file: file.to_string(),
        source,
    }
}

fn is_1904<R: std::io::Read + std::io::Seek>(workbook: &Sheets<R>) -> bool {
    match workbook {
        Sheets::Xlsx(book) => book.has_1904_epoch(),
        Sheets::Xls(book) => book.has_1904_epoch(),
        Sheets::Xlsb(book) => book.has_1904_epoch(),
        Sheets::Ods(_) => false,
    }
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

/// Starts the thread that reads the sheet and sends its rows, in order, then `End`.
fn spawn_reader(
    workbook: Sheets<BufReader<File>>,
    sheet: String,
    limits: Limits,
) -> std::io::Result<Receiver<Msg>> {
    let (tx, rx) = sync_channel(ROWS_IN_FLIGHT);
    std::thread::Builder::new()
        .name("sheet-reader".to_string())
        .spawn(move || {
            let mut sized = Sized::new(&sheet, &limits);
            let outcome = match workbook {
                Sheets::Xlsx(mut book) => stream_xlsx(&mut book, &mut sized, &tx),
                mut other => send_range(&mut other, &mut sized, &tx),
            };
            // A failed send means the iterator was dropped: nobody is listening.
            let _ = tx.send(match outcome {
                Ok(()) => Msg::End,
                Err(stop) => stop.into_msg(),
            });
        })?;
    Ok(rx)
}

/// Holds the cells of the sheet being read to the limits: each one and each row.
struct Sized<'a> {
    sheet: &'a str,
    limits: &'a Limits,
    row: u32,
    row_bytes: u64,
}

impl<'a> Sized<'a> {
    fn new(sheet: &'a str, limits: &'a Limits) -> Self {
        Sized {
            sheet,
            limits,
            row: 0,
            row_bytes: 0,
        }
    }

    /// Counts a cell of `len` bytes at 0-based `row` and `column`.
    fn cell(&mut self, row: u32, column: u32, len: u64) -> Result<(), Stop> {
        if row != self.row {
            (self.row, self.row_bytes) = (row, 0);
        }
        let line = u64::from(row) + 1;
        if len > self.limits.get(Limit::Cell) {
            let at = cell_ref(self.sheet, column as usize, line);
            return Err(Stop::TooLarge(self.limits.exceeded(
                Limit::Cell,
                at,
                "a cell",
            )));
        }
        self.row_bytes += len.max(16);
        if self.row_bytes > self.limits.get(Limit::Record) {
            let at = row_ref(self.sheet, line);
            return Err(Stop::TooLarge(self.limits.exceeded(
                Limit::Record,
                at,
                "a row",
            )));
        }
        Ok(())
    }
}

/// The bytes a cell's text takes (a number or a date: none to speak of).
fn text_len(value: &calamine::DataRef<'_>) -> u64 {
    use calamine::DataRef as D;
    match value {
        D::SharedString(t) => t.len() as u64,
        D::String(t) | D::DateTimeIso(t) | D::DurationIso(t) => t.len() as u64,
        _ => 0,
    }
}

/// Streams an XLSX sheet cell by cell; cells arrive in row order.
fn stream_xlsx(
    book: &mut calamine::Xlsx<BufReader<File>>,
    sized: &mut Sized,
    tx: &SyncSender<Msg>,
) -> Result<(), Stop> {
    let mut reader = book
        .worksheet_cells_reader(sized.sheet)
        .map_err(|err| err.to_string())?;
    let mut current: Option<SheetRow> = None;
    while let Some(cell) = reader.next_cell().map_err(|err| err.to_string())? {
        let (index, column) = cell.get_position();
        // Checked before it is copied: a shared string may stand in many cells.
        sized.cell(index, column, text_len(cell.get_value()))?;
        // A new row index closes the row before; a failed send means nobody listens.
        let finished = current.take_if(|row| row.index != index);
        if let Some(row) = finished
            && tx.send(Msg::Row(row)).is_err()
        {
            return Ok(());
        }
        let row = current.get_or_insert_with(|| SheetRow {
            index,
            cells: Vec::new(),
        });
        let value = Data::from(cell.get_value().clone());
        if value != Data::Empty {
            put(&mut row.cells, column, value);
        }
    }
    if let Some(row) = current {
        let _ = tx.send(Msg::Row(row));
    }
    Ok(())
}

fn put(cells: &mut Vec<Data>, column: u32, value: Data) {
    let column = column as usize;
    if cells.len() <= column {
        cells.resize(column + 1, Data::Empty);
    }
    cells[column] = value;
}

/// Loads a whole sheet (XLS, XLSB: their parts are within `max_zip_entry_bytes`) and sends its
/// rows.
fn send_range(
    book: &mut Sheets<BufReader<File>>,
    sized: &mut Sized,
    tx: &SyncSender<Msg>,
) -> Result<(), Stop> {
    let range = book
        .worksheet_range(sized.sheet)
        .map_err(|err| err.to_string())?;
    let Some((first_row, first_column)) = range.start() else {
        return Ok(());
    };
    let lead = first_column as usize;
    for (offset, cells) in range.rows().enumerate() {
        let index = first_row + offset as u32;
        for (at, cell) in cells.iter().enumerate() {
            let len = match cell {
                Data::String(t) | Data::DateTimeIso(t) | Data::DurationIso(t) => t.len() as u64,
                _ => 0,
            };
            sized.cell(index, first_column + at as u32, len)?;
        }
        let mut row = SheetRow {
            index,
            cells: vec![Data::Empty; lead],
        };
        row.cells.extend(cells.iter().cloned());
        if tx.send(Msg::Row(row)).is_err() {
            break;
        }
    }
    Ok(())
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

/// The refusal for a header without the mapped columns; the header is shown only when it
/// looks like one, since a data row in its place holds personal data.
fn missing_columns(
    file: &str,
    fields: &FieldMapping,
    missing: Vec<(String, Field)>,
    found: Vec<String>,
    hint: String,
) -> FormatError {
    let columns = found.iter().filter(|h| !h.is_empty()).count();
    FormatError::MissingColumns {
        file: file.to_string(),
        missing,
        found: if looks_like_header(&found, fields) {
            found
        } else {
            Vec::new()
        },
        columns,
        hint: Some(hint),
    }
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
mod tests {
    use super::*;
    use crate::domain::booking::BookingRecord;
    use chrono::{DateTime, TimeZone, Utc};
    use rust_xlsxwriter::{Format, Workbook};
    use std::path::PathBuf;

    /// A cell to write: text, a plain number, or a number in an Excel number format.
    enum C<'a> {
        S(&'a str),
        N(f64),
        F(f64, &'a str),
    }
    use C::{F, N, S};

    const HEADER: [C<'static>; 5] = [
        S("Termin-Nr"),
        S("Datum"),
        S("Uhrzeit"),
        S("Dienstleistung"),
        S("Name"),
    ];

    /// The columns of [`HEADER`].
    fn fields() -> FieldMapping {
        FieldMapping {
            key: "Termin-Nr".into(),
            date: "Datum".into(),
            time: Some("Uhrzeit".into()),
            service: "Dienstleistung".into(),
            name: "Name".into(),
            ..FieldMapping::default()
        }
    }

    /// The columns of the ODS fixture.
    fn ods_fields() -> FieldMapping {
        FieldMapping {
            phone: Some("Telefon".into()),
            ..fields()
        }
    }

    /// The columns written by [`header_and`].
    fn more_fields() -> FieldMapping {
        FieldMapping {
            phone: Some("Telefon".into()),
            duration: Some("Dauer".into()),
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

    /// Writes an XLSX with the given sheets into a fresh temp dir.
    fn xlsx(sheets: &[(&str, Vec<Vec<C<'_>>>)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("export.xlsx");
        let mut book = Workbook::new();
        for (name, rows) in sheets {
            let sheet = book.add_worksheet();
            sheet.set_name(*name).expect("valid name");
            for (r, row) in rows.iter().enumerate() {
                for (c, cell) in row.iter().enumerate() {
                    let (r, c) = (r as u32, c as u16);
                    let written = match cell {
                        S(text) => sheet.write_string(r, c, *text),
                        N(number) => sheet.write_number(r, c, *number),
                        F(number, format) => sheet.write_number_with_format(
                            r,
                            c,
                            *number,
                            &Format::new().set_num_format(*format),
                        ),
                    };
                    written.expect("cell written");
                }
            }
        }
        book.save(&path).expect("saved");
        (dir, path)
    }

    fn header_and(rows: Vec<Vec<C<'static>>>) -> Vec<Vec<C<'static>>> {
        let mut all = vec![
            HEADER
                .into_iter()
                .chain([S("Telefon"), S("Dauer")])
                .collect(),
        ];
        all.extend(rows);
        all
    }

    fn open(
        path: &Path,
        opts: &SheetOptions,
        fields: &FieldMapping,
    ) -> Result<SheetRecords, FormatError> {
        open_file(path, opts, fields, &Formats::default(), &ctx())
    }

    fn read(
        path: &Path,
        opts: &SheetOptions,
        fields: &FieldMapping,
    ) -> (Vec<Result<ParsedRow, RowError>>, ReadReport) {
        let mut records = open(path, opts, fields).expect("opens");
        let rows: Vec<_> = records.by_ref().collect();
        (rows, records.report().clone())
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn named(sheet: &str) -> SheetOptions {
        SheetOptions {
            sheet: Some(sheet.to_string()),
            ..SheetOptions::default()
        }
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
    fn serial_dates_and_a_separate_time_cell_combine_in_the_tenants_zone() {
        let (_dir, path) = xlsx(&[(
            "Termine",
            header_and(vec![
                vec![
                    S("T-1"),
                    F(46083.0, "dd.mm.yyyy"),
                    F(0.4375, "hh:mm"),
                    S("Zulassung"),
                    S("Erika"),
                ],
                // Summer time, and a whole date-time in the date cell: the time cell wins.
                vec![
                    S("T-2"),
                    F(46204.99, "dd.mm.yyyy hh:mm"),
                    F(0.3333333333333333, "hh:mm"),
                    S("Pass"),
                    S("Max"),
                ],
            ]),
        )]);
        let (rows, report) = read(&path, &SheetOptions::default(), &more_fields());
        assert_eq!(ok(&rows[0]).starts_at, utc(2026, 3, 2, 9, 30));
        assert_eq!(ok(&rows[1]).starts_at, utc(2026, 7, 1, 6, 0));
        assert_eq!((report.rows, report.aborted), (2, None));
    }

    #[test]
    fn one_date_time_cell_is_read_when_no_time_column_is_mapped() {
        let (_dir, path) = xlsx(&[(
            "Termine",
            vec![
                vec![S("id"), S("start"), S("service"), S("name")],
                vec![
                    S("a"),
                    F(46083.4375, "yyyy-mm-dd hh:mm"),
                    S("Pass"),
                    S("Ida"),
                ],
                vec![S("b"), F(46083.0, "yyyy-mm-dd"), S("Pass"), S("Ole")],
            ],
        )]);
        let fields = FieldMapping {
            key: "id".into(),
            date: "start".into(),
            ..FieldMapping::default()
        };
        let mut records = open_file(
            &path,
            &SheetOptions::default(),
            &fields,
            &Formats::default(),
            &ctx(),
        )
        .expect("opens");
        assert_eq!(
            ok(&records.next().expect("row")).starts_at,
            utc(2026, 3, 2, 9, 30)
        );
        let err = records
            .next()
            .expect("row")
            .expect_err("a date alone has no time");
        assert!(err.reason.contains("without a time"), "{err}");
    }

    #[test]
    fn a_workbook_in_the_1904_system_counts_from_1904() {
        let (rows, _) = read(
            &fixture("termine-1904.xlsx"),
            &SheetOptions::default(),
            &fields(),
        );
        let record = ok(&rows[0]);
        assert_eq!(
            (record.key.as_str(), record.starts_at),
            ("1", utc(2026, 3, 2, 9, 30))
        );
    }

    #[test]
    fn text_dates_numeric_keys_phones_and_durations_are_read() {
        let (_dir, path) = xlsx(&[(
            "Termine",
            header_and(vec![vec![
                N(1234.0),
                S("02.03.2026"),
                S("10:30"),
                S("Zulassung"),
                S("Erika"),
                N(491711234567.0),
                F(20.0 / 1440.0, "[h]:mm"),
            ]]),
        )]);
        let (rows, _) = read(&path, &SheetOptions::default(), &more_fields());
        let record = ok(&rows[0]);
        assert_eq!(record.key, "1234");
        assert_eq!(record.starts_at, utc(2026, 3, 2, 9, 30));
        assert_eq!(
            record.ends_at,
            utc(2026, 3, 2, 9, 50),
            "a 20-minute duration cell"
        );
        let phone = record.phone.as_ref().expect("phone");
        assert_eq!(phone.raw, "491711234567", "no .0, no exponent");
        assert_eq!(phone.e164.as_deref(), Some("+491711234567"));
    }

    #[test]
    fn an_ods_export_reads_typed_and_text_cells_from_the_named_sheet() {
        let (rows, report) = read(&fixture("termine.ods"), &named("Termine"), &ods_fields());
        assert_eq!(report.rows, 4);
        let first = ok(&rows[0]);
        assert_eq!(
            (first.key.as_str(), first.starts_at),
            ("1234", utc(2026, 3, 2, 9, 30))
        );
        let phone = first.phone.as_ref().expect("phone");
        assert_eq!(
            phone.e164.as_deref(),
            Some("+491711234567"),
            "a national number stored as a number"
        );
        assert_eq!(
            ok(&rows[1]).starts_at,
            utc(2026, 3, 3, 7, 15),
            "text date and time"
        );
        assert_eq!(
            ok(&rows[2]).starts_at,
            utc(2026, 3, 4, 8, 45),
            "the time cell wins"
        );
        let err = rows[3].as_ref().expect_err("31 February");
        assert_eq!((err.line, err.key.as_deref()), (5, Some("1237")));
        assert_eq!(err.cell.as_deref(), Some("Termine!B5"), "{err}");
    }

    #[test]
    fn the_first_sheet_is_the_default() {
        let err = open(
            &fixture("termine.ods"),
            &SheetOptions::default(),
            &ods_fields(),
        )
        .expect_err("notes sheet");
        let message = err.to_string();
        assert!(
            matches!(err, FormatError::MissingColumns { .. }),
            "{message}"
        );
        assert!(message.contains(r#"sheet "Hinweise""#), "{message}");
    }

    #[test]
    fn a_wrong_sheet_name_is_refused_listing_the_sheets() {
        let err = open(&fixture("termine.ods"), &named("Buchungen"), &ods_fields())
            .expect_err("no such sheet");
        let message = err.to_string();
        assert!(message.starts_with(&fixture("termine.ods").display().to_string()));
        assert!(
            message.contains(
                r#""Buchungen" is not in the workbook; its sheets are "Hinweise", "Termine""#
            ),
            "{message}"
        );
        assert!(
            open(&fixture("termine.ods"), &named("termine"), &ods_fields()).is_ok(),
            "case is forgiven"
        );
    }

    #[test]
    fn a_bad_row_is_rejected_with_its_cell_and_the_rest_imports() {
        let (_dir, path) = xlsx(&[(
            "Termine",
            header_and(vec![
                vec![S("1"), S("02.03.2026"), S("10:30"), S("Pass"), S("Erika")],
                vec![
                    S("2"),
                    S("02.03.2026"),
                    S("10:30"),
                    S("Pass"),
                    S("Max"),
                    S("0171 12345678901234"),
                ],
                vec![S(" "), S(" ")],
                vec![S("3"), S("02.03.2026"), S("25:00"), S("Pass"), S("Ida")],
                vec![S("4"), S("02.03.2026"), S("11:00"), S("Pass"), S("Ole")],
            ]),
        )]);
        let (rows, report) = read(&path, &SheetOptions::default(), &more_fields());
        let errors: Vec<(u64, &str, &str)> = rows
            .iter()
            .filter_map(|row| row.as_ref().err())
            .map(|err| (err.line, err.field.as_str(), err.reason.as_str()))
            .collect();
        // The unusable phone number costs row 3 its SMS, not its booking.
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].0, errors[0].1), (5, "Uhrzeit"));
        let cells: Vec<Option<&str>> = rows
            .iter()
            .filter_map(|row| row.as_ref().err())
            .map(|err| err.cell.as_deref())
            .collect();
        assert_eq!(cells, [Some("Termine!C5")]);
        let ok: Vec<&BookingRecord> = rows
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| &r.record)
            .collect();
        let keys: Vec<&str> = ok.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["1", "2", "4"]);
        let problem = ok[1].phone_problem.as_deref().expect("phone problem");
        assert!(problem.starts_with("phone number unusable"), "{problem}");
        assert!(!problem.contains("12345"), "no phone number in messages");
        assert_eq!((report.rows, report.blank_rows), (4, 1));
    }

    #[test]
    fn a_sheet_without_its_header_row_is_refused_without_repeating_the_first_row() {
        let (_dir, path) = xlsx(&[(
            "Termine",
            vec![vec![
                S("1"),
                S("02.03.2026"),
                S("10:30"),
                S("Pass"),
                S("Erika Mustermann"),
                S("0171 2345678"),
            ]],
        )]);
        let err = open(&path, &SheetOptions::default(), &fields()).expect_err("refused");
        let message = err.to_string();
        assert!(message.contains(r#""Uhrzeit" (time)"#), "{message}");
        assert!(message.contains("does not look like a header"), "{message}");
        assert!(
            !message.contains("Erika") && !message.contains("2345678"),
            "{message}"
        );
    }

    #[test]
    fn the_header_row_can_sit_below_a_title() {
        let (_dir, path) = xlsx(&[(
            "Termine",
            vec![
                vec![S("Terminliste Bürgeramt")],
                vec![],
                HEADER.into_iter().collect(),
                vec![
                    S("1"),
                    F(46083.0, "dd.mm.yyyy"),
                    S("10:30"),
                    S("Pass"),
                    S("Erika"),
                ],
            ],
        )]);
        let opts = SheetOptions {
            header_row: 3,
            ..SheetOptions::default()
        };
        let (rows, _) = read(&path, &opts, &fields());
        assert_eq!(rows[0].as_ref().map(|r| r.line), Ok(4));
        let err = open(&path, &SheetOptions::default(), &fields()).expect_err("row 1 is a title");
        assert!(err.to_string().contains("row 1"), "{err}");
        let zero = SheetOptions {
            header_row: 0,
            ..SheetOptions::default()
        };
        assert!(matches!(
            open(&path, &zero, &fields()),
            Err(FormatError::Config { .. })
        ));
    }

    #[test]
    fn a_file_that_is_no_spreadsheet_is_refused_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("termine.xlsx");
        std::fs::write(&path, "Termin-Nr;Datum\n1;02.03.2026\n").expect("written");
        let err = open(&path, &SheetOptions::default(), &fields()).expect_err("not a zip");
        assert!(matches!(err, FormatError::Unreadable { .. }), "{err}");
        assert!(err.to_string().contains("termine.xlsx"), "{err}");
        let missing = open(
            &dir.path().join("fehlt.ods"),
            &SheetOptions::default(),
            &fields(),
        );
        assert!(matches!(missing, Err(FormatError::Unreadable { .. })));
    }

    #[test]
    fn the_sheet_options_deserialise_from_toml() {
        let opts: SheetOptions =
            toml::from_str("sheet = \"Termine\"\nheader_row = 2").expect("valid");
        assert_eq!(
            (opts.sheet.as_deref(), opts.header_row),
            (Some("Termine"), 2)
        );
        let opts: SheetOptions = toml::from_str("").expect("defaults");
        assert_eq!(opts, SheetOptions::default());
        assert!(toml::from_str::<SheetOptions>("tab = \"Termine\"").is_err());
    }

    #[test]
    fn the_reader_can_move_to_a_blocking_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<SheetRecords>();
    }

    #[test]
    fn a_bad_cell_is_named_as_the_name_box_takes_it() {
        let keys: Vec<String> = (0..=16).map(|i| format!("T-{i}")).collect();
        for (sheet, want) in [
            ("Sheet1", "Sheet1!C17"),
            ("Termine 2026", "'Termine 2026'!C17"),
        ] {
            let mut rows: Vec<Vec<C<'_>>> = keys[2..]
                .iter()
                .map(|key| vec![S(key), S("02.03.2026"), S("10:30"), S("Pass"), S("Erika")])
                .collect();
            rows.insert(0, HEADER.into_iter().collect());
            rows.push(vec![
                S("T-17"),
                S("02.03.2026"),
                S("25:00"),
                S("Pass"),
                S("Max"),
            ]);
            rows.push(vec![
                S("T-18"),
                S("02.03.2026"),
                S("11:00"),
                S(""),
                S("Ole"),
            ]);
            let (_dir, path) = xlsx(&[(sheet, rows)]);
            let (rows, _) = read(&path, &SheetOptions::default(), &fields());
            let errors: Vec<(u64, Option<&str>, &str)> = rows
                .iter()
                .filter_map(|row| row.as_ref().err())
                .map(|err| (err.line, err.cell.as_deref(), err.field.as_str()))
                .collect();
            assert_eq!(errors, [(17, Some(want), "Uhrzeit")]);
            assert_eq!(rows.iter().filter(|r| r.is_ok()).count(), 16);
        }
        assert_eq!(cell_ref("Termine", 27, 5), "Termine!AB5");
        assert_eq!(cell_ref("2026", 0, 1), "'2026'!A1");
        assert_eq!(cell_ref("Bürger's", 1, 2), "'Bürger''s'!B2");
    }

    #[test]
    fn a_workbook_cut_at_half_its_size_is_refused_as_cut_off() {
        let keys: Vec<String> = (1..=200).map(|i| format!("T-{i}")).collect();
        let mut rows = vec![HEADER.into_iter().chain([S("Telefon")]).collect()];
        rows.extend(
            keys.iter()
                .map(|key| vec![S(key), S("02.03.2026"), S("10:30"), S("Pass"), S("Erika")]),
        );
        let (dir, xlsx_path) = xlsx(&[("Termine", rows)]);
        let ods_path = dir.path().join("termine.ods");
        std::fs::copy(fixture("termine.ods"), &ods_path).expect("copied");
        for (path, opts) in [
            (xlsx_path, SheetOptions::default()),
            (ods_path, named("Termine")),
        ] {
            assert!(open(&path, &opts, &ods_fields()).is_ok(), "whole, it opens");
            let bytes = std::fs::read(&path).expect("written");
            let half = bytes.len() / 2;
            std::fs::write(&path, &bytes[..half]).expect("cut");
            let err = open(&path, &opts, &ods_fields()).expect_err("cut off");
            assert!(matches!(err, FormatError::CutOff { .. }), "{err}");
            let want = format!("{}: looks cut off after {half} bytes: ", path.display());
            assert!(err.to_string().starts_with(&want), "{err}");
        }
    }

    /// An XLSX written part by part (as `scripts/bench-export.py` writes it, inline strings),
    /// with `extra` parts; `rows` are the `<row>` elements of its one sheet, "Termine".
    fn xlsx_parts(rows: &str, extra: &[(&str, &[u8])]) -> (tempfile::TempDir, PathBuf) {
        use std::io::Write;
        const RELS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
        let parts = [
            (
                "[Content_Types].xml",
                r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_string(),
            ),
            (
                "_rels/.rels",
                format!(r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
            ),
            (
                "xl/workbook.xml",
                format!(r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{RELS}"><sheets><sheet name="Termine" sheetId="1" r:id="rId1"/></sheets></workbook>"#),
            ),
            (
                "xl/_rels/workbook.xml.rels",
                format!(r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#),
            ),
            (
                "xl/worksheets/sheet1.xml",
                format!(r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>"#),
            ),
        ];
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("export.xlsx");
        let mut zip = zip::ZipWriter::new(File::create(&path).expect("created"));
        let deflated = zip::write::SimpleFileOptions::default();
        for (name, text) in &parts {
            zip.start_file(*name, deflated).expect("part");
            zip.write_all(text.as_bytes()).expect("written");
        }
        for (name, bytes) in extra {
            zip.start_file(*name, deflated).expect("part");
            zip.write_all(bytes).expect("written");
        }
        zip.finish().expect("finished");
        (dir, path)
    }

    /// The header row and one booking row of [`fields`], `name` in cell E2.
    fn inline_rows(name: &str) -> String {
        let cell =
            |r: &str, t: &str| format!(r#"<c r="{r}" t="inlineStr"><is><t>{t}</t></is></c>"#);
        let header: String = ["A1", "B1", "C1", "D1", "E1"]
            .iter()
            .zip(["Termin-Nr", "Datum", "Uhrzeit", "Dienstleistung", "Name"])
            .map(|(r, t)| cell(r, t))
            .collect();
        let row: String = ["A2", "B2", "C2", "D2", "E2"]
            .iter()
            .zip(["K1", "02.03.2026", "10:30", "Pass", name])
            .map(|(r, t)| cell(r, t))
            .collect();
        format!(r#"<row r="1">{header}</row><row r="2">{row}</row>"#)
    }

    fn with_limits(limits: Limits) -> ParseContext {
        ParseContext { limits, ..ctx() }
    }

    #[test]
    fn a_part_that_unzips_past_its_limit_is_refused_before_it_is_unzipped() {
        let bomb = vec![0_u8; 8 << 20];
        let (_dir, path) = xlsx_parts(&inline_rows("Erika"), &[("xl/sharedStrings.xml", &bomb)]);
        assert!(
            std::fs::metadata(&path).expect("written").len() < 64 << 10,
            "a small file"
        );
        let limits = Limits {
            max_zip_entry_bytes: crate::import::limits::ByteSize(1 << 20),
            ..Limits::default()
        };
        let opened = open_file(
            &path,
            &SheetOptions::default(),
            &fields(),
            &Formats::default(),
            &with_limits(limits),
        );
        let err = opened.expect_err("refused");
        let want = format!(
            "{}: part xl/sharedStrings.xml: it unzips to 8 MiB, which is over the limit of 1 MiB (limits.max_zip_entry_bytes)",
            path.display()
        );
        assert!(
            matches!(err, FormatError::TooLarge { .. }) && err.to_string().starts_with(&want),
            "{err}"
        );
        let small_total = Limits {
            max_unzipped_bytes: crate::import::limits::ByteSize(4 << 20),
            ..Limits::default()
        };
        let err = open_file(
            &path,
            &SheetOptions::default(),
            &fields(),
            &Formats::default(),
            &with_limits(small_total),
        )
        .expect_err("refused");
        assert!(
            err.to_string().contains("(limits.max_unzipped_bytes)"),
            "{err}"
        );
        let (_dir, fine) = xlsx_parts(&inline_rows("Erika"), &[]);
        let (rows, report) = read(&fine, &SheetOptions::default(), &fields());
        assert_eq!(
            (rows.len(), report.aborted),
            (1, None),
            "within the limits it reads"
        );
    }

    #[test]
    fn a_long_text_in_a_streamed_worksheet_is_found_before_calamine_reads_it() {
        let (_dir, path) = xlsx_parts(&inline_rows(&"x".repeat(100_000)), &[]);
        let err = open(&path, &SheetOptions::default(), &fields()).expect_err("refused");
        let want = format!(
            "{}: part xl/worksheets/sheet1.xml, cell E2: a text is over the limit of 64 KiB (limits.max_cell_bytes)",
            path.display()
        );
        assert!(
            matches!(err, FormatError::TooLarge { .. }) && err.to_string().starts_with(&want),
            "{err}"
        );
    }

    #[test]
    fn a_long_shared_string_refuses_the_sheet_at_its_cell() {
        // Excel keeps a text to 32,767 characters: a smaller limit stands in for the default.
        let long = "y".repeat(20_000);
        let rows = vec![
            HEADER.into_iter().collect(),
            vec![S("K1"), S("02.03.2026"), S("10:30"), S("Pass"), S("Erika")],
            vec![S("K2"), S("02.03.2026"), S("11:30"), S(&long), S("Max")],
        ];
        let (_dir, path) = xlsx(&[("Termine", rows)]);
        let limits = Limits {
            max_cell_bytes: crate::import::limits::ByteSize(16 << 10),
            ..Limits::default()
        };
        let ctx = with_limits(limits);
        let mut records = open_file(
            &path,
            &SheetOptions::default(),
            &fields(),
            &Formats::default(),
            &ctx,
        )
        .expect("opens");
        let rows: Vec<_> = records.by_ref().collect();
        let aborted = records.report().aborted.clone().expect("refused whole");
        assert!(
            aborted.starts_with(
                "Termine!D3: a cell is over the limit of 16 KiB (limits.max_cell_bytes)"
            ),
            "{aborted}"
        );
        assert!(rows.last().is_some_and(Result::is_err));
    }

    #[test]
    fn a_part_that_unzips_to_more_than_its_directory_says_stops_at_the_stated_size() {
        // The directory says 100 bytes; the part holds 4 MiB of XML comment. The zip crate,
        // under calamine too, stops at the stated size.
        let mut lying = b"<?xml version=\"1.0\"?><sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"0\" uniqueCount=\"0\"><!--".to_vec();
        lying.extend(std::iter::repeat_n(b'-', 4 << 20));
        lying.extend_from_slice(b"--></sst>");
        let (_dir, path) = xlsx_parts(&inline_rows("Erika"), &[("xl/sharedStrings.xml", &lying)]);
        let mut bytes = std::fs::read(&path).expect("written");
        let name = b"xl/sharedStrings.xml";
        let at = bytes
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == b"PK\x01\x02")
            .map(|(at, _)| at)
            .find(|at| bytes[at + 46..].starts_with(name))
            .expect("its directory record");
        bytes[at + 24..at + 28].copy_from_slice(&100_u32.to_le_bytes());
        std::fs::write(&path, &bytes).expect("patched");
        let err = open(&path, &SheetOptions::default(), &fields()).expect_err("refused");
        assert!(
            err.to_string()
                .contains("larger than its declared uncompressed size"),
            "{err}"
        );
    }

    /// Where the benchmark workbook lives: `ABSAGE_SHEET_BENCH`, or the temp dir.
    fn bench_path() -> PathBuf {
        std::env::var_os("ABSAGE_SHEET_BENCH")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("absage-million.xlsx"))
    }

    /// Writes 1,000,000 bookings the way Excel stores them (shared strings, date and time
    /// cells). Run alone first: `cargo test --release -- --ignored --exact
    /// import::sheet::tests::generate_a_million_row_workbook`.
    #[test]
    #[ignore = "writes a 1,000,000-row workbook for the memory benchmark"]
    fn generate_a_million_row_workbook() {
        let mut book = Workbook::new();
        let (date, time) = (
            Format::new().set_num_format("dd.mm.yyyy"),
            Format::new().set_num_format("hh:mm"),
        );
        let sheet = book.add_worksheet_with_low_memory().expect("worksheet");
        sheet.set_name("Termine").expect("name");
        let header = [
            "Termin-Nr",
            "Datum",
            "Uhrzeit",
            "Dienstleistung",
            "Name",
            "Telefon",
            "E-Mail",
        ];
        for (c, text) in header.iter().enumerate() {
            sheet.write_string(0, c as u16, *text).expect("header");
        }
        let services = [
            "Personalausweis",
            "Reisepass",
            "Meldebescheinigung",
            "Zulassung",
        ];
        for i in 1..=1_000_000_u32 {
            let slot = f64::from(8 * 4 + i % 36) / 96.0;
            sheet.write_string(i, 0, format!("T-{i:07}")).expect("key");
            sheet
                .write_number_with_format(i, 1, f64::from(46083 + i % 250), &date)
                .expect("date");
            sheet
                .write_number_with_format(i, 2, slot, &time)
                .expect("time");
            sheet
                .write_string(i, 3, services[i as usize % 4])
                .expect("service");
            sheet
                .write_string(i, 4, format!("Person {i}"))
                .expect("name");
            sheet
                .write_string(i, 5, format!("0171 {:07}", i))
                .expect("phone");
            sheet
                .write_string(i, 6, format!("person{i}@example.org"))
                .expect("email");
        }
        book.save(bench_path()).expect("saved");
    }

    /// Reads the benchmark workbook and prints rows/s and the process's peak memory.
    #[test]
    #[ignore = "needs the workbook of generate_a_million_row_workbook; prints figures"]
    fn a_million_row_workbook_is_read_with_rows_per_second_and_peak_memory() {
        let peak = || {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmHWM:"))
                        .map(str::to_owned)
                })
                .unwrap_or_default()
        };
        let before = peak();
        let started = std::time::Instant::now();
        let fields = FieldMapping {
            phone: Some("Telefon".into()),
            email: Some("E-Mail".into()),
            ..fields()
        };
        let opts = named("Termine");
        let mut records = open(&bench_path(), &opts, &fields).expect("opens");
        let good = records.by_ref().filter(Result::is_ok).count();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{} rows in {seconds:.1} s = {:.0} rows/s; peak before {before}, after {}",
            records.report().rows,
            records.report().rows as f64 / seconds,
            peak()
        );
        assert_eq!((good, records.report().rows), (1_000_000, 1_000_000));
    }
}
