//! Workbooks calamine reads (XLSX streamed cell by cell, XLS and XLSB loaded whole), on a
//! reading thread that holds every cell and row to the source's limits and sends the rows on.

use std::fs::File;
use std::io::BufReader;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{Data, Reader, Sheets};

use super::{FormatError, Msg, ROWS_IN_FLIGHT, SheetRow, Stop, cell_ref, put, row_ref};
use crate::import::limits::{Limit, Limits};

/// The refusal for a workbook calamine cannot open.
pub(super) fn unreadable(file: &str, err: calamine::Error) -> FormatError {
    let source = match err {
        calamine::Error::Io(io) => io,
        other => std::io::Error::other(format!("{other}; is it an XLSX, ODS or XLS spreadsheet?")),
    };
    FormatError::Unreadable {
        file: file.to_string(),
        source,
    }
}

/// Whether the workbook counts its dates from 1904 (old Excel for Mac).
pub(super) fn is_1904<R: std::io::Read + std::io::Seek>(workbook: &Sheets<R>) -> bool {
    match workbook {
        Sheets::Xlsx(book) => book.has_1904_epoch(),
        Sheets::Xls(book) => book.has_1904_epoch(),
        Sheets::Xlsb(book) => book.has_1904_epoch(),
        Sheets::Ods(_) => false,
    }
}

/// Starts the thread that reads the sheet and sends its rows, in order, then `End`.
pub(super) fn spawn_reader(
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
