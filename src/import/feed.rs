//! Feeding an import: the export is opened as its source's kind reads it, on a thread of its
//! own at a lower priority, and its rows are streamed to the importer in chunks through a
//! bounded channel, so memory stays bounded however large the export is.

use std::path::Path;
use tokio::sync::{mpsc, oneshot};

use super::mapping::{ParseContext, ParsedRow, RowError};
use super::read::Export;
use super::{SourceKind, SourceSettings, csv, ics, json, sheet, sql};
use chrono_tz::Tz;

/// Rows sent to the importer at a time. Six chunks are held at most (one queued, one being
/// read, one received and sorted, one decided, one written, and the one written before, freed
/// meanwhile): of 1,000 rows they were 4-6 MiB more than an iCalendar import may take, and
/// 500 are as fast.
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

/// What the reader thread sends: rows, then that the export was read to its end, or that it
/// could not be (then the snapshot is incomplete and must not be applied). A reader that stops
/// without either (it panicked) leaves its rows incomplete too.
pub(super) enum ReaderMsg {
    Rows(Chunk),
    Aborted(String),
    End,
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

/// Sends the export's rows in chunks, then whether it was read to its end.
fn read_all(export: &mut dyn Export, name: &str, tx: &mpsc::Sender<ReaderMsg>) {
    if pump(export, tx) {
        let last = match export.aborted() {
            Some(why) => ReaderMsg::Aborted(format!("{name}: {why}")),
            None => ReaderMsg::End,
        };
        let _ = tx.blocking_send(last);
    }
}

/// Lowers the calling thread's priority (`nice` 10) where the system allows. Reading and
/// parsing takes as much CPU as the database's thread, which writes what was read, and on two
/// cores the three threads of an import took turns: the database's thread and the importer's
/// waited for a core after each statement while the reader ran. With the reader behind them,
/// they run as soon as they can, and the reader fills the time between: an import of
/// 1,000,000 rows was faster in 6 of 8 alternating runs (BENCHMARKS.md, run 15). The sending
/// of a daemon that imports goes first too.
fn lower_priority() {
    #[cfg(unix)]
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10);
}

/// Opens the export on a thread of its own and streams parsed rows in chunks through a bounded
/// channel. An export that is not what the source expects is refused with one message.
pub(super) async fn spawn_reader(
    source: &SourceSettings,
    time_zone: Tz,
    file: &Path,
) -> Result<mpsc::Receiver<ReaderMsg>, String> {
    // One chunk ahead, and the one the importer receives and sorts while it decides one chunk
    // and writes the one before (`chunk.rs`), keep the reader busy, and memory small.
    let (tx, rx) = mpsc::channel::<ReaderMsg>(1);
    let (open_tx, open_rx) = oneshot::channel::<Result<(), String>>();
    let source = source.clone();
    let file = file.to_owned();
    let ctx = ParseContext {
        tz: time_zone,
        default_language: None,
        limits: source.limits,
    };
    // A thread of its own, not one of the runtime's blocking pool: its priority is lowered
    // for its lifetime. The runtime is entered for the reader of an SQL source, which runs
    // its query as a task.
    let runtime = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new()
        .name("import-reader".into())
        .spawn(move || {
            let _runtime = runtime.enter();
            lower_priority();
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
            read_all(&mut *export, &name, &tx);
        });
    if let Err(e) = spawned {
        return Err(format!("the export reader could not start: {e}"));
    }
    match open_rx.await {
        Ok(Ok(())) => Ok(rx),
        Ok(Err(refusal)) => Err(refusal),
        Err(_) => Err("the export reader stopped unexpectedly".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::mapping::RowError;

    /// An export of `rows` broken rows, after which it ends or, with `panics`, its reading
    /// panics (a bug in a parser).
    struct Fake {
        rows: usize,
        panics: bool,
    }

    impl Iterator for Fake {
        type Item = Result<ParsedRow, RowError>;
        fn next(&mut self) -> Option<Self::Item> {
            if self.rows == 0 {
                assert!(!self.panics, "a parser's bug");
                return None;
            }
            self.rows -= 1;
            Some(Err(RowError {
                line: 2,
                field: "start".into(),
                target: None,
                reason: "not a date".into(),
                key: None,
                cell: None,
            }))
        }
    }

    impl Export for Fake {
        fn aborted(&self) -> Option<&str> {
            None
        }
    }

    /// The importer takes a reader that stopped without saying how for one that could not
    /// read the export to its end (`chunk::Importer::receive`): the rows it sent may be a part
    /// of the export, and a part applied as the whole would remove the rest.
    #[test]
    fn a_reader_that_panics_never_says_the_export_ended() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut panics = Fake {
            rows: CHUNK + 1,
            panics: true,
        };
        let reader = std::thread::spawn(move || read_all(&mut panics, "export.csv", &tx));
        assert!(reader.join().is_err(), "the reader panicked");
        assert!(matches!(rx.blocking_recv(), Some(ReaderMsg::Rows(rows)) if rows.len() == CHUNK));
        assert!(
            rx.blocking_recv().is_none(),
            "no end, no refusal: the channel closed"
        );
    }

    #[test]
    fn a_reader_says_when_it_read_the_export_to_its_end() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut ends = Fake {
            rows: 0,
            panics: false,
        };
        read_all(&mut ends, "export.csv", &tx);
        drop(tx);
        assert!(matches!(rx.blocking_recv(), Some(ReaderMsg::End)));
        assert!(rx.blocking_recv().is_none());
    }
}
