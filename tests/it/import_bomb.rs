//! Zip bombs and other oversized exports (issue 11, finding 7): each is built here, refused
//! whole through the real import path during an outage — naming the file, the position and
//! the limit — after reading only a bounded part of it, and it changes nothing.

use crate::helpers::*;
use crate::import_cut::{
    JSON_FIELDS, SHEET_FIELDS, app, json_records, refused_whole, rows, workbook,
};
use absage::import::SourceKind;
use std::io::{Read, Write};

/// How many rows the last (refused) import read before it stopped.
async fn rows_read_by_last_import(t: &TestApp) -> i64 {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let last = absage::store::imports::history(&mut conn, None, 1)
        .await
        .unwrap();
    last[0].counts.rows_read
}

/// `xlsx` with its shared strings padded by `padding` bytes of an XML comment: a few hundred
/// kilobytes that unzip to that much more (calamine would load the part whole).
fn with_padded_shared_strings(xlsx: &[u8], padding: usize) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut strings = String::new();
    for i in 0..archive.len() {
        let file = archive.by_index_raw(i).unwrap();
        if file.name().unwrap() == "xl/sharedStrings.xml" {
            drop(file);
            archive
                .by_index(i)
                .unwrap()
                .read_to_string(&mut strings)
                .unwrap();
            continue;
        }
        out.raw_copy_file(file).unwrap();
    }
    let end = strings.rfind("</sst>").expect("shared strings");
    let options = zip::write::SimpleFileOptions::default().compression_level(Some(1));
    out.start_file("xl/sharedStrings.xml", options).unwrap();
    out.write_all(&strings.as_bytes()[..end]).unwrap();
    out.write_all(b"<!--").unwrap();
    let block = vec![b'-'; 1 << 20];
    for _ in 0..padding >> 20 {
        out.write_all(&block).unwrap();
    }
    out.write_all(b"-->").unwrap();
    out.write_all(&strings.as_bytes()[end..]).unwrap();
    out.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_zip_bomb_xlsx_is_refused_naming_its_part_and_the_limit_and_keeps_every_cancellation() {
    let t = app(SourceKind::Spreadsheet, "export.xlsx", SHEET_FIELDS).await;
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("export.xlsx");
    workbook(&path, &rows(40), None);
    let full = std::fs::read(&path).unwrap();
    // 80 MiB unzipped, over the default of 64 MiB for a part read whole.
    let bomb = with_padded_shared_strings(&full, 80 << 20);
    assert!(bomb.len() < 1 << 20, "a small file: {} bytes", bomb.len());
    let message = refused_whole(
        &t,
        "export.xlsx",
        &full,
        &bomb,
        "part xl/sharedStrings.xml: it unzips to 80.0 MiB",
    )
    .await;
    assert!(
        message.contains("over the limit of 64 MiB (limits.max_zip_entry_bytes)"),
        "{message}"
    );
    assert_eq!(
        rows_read_by_last_import(&t).await,
        0,
        "refused before reading a row"
    );
}

/// An ODS of a header and `rows`, the last row written once and repeated `repeat` times.
fn ods(rows: &[Row], repeat: u32) -> Vec<u8> {
    let cell = |text: &str| {
        format!(
            r#"<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>"#
        )
    };
    let mut body = String::from("<table:table-row>");
    for name in ["key", "service", "start", "name", "email"] {
        body.push_str(&cell(name));
    }
    body.push_str("</table:table-row>");
    for (i, r) in rows.iter().enumerate() {
        let times = match i + 1 == rows.len() {
            true => format!(r#" table:number-rows-repeated="{repeat}""#),
            false => String::new(),
        };
        body.push_str(&format!("<table:table-row{times}>"));
        for value in [&r.key, &r.service, &r.start, &r.name, &r.email] {
            body.push_str(&cell(value));
        }
        body.push_str("</table:table-row>");
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("mimetype", stored).unwrap();
    zip.write_all(b"application/vnd.oasis.opendocument.spreadsheet")
        .unwrap();
    zip.start_file("content.xml", zip::write::SimpleFileOptions::default())
        .unwrap();
    write!(
        zip,
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet><table:table table:name="Termine">{body}</table:table></office:spreadsheet></office:body></office:document-content>"#
    )
    .unwrap();
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn an_ods_whose_last_row_repeats_a_million_times_is_refused_without_expanding_it() {
    let t = app(SourceKind::Spreadsheet, "export.ods", SHEET_FIELDS).await;
    let full = ods(&rows(40), 1);
    // The same bookings, the last row written once with number-rows-repeated = 1,000,000.
    let bomb = ods(&rows(40), 1_000_000);
    let message = refused_whole(
        &t,
        "export.ods",
        &full,
        &bomb,
        "Termine!41:41: the count of rows repeated with content (table:number-rows-repeated)",
    )
    .await;
    assert!(
        message.contains("over the limit of 1000 rows (limits.max_repeated_rows)"),
        "{message}"
    );
    let read = rows_read_by_last_import(&t).await;
    assert!(read <= 41, "not one repeat was read: {read} rows");
}

#[tokio::test]
async fn a_csv_with_a_five_megabyte_line_is_refused_at_the_cell_limit() {
    let t = app(SourceKind::Csv, "export.csv", "").await;
    let mut all = rows(40);
    let full = csv_text(&all);
    all[20].name = "x".repeat(5 << 20);
    let bomb = csv_text(&all);
    let message = refused_whole(
        &t,
        "export.csv",
        full.as_bytes(),
        bomb.as_bytes(),
        "line 22, column 6: a cell is over the limit of 64 KiB (limits.max_cell_bytes)",
    )
    .await;
    assert!(message.ends_with("nothing was changed"), "{message}");
    let read = rows_read_by_last_import(&t).await;
    // The 20 rows before it, and the refusal itself.
    assert!(read <= 21, "reading stopped at the long line: {read} rows");
}

#[tokio::test]
async fn a_json_record_over_the_record_limit_is_refused_naming_the_record() {
    let t = app(SourceKind::Json, "export.json", JSON_FIELDS).await;
    let mut records = json_records(60);
    let full = serde_json::to_string_pretty(&records).unwrap();
    records[30]["notes"] = serde_json::json!(vec!["Termin"; 200_000]);
    let bomb = serde_json::to_string_pretty(&records).unwrap();
    assert!(bomb.len() > 2 << 20);
    refused_whole(
        &t,
        "export.json",
        full.as_bytes(),
        bomb.as_bytes(),
        "record 31: a record is over the limit of 1 MiB (limits.max_record_bytes)",
    )
    .await;
    let read = rows_read_by_last_import(&t).await;
    assert!(
        read <= 31,
        "reading stopped at the large record: {read} rows"
    );
}
