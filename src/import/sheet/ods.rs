//! A streaming reader for ODS sheets: `content.xml` is read from the zip with quick-xml, one
//! row at a time, so a million-row sheet never sits in memory (calamine's ODS reader loads every
//! sheet of the workbook when it opens it).
//!
//! Cells become the same [`Data`] values calamine gives (`office:value` → `Float`,
//! `office:date-value` → `DateTimeIso`, `office:time-value` → `DurationIso`, strings from
//! `office:string-value` or the `text:p` paragraphs), so [`super::cells`] renders both alike.
//! Repeated rows and columns (`table:number-rows-repeated`, `…-columns-repeated`) are expanded
//! only where they hold something: LibreOffice writes a million empty trailing rows as one.

use super::{Msg, SheetRow, put};
use calamine::Data;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::QName;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::mpsc::SyncSender;

/// Repeated identical cells beyond this many columns are not expanded (no booking has them).
const MAX_COLUMNS: u32 = 1024;

type Xml<'a> = Reader<BufReader<zip::read::ZipFile<'a, BufReader<File>>>>;

/// Opens `content.xml` of the ODS file at `path`.
fn open(path: &Path, zip: &mut Option<zip::ZipArchive<BufReader<File>>>) -> Result<(), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    *zip = Some(zip::ZipArchive::new(BufReader::new(file)).map_err(|e| e.to_string())?);
    Ok(())
}

/// Calls `on_table` with each sheet's start tag, in order, until it returns true (it has read
/// the sheet) or the sheets run out; a sheet it declines is skipped unread.
fn each_table(
    path: &Path,
    mut on_table: impl FnMut(&mut Xml, &BytesStart) -> Result<bool, String>,
) -> Result<(), String> {
    let mut zip = None;
    open(path, &mut zip)?;
    let Some(zip) = zip.as_mut() else {
        return Ok(());
    };
    let content = zip
        .by_name("content.xml")
        .map_err(|e| format!("not an ODS file (content.xml: {e})"))?;
    let mut xml = Reader::from_reader(BufReader::new(content));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(|e| e.to_string())? {
            Event::Start(e) if e.name() == QName("table:table") => {
                let e = e.into_owned();
                if on_table(&mut xml, &e)? {
                    return Ok(());
                }
                xml.read_to_end_into(e.name(), &mut Vec::new())
                    .map_err(|e| e.to_string())?;
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// The names of the workbook's sheets, in order (one quick pass that skips their cells).
pub(super) fn sheet_names(path: &Path) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    each_table(path, |_, e| {
        names.push(attr(e, "table:name")?.unwrap_or_default());
        Ok(false)
    })?;
    Ok(names)
}

/// Streams the rows of the sheet named `wanted` to `tx`, in order.
pub(super) fn stream(path: &Path, wanted: &str, tx: &SyncSender<Msg>) -> Result<(), String> {
    let mut found = false;
    each_table(path, |xml, e| {
        if attr(e, "table:name")?.as_deref() != Some(wanted) {
            return Ok(false);
        }
        found = true;
        read_table(xml, tx).map(|()| true)
    })?;
    if found {
        Ok(())
    } else {
        Err(format!("the sheet {wanted:?} has gone from the file"))
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
fn read_table(xml: &mut Xml, tx: &SyncSender<Msg>) -> Result<(), String> {
    let mut buf = Vec::new();
    let mut index: u32 = 0;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(|e| e.to_string())? {
            Event::Start(e) if e.name() == QName("table:table-row") => {
                let times = repeats(&e, "table:number-rows-repeated")?;
                let cells = read_row(xml)?;
                if cells.iter().any(|c| *c != Data::Empty) {
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
            Event::Eof => return Err("content.xml ends inside the sheet".to_string()),
            _ => {}
        }
    }
}

/// Reads the cells of one row (after its start tag, up to its end tag).
fn read_row(xml: &mut Xml) -> Result<Vec<Data>, String> {
    let mut cells = Vec::new();
    let mut column: u32 = 0;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let (e, open) = match xml.read_event_into(&mut buf).map_err(|e| e.to_string())? {
            Event::Start(e) => (e.into_owned(), true),
            Event::Empty(e) => (e.into_owned(), false),
            Event::End(e) if e.name() == QName("table:table-row") => return Ok(cells),
            Event::Eof => return Err("content.xml ends inside a row".to_string()),
            _ => continue,
        };
        let name = e.name();
        if name != QName("table:table-cell") && name != QName("table:covered-table-cell") {
            if open {
                xml.read_to_end_into(name, &mut Vec::new())
                    .map_err(|e| e.to_string())?;
            }
            continue;
        }
        let times = repeats(&e, "table:number-columns-repeated")?;
        let value = cell_value(xml, &e, open)?;
        let end = column.saturating_add(times).min(MAX_COLUMNS);
        if value != Data::Empty {
            for at in column..end {
                put(&mut cells, at, value.clone());
            }
        }
        column = end;
    }
}

/// The value of one cell; reads its content (and end tag) when it is open.
fn cell_value(xml: &mut Xml, e: &BytesStart, open: bool) -> Result<Data, String> {
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
    let text = if open { paragraphs(xml, e)? } else { None };
    Ok(match (typed, text) {
        (Some(v), _) => v,
        (None, Some(t)) => Data::String(t),
        (None, None) => Data::Empty,
    })
}

/// The text of a cell's paragraphs (joined by line breaks), up to the cell's end tag; None when
/// it has none.
fn paragraphs(xml: &mut Xml, cell: &BytesStart) -> Result<Option<String>, String> {
    let mut text: Option<String> = None;
    let mut paragraphs = 0;
    let mut buf = Vec::new();
    let mut depth_in_annotation = 0;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf).map_err(|e| e.to_string())? {
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
            Event::Eof => return Err("content.xml ends inside a cell".to_string()),
            _ => {}
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
        stream(path, sheet, &tx).unwrap();
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
            sheet_names(file.path()).unwrap(),
            ["Notizen", "Termine & mehr"]
        );
        assert_eq!(
            rows(file.path(), "Termine & mehr"),
            [(0, vec![Data::Float(7.0)])]
        );
        let (tx, _rx) = std::sync::mpsc::sync_channel(10);
        assert!(stream(file.path(), "Weg", &tx).is_err());
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
}
