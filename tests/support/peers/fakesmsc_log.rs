//! Reads what Kannel's `fakesmsc` printed for each SMS it received.
//!
//! Line formats seen with Kannel 1.4.5 (the log prefix is
//! `2026-11-27 10:11:55 [8731] [0] DEBUG: `):
//! - `Got message 2: <KreisSoest +4917612345678 text Grüße aus Münster €>`: GSM text,
//!   printed raw as UTF-8 (characters outside the GSM alphabet arrive as `?`).
//! - `Got message 3: <KreisSoest +4917612345678 ucs-2 %00G%00r%00%FC…>`: `coding=2`,
//!   UTF-16BE bytes, form-URL-encoded (`+` is byte 0x20, `%XX` a byte, other bytes as-is).
//! - `Got message 7: <KreisSoest +4917612345678 udh %05%00%03%05%02%01 data AAA…+Ende>`:
//!   one part of a concatenated message; UDH and data both URL-encoded, data UTF-8 for
//!   GSM text or UTF-16BE for UCS-2 (the line does not say which; see [`decode_part_text`]).
//! - `Got message 16: <KS +4917612345678 data Gr%C3%BC%C3%9Fe>`: `coding=1` (8-bit),
//!   URL-encoded.
//! - `Got message 1: <Kreis Soest +491 text a b>`: an alphanumeric sender may hold spaces.
//! - A newline in GSM text ends the line: `text Line1>` is followed by a line `<Line2>`,
//!   which is taken as the continuation of the text before it.

use std::collections::BTreeMap;

/// One SMS as it reached the fake SMS centre (parts of a long message joined).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeSms {
    pub from: String,
    pub to: String,
    pub text: String,
    /// How many segments it arrived in (1 unless concatenated).
    pub parts: usize,
    /// Sent as UCS-2 (`coding=2`) rather than GSM text.
    pub ucs2: bool,
}

/// Segments of a concatenated message, by (from, to, reference, total).
type Pending = BTreeMap<(String, String, u16, u8), BTreeMap<u8, Vec<u8>>>;

/// Parses a whole fakesmsc log; an unfinished last line and incomplete concatenated
/// messages are left out (they show up once complete).
pub(super) fn parse(log: &str) -> Vec<FakeSms> {
    let mut received: Vec<FakeSms> = Vec::new();
    let mut pending = Pending::new();
    let mut last_was_text = false;
    let complete = &log[..log.rfind('\n').map_or(0, |i| i + 1)];
    for line in complete.lines() {
        let Some(payload) = payload(line) else {
            continue;
        };
        match parse_payload(payload) {
            Some(Payload::Whole(sms)) => {
                last_was_text = !sms.ucs2 && sms.parts == 1;
                received.push(sms);
            }
            Some(Payload::Part(key, seq, data)) => {
                last_was_text = false;
                let total = key.3;
                let parts = pending.entry(key.clone()).or_default();
                parts.insert(seq, data);
                if parts.len() == usize::from(total) {
                    let bytes: Vec<u8> = parts.values().flatten().copied().collect();
                    pending.remove(&key);
                    let (text, ucs2) = decode_part_text(&bytes);
                    let (from, to) = (key.0, key.1);
                    let parts = usize::from(total);
                    received.push(FakeSms {
                        from,
                        to,
                        text,
                        parts,
                        ucs2,
                    });
                }
            }
            None if last_was_text => {
                let previous = received.last_mut().expect("a previous text message");
                previous.text.push('\n');
                previous.text.push_str(payload);
            }
            None => {}
        }
    }
    received
}

enum Payload {
    Whole(FakeSms),
    Part((String, String, u16, u8), u8, Vec<u8>),
}

/// `… Got message 7: <PAYLOAD>` → `PAYLOAD` (only the final `>` is the delimiter).
fn payload(line: &str) -> Option<&str> {
    let start = line.find("Got message ")?;
    let after = &line[start..];
    let inner = &after[after.find(": <")? + 3..];
    Some(inner.strip_suffix('>').unwrap_or(inner))
}

/// `FROM TO KIND REST`, where an alphanumeric FROM may contain spaces (`Kreis Soest`)
/// but TO, a number, does not: the first kind keyword after two words ends the header.
fn parse_payload(payload: &str) -> Option<Payload> {
    const KINDS: [&str; 4] = ["text", "ucs-2", "data", "udh"];
    let words: Vec<&str> = payload.split(' ').collect();
    let kind_at = (2..words.len()).find(|&i| KINDS.contains(&words[i]))?;
    let from = words[..kind_at - 1].join(" ");
    let (to, kind) = (words[kind_at - 1], words[kind_at]);
    let rest = words[kind_at + 1..].join(" ");
    let whole = |text: String, ucs2: bool| {
        let (from, to) = (from.clone(), to.to_string());
        Some(Payload::Whole(FakeSms {
            from,
            to,
            text,
            parts: 1,
            ucs2,
        }))
    };
    match kind {
        "text" => whole(rest, false),
        "ucs-2" => whole(utf16be(&url_decode(&rest)), true),
        "data" => {
            let bytes = url_decode(&rest);
            whole(String::from_utf8_lossy(&bytes).into_owned(), false)
        }
        "udh" => {
            let (udh, data) = rest.split_once(" data ")?;
            let data = url_decode(data);
            match concat_info(&url_decode(udh)) {
                Some((reference, total, seq)) => {
                    let key = (from.clone(), to.to_string(), reference, total);
                    Some(Payload::Part(key, seq, data))
                }
                None => {
                    let (text, ucs2) = decode_part_text(&data);
                    whole(text, ucs2)
                }
            }
        }
        _ => None,
    }
}

/// (reference, total, sequence) from a concatenation element of a UDH, if any.
fn concat_info(udh: &[u8]) -> Option<(u16, u8, u8)> {
    let mut elements = udh.get(1..)?;
    while let [id, len, rest @ ..] = elements {
        let body = rest.get(..usize::from(*len))?;
        match (id, body) {
            (0x00, [reference, total, seq]) => return Some((u16::from(*reference), *total, *seq)),
            (0x08, [hi, lo, total, seq]) => {
                return Some((u16::from_be_bytes([*hi, *lo]), *total, *seq));
            }
            _ => elements = &rest[body.len()..],
        }
    }
    None
}

/// UDH data does not say its coding: GSM text arrives as UTF-8, UCS-2 as UTF-16BE, whose
/// bytes are full of NULs and control characters that no readable UTF-8 text contains.
fn decode_part_text(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text)
            if !text
                .chars()
                .any(|c| c.is_control() && !"\n\r\t".contains(c)) =>
        {
            (text.to_string(), false)
        }
        _ => (utf16be(bytes), true),
    }
}

fn utf16be(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// Form-URL decoding to bytes: `+` is a space, `%XX` a byte.
fn url_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "2026-11-27 10:11:55 [8731] [0] DEBUG: ";

    fn log(lines: &[&str]) -> String {
        lines.iter().map(|l| format!("{PREFIX}{l}\n")).collect()
    }

    #[test]
    fn gsm_text_is_taken_as_printed() {
        let got = parse(&log(&["Got message 2: <KreisSoest +49176 text Grüße <x>>"]));
        assert_eq!(got[0].text, "Grüße <x>");
        assert_eq!(
            (got[0].from.as_str(), got[0].to.as_str()),
            ("KreisSoest", "+49176")
        );
    }

    #[test]
    fn a_sender_name_may_contain_spaces() {
        let got = parse(&log(&[
            "Got message 1: <Kreis Soest +491 text Ihr text ist da>",
        ]));
        assert_eq!(got[0].from, "Kreis Soest");
        assert_eq!(
            (got[0].to.as_str(), got[0].text.as_str()),
            ("+491", "Ihr text ist da")
        );
    }

    #[test]
    fn ucs2_hex_is_decoded_including_plus_as_space_byte() {
        let line = "Got message 3: <K +49 ucs-2 %00G%00r%00%FC%00%DF%00e%00++%AC>";
        let got = parse(&log(&[line]));
        assert_eq!(got[0].text, "Grüße €");
        assert!(got[0].ucs2);
    }

    #[test]
    fn a_newline_in_text_continues_on_the_next_line() {
        let got = parse(&log(&[
            "Got message 4: <K +49 text Line1>",
            "Got message 5: <Line2>",
        ]));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].text, "Line1\nLine2");
    }

    #[test]
    fn concatenated_parts_are_joined_once_all_arrived() {
        let first = "Got message 7: <K +49 udh %05%00%03%05%02%01 data Gr%C3%BC>";
        let second = "Got message 8: <K +49 udh %05%00%03%05%02%02 data %C3%9Fe+Ende>";
        assert!(parse(&log(&[first])).is_empty());
        let got = parse(&log(&[second, first]));
        assert_eq!((got[0].text.as_str(), got[0].parts), ("Grüße Ende", 2));
        assert!(!got[0].ucs2);
    }

    #[test]
    fn concatenated_ucs2_parts_are_recognised() {
        let first = "Got message 9: <K +49 udh %05%00%03%06%02%01 data %00%E4%00a>";
        let second = "Got message 10: <K +49 udh %05%00%03%06%02%02 data %04%1F>";
        let got = parse(&log(&[first, second]));
        assert_eq!(got[0].text, "äaП");
        assert!(got[0].ucs2);
    }

    #[test]
    fn an_unfinished_last_line_is_ignored() {
        let mut text = log(&["Got message 1: <K +49 text one>"]);
        text.push_str(PREFIX);
        text.push_str("Got message 2: <K +49 text tw");
        assert_eq!(parse(&text).len(), 1);
    }
}
