//! Watches the bytes on their way into the `csv` reader for what the reader does not tell:
//! the physical line each record starts on, whether the file ends inside a quoted value, and
//! whether its last line ends with a line break.
//!
//! The `csv` crate's record position is taken before it skips blank lines and, in a CRLF file,
//! before it consumes the `\n` of the previous line ending: in an Excel export on Windows every
//! row would be reported one line early, and a row after blank lines at the first blank one. It
//! counts `\n` only, so a file with old Mac line endings (`\r`) would be all line 1. This scanner
//! follows `csv_core`'s grammar as absage configures it (a quote character doubled inside a
//! quoted value, no escape character, `\r`, `\n` and `\r\n` ending a record, blank lines
//! skipped) and notes the line where each record begins, counting `\r\n`, `\r` and `\n` as
//! one line break each, as editors do.
//!
//! It also measures the cell, the record and the physical line being read, and stops the bytes
//! (the next read fails) once one of them goes over its limit: the `csv` reader holds a whole
//! record, so a file without line breaks would otherwise be held whole.

use std::collections::VecDeque;
use std::io::{self, Read};

use crate::import::limits::{Limit, Limits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between records: line breaks here are blank lines.
    StartRecord,
    StartField,
    InField,
    InQuoted,
    /// A quote inside a quoted value: it closes the value, or doubles into a literal quote.
    QuoteInQuoted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Other,
    Quote,
    Delimiter,
    Cr,
    Lf,
}

/// A reader that passes its bytes through unchanged and scans them.
pub(super) struct Scan<R> {
    inner: R,
    classes: [Class; 256],
    state: State,
    /// Line breaks seen so far.
    breaks: u64,
    after_cr: bool,
    /// The start line of each record begun but not yet taken by [`Scan::take_start`]: the
    /// `csv` reader buffers ahead, so the scanner may be a few records further.
    starts: VecDeque<u64>,
    /// Where the quoted value being read began.
    quote_line: u64,
    last: Option<u8>,
    caps: Caps,
    /// Bytes of the cell, the record and the physical line being read.
    cell: u64,
    record: u64,
    line_len: u64,
    /// 0-based index of the cell being read in its record.
    column: usize,
    over: Option<Over>,
}

#[derive(Debug, Clone, Copy)]
struct Caps {
    cell: u64,
    record: u64,
    line: u64,
}

/// The first limit the file went over, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Over {
    pub limit: Limit,
    /// The physical line (for a record: where it begins).
    pub line: u64,
    /// 1-based, for a cell.
    pub column: Option<usize>,
}

impl<R: Read> Scan<R> {
    pub(super) fn new(inner: R, delimiter: u8, quote: u8, limits: &Limits) -> Self {
        let mut classes = [Class::Other; 256];
        classes[usize::from(delimiter)] = Class::Delimiter;
        classes[usize::from(quote)] = Class::Quote;
        classes[usize::from(b'\r')] = Class::Cr;
        classes[usize::from(b'\n')] = Class::Lf;
        Scan {
            inner,
            classes,
            state: State::StartRecord,
            breaks: 0,
            after_cr: false,
            starts: VecDeque::new(),
            quote_line: 0,
            last: None,
            caps: Caps {
                cell: limits.get(Limit::Cell),
                record: limits.get(Limit::Record),
                line: limits.get(Limit::Line),
            },
            cell: 0,
            record: 0,
            line_len: 0,
            column: 0,
            over: None,
        }
    }

    /// The limit the file went over, if it did: reading stopped there.
    pub(super) fn over(&self) -> Option<Over> {
        self.over
    }

    /// The physical line (1-based) where the next record the `csv` reader hands out begins.
    pub(super) fn take_start(&mut self) -> Option<u64> {
        self.starts.pop_front()
    }

    /// The line of the last byte read: at the end of the file, its last line.
    pub(super) fn line(&self) -> u64 {
        self.breaks + 1
    }

    /// At the end of the file: the line where a quoted value began that was never closed.
    pub(super) fn open_quote(&self) -> Option<u64> {
        (self.state == State::InQuoted).then_some(self.quote_line)
    }

    /// At the end of the file: whether its last byte is a line break (or it is empty).
    pub(super) fn ends_with_line_break(&self) -> bool {
        matches!(self.last, None | Some(b'\n' | b'\r'))
    }

    fn scan(&mut self, bytes: &[u8]) {
        let mut at = 0;
        while at < bytes.len() {
            // Most bytes are text inside a value, with nothing to note: skip them in one go.
            if matches!(self.state, State::InField | State::InQuoted) {
                let rest = &bytes[at..];
                let text = rest
                    .iter()
                    .position(|&b| self.classes[usize::from(b)] != Class::Other)
                    .unwrap_or(rest.len());
                if text > 0 {
                    self.after_cr = false;
                    at += text;
                    let n = text as u64;
                    (self.cell, self.record, self.line_len) =
                        (self.cell + n, self.record + n, self.line_len + n);
                    self.measure();
                    continue;
                }
            }
            self.step(self.classes[usize::from(bytes[at])]);
            self.measure();
            at += 1;
        }
        if let Some(&byte) = bytes.last() {
            self.last = Some(byte);
        }
    }

    /// Notes the first limit gone over.
    fn measure(&mut self) {
        if self.over.is_some() {
            return;
        }
        let line = self.breaks + 1;
        self.over = if self.cell > self.caps.cell {
            Some(Over {
                limit: Limit::Cell,
                line,
                column: Some(self.column + 1),
            })
        } else if self.line_len > self.caps.line {
            Some(Over {
                limit: Limit::Line,
                line,
                column: None,
            })
        } else if self.record > self.caps.record {
            Some(Over {
                limit: Limit::Record,
                line: self.starts.back().copied().unwrap_or(line),
                column: None,
            })
        } else {
            None
        };
    }

    fn step(&mut self, class: Class) {
        let line = self.breaks + 1;
        match class {
            Class::Cr => self.breaks += 1,
            Class::Lf if !self.after_cr => self.breaks += 1,
            _ => {}
        }
        self.after_cr = class == Class::Cr;
        self.state = match self.state {
            State::StartRecord if matches!(class, Class::Cr | Class::Lf) => State::StartRecord,
            State::StartRecord => {
                self.starts.push_back(line);
                self.field_start(class, line)
            }
            State::StartField => self.field_start(class, line),
            State::InField | State::QuoteInQuoted => match class {
                Class::Delimiter => State::StartField,
                Class::Cr | Class::Lf => State::StartRecord,
                Class::Quote if self.state == State::QuoteInQuoted => State::InQuoted,
                _ => State::InField,
            },
            State::InQuoted if class == Class::Quote => State::QuoteInQuoted,
            State::InQuoted => State::InQuoted,
        };
        match class {
            Class::Cr | Class::Lf => self.line_len = 0,
            _ => self.line_len += 1,
        }
        match self.state {
            State::StartRecord => (self.cell, self.record, self.column) = (0, 0, 0),
            State::StartField => {
                self.record += 1;
                self.cell = 0;
                self.column += usize::from(class == Class::Delimiter);
            }
            _ => (self.cell, self.record) = (self.cell + 1, self.record + 1),
        }
    }

    fn field_start(&mut self, class: Class, line: u64) -> State {
        match class {
            Class::Quote => {
                self.quote_line = line;
                State::InQuoted
            }
            Class::Delimiter => State::StartField,
            Class::Cr | Class::Lf => State::StartRecord,
            Class::Other => State::InField,
        }
    }
}

impl<R: Read> Read for Scan<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.over.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a limit of the source was exceeded",
            ));
        }
        let n = self.inner.read(buf)?;
        self.scan(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record's start line, and the open quote at the end, of `bytes` read in small
    /// pieces (a CRLF may be split between two reads).
    fn scanned(bytes: &[u8]) -> (Vec<u64>, Option<u64>, bool) {
        let mut scan = Scan::new(bytes, b';', b'"', &Limits::default());
        let mut buf = [0; 3];
        while scan.read(&mut buf).expect("in memory") > 0 {}
        let starts = std::iter::from_fn(|| scan.take_start()).collect();
        (starts, scan.open_quote(), scan.ends_with_line_break())
    }

    #[test]
    fn records_start_on_their_physical_line_whatever_the_line_endings() {
        for end in ["\n", "\r\n", "\r"] {
            let text = ["h;x", "a;1", "", "", "b;\"2", "", "3\"", "c;3", ""].join(end);
            let (starts, open, ends) = scanned(text.as_bytes());
            assert_eq!(starts, [1, 2, 5, 8], "line ending {end:?}");
            assert_eq!((open, ends), (None, true));
        }
    }

    #[test]
    fn doubled_quotes_stay_inside_and_stray_quotes_in_a_value_open_nothing() {
        let (starts, open, _) = scanned(b"a;\"say \"\"hi\"\"\nthere\"\nb;5\" tall\nc\n");
        assert_eq!((starts, open), (vec![1, 3, 4], None));
    }

    #[test]
    fn a_quote_never_closed_is_found_with_its_line() {
        let (starts, open, ends) = scanned(b"h;x\na;1\nb;\"Zu-\nlassung\nc;3\n");
        assert_eq!((starts, open, ends), (vec![1, 2, 3], Some(3), true));
    }

    #[test]
    fn a_last_line_without_a_line_break_is_noticed() {
        let (starts, open, ends) = scanned(b"h;x\na;1\nb;2");
        assert_eq!((starts, open, ends), (vec![1, 2, 3], None, false));
        let (_, open, ends) = scanned(b"h;x\nb;\"2\"");
        assert_eq!((open, ends), (None, false), "closed at the very end");
    }

    /// Reads `bytes` through a scanner with small limits until the scanner stops them; returns
    /// what it noted and how many bytes it let through.
    fn limited(bytes: &[u8], cell: u64, record: u64, line: u64) -> (Option<Over>, usize) {
        use crate::import::limits::ByteSize;
        let limits = Limits {
            max_cell_bytes: ByteSize(cell),
            max_record_bytes: ByteSize(record),
            max_line_bytes: ByteSize(line),
            ..Limits::default()
        };
        let mut scan = Scan::new(bytes, b';', b'"', &limits);
        let (mut buf, mut through) = ([0; 7], 0);
        while let Ok(n) = scan.read(&mut buf) {
            if n == 0 {
                break;
            }
            through += n;
        }
        (scan.over(), through)
    }

    #[test]
    fn a_cell_a_line_or_a_record_over_its_limit_stops_the_bytes_there() {
        let cell = |line, column| Over {
            limit: Limit::Cell,
            line,
            column: Some(column),
        };
        let long = "x".repeat(30);
        let text = format!("h;x;y\na;b;c\nd;e{long};f\n{}\n", "g;".repeat(100));
        let (over, through) = limited(text.as_bytes(), 20, 1000, 1000);
        assert_eq!(over, Some(cell(3, 2)));
        assert!(through < 12 + 24 + 7, "stopped within a read: {through}");
        let (over, _) = limited(text.as_bytes(), 40, 1000, 100);
        let line = Over {
            limit: Limit::Line,
            line: 4,
            column: None,
        };
        assert_eq!(over, Some(line));
        // A quoted value over several lines: each line is short, the record is not.
        let quoted = format!("h;x\na;\"{}\"\n", "xx\n".repeat(40));
        let (over, _) = limited(quoted.as_bytes(), 1000, 50, 1000);
        let record = Over {
            limit: Limit::Record,
            line: 2,
            column: None,
        };
        assert_eq!(over, Some(record));
        let (over, through) = limited(text.as_bytes(), 40, 1000, 1000);
        assert_eq!((over, through), (None, text.len()), "within every limit");
    }
}
