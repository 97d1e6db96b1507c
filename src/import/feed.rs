//! Feeding an import: the export is opened as its source's kind reads it, on a blocking thread
//! of its own, and its rows are streamed to the importer in chunks through a bounded channel,
//! so memory stays bounded however large the export is.

use std::path::Path;
use tokio::sync::{mpsc, oneshot};

use super::mapping::{ParseContext, ParsedRow, RowError};
use super::read::Export;
use super::{SourceKind, SourceSettings, csv, ics, json, sheet, sql};
use chrono_tz::Tz;

/// Rows sent to the importer at a time. Five chunks are held at most (two queued, one being
/// read, one decided, one written): of 1,000 rows they were 4-6 MiB more than an iCalendar
/// import may take, and 500 are as fast.
const CHUNK: usize = 500;

pub(super) type Chunk = Vec<Result<Hashed, RowError>>;

/// A row with its booking's [`person`](crate::domain::booking::BookingRecord::person) and
/// [`content_hash`](crate::domain::booking::BookingRecord::content_hash), computed on the
/// reader's thread: the importer's own thread waits for the database in between, so what it
/// does not have to do shortens the import.
pub(super) struct Hashed {
    pub(super) row: ParsedRow,
    pub(super) person: String,
    pub(super) content_hash: String,
}

impl Hashed {
    fn new(row: ParsedRow) -> Hashed {
        Hashed {
            person: row.record.person(),
            content_hash: row.record.content_hash(),
            row,
        }
    }
}

/// What the reader thread sends: rows, or the news that the file could not be read to its end
/// (then the snapshot is incomplete and must not be applied).
pub(super) enum ReaderMsg {
    Rows(Chunk),
    Aborted(String),
}

/// Opens the export as the source's kind reads it (`name` stands for it in messages); a
/// refusal is its message.
fn open(
    source: &SourceSettings,
    file: &Path,
    name: &str,
    ctx: &ParseContext,
) -> Result<Box<dyn Export>, String> {
    fn boxed<E: Export + 'static>(
        opened: Result<E, impl std::fmt::Display>,
    ) -> Result<Box<dyn Export>, String> {
        match opened {
            Ok(export) => Ok(Box::new(export)),
            Err(refusal) => Err(refusal.to_string()),
        }
    }
    let (fields, formats) = (&source.fields, &source.formats);
    match source.kind {
        SourceKind::Csv => boxed(csv::open_file(file, &source.csv, fields, formats, ctx)),
        SourceKind::Json => boxed(json::open_file(file, &source.json, fields, formats, ctx)),
        SourceKind::Ics => boxed(ics::open_file(file, &source.ics, fields, formats, ctx)),
        SourceKind::Spreadsheet => {
            boxed(sheet::open_file(file, &source.sheet, fields, formats, ctx))
        }
        SourceKind::Sql => boxed(sql::open(name, &source.sql, fields, formats, ctx)),
    }
}

/// Sends the rows in chunks; false when the importer stopped listening.
fn pump(export: &mut dyn Export, tx: &mpsc::Sender<ReaderMsg>) -> bool {
    let mut chunk = Vec::with_capacity(CHUNK);
    for row in export {
        chunk.push(row.map(Hashed::new));
        if chunk.len() == CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            if tx.blocking_send(ReaderMsg::Rows(full)).is_err() {
                return false;
            }
        }
    }
    chunk.is_empty() || tx.blocking_send(ReaderMsg::Rows(chunk)).is_ok()
}

/// Opens the export on a blocking thread and streams parsed rows in chunks through a bounded
/// channel. An export that is not what the source expects is refused with one message.
pub(super) async fn spawn_reader(
    source: &SourceSettings,
    time_zone: Tz,
    file: &Path,
) -> Result<mpsc::Receiver<ReaderMsg>, String> {
    // Two chunks ahead keep the reader busy while the importer decides one chunk and writes
    // the one before (`chunk.rs`), and memory small.
    let (tx, rx) = mpsc::channel::<ReaderMsg>(2);
    let (open_tx, open_rx) = oneshot::channel::<Result<(), String>>();
    let source = source.clone();
    let file = file.to_owned();
    let ctx = ParseContext {
        tz: time_zone,
        default_language: None,
        limits: source.limits,
    };
    tokio::task::spawn_blocking(move || {
        let name = source.export_name(&file);
        let mut export = match open(&source, &file, &name, &ctx) {
            Ok(export) => {
                let _ = open_tx.send(Ok(()));
                export
            }
            Err(refusal) => {
                let _ = open_tx.send(Err(refusal));
                return;
            }
        };
        if pump(&mut *export, &tx)
            && let Some(why) = export.aborted()
        {
            let _ = tx.blocking_send(ReaderMsg::Aborted(format!("{name}: {why}")));
        }
    });
    match open_rx.await {
        Ok(Ok(())) => Ok(rx),
        Ok(Err(refusal)) => Err(refusal),
        Err(_) => Err("the export reader stopped unexpectedly".into()),
    }
}
