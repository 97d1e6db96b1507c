//! Zip bombs: an XLSX or ODS file is a zip archive, and a few megabytes of it can unzip to
//! gigabytes. Before any part of it is unzipped, the archive's directory is read and every
//! part's size checked ([`check`]): parts that are read whole into memory (XLSX shared strings,
//! styles, the workbook; XLSB sheets) up to `limits.max_zip_entry_bytes`, all parts together up
//! to `max_unzipped_bytes`. The directory could lie, but the `zip` crate stops every part at
//! the size the directory states ("larger than its declared uncompressed size"), for calamine's
//! reads as for ours, so the sizes checked here bound what is unzipped.
//!
//! An XLSX worksheet is streamed by calamine, which holds one XML event at a time — but one
//! event can be a gigabyte of text. So each worksheet is first read once by a byte scanner
//! ([`scan_worksheets`]) that holds nothing: no text and no tag longer than a cell may be, no
//! row longer than a record. (ODS `content.xml` is read by our own reader, which checks the same
//! while it reads; see [`super::ods`].)

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::import::limits::{ByteSize, Limit, Limits};
use crate::import::read::FormatError;

type Archive = zip::ZipArchive<BufReader<File>>;

/// The MIME type an ODS file names in its `mimetype` part.
const ODS_MIME: &[u8] = b"application/vnd.oasis.opendocument.spreadsheet";

/// What [`check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Zipped {
    /// The `mimetype` part says OpenDocument spreadsheet.
    pub ods: bool,
}

/// Checks every part's unzipped size against the limits; `None` when the file is no zip
/// (XLS, or not a spreadsheet at all: its reader judges it). `streamed` tells the parts read
/// row by row (limited only by the total) from those read whole.
pub(super) fn check(
    path: &Path,
    file: &str,
    limits: &Limits,
    streamed: impl Fn(&str) -> bool,
) -> Result<Option<Zipped>, FormatError> {
    let Some(mut archive) = open(path, file)? else {
        return Ok(None);
    };
    let too_large = |reason: String| FormatError::TooLarge {
        file: file.to_string(),
        reason,
    };
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_data(index)
            .map_err(|e| unreadable(file, e))?;
        let name = entry.name().map_err(|e| unreadable(file, e))?.into_owned();
        let size = entry.size();
        total = total.saturating_add(size);
        if !streamed(&name) && size > limits.get(Limit::ZipEntry) {
            let at = format!("part {name}");
            let what = format!("it unzips to {}, which", ByteSize(size));
            return Err(too_large(limits.exceeded(Limit::ZipEntry, at, &what)));
        }
        if total > limits.get(Limit::Unzipped) {
            let what = format!("the parts up to {name} unzip to {}, which", ByteSize(total));
            return Err(too_large(limits.exceeded(
                Limit::Unzipped,
                "all parts",
                &what,
            )));
        }
    }
    let ods = mimetype(&mut archive).is_some_and(|m| m.trim_ascii() == ODS_MIME);
    Ok(Some(Zipped { ods }))
}

/// The archive's directory, or `None` when the file does not begin like a zip.
fn open(path: &Path, file: &str) -> Result<Option<Archive>, FormatError> {
    let unreadable_io = |source: std::io::Error| FormatError::Unreadable {
        file: file.to_string(),
        source,
    };
    let mut input = File::open(path).map_err(unreadable_io)?;
    let mut head = [0_u8; 4];
    if input.read_exact(&mut head).is_err() || head != *b"PK\x03\x04" {
        return Ok(None);
    }
    let archive = zip::ZipArchive::new(BufReader::new(File::open(path).map_err(unreadable_io)?))
        .map_err(|e| unreadable(file, e))?;
    Ok(Some(archive))
}

/// The `mimetype` part, when it is small enough to be one.
fn mimetype(archive: &mut Archive) -> Option<Vec<u8>> {
    let part = archive.by_name("mimetype").ok()?;
    if part.size() > 1024 {
        return None;
    }
    let mut text = Vec::new();
    part.take(1024).read_to_end(&mut text).ok()?;
    Some(text)
}

fn unreadable(file: &str, err: zip::result::ZipError) -> FormatError {
    FormatError::Unreadable {
        file: file.to_string(),
        source: std::io::Error::other(format!("{err}; is it an XLSX or ODS spreadsheet?")),
    }
}

/// An XLSX worksheet part, which calamine streams.
pub(super) fn is_xlsx_worksheet(name: &str) -> bool {
    name.starts_with("xl/worksheets/") && name.ends_with(".xml")
}

/// Reads every XLSX worksheet part once, holding nothing, and refuses the file when a text or
/// a tag is longer than `max_cell_bytes` or a row longer than `max_record_bytes`. Returns the
/// bytes unzipped.
pub(super) fn scan_worksheets(
    path: &Path,
    file: &str,
    limits: &Limits,
) -> Result<u64, FormatError> {
    let Some(mut archive) = open(path, file)? else {
        return Ok(0);
    };
    let parts: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.into_owned())
        .filter(|n| is_xlsx_worksheet(n))
        .collect();
    let mut unzipped = 0;
    for name in parts {
        let part = archive.by_name(&name).map_err(|e| unreadable(file, e))?;
        let mut scan = Scan::new(limits);
        let mut buf = vec![0_u8; 64 * 1024];
        let mut input = part;
        loop {
            let n = input
                .read(&mut buf)
                .map_err(|source| FormatError::Unreadable {
                    file: file.to_string(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            unzipped += n as u64;
            if let Some((which, at, what)) = scan.feed(&buf[..n]) {
                let at = format!("part {name}, {at}");
                return Err(FormatError::TooLarge {
                    file: file.to_string(),
                    reason: limits.exceeded(which, at, what),
                });
            }
        }
    }
    Ok(unzipped)
}

/// The byte scanner of [`scan_worksheets`]: where it is in the XML, and how long the text,
/// the tag and the row it is in have grown. It keeps the start of each tag, to know rows
/// (`<row r="17"`) and cells (`<c r="C17"`) by their reference.
struct Scan {
    cell_cap: u64,
    record_cap: u64,
    in_tag: bool,
    /// Length of the text or tag being read.
    run: u64,
    /// The first bytes of the tag being read.
    tag: Vec<u8>,
    /// The byte before, to tell `<row/>` from `<row>`.
    prev: u8,
    /// Bytes since the row began, if one is open.
    row: Option<u64>,
    /// The row and cell references last seen.
    row_ref: String,
    cell_ref: String,
}

/// The most of a tag's start kept to find its name and reference.
const TAG_HEAD: usize = 48;

impl Scan {
    fn new(limits: &Limits) -> Scan {
        Scan {
            cell_cap: limits.get(Limit::Cell),
            record_cap: limits.get(Limit::Record),
            in_tag: false,
            run: 0,
            tag: Vec::with_capacity(TAG_HEAD),
            prev: 0,
            row: None,
            row_ref: String::new(),
            cell_ref: String::new(),
        }
    }

    /// Scans the next bytes; the limit they go over, where, and what, if any.
    fn feed(&mut self, mut bytes: &[u8]) -> Option<(Limit, String, &'static str)> {
        while !bytes.is_empty() {
            // A text runs to the next `<`, a tag to the next `>`: take each run in one go.
            let stop = if self.in_tag { b'>' } else { b'<' };
            let run = bytes.iter().position(|&b| b == stop).unwrap_or(bytes.len());
            let (text, rest) = bytes.split_at(run);
            if self.in_tag && self.tag.len() < TAG_HEAD {
                let room = TAG_HEAD - self.tag.len();
                self.tag.extend_from_slice(&text[..text.len().min(room)]);
            }
            if let Some(&last) = text.last() {
                self.prev = last;
            }
            self.run += run as u64;
            if self.run > self.cell_cap {
                let what = if self.in_tag { "a tag" } else { "a text" };
                return Some((Limit::Cell, self.position(), what));
            }
            let Some((_, after)) = rest.split_first() else {
                return self.count_row(run as u64);
            };
            if let Some(over) = self.count_row(run as u64 + 1) {
                return Some(over);
            }
            bytes = after;
            if self.in_tag {
                self.end_of_tag(self.prev == b'/');
                self.tag.clear();
            }
            (self.in_tag, self.run, self.prev) = (!self.in_tag, 0, stop);
        }
        None
    }

    /// Adds `n` bytes to the open row, if one is.
    fn count_row(&mut self, n: u64) -> Option<(Limit, String, &'static str)> {
        let row = self.row.as_mut()?;
        *row += n;
        (*row > self.record_cap).then(|| (Limit::Record, format!("row {}", self.row_ref), "a row"))
    }

    fn position(&self) -> String {
        match (self.cell_ref.is_empty(), self.row_ref.is_empty()) {
            (false, _) => format!("cell {}", self.cell_ref),
            (true, false) => format!("row {}", self.row_ref),
            (true, true) => "before the first row".to_string(),
        }
    }

    /// Notes rows opening and closing, and the cell reference.
    fn end_of_tag(&mut self, empty: bool) {
        let tag = &self.tag;
        let (closing, body) = match tag.split_first() {
            Some((b'/', body)) => (true, body),
            _ => (false, &tag[..]),
        };
        let name_end = body
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'/')
            .unwrap_or(body.len());
        let name = &body[..name_end];
        let local = name.rsplit(|b| *b == b':').next().unwrap_or(name);
        match (local, closing || empty) {
            (b"row", true) => self.row = None,
            (b"row", false) => {
                self.row = Some(0);
                self.row_ref = reference(tag).unwrap_or_default();
                self.cell_ref.clear();
            }
            (b"c", _) if !closing => {
                self.cell_ref = reference(tag).unwrap_or_default();
            }
            _ => {}
        }
    }
}

/// The value of the `r` attribute in a tag's start, if it is there.
fn reference(tag: &[u8]) -> Option<String> {
    let at = tag.windows(3).position(|w| w == b" r=")? + 3;
    let rest = tag.get(at + 1..)?;
    let end = rest.iter().position(|b| *b == b'"' || *b == b'\'')?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(xml: &str, cell: u64, record: u64) -> Option<(Limit, String, &'static str)> {
        let limits = Limits {
            max_cell_bytes: ByteSize(cell),
            max_record_bytes: ByteSize(record),
            ..Limits::default()
        };
        let mut scan = Scan::new(&limits);
        // In small pieces: tags and texts span reads.
        xml.as_bytes().chunks(5).find_map(|chunk| scan.feed(chunk))
    }

    #[test]
    fn a_long_text_a_long_tag_or_a_long_row_is_found_with_its_cell_or_row() {
        let row = |r: u32, text: &str| {
            format!(
                r#"<row r="{r}" spans="1:2"><c r="A{r}" t="inlineStr"><is><t>{text}</t></is></c><c r="B{r}"><v>1</v></c></row>"#
            )
        };
        let sheet = |rows: &[String]| {
            format!(
                "<worksheet><sheetData>{}</sheetData></worksheet>",
                rows.concat()
            )
        };
        let fine = sheet(&[row(1, "Termin"), row(2, "Pass")]);
        assert_eq!(scanned(&fine, 100, 1000), None);
        let long = sheet(&[row(1, "Termin"), row(2, &"x".repeat(150))]);
        assert_eq!(
            scanned(&long, 100, 1000),
            Some((Limit::Cell, "cell A2".into(), "a text"))
        );
        let many: Vec<String> = (1..=40)
            .map(|c| format!(r#"<c r="X{c}"><v>12345</v></c>"#))
            .collect();
        let wide = sheet(&[format!(r#"<row r="3">{}</row>"#, many.concat())]);
        assert_eq!(
            scanned(&wide, 100, 500),
            Some((Limit::Record, "row 3".into(), "a row"))
        );
        let tag = format!(r#"<worksheet a="{}">"#, "y".repeat(200));
        assert_eq!(
            scanned(&tag, 100, 1000),
            Some((Limit::Cell, "before the first row".into(), "a tag"))
        );
    }
}
