//! What a message that came back says: a delivery status notification (RFC 3464), a complaint
//! (RFC 5965), an auto-reply (RFC 3834), one of the common non-standard bounce texts (Exim,
//! qmail, Exchange, Postfix) where it can be recognised safely, or nothing absage can read —
//! which is kept for a person, never guessed.
//!
//! The MIME structure is read by `mail-parser` (behind `catch_unwind`: see [`read`]); the
//! report parts (header syntax in groups separated by blank lines) by its header parser.

use mail_parser::{MessageParser, MessagePart, MimeHeaders};

/// What a returned message says about the email it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Not delivered, for good (`Action: failed` with a 5.x.x status, or a permanent error
    /// in a recognised text): the address is not mailed again.
    Hard,
    /// Not delivered: the mail server gave up after temporary errors (`failed` with 4.x.x or
    /// no status). The message did not arrive; the address may work another time.
    GaveUp,
    /// Delivery is late; the mail server keeps trying. Not a failure.
    Delayed,
    /// Delivered or relayed, as the report says (evidence, not a failure).
    Delivered,
    /// The citizen marked it as spam: it arrived, but the address is not mailed again.
    Complaint,
    /// An automatic answer (out of office): the mailbox exists.
    AutoReply,
    /// Nothing absage can read safely: kept for a person.
    Unrecognised,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Hard => "hard",
            Kind::GaveUp => "gave_up",
            Kind::Delayed => "delayed",
            Kind::Delivered => "delivered",
            Kind::Complaint => "complaint",
            Kind::AutoReply => "auto_reply",
            Kind::Unrecognised => "unrecognised",
        }
    }

    /// The message did not reach the citizen.
    pub fn is_failure(self) -> bool {
        matches!(self, Kind::Hard | Kind::GaveUp)
    }

    /// The address is not mailed again in the tenant's later outages: the citizen complained,
    /// or the address or its domain does not exist (5.1.x). Other permanent refusals fail this
    /// email but not the address: a full or disabled mailbox (5.2.x) can be emptied, and a
    /// policy refusal (5.7.x) is often about the sender — the county's relay on a blocklist
    /// after the incident — not the citizen; suppressing those would leave a citizen whose
    /// address is fine without email in the next outage.
    pub fn suppresses(self, status: Option<&str>) -> bool {
        match self {
            Kind::Complaint => true,
            Kind::Hard => status.is_some_and(|s| s.starts_with("5.1.")),
            _ => false,
        }
    }
}

/// A returned message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returned {
    pub kind: Kind,
    /// The RFC 3463 status (`5.1.1`), when the message gives one.
    pub status: Option<String>,
    /// What the receiving server said (`Diagnostic-Code`, or the line of a text bounce), one
    /// line, at most [`REASON_CHARS`] characters; may contain the citizen's address.
    pub diagnostic: Option<String>,
    /// The addresses the message names as its own recipients (`To`, `Delivered-To`,
    /// `X-Original-To`, `Envelope-To`): where a return path is found when the envelope is
    /// not known (a mailbox).
    pub addressed_to: Vec<String>,
}

pub const REASON_CHARS: usize = 300;

/// Reads a returned message. Never panics, whatever the bytes: mail-parser 0.11 trips a debug
/// assertion on some malformed multiparts (the fuzz target found one within seconds; 1.0 fixes
/// it but needs a newer Rust than ours), and whatever a parser does with a message, for absage
/// it is then unreadable — kept for a person — and not the end of the mailbox's reader.
pub fn read(raw: &[u8]) -> Returned {
    std::panic::catch_unwind(|| read_parsed(raw)).unwrap_or_else(|_| Returned {
        kind: Kind::Unrecognised,
        status: None,
        diagnostic: None,
        addressed_to: Vec::new(),
    })
}

fn read_parsed(raw: &[u8]) -> Returned {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Returned {
            kind: Kind::Unrecognised,
            status: None,
            diagnostic: None,
            addressed_to: Vec::new(),
        };
    };
    let addressed_to = message
        .headers_raw()
        .filter(|(name, _)| {
            ["to", "delivered-to", "x-original-to", "envelope-to"]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
        })
        .flat_map(|(_, value)| addresses_in(value))
        .collect();
    let (kind, status, diagnostic) = report(&message.parts)
        .or_else(|| text_bounce(&message))
        .or_else(|| auto_reply(&message))
        .unwrap_or((Kind::Unrecognised, None, None));
    Returned {
        kind,
        status,
        diagnostic,
        addressed_to,
    }
}

type Reading = (Kind, Option<String>, Option<String>);

/// A `message/delivery-status` or `message/feedback-report` part anywhere in the message.
fn report(parts: &[MessagePart<'_>]) -> Option<Reading> {
    parts.iter().find_map(|part| {
        let ct = part.content_type()?;
        if !ct.ctype().eq_ignore_ascii_case("message") {
            return None;
        }
        let sub = ct.subtype()?.to_ascii_lowercase();
        match sub.as_str() {
            "delivery-status" | "global-delivery-status" => delivery_status(part.contents()),
            "feedback-report" => Some((Kind::Complaint, None, feedback_type(part.contents()))),
            _ => None,
        }
    })
}

/// The groups of a delivery-status body: the per-message fields, then one group per recipient.
/// A recipient group decides; of several, the worst (failed, then delayed, then delivered).
fn delivery_status(body: &[u8]) -> Option<Reading> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    let mut worst: Option<Reading> = None;
    for group in text.split("\n\n").skip(1) {
        let fields = fields(group);
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let Some(action) = field("action") else {
            continue;
        };
        let status = field("status").and_then(|s| enhanced_status(&s));
        let diagnostic = field("diagnostic-code").map(|d| diagnostic_of(&d));
        let kind = match action.to_ascii_lowercase().as_str() {
            "failed" if status.as_deref().is_some_and(|s| s.starts_with('5')) => Kind::Hard,
            "failed" => Kind::GaveUp,
            "delayed" => Kind::Delayed,
            "delivered" | "relayed" | "expanded" => Kind::Delivered,
            _ => continue,
        };
        let rank = |k: Kind| match k {
            Kind::Hard => 0,
            Kind::GaveUp => 1,
            Kind::Delayed => 2,
            _ => 3,
        };
        if worst.as_ref().is_none_or(|(w, _, _)| rank(kind) < rank(*w)) {
            worst = Some((kind, status, diagnostic));
        }
    }
    worst
}

/// `Name: value` fields of one group, folded lines joined, through mail-parser's header reader.
fn fields(group: &str) -> Vec<(String, String)> {
    let block = format!("{}\n\n", group.trim_matches('\n'));
    MessageParser::default()
        .parse_headers(block.as_bytes())
        .map(|m| {
            m.headers_raw()
                .map(|(n, v)| (n.to_owned(), one_line(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn feedback_type(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    fields(text.split("\n\n").next().unwrap_or(""))
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("feedback-type"))
        // One line of at most REASON_CHARS, the prefix included (found by fuzzing).
        .map(|(_, v)| one_line(&format!("complaint: {v}")))
}

/// An automatic answer of a person's mailbox; mail servers mark their bounces `auto-replied`
/// too, so one from a mailer daemon or postmaster is not taken for one.
fn auto_reply(message: &mail_parser::Message<'_>) -> Option<Reading> {
    let from_server = message
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .map(str::to_ascii_lowercase)
        .is_none_or(|a| a.starts_with("mailer-daemon") || a.starts_with("postmaster"));
    if from_server {
        return None;
    }
    let auto = message
        .headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case("auto-submitted"))
        .map(|(_, v)| v.trim().to_ascii_lowercase())?;
    auto.starts_with("auto-replied").then_some((
        Kind::AutoReply,
        None,
        message.subject().map(one_line),
    ))
}

/// Bounce texts of mail servers that do not send a report part. Only phrases that these
/// servers write for a permanent failure or a delay count; anything else is unrecognised.
fn text_bounce(message: &mail_parser::Message<'_>) -> Option<Reading> {
    let body: String = message
        .text_bodies()
        .filter_map(|part| part.text_contents())
        .collect::<Vec<_>>()
        .join("\n");
    if body.is_empty() {
        return None;
    }
    // Phrases are matched across line breaks: servers wrap their texts anywhere.
    let lower = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let status = find_status(&body);
    let permanent_phrases = [
        // Exim
        "this is a permanent error. the following address(es) failed",
        // qmail
        "this is a permanent error; i've given up",
        // Postfix (without DSN)
        "could not be delivered to one or more recipients",
        // Exchange and Office 365
        "delivery has failed to these recipients or groups",
        "your message couldn't be delivered",
        "die zustellung an folgende empfänger oder gruppen ist fehlgeschlagen",
    ];
    let delay_phrases = [
        "has not yet been delivered",
        "delivery has been delayed",
        "message delivery is delayed",
        "delay notification",
        "will continue trying",
        "die zustellung an diese empfänger oder gruppen wurde verzögert",
    ];
    let diagnostic = server_line(&body);
    if permanent_phrases.iter().any(|p| lower.contains(p)) {
        // Exchange's and Postfix's texts also serve temporary failures: only a 5.x.x status
        // (or, without one, a 5xx reply or the words "permanent error") makes it permanent.
        let permanent = match status.as_deref() {
            Some(status) => status.starts_with('5'),
            None => {
                lower.contains("permanent error")
                    || diagnostic
                        .as_deref()
                        .and_then(reply_code)
                        .is_some_and(|c| c >= 500)
            }
        };
        return Some((
            if permanent { Kind::Hard } else { Kind::GaveUp },
            status,
            diagnostic,
        ));
    }
    if delay_phrases.iter().any(|p| lower.contains(p)) {
        return Some((Kind::Delayed, status, diagnostic));
    }
    None
}

/// The first SMTP reply code (4xx, 5xx) in a line.
fn reply_code(line: &str) -> Option<u16> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|w| w.len() == 3)
        .filter_map(|w| w.parse().ok())
        .find(|c| (400..600).contains(c))
}

/// The first line with an SMTP reply (`550 5.1.1 …`, `said: 550 …`) in a text bounce.
fn server_line(body: &str) -> Option<String> {
    body.lines()
        .map(str::trim)
        .find(|l| {
            reply_code(l).is_some()
                && (l.contains("said") || l.contains("SMTP") || find_status(l).is_some())
        })
        .map(one_line)
}

/// The first RFC 3463 status (`5.1.1`) in a text.
fn find_status(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find_map(enhanced_status)
}

/// `5.1.1` from a Status field or a word (class 2, 4 or 5; subject and detail 1–3 digits).
fn enhanced_status(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('.');
    let word = s.split_whitespace().next()?;
    let mut parts = word.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |p: &str, max: usize| {
        !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
    };
    (parts.next().is_none()
        && matches!(class, "2" | "4" | "5")
        && digits(subject, 3)
        && digits(detail, 3))
    .then(|| word.to_owned())
}

/// `smtp; 550 5.1.1 …` → `550 5.1.1 …`.
fn diagnostic_of(field: &str) -> String {
    let text = match field.split_once(';') {
        Some((kind, rest)) if kind.trim().len() < 16 && !kind.contains(' ') => rest,
        _ => field,
    };
    one_line(text)
}

/// One line without control characters, at most [`REASON_CHARS`] characters.
fn one_line(s: &str) -> String {
    let mut out = String::new();
    for word in s.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() > REASON_CHARS {
            return out.chars().take(REASON_CHARS).collect();
        }
    }
    out
}

/// Addresses in a header value: `<a@b>`, `Name <a@b>`, `a@b, c@d`.
fn addresses_in(value: &str) -> Vec<String> {
    value
        .split([',', ' ', '\t', '\r', '\n'])
        .map(|w| w.trim_matches(|c| c == '<' || c == '>' || c == '"' || c == ';'))
        .filter(|w| w.contains('@'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;
