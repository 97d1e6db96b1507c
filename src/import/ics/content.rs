//! The lexical layer of iCalendar (RFC 5545 §3.1–3.2): physical lines into unfolded content
//! lines, content lines into properties, and the stream of lines into components.
//!
//! Unfolding works on bytes, before decoding, because some writers fold in the middle of a
//! multi-byte character. Each content line is then taken as UTF-8 when valid and as
//! Windows-1252 otherwise (old Outlook exports). A content line remembers the physical line
//! it starts on, so messages point into the file as an editor shows it.
//!
//! Memory stays at one event: a VEVENT is collected up to `limits.max_record_bytes`, a line up
//! to `max_line_bytes`; past them the excess is dropped while reading on, and [`Blocks::over`]
//! says which limit the file went over, where — the import is then refused whole.

use std::io::{self, BufRead, Read};

use encoding_rs::WINDOWS_1252;

use crate::import::limits::{Limit, Limits};
/// Nesting deeper than this is not a calendar (VCALENDAR > VEVENT > VALARM is three).
const MAX_DEPTH: usize = 16;

/// One unfolded content line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentLine {
    /// Physical line (1-based) where it starts.
    pub line: u64,
    pub text: String,
    /// The line was longer than the line limit and was cut.
    pub cut: bool,
}

/// Unfolds physical lines (CRLF or LF; a BOM dropped) into content lines.
pub(crate) struct ContentLines<R> {
    input: R,
    /// Physical lines read so far.
    physical: u64,
    /// A physical line read ahead: the start of the next content line.
    ahead: Option<(u64, Vec<u8>, bool)>,
    started: bool,
    /// The longest line kept; longer ones are cut there.
    cap: usize,
    /// The first line that was longer than `cap` (where its content line starts).
    over: Option<u64>,
}

impl<R: BufRead> ContentLines<R> {
    pub(crate) fn new(input: R) -> Self {
        Self::limited(input, &Limits::default())
    }

    /// Lines cut at `limits.max_line_bytes`.
    pub(crate) fn limited(input: R, limits: &Limits) -> Self {
        ContentLines {
            input,
            physical: 0,
            ahead: None,
            started: false,
            cap: usize::try_from(limits.get(Limit::Line)).unwrap_or(usize::MAX),
            over: None,
        }
    }

    /// Reads one physical line without its line break; `None` at the end.
    /// The flag says the line was cut at the line limit.
    fn physical_line(&mut self) -> io::Result<Option<(Vec<u8>, bool)>> {
        let mut buf = Vec::new();
        let limit = self.cap as u64 + 1;
        let read = <&mut R as Read>::take(&mut self.input, limit).read_until(b'\n', &mut buf)?;
        if read == 0 {
            return Ok(None);
        }
        self.physical += 1;
        let mut cut = false;
        if buf.last() != Some(&b'\n') && buf.len() as u64 == limit {
            cut = true;
            buf.truncate(self.cap);
            self.skip_rest_of_line()?;
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        if !self.started {
            self.started = true;
            if buf.starts_with(b"\xEF\xBB\xBF") {
                buf.drain(..3);
            }
        }
        Ok(Some((buf, cut)))
    }

    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        loop {
            let chunk = self.input.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            match chunk.iter().position(|b| *b == b'\n') {
                Some(at) => {
                    self.input.consume(at + 1);
                    return Ok(());
                }
                None => {
                    let len = chunk.len();
                    self.input.consume(len);
                }
            }
        }
    }

    /// The next content line; `None` at the end of the input.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<ContentLine>> {
        let (line, mut bytes, mut cut) = match self.ahead.take() {
            Some(ahead) => ahead,
            None => loop {
                match self.physical_line()? {
                    None => return Ok(None),
                    // Blank lines are not iCalendar, but exports end with them; skip.
                    Some((bytes, _)) if bytes.iter().all(u8::is_ascii_whitespace) => continue,
                    Some((bytes, cut)) => break (self.physical, bytes, cut),
                }
            },
        };
        while let Some((next, next_cut)) = self.physical_line()? {
            match next.first() {
                Some(b' ' | b'\t') => {
                    let room = self.cap.saturating_sub(bytes.len());
                    let more = &next[1..];
                    cut |= next_cut || more.len() > room;
                    bytes.extend_from_slice(&more[..more.len().min(room)]);
                }
                None => continue,
                Some(_) => {
                    self.ahead = Some((self.physical, next, next_cut));
                    break;
                }
            }
        }
        if cut {
            self.over.get_or_insert(line);
        }
        Ok(Some(ContentLine {
            line,
            text: decode(bytes),
            cut,
        }))
    }
}

fn decode(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => WINDOWS_1252
            .decode_without_bom_handling(err.as_bytes())
            .0
            .into_owned(),
    }
}

/// One property: `NAME;PARAM=value:VALUE`, name and parameter names upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Property {
    pub line: u64,
    pub name: String,
    pub params: Vec<(String, String)>,
    /// The raw value; TEXT values still carry their escapes (see [`unescape`]).
    pub value: String,
}

impl Property {
    /// The value of parameter `name` (upper case), if present.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Parses a content line; the error says what is wrong without repeating the line.
    pub(crate) fn parse(line: u64, text: &str) -> Result<Property, String> {
        let name_end = text.find([';', ':']).unwrap_or(text.len());
        let name = &text[..name_end];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!(
                "line {line} is not an iCalendar content line (NAME:value)"
            ));
        }
        let mut rest = &text[name_end..];
        let mut params = Vec::new();
        while let Some(after) = rest.strip_prefix(';') {
            let (param, remaining) = parameter(after)
                .ok_or_else(|| format!("line {line}: a parameter of {name} is malformed"))?;
            params.push(param);
            rest = remaining;
        }
        let value = rest
            .strip_prefix(':')
            .ok_or_else(|| format!("line {line}: {name} has no ':' before its value"))?;
        Ok(Property {
            line,
            name: name.to_ascii_uppercase(),
            params,
            value: value.to_string(),
        })
    }
}

/// `NAME=value` or `NAME="quoted value"` (a list keeps its commas), up to the next `;` or `:`.
fn parameter(text: &str) -> Option<((String, String), &str)> {
    let (name, mut rest) = text.split_once('=')?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    let mut value = String::new();
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (inside, after) = quoted.split_once('"')?;
            value.push_str(inside);
            rest = after;
        } else {
            let end = rest.find([';', ':', ',']).unwrap_or(rest.len());
            value.push_str(&rest[..end]);
            rest = &rest[end..];
        }
        match rest.strip_prefix(',') {
            Some(after) => {
                value.push(',');
                rest = after;
            }
            None => break,
        }
    }
    Some(((name.to_ascii_uppercase(), caret_decode(&value)), rest))
}

/// RFC 6868 parameter escapes: `^n` newline, `^'` double quote, `^^` caret.
fn caret_decode(text: &str) -> String {
    if !text.contains('^') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('^', Some('n' | 'N')) => out.push('\n'),
            ('^', Some('\'')) => out.push('"'),
            ('^', Some('^')) => out.push('^'),
            _ => {
                out.push(c);
                continue;
            }
        }
        chars.next();
    }
    out
}

/// A TEXT value with its escapes resolved: `\,` `\;` `\\` and `\n`/`\N` (a newline).
pub(crate) fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// What the component reader hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Block {
    /// A VEVENT: its own properties (not those of a VALARM inside it), or why it is broken.
    Event(Event),
    /// The TZID a VTIMEZONE declares.
    TimeZone(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// Physical line of its `BEGIN:VEVENT`.
    pub line: u64,
    pub props: Vec<Property>,
    /// The first thing found wrong; the event is then rejected as a whole.
    pub broken: Option<String>,
}

impl Event {
    /// The first property called `name`.
    pub(crate) fn prop(&self, name: &str) -> Option<&Property> {
        self.props.iter().find(|p| p.name == name)
    }

    pub(crate) fn props_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Property> {
        self.props.iter().filter(move |p| p.name == name)
    }

    fn mark_broken(&mut self, reason: String) {
        self.broken.get_or_insert(reason);
    }
}

/// Splits the stream of content lines into VEVENTs and VTIMEZONE names.
pub(crate) struct Blocks<R> {
    lines: ContentLines<R>,
    /// Names of the open components, outermost first.
    stack: Vec<String>,
    event: Option<(Event, usize)>,
    timezone: Option<String>,
    /// Whether the last thing read closed every component (a VCALENDAR ended).
    complete: bool,
    limits: Limits,
    /// The first limit the file went over, as the refusal says it.
    over: Option<String>,
}

impl<R: BufRead> Blocks<R> {
    /// With the default limits.
    #[cfg(test)]
    pub(crate) fn new(lines: ContentLines<R>) -> Self {
        Self::limited(lines, &Limits::default())
    }

    /// Events held up to `limits.max_record_bytes`, property values up to `max_cell_bytes`.
    pub(crate) fn limited(lines: ContentLines<R>, limits: &Limits) -> Self {
        Blocks {
            lines,
            stack: Vec::new(),
            event: None,
            timezone: None,
            complete: false,
            limits: *limits,
            over: None,
        }
    }

    /// The first limit the file went over, and where: the refusal of the whole file.
    pub(crate) fn over(&self) -> Option<&str> {
        self.over.as_deref()
    }

    fn note_over(&mut self, which: Limit, line: u64, what: &str) {
        if self.over.is_none() {
            let at = format!("line {line}");
            self.over = Some(self.limits.exceeded(which, at, what));
        }
    }

    /// Physical lines read so far, for a message about where reading stopped.
    pub(crate) fn lines_read(&self) -> u64 {
        self.lines.physical
    }

    /// Whether the input ended with every component closed: a cut-off file does not.
    pub(crate) fn complete(&self) -> bool {
        self.complete && self.stack.is_empty()
    }

    pub(crate) fn next_block(&mut self) -> io::Result<Option<Block>> {
        while let Some(content) = self.lines.next_line()? {
            if let Some(line) = self.lines.over {
                self.note_over(Limit::Line, line, "a line");
            }
            if let Some(block) = self.take_line(content) {
                return Ok(Some(block));
            }
        }
        // The input ended inside an event: hand it out broken rather than lose it silently.
        Ok(self.event.take().map(|(mut event, _)| {
            event.mark_broken("the file ends before this VEVENT is closed".to_string());
            Block::Event(event)
        }))
    }

    fn take_line(&mut self, content: ContentLine) -> Option<Block> {
        let begin = strip_keyword(&content.text, "BEGIN:");
        let end = strip_keyword(&content.text, "END:");
        if let Some(name) = begin {
            return self.begin(name.to_ascii_uppercase(), content.line);
        }
        if let Some(name) = end {
            return self.end(&name.to_ascii_uppercase());
        }
        self.property(content);
        None
    }

    fn begin(&mut self, name: String, line: u64) -> Option<Block> {
        self.complete = false;
        let mut handed = None;
        if name == "VEVENT" && self.event.is_some() {
            // An unclosed VEVENT before this one: hand it out broken, go on with the new one.
            handed = self.close_event(Some(format!(
                "this VEVENT is not closed before the next one begins on line {line}"
            )));
        }
        if self.stack.len() >= MAX_DEPTH {
            if let Some((event, _)) = &mut self.event {
                event.mark_broken(format!("components are nested too deep on line {line}"));
            }
            return handed;
        }
        match name.as_str() {
            "VEVENT" => {
                let event = Event {
                    line,
                    props: Vec::new(),
                    broken: None,
                };
                self.event = Some((event, 0));
            }
            "VTIMEZONE" => self.timezone = Some(String::new()),
            _ => {}
        }
        self.stack.push(name);
        handed
    }

    fn end(&mut self, name: &str) -> Option<Block> {
        // An END that closes nothing open is ignored; one closing an outer component closes
        // the inner ones with it (their END lines are missing).
        let at = self.stack.iter().rposition(|open| open == name)?;
        let closed: Vec<String> = self.stack.drain(at..).collect();
        self.complete = self.stack.is_empty();
        let mut handed = None;
        if closed.iter().any(|c| c == "VEVENT") {
            let reason =
                (name != "VEVENT").then(|| format!("this VEVENT is not closed before END:{name}"));
            handed = self.close_event(reason);
        }
        if closed.iter().any(|c| c == "VTIMEZONE")
            && let Some(tzid) = self.timezone.take()
            && handed.is_none()
            && !tzid.is_empty()
        {
            handed = Some(Block::TimeZone(tzid));
        }
        handed
    }

    fn close_event(&mut self, reason: Option<String>) -> Option<Block> {
        let (mut event, _) = self.event.take()?;
        if let Some(reason) = reason {
            event.mark_broken(reason);
        }
        if let Some(at) = self.stack.iter().rposition(|open| open == "VEVENT") {
            self.stack.truncate(at);
        }
        Some(Block::Event(event))
    }

    fn property(&mut self, content: ContentLine) {
        self.complete = false;
        let in_event_itself = self.stack.last().is_some_and(|top| top == "VEVENT");
        let (event_cap, cell_cap) = (self.limits.get(Limit::Record), self.limits.get(Limit::Cell));
        let mut over = None;
        if let Some((event, bytes)) = &mut self.event {
            if !in_event_itself {
                return; // a VALARM or other sub-component: not the booking's data
            }
            *bytes += content.text.len();
            if content.cut || *bytes as u64 > event_cap {
                event.mark_broken(format!(
                    "this VEVENT is larger than the limit (line {})",
                    content.line
                ));
                // A cut line is named as such by the lines.
                over = (!content.cut).then_some((
                    Limit::Record,
                    event.line,
                    "the VEVENT beginning here",
                ));
            } else {
                match Property::parse(content.line, &content.text) {
                    Ok(prop) if prop.value.len() as u64 > cell_cap => {
                        event.mark_broken(format!("a value on line {} is too long", content.line));
                        over = Some((Limit::Cell, content.line, "a property value"));
                    }
                    Ok(prop) => event.props.push(prop),
                    Err(reason) => event.mark_broken(reason),
                }
            }
        } else if self.stack.last().is_some_and(|top| top == "VTIMEZONE")
            && let Some(tzid) = strip_keyword(&content.text, "TZID")
        {
            let value = tzid.split_once(':').map_or("", |(_, v)| v);
            self.timezone = Some(value.trim().to_string());
        }
        if let Some((which, line, what)) = over {
            self.note_over(which, line, what);
        }
    }
}

/// The text after `keyword` when the line starts with it, ignoring ASCII case.
fn strip_keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let head = text.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| text[keyword.len()..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<ContentLine> {
        let mut reader = ContentLines::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().expect("in memory") {
            out.push(line);
        }
        out
    }

    fn blocks(text: &str) -> Vec<Block> {
        let mut reader = Blocks::new(ContentLines::new(text.as_bytes()));
        let mut out = Vec::new();
        while let Some(block) = reader.next_block().expect("in memory") {
            out.push(block);
        }
        out
    }

    #[test]
    fn folded_lines_are_joined_and_remember_their_first_line() {
        let got = lines("\u{feff}A:1\r\nB:long\r\n  text\r\n\tmore\r\nC:3\n\n");
        let texts: Vec<(u64, &str)> = got.iter().map(|l| (l.line, l.text.as_str())).collect();
        assert_eq!(texts, [(1, "A:1"), (2, "B:long textmore"), (5, "C:3")]);
    }

    #[test]
    fn a_character_folded_in_half_is_rejoined_before_decoding() {
        let bytes = b"SUMMARY:Stra\xC3\r\n \x9Fe\r\n";
        let mut reader = ContentLines::new(&bytes[..]);
        let line = reader.next_line().expect("reads").expect("one line");
        assert_eq!(line.text, "SUMMARY:Straße");
    }

    #[test]
    fn windows_1252_lines_are_decoded() {
        let mut reader = ContentLines::new(&b"LOCATION:B\xFCrgeramt\n"[..]);
        let line = reader.next_line().expect("reads").expect("one line");
        assert_eq!(line.text, "LOCATION:Bürgeramt");
    }

    #[test]
    fn properties_keep_quoted_parameters_whole() {
        let text = r#"attendee;CN="Mustermann, Erika";ROLE=REQ-PARTICIPANT;X-A=^'q^';MEMBER="a:b","c":mailto:e@example.org"#;
        let prop = Property::parse(7, text).expect("valid");
        assert_eq!(prop.name, "ATTENDEE");
        assert_eq!(prop.param("CN"), Some("Mustermann, Erika"));
        assert_eq!(prop.param("ROLE"), Some("REQ-PARTICIPANT"));
        assert_eq!(prop.param("X-A"), Some("\"q\""));
        assert_eq!(prop.param("MEMBER"), Some("a:b,c"));
        assert_eq!(prop.value, "mailto:e@example.org");
        let err = Property::parse(9, "Erika Mustermann").expect_err("no colon");
        assert!(err.contains("line 9") && !err.contains("Erika"), "{err}");
        assert!(Property::parse(9, "X;CN=\"open:x").is_err());
    }

    #[test]
    fn text_escapes_are_resolved() {
        assert_eq!(
            unescape(r"Pass\, Ausweis\; Führerschein\nZimmer 2\\3"),
            "Pass, Ausweis; Führerschein\nZimmer 2\\3"
        );
    }

    #[test]
    fn an_alarm_inside_an_event_does_not_lend_it_properties() {
        let got = blocks(
            "BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:Custom\nEND:VTIMEZONE\nBEGIN:VEVENT\n\
             UID:1\nBEGIN:VALARM\nDESCRIPTION:Reminder\nEND:VALARM\nEND:VEVENT\nEND:VCALENDAR\n",
        );
        assert_eq!(got[0], Block::TimeZone("Custom".into()));
        let Block::Event(event) = &got[1] else {
            panic!("an event")
        };
        assert_eq!(event.line, 5);
        assert_eq!(event.props.len(), 1);
        assert!(event.prop("DESCRIPTION").is_none());
    }

    #[test]
    fn an_unclosed_event_is_broken_and_the_next_one_still_read() {
        let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nBEGIN:VEVENT\nUID:2\nEND:VEVENT\n\
                    END:VCALENDAR\n";
        let mut reader = Blocks::new(ContentLines::new(text.as_bytes()));
        let mut events = Vec::new();
        while let Some(Block::Event(event)) = reader.next_block().expect("in memory") {
            events.push(event);
        }
        assert!(reader.complete());
        assert_eq!(events.len(), 2);
        assert!(
            events[0]
                .broken
                .as_deref()
                .is_some_and(|r| r.contains("line 4"))
        );
        assert_eq!((events[1].line, &events[1].broken), (4, &None));
    }

    #[test]
    fn a_cut_off_file_is_not_complete() {
        let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\n";
        let mut reader = Blocks::new(ContentLines::new(text.as_bytes()));
        let Some(Block::Event(event)) = reader.next_block().expect("in memory") else {
            panic!("the open event")
        };
        assert!(event.broken.is_some());
        assert!(!reader.complete());
    }

    /// The blocks of `text` read with `limits`, and the limit it went over.
    fn limited(text: &str, limits: &Limits) -> (Vec<Block>, Option<String>) {
        let lines = ContentLines::limited(text.as_bytes(), limits);
        let mut reader = Blocks::limited(lines, limits);
        let mut out = Vec::new();
        while let Some(block) = reader.next_block().expect("in memory") {
            out.push(block);
        }
        (out, reader.over().map(str::to_owned))
    }

    #[test]
    fn an_overlong_line_is_cut_read_on_and_named_as_over_the_limit() {
        let long = "x".repeat((1 << 20) + 10);
        let text = format!(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDESCRIPTION:{long}\nEND:VEVENT\nBEGIN:VEVENT\n\
             UID:2\nEND:VEVENT\nEND:VCALENDAR\n"
        );
        let (got, over) = limited(&text, &Limits::default());
        let [Block::Event(first), Block::Event(second)] = got.as_slice() else {
            panic!("two events: {got:?}")
        };
        assert!(first.broken.as_deref().is_some_and(|r| r.contains("limit")));
        assert_eq!((second.line, &second.broken), (5, &None));
        let over = over.expect("over the limit");
        assert!(
            over.starts_with("line 3: a line is over the limit of 1 MiB (limits.max_line_bytes)"),
            "{over}"
        );
    }

    #[test]
    fn a_long_value_or_a_large_event_is_named_with_its_line_and_limit() {
        let text = |value: &str, lines: usize| {
            format!(
                "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nSUMMARY:{value}\n{}END:VEVENT\nEND:VCALENDAR\n",
                "DESCRIPTION:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n".repeat(lines)
            )
        };
        let (_, over) = limited(&text(&"y".repeat(70_000), 0), &Limits::default());
        let over = over.expect("a long value");
        assert!(
            over.starts_with("line 4: a property value is over the limit of 64 KiB"),
            "{over}"
        );
        let (_, over) = limited(&text("Pass", 30_000), &Limits::default());
        let over = over.expect("a large event");
        assert!(
            over.starts_with("line 2: the VEVENT beginning here is over the limit of 1 MiB (limits.max_record_bytes)"),
            "{over}"
        );
        assert_eq!(limited(&text("Pass", 3), &Limits::default()).1, None);
    }
}
