//! NDJSON: one JSON object per line, read through one reused line buffer, each line held to
//! the source's limits before it is parsed.

use std::io::{BufRead, Read};

use serde_json::Value;

use super::{Pulled, without_position};
use crate::import::limits::{Limit, Limits};
use crate::import::read::ReadReport;

/// NDJSON: one reused line buffer.
pub(super) struct Lines {
    input: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    line: u64,
    limits: Limits,
}

impl Lines {
    pub(super) fn new(input: Box<dyn BufRead + Send>, limits: Limits) -> Lines {
        Lines {
            input,
            buf: Vec::new(),
            line: 0,
            limits,
        }
    }

    pub(super) fn next(&mut self, report: &mut ReadReport) -> Option<Pulled> {
        loop {
            self.buf.clear();
            self.line += 1;
            // A line is a record: the smaller limit holds, and nothing past it is held.
            let (line_cap, record_cap) =
                (self.limits.get(Limit::Line), self.limits.get(Limit::Record));
            let cap = line_cap.min(record_cap);
            let read = (&mut self.input)
                .take(cap + 1)
                .read_until(b'\n', &mut self.buf);
            match read {
                Ok(0) => return None,
                Ok(_) => {}
                Err(err) => return Some(self.failed(format!("cannot be read: {err}"), true)),
            }
            let content = self.buf.len() - usize::from(self.buf.ends_with(b"\n"));
            if content as u64 > cap {
                let (which, what) = match line_cap <= record_cap {
                    true => (Limit::Line, "a line"),
                    false => (Limit::Record, "a record"),
                };
                let at = format!("line {}", self.line);
                let reason = self.limits.exceeded(which, at, what);
                return Some(Pulled::TooLarge {
                    position: self.line,
                    reason,
                });
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                report.blank_rows += 1;
                continue;
            }
            return Some(match serde_json::from_slice::<Value>(&self.buf) {
                Ok(value) => Pulled::Record(self.line, value),
                Err(err) => {
                    // The last line, without its line break, ends inside its record.
                    let cut = err.is_eof() && !self.buf.ends_with(b"\n");
                    let (line, column) = (self.line, self.column(&err));
                    let reason = match cut {
                        true => format!(
                            "looks cut off at line {line}, column {column}: the last record \
                             ends in the middle ({})",
                            without_position(&err)
                        ),
                        false => {
                            format!("{} at line {line} column {column}", without_position(&err))
                        }
                    };
                    Pulled::Failed {
                        position: self.line,
                        reason,
                        io: err.is_io(),
                        eof: err.is_eof(),
                        cut,
                    }
                }
            });
        }
    }

    /// serde_json's column, or the line's end when the value ran past it (past the newline).
    fn column(&self, err: &serde_json::Error) -> usize {
        match err.line() {
            1 => err.column(),
            _ => self.buf.trim_ascii_end().len(),
        }
    }

    fn failed(&self, reason: String, io: bool) -> Pulled {
        Pulled::Failed {
            position: self.line,
            reason,
            io,
            eof: false,
            cut: false,
        }
    }
}
