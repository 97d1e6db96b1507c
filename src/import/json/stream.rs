//! Streaming the elements of a JSON array, however large, one at a time.
//!
//! serde_json's `StreamDeserializer` yields whole top-level values, so a one-array export
//! would be held at once. Instead a [`Walk`] visitor drives `serde_json::Deserializer` on its
//! own thread: it follows `records_path` through objects (skipping every other value with
//! `IgnoredAny`, which builds nothing), and at the array sends each element, as a `Value`,
//! through a bounded channel. The channel's bound is the memory bound; a dropped receiver
//! ends the thread at its next element.
//!
//! A [`Meter`] between the file and serde_json counts the bytes of the element (or key) being
//! read and cuts them off past `limits.max_record_bytes`, since serde_json holds a whole value
//! before handing it over; a batch goes out early once its records add up to that limit.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};

use crate::import::limits::{Limit, Limits};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::error::list_keys;
use super::{Pulled, SHOW_KEYS, without_position};

/// Array elements parsed ahead of the consumer.
pub(super) const AHEAD: usize = BATCH * 4;
/// Elements per message: one wake-up of either thread per batch, not per record.
const BATCH: usize = 64;

/// Array elements as the streaming thread sends them.
pub(super) struct Elements {
    rx: Receiver<Streamed>,
    limits: Limits,
    index: u64,
    batch: std::vec::IntoIter<Value>,
    /// The thread said its last word; the channel is closed from here on.
    ended: bool,
}

enum Streamed {
    Records(Vec<Value>),
    /// The walk ended: `None` when all records were sent, else why there are none.
    End(Option<String>),
    Failed(serde_json::Error),
    /// An element (`in_array`) or a key on the way to the array went over the record limit.
    TooLarge {
        in_array: bool,
    },
}

impl Elements {
    /// Starts the thread that walks `input` to the array at `path` (object keys).
    pub(super) fn spawn(
        input: Box<dyn BufRead + Send>,
        path: Vec<String>,
        limits: Limits,
    ) -> Elements {
        let (tx, rx) = mpsc::sync_channel(AHEAD / BATCH);
        let cap = limits.get(Limit::Record);
        // Should the thread not start, the channel closes and `next` reports it.
        let _ = std::thread::Builder::new()
            .name("json-array".into())
            .spawn(move || stream_array(input, &path, cap, &tx));
        Elements {
            rx,
            limits,
            index: 0,
            batch: Vec::new().into_iter(),
            ended: false,
        }
    }

    pub(super) fn next(&mut self) -> Option<Pulled> {
        if let Some(value) = self.batch.next() {
            self.index += 1;
            return Some(Pulled::Record(self.index, value));
        }
        if self.ended {
            return None;
        }
        let received = self.rx.recv();
        self.ended = !matches!(received, Ok(Streamed::Records(_)));
        match received {
            Ok(Streamed::Records(batch)) => {
                self.batch = batch.into_iter();
                self.next()
            }
            Ok(Streamed::End(None)) => None,
            Ok(Streamed::TooLarge { in_array }) => {
                let position = self.index + 1;
                let (at, what) = match in_array {
                    true => (format!("record {position}"), "a record"),
                    false => ("before the records".to_string(), "an object key"),
                };
                let reason = self.limits.exceeded(Limit::Record, at, what);
                Some(Pulled::TooLarge { position, reason })
            }
            Ok(Streamed::End(Some(why))) => Some(Pulled::Missing(why)),
            Ok(Streamed::Failed(err)) => {
                let position = self.index + 1;
                let reason = match err.is_eof() {
                    true => format!(
                        "looks cut off at line {}, column {}, after record {}: the JSON ends \
                         unfinished ({})",
                        err.line(),
                        err.column(),
                        self.index,
                        without_position(&err)
                    ),
                    false => err.to_string(),
                };
                Some(Pulled::Failed {
                    position,
                    reason,
                    io: err.is_io(),
                    eof: err.is_eof(),
                    cut: err.is_eof(),
                })
            }
            Err(mpsc::RecvError) => Some(Pulled::Failed {
                position: self.index + 1,
                reason: "the JSON reader stopped unexpectedly".into(),
                io: true,
                eof: false,
                cut: false,
            }),
        }
    }
}

/// Runs on the streaming thread; a dropped receiver ends it at the next element.
fn stream_array(
    input: Box<dyn BufRead + Send>,
    path: &[String],
    cap: u64,
    tx: &SyncSender<Streamed>,
) {
    let meter = Meter {
        cap,
        ..Meter::default()
    };
    let metered = Metered {
        inner: input,
        meter: &meter,
    };
    // serde_json reads byte by byte: a concrete BufReader gets std's fast path for that.
    let mut de = serde_json::Deserializer::from_reader(BufReader::new(metered));
    let walk = Walk {
        path,
        depth: 0,
        tx,
        meter: &meter,
    };
    let result = walk
        .deserialize(&mut de)
        .and_then(|end| de.end().map(|()| end));
    // When the receiver is gone nobody is waiting for the outcome.
    let _ = tx.send(match result {
        Ok(end) => Streamed::End(end),
        Err(_) if meter.over.get() => Streamed::TooLarge {
            in_array: meter.in_array.get(),
        },
        Err(err) => Streamed::Failed(err),
    });
}

/// The bytes taken from the file, and since when they count against the cap.
#[derive(Debug, Default)]
struct Meter {
    cap: u64,
    read: Cell<u64>,
    /// Where the element or key being read began (in bytes read); `None`: nothing is held.
    mark: Cell<Option<u64>>,
    in_array: Cell<bool>,
    over: Cell<bool>,
}

impl Meter {
    /// Starts counting a value that will be held whole.
    fn arm(&self, in_array: bool) {
        self.mark.set(Some(self.read.get()));
        self.in_array.set(in_array);
    }

    /// Bytes read since [`Meter::arm`]; stops counting.
    fn disarm(&self) -> u64 {
        let start = self.mark.take().unwrap_or(self.read.get());
        self.read.get() - start
    }
}

/// The file as serde_json reads it, through the [`Meter`].
struct Metered<'m, R> {
    inner: R,
    meter: &'m Meter,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let meter = self.meter;
        if meter.over.get() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "over the limit"));
        }
        let n = self.inner.read(buf)?;
        meter.read.set(meter.read.get() + n as u64);
        if let Some(mark) = meter.mark.get()
            && meter.read.get() - mark > meter.cap
        {
            meter.over.set(true);
            return Err(io::Error::new(io::ErrorKind::InvalidData, "over the limit"));
        }
        Ok(n)
    }
}

/// Follows `path` (object keys) down to the records array and sends its elements; every
/// other value is skipped without being built. Yields why no array was found, if so.
struct Walk<'a> {
    path: &'a [String],
    depth: usize,
    tx: &'a SyncSender<Streamed>,
    meter: &'a Meter,
}

impl Walk<'_> {
    /// "the top level" or `"data.appointments"`: where the walk stands, for messages.
    fn here(&self) -> String {
        match self.depth {
            0 => "the top level".to_string(),
            d => format!("{:?}", self.path[..d].join(".")),
        }
    }

    fn send<E: de::Error>(&self, batch: &mut Vec<Value>) -> Result<(), E> {
        let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
        self.tx
            .send(Streamed::Records(full))
            .map_err(|_| E::custom("the reader was dropped"))
    }

    fn not_expected(&self, what: &str) -> Option<String> {
        let here = self.here();
        Some(match self.path.len() - self.depth {
            0 if self.depth == 0 => {
                format!("{here} is {what}, not an array of records; is json.records_path missing?")
            }
            0 => format!("json.records_path {here} is {what}, not an array of records"),
            _ => format!(
                "json.records_path {:?} cannot be followed: {here} is {what}, not an object",
                self.path.join(".")
            ),
        })
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = Option<String>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if self.depth < self.path.len() {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(self.not_expected("a list"));
        }
        let mut batch = Vec::with_capacity(BATCH);
        let mut batch_bytes = 0;
        let result = loop {
            self.meter.arm(true);
            let element = seq.next_element::<Value>();
            batch_bytes += self.meter.disarm();
            match element {
                Ok(Some(value)) => batch.push(value),
                Ok(None) => break Ok(None),
                Err(err) => break Err(err),
            }
            // Large records go out in smaller batches: what is in flight stays bounded.
            if batch.len() == BATCH || batch_bytes >= self.meter.cap {
                self.send(&mut batch)?;
                batch_bytes = 0;
            }
        };
        // The records before a syntax error still go out, ahead of the error.
        if !batch.is_empty() {
            self.send(&mut batch)?;
        }
        result
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let wanted = self.path.get(self.depth);
        let mut keys = Vec::new();
        let mut found = None;
        while let Some(key) = {
            self.meter.arm(false);
            let key = map.next_key::<String>();
            self.meter.disarm();
            key?
        } {
            if found.is_none() && Some(&key) == wanted {
                let deeper = Walk {
                    depth: self.depth + 1,
                    ..self
                };
                found = Some(map.next_value_seed(deeper)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            if keys.len() < SHOW_KEYS {
                keys.push(key);
            }
        }
        Ok(match (found, wanted) {
            (Some(end), _) => end,
            (None, None) => self
                .not_expected("an object")
                .map(|why| format!("{why} (its keys are {})", list_keys(&keys))),
            (None, Some(key)) => Some(format!(
                "json.records_path {:?} cannot be followed: {} has no key {key:?}; its keys are {}",
                self.path.join("."),
                self.here(),
                list_keys(&keys)
            )),
        })
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self.not_expected("a string"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self.not_expected("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self.not_expected("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self.not_expected("a number"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self.not_expected("true or false"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.not_expected("null"))
    }
}
