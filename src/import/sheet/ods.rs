//! A streaming reader for ODS sheets: `content.xml` is read from the zip with quick-xml, one
//! row at a time, so a million-row sheet never sits in memory (calamine's ODS reader loads every
//! sheet of the workbook when it opens it).
//!
//! Cells become the same [`Data`] values calamine gives (`office:value` → `Float`,
//! `office:date-value` → `DateTimeIso`, `office:time-value` → `DurationIso`, strings from
//! `office:string-value` or the `text:p` paragraphs), so [`super::cells`] renders both alike.
//! Repeated rows and columns (`table:number-rows-repeated`, `…-columns-repeated`) are expanded
//! only where they hold something: LibreOffice writes a million empty trailing rows as one.
//!
//! Limits (`[sources.limits]`), checked while reading, so that a small file cannot make a
//! large one: a cell's text up to `max_cell_bytes`; a row, its XML and its cells as expanded,
//! up to `max_record_bytes` (as is any single XML element between rows); rows with content
//! added by repetition up to `max_repeated_rows` for the sheet; `content.xml` as unzipped up to
//! `max_unzipped_bytes`. Going over one stops reading with [`Stop::TooLarge`].

use super::{Msg, SheetRow, Stop, cell_ref, put, row_ref};
use crate::import::limits::{Limit, Limits};
use calamine::Data;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;
use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::SyncSender;

/// Repeated identical cells beyond this many columns are not expanded (no booking has them).
const MAX_COLUMNS: u32 = 1024;

type Xml<'a> = Reader<BufReader<Metered<'a, zip::read::ZipFile<'a, BufReader<File>>>>>;

/// `content.xml` being read, with what its limits need to know.
struct Doc<'a> {
    xml: Xml<'a>,
    meter: &'a Meter,
    limits: Limits,
    /// The sheet being read, and the 0-based index of its row being read, if in one.
    sheet: String,
    row: Option<u32>,
    /// Rows with content added by `table:number-rows-repeated` so far in this sheet.
    repeated: u64,
}

/// Counts the bytes unzipped, in all and since the last [`Meter::mark`], and stops them when
/// either grows over its cap.
#[derive(Debug, Default)]
struct Meter {
    record_cap: u64,
    total_cap: u64,
    read: Cell<u64>,
    mark: Cell<u64>,
    over: Cell<Option<Limit>>,
}

impl Meter {
    fn mark(&self) {
        self.mark.set(self.read.get());
    }
}

/// A zip part as quick-xml reads it, through the [`Meter`].
struct Metered<'m, R> {
    inner: R,
    meter: &'m Meter,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let m = self.meter;
        if m.over.get().is_some() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "over a limit"));
        }
        let n = self.inner.read(buf)?;
        m.read.set(m.read.get() + n as u64);
        let over = if m.read.get() > m.total_cap {
            Some(Limit::Unzipped)
        } else if m.read.get() - m.mark.get() > m.record_cap {
            Some(Limit::Record)
        } else {
            None
        };
        if over.is_some() {
            m.over.set(over);
            return Err(io::Error::new(io::ErrorKind::InvalidData, "over a limit"));
        }
        Ok(n)
    }
}

impl Doc<'_> {
    /// The next event; every one between rows counts against the record cap on its own.
    fn next<'b>(&mut self, buf: &'b mut Vec<u8>) -> Result<Event<'b>, Stop> {
        buf.clear();
        match self.xml.read_event_into(buf) {
            Ok(event) => Ok(event),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// Why reading stopped: a limit the meter enforced, or the XML itself.
    fn failed(&self, err: impl std::fmt::Display) -> Stop {
        let Some(which) = self.meter.over.get() else {
            return Stop::Failed(err.to_string());
        };
        let (at, what) = match (which, self.row) {
            (Limit::Unzipped, _) => ("part content.xml".to_string(), "the part as unzipped"),
            (_, Some(row)) => (row_ref(&self.sheet, u64::from(row) + 1), "a row (as XML)"),
            (_, None) => ("content.xml".to_string(), "one XML element"),
        };
        Stop::TooLarge(self.limits.exceeded(which, at, what))
    }

    fn too_large(&self, which: Limit, at: String, what: &str) -> Stop {
        Stop::TooLarge(self.limits.exceeded(which, at, what))
    }

    /// Skips the element `name` was the start of, counting each event on its own.
    fn skip(&mut self, name: &str) -> Result<(), Stop> {
        let mut depth = 1_usize;
        let mut buf = Vec::new();
        while depth > 0 {
            self.meter.mark();
            match self.next(&mut buf)? {
                Event::Start(e) if e.name().as_ref() == name => depth += 1,
                Event::End(e) if e.name().as_ref() == name => depth -= 1,
                Event::Eof => return Err(Stop::Failed("content.xml ends inside a sheet".into())),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Calls `on_table` with each sheet's start tag, in order, until it returns true (it has read
/// the sheet) or the sheets run out; a sheet it declines is skipped unread.
fn each_table(
    path: &Path,
    limits: &Limits,
    mut on_table: impl FnMut(&mut Doc, &BytesStart) -> Result<bool, Stop>,
) -> Result<(), Stop> {
    let file = File::open(path).map_err(|e| Stop::Failed(e.to_string()))?;
    let mut zip =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| Stop::Failed(e.to_string()))?;
    let content = zip
        .by_name("content.xml")
        .map_err(|e| Stop::Failed(format!("not an ODS file (content.xml: {e})")))?;
    let meter = Meter {
        record_cap: limits.get(Limit::Record),
        total_cap: limits.get(Limit::Unzipped),
        ..Meter::default()
    };
    let metered = Metered {
        inner: content,
        meter: &meter,
    };
    let mut doc = Doc {
        xml: Reader::from_reader(BufReader::new(metered)),
        meter: &meter,
        limits: *limits,
        sheet: String::new(),
        row: None,
        repeated: 0,
    };
    let mut buf = Vec::new();
    loop {
        meter.mark();
        match doc.next(&mut buf)? {
            Event::Start(e) if e.name() == QName("table:table") => {
                if on_table(&mut doc, &e)? {
                    return Ok(());
                }
                doc.skip(e.name().as_ref())?;
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// The names of the workbook's sheets, in order (one quick pass that skips their cells).
pub(super) fn sheet_names(path: &Path, limits: &Limits) -> Result<Vec<String>, Stop> {
    let mut names = Vec::new();
    each_table(path, limits, |_, e| {
        names.push(attr(e, "table:name")?.unwrap_or_default());
        Ok(false)
    })?;
    Ok(names)
}

/// Streams the rows of the sheet named `wanted` to `tx`, in order.
pub(super) fn stream(
    path: &Path,
    wanted: &str,
    limits: &Limits,
    tx: &SyncSender<Msg>,
) -> Result<(), Stop> {
    let mut found = false;
    each_table(path, limits, |doc, e| {
        if attr(e, "table:name")?.as_deref() != Some(wanted) {
            return Ok(false);
        }
        found = true;
        doc.sheet = wanted.to_string();
        read_table(doc, tx).map(|()| true)
    })?;
    if found {
        Ok(())
    } else {
        Err(Stop::Failed(format!(
            "the sheet {wanted:?} has gone from the file"
        )))
    }
}

fn attr(e: &BytesStart, name: &str) -> Result<Option<String>, String> {
    match e.try_get_attribute(name).map_err(|e| e.to_string())? {
        Some(a) => a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map(|v| Some(v.into_owned()))
            .map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

fn repeats(e: &BytesStart, name: &str) -> Result<u32, String> {
    attr(e, name)?.map_or(Ok(1), |v| {
        v.parse::<u32>()
            .map_err(|_| format!("{name} {v:?} is not a count"))
    })
}

/// Reads one `table:table` to its end, sending the rows that hold something.
fn read_table(doc: &mut Doc, tx: &SyncSender<Msg>) -> Result<(), Stop> {
    let mut buf = Vec::new();
    let mut index: u32 = 0;
    loop {
        doc.meter.mark();
        match doc.next(&mut buf)? {
            Event::Start(e) if e.name() == QName("table:table-row") => {
                let times = repeats(&e, "table:number-rows-repeated")?;
                doc.row = Some(index);
                let cells = read_row(doc)?;
                doc.row = None;
                if cells.iter().any(|c| *c != Data::Empty) {
                    doc.repeated += u64::from(times) - 1;
                    if doc.repeated > doc.limits.get(Limit::RepeatedRows) {
                        let at = row_ref(&doc.sheet, u64::from(index) + 1);
                        let what = "the count of rows repeated with content \
                                    (table:number-rows-repeated)";
                        return Err(doc.too_large(Limit::RepeatedRows, at, what));
                    }
                    for _ in 0..times {
                        let row = SheetRow {
                            index,
                            cells: cells.clone(),
                        };
                        if tx.send(Msg::Row(row)).is_err() {
                            return Ok(());
                        }
                        index = index.saturating_add(1);
                    }
                } else {
                    index = index.saturating_add(times);
                }
            }
            Event::Empty(e) if e.name() == QName("table:table-row") => {
                index = index.saturating_add(repeats(&e, "table:number-rows-repeated")?);
            }
            Event::End(e) if e.name() == QName("table:table") => return Ok(()),
            Event::Eof => return Err(Stop::Failed("content.xml ends inside the sheet".into())),
            _ => {}
        }
    }
}

/// The size a cell holds in memory, roughly: its text.
fn held(value: &Data) -> u64 {
    match value {
        Data::String(t) | Data::DateTimeIso(t) | Data::DurationIso(t) => t.len() as u64,
        _ => 16,
    }
}

/// Reads the cells of one row (after its start tag, up to its end tag).
fn read_row(doc: &mut Doc) -> Result<Vec<Data>, Stop> {
    let mut cells = Vec::new();
    let mut column: u32 = 0;
    let mut bytes: u64 = 0;
    let mut buf = Vec::new();
    loop {
        let (e, open) = match doc.next(&mut buf)? {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(e) if e.name() == QName("table:table-row") => return Ok(cells),
            Event::Eof => return Err(Stop::Failed("content.xml ends inside a row".into())),
            _ => continue,
        };
        let name = e.name();
        if name != QName("table:table-cell") && name != QName("table:covered-table-cell") {
            if open {
                doc.skip(name.as_ref())?;
            }
            continue;
        }
        let times = repeats(&e, "table:number-columns-repeated")?;
        let value = cell_value(doc, &e, open, column)?;
        let end = column.saturating_add(times).min(MAX_COLUMNS);
        if value != Data::Empty {
            // Repeated cells are held once per column: a short file can make a long row.
            bytes += held(&value) * u64::from(end - column);
            if bytes > doc.limits.get(Limit::Record) {
                let row = doc.row.map_or(0, |r| u64::from(r) + 1);
                let at = row_ref(&doc.sheet, row);
                return Err(doc.too_large(Limit::Record, at, "a row (its cells)"));
            }
            for at in column..end {
                put(&mut cells, at, value.clone());
            }
        }
        column = end;
    }
}

/// The value of one cell; reads its content (and end tag) when it is open.
fn cell_value(doc: &mut Doc, e: &BytesStart, open: bool, column: u32) -> Result<Data, Stop> {
    let typed = if let Some(v) = attr(e, "office:value")? {
        Some(Data::Float(v.parse().map_err(|_| {
            format!("office:value {v:?} is not a number")
        })?))
    } else if let Some(v) = attr(e, "office:date-value")? {
        Some(Data::DateTimeIso(v))
    } else if let Some(v) = attr(e, "office:time-value")? {
        Some(Data::DurationIso(v))
    } else if let Some(v) = attr(e, "office:boolean-value")? {
        Some(Data::Bool(v.eq_ignore_ascii_case("true")))
    } else {
        attr(e, "office:string-value")?.map(Data::String)
    };
    if typed
        .as_ref()
        .is_some_and(|v| held(v) > doc.limits.get(Limit::Cell))
    {
        return Err(long_cell(doc, column));
    }
    let text = if open {
        paragraphs(doc, e, column)?
    } else {
        None
    };
    Ok(match (typed, text) {
        (Some(v), _) => v,
        (None, Some(t)) => Data::String(t),
        (None, None) => Data::Empty,
    })
}

fn long_cell(doc: &Doc, column: u32) -> Stop {
    let row = doc.row.map_or(0, |r| u64::from(r) + 1);
    let at = cell_ref(&doc.sheet, column as usize, row);
    doc.too_large(Limit::Cell, at, "a cell")
}

/// The text of a cell's paragraphs (joined by line breaks), up to the cell's end tag; None when
/// it has none.
fn paragraphs(doc: &mut Doc, cell: &BytesStart, column: u32) -> Result<Option<String>, Stop> {
    let mut text: Option<String> = None;
    let mut paragraphs = 0;
    let mut buf = Vec::new();
    let mut depth_in_annotation = 0;
    let cap = doc.limits.get(Limit::Cell);
    loop {
        match doc.next(&mut buf)? {
            Event::End(e) if e.name() == cell.name() => return Ok(text),
            Event::Start(e) if e.name() == QName("office:annotation") => {
                depth_in_annotation += 1;
            }
            Event::End(e) if e.name() == QName("office:annotation") => {
                depth_in_annotation -= 1;
            }
            _ if depth_in_annotation > 0 => {}
            Event::Start(e) if e.name() == QName("text:p") => {
                paragraphs += 1;
                let t = text.get_or_insert_with(String::new);
                if paragraphs > 1 {
                    t.push('\n');
                }
            }
            Event::Empty(e) | Event::Start(e) if e.name() == QName("text:s") => {
                let n = repeats(&e, "text:c")?.min(1024) as usize;
                text.get_or_insert_with(String::new)
                    .push_str(&" ".repeat(n));
            }
            Event::Empty(e) if e.name() == QName("text:tab") => {
                text.get_or_insert_with(String::new).push('\t');
            }
            Event::Empty(e) if e.name() == QName("text:line-break") => {
                text.get_or_insert_with(String::new).push('\n');
            }
            Event::Text(t) => text
                .get_or_insert_with(String::new)
                .push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                let resolved = match quick_xml::escape::resolve_xml_entity(&name) {
                    Some(s) => s.to_string(),
                    None => r
                        .resolve_char_ref()
                        .map_err(|e| e.to_string())?
                        .map(String::from)
                        .ok_or_else(|| format!("unknown entity &{name};"))?,
                };
                text.get_or_insert_with(String::new).push_str(&resolved);
            }
            Event::Eof => return Err(Stop::Failed("content.xml ends inside a cell".into())),
            _ => {}
        }
        if text.as_ref().is_some_and(|t| t.len() as u64 > cap) {
            return Err(long_cell(doc, column));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An ODS file whose `content.xml` holds `tables` (the XML inside `office:spreadsheet`).
    fn ods(tables: &str) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new().suffix(".ods").tempfile().unwrap();
        let mut zip = zip::ZipWriter::new(file.reopen().unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("mimetype", stored).unwrap();
        zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        zip.start_file("content.xml", zip::write::SimpleFileOptions::default())
            .unwrap();
        write!(
            zip,
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"#
        )
        .unwrap();
        zip.finish().unwrap();
        file
    }

    fn rows(path: &Path, sheet: &str) -> Vec<(u32, Vec<Data>)> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1000);
        stream(path, sheet, &Limits::default(), &tx).unwrap();
        drop(tx);
        rx.iter()
            .map(|m| match m {
                Msg::Row(r) => (r.index, r.cells),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn sheets_are_listed_and_only_the_wanted_one_is_read() {
        let file = ods(
            r#"<table:table table:name="Notizen"><table:table-row><table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row></table:table><table:table table:name="Termine &amp; mehr"><table:table-row><table:table-cell office:value-type="float" office:value="7"/></table:table-row></table:table>"#,
        );
        assert_eq!(
            sheet_names(file.path(), &Limits::default()).unwrap(),
            ["Notizen", "Termine & mehr"]
        );
        assert_eq!(
            rows(file.path(), "Termine & mehr"),
            [(0, vec![Data::Float(7.0)])]
        );
        let (tx, _rx) = std::sync::mpsc::sync_channel(10);
        assert!(stream(file.path(), "Weg", &Limits::default(), &tx).is_err());
    }

    #[test]
    fn repeated_cells_and_rows_expand_only_where_they_hold_something() {
        let file = ods(concat!(
            r#"<table:table table:name="T">"#,
            r#"<table:table-row table:number-rows-repeated="2"><table:table-cell table:number-columns-repeated="2"/><table:table-cell office:value-type="string" table:number-columns-repeated="2"><text:p>ab</text:p></table:table-cell></table:table-row>"#,
            r#"<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#,
            r#"<table:table-row><table:covered-table-cell/><table:table-cell office:value-type="date" office:date-value="2026-03-02T09:30:00"/><table:table-cell office:value-type="time" office:time-value="PT00H20M00S"/><table:table-cell table:number-columns-repeated="4000" office:value-type="float" office:value="1"/></table:table-row>"#,
            r#"</table:table>"#
        ));
        let got = rows(file.path(), "T");
        let ab = Data::String("ab".into());
        assert_eq!(
            got[0],
            (0, vec![Data::Empty, Data::Empty, ab.clone(), ab.clone()])
        );
        assert_eq!(got[1].0, 1, "a repeated row is sent once per repeat");
        assert_eq!(got[2].0, 1048572, "empty rows only move the index");
        assert_eq!(
            got[2].1[..3],
            [
                Data::Empty,
                Data::DateTimeIso("2026-03-02T09:30:00".into()),
                Data::DurationIso("PT00H20M00S".into())
            ]
        );
        assert_eq!(
            got[2].1.len(),
            MAX_COLUMNS as usize,
            "repeats stop at the column cap"
        );
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn text_cells_keep_paragraphs_spaces_tabs_and_entities_but_not_comments() {
        let file = ods(concat!(
            r#"<table:table table:name="T"><table:table-row><table:table-cell office:value-type="string">"#,
            r#"<office:annotation><text:p>Notiz</text:p></office:annotation>"#,
            r#"<text:p>Müller &amp; Söhne<text:s text:c="2"/>GmbH</text:p><text:p>a<text:tab/>b&#x41;</text:p>"#,
            r#"</table:table-cell><table:table-cell office:value-type="string" office:string-value="direkt"/></table:table-row></table:table>"#
        ));
        assert_eq!(
            rows(file.path(), "T")[0].1,
            [
                Data::String("Müller & Söhne  GmbH\na\tbA".into()),
                Data::String("direkt".into())
            ]
        );
    }

    /// The rows read from sheet "T" of `tables` until `limits` stop it, and why they did.
    fn limited(tables: &str, limits: &Limits) -> (usize, Result<(), String>) {
        let file = ods(tables);
        let (tx, rx) = std::sync::mpsc::sync_channel(2_000_000);
        let result = stream(file.path(), "T", limits, &tx).map_err(|stop| match stop {
            Stop::TooLarge(why) => why,
            Stop::Failed(why) => format!("failed, not refused: {why}"),
        });
        drop(tx);
        (rx.iter().count(), result)
    }

    const ROW: &str = r#"<table:table-row><table:table-cell office:value-type="string"><text:p>K1</text:p></table:table-cell></table:table-row>"#;

    #[test]
    fn a_row_repeated_a_million_times_is_refused_after_the_limit_not_expanded() {
        let tables = format!(
            r#"<table:table table:name="T">{ROW}<table:table-row table:number-rows-repeated="1000000"><table:table-cell office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row></table:table>"#
        );
        let (sent, result) = limited(&tables, &Limits::default());
        let why = result.expect_err("refused");
        assert!(
            why.starts_with("T!2:2: the count of rows repeated with content (table:number-rows-repeated) is over the limit of 1000 rows (limits.max_repeated_rows)"),
            "{why}"
        );
        assert_eq!(sent, 1, "not one repeat was expanded");
        let few = tables.replace("1000000", "3");
        assert_eq!(limited(&few, &Limits::default()), (4, Ok(())));
    }

    #[test]
    fn a_long_cell_a_wide_row_or_a_huge_element_is_refused_naming_the_cell_or_row() {
        let cell = |text: &str, repeat: u32| {
            format!(
                r#"<table:table table:name="T">{ROW}<table:table-row><table:table-cell/><table:table-cell office:value-type="string" table:number-columns-repeated="{repeat}"><text:p>{text}</text:p></table:table-cell></table:table-row></table:table>"#
            )
        };
        let (_, result) = limited(&cell(&"x".repeat(70_000), 1), &Limits::default());
        let why = result.expect_err("a long cell");
        assert!(
            why.starts_with("T!B2: a cell is over the limit of 64 KiB"),
            "{why}"
        );
        // 1,000 columns of 2 KiB each: a short file, a 2 MiB row.
        let (_, result) = limited(&cell(&"y".repeat(2048), 1000), &Limits::default());
        let why = result.expect_err("a wide row");
        assert!(
            why.starts_with(
                "T!2:2: a row (its cells) is over the limit of 1 MiB (limits.max_record_bytes)"
            ),
            "{why}"
        );
        let huge = format!(
            r#"<table:table table:name="T"><table:table-column table:style-name="{}"/>{ROW}</table:table>"#,
            "z".repeat(2 << 20)
        );
        let (_, result) = limited(&huge, &Limits::default());
        let why = result.expect_err("a huge element");
        assert!(
            why.starts_with("content.xml: one XML element is over the limit of 1 MiB"),
            "{why}"
        );
        let small = Limits {
            max_unzipped_bytes: crate::import::limits::ByteSize(4096),
            ..Limits::default()
        };
        let many = format!(
            r#"<table:table table:name="T">{}</table:table>"#,
            ROW.repeat(100)
        );
        let (sent, result) = limited(&many, &small);
        let why = result.expect_err("too much unzipped");
        assert!(
            why.starts_with("part content.xml: the part as unzipped is over the limit of 4 KiB"),
            "{why}"
        );
        assert!(sent < 100, "reading stopped early: {sent} rows");
    }
}
