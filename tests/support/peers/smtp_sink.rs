//! Postfix `smtp-sink` as a throwaway SMTP relay, with switchable failure modes, and the
//! parser for the message files it dumps (`-d`).

use super::{Daemon, accepts, binary, running_as_root, wait_ready};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;
use tempfile::TempDir;

/// Dump files are `<dir>/msg.<random hex>`; the sink's own log sits beside them.
const DUMP_PREFIX: &str = "msg.";

/// How the sink answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkMode {
    /// Accepts every message.
    Accept,
    /// Answers `421` on connect and hangs up: the relay is down.
    RejectConnect,
    /// Answers `450` to RCPT TO: a temporary failure.
    TempFailRcpt,
    /// Answers `550 5.1.1` to RCPT TO: a permanent failure.
    PermFailRcpt,
    /// Answers `554 5.7.1 Relay access denied` to MAIL FROM: the relay refuses us, whoever
    /// the message is for.
    RefuseSender,
    /// Waits a second before answering DATA: a slow relay, one message per connection and
    /// second.
    SlowData,
    /// Takes the whole message, then waits a second before answering the final dot: a message
    /// that is already delivered while its sender still waits.
    SlowReply,
}

impl SinkMode {
    fn args(self) -> &'static [&'static str] {
        match self {
            SinkMode::Accept => &[],
            SinkMode::RejectConnect => &["-Q", "CONNECT"],
            SinkMode::TempFailRcpt => &["-r", "RCPT"],
            SinkMode::PermFailRcpt => &["-f", "RCPT", "-B", "550 5.1.1 Recipient unknown"],
            SinkMode::RefuseSender => &["-f", "MAIL", "-B", "554 5.7.1 Relay access denied"],
            SinkMode::SlowData => &["-w", "1"],
            SinkMode::SlowReply => &["-W", ".:1"],
        }
    }
}

/// A running `smtp-sink` on 127.0.0.1; killed on drop.
pub struct SmtpSink {
    pub addr: SocketAddr,
    dump_dir: PathBuf,
    daemon: Option<Daemon>,
    /// Set when the sink made its own dir; removed after the daemon is killed.
    _own_dir: Option<TempDir>,
}

impl SmtpSink {
    /// Starts a sink that keeps every accepted message in its own temp dir.
    pub fn start(mode: SinkMode) -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir for smtp-sink");
        let mut sink = Self::start_fresh(dir.path(), mode, true);
        sink._own_dir = Some(dir);
        sink
    }

    /// Starts a sink that keeps nothing (for benchmarks: no disk writes per message).
    pub fn start_non_dumping(mode: SinkMode) -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir for smtp-sink");
        let mut sink = Self::start_fresh(dir.path(), mode, false);
        sink._own_dir = Some(dir);
        sink
    }

    /// (Re)starts a sink on a given port and dump dir, e.g. to bring a stopped relay back
    /// or to change its mode; messages already in `dump_dir` stay visible. Keep the first
    /// (stopped) sink alive meanwhile: it owns the temp dir.
    pub fn start_on(port: u16, dump_dir: &Path, mode: SinkMode) -> SmtpSink {
        Self::try_start(port, dump_dir, mode, true).unwrap_or_else(|log| panic!("{log}"))
    }

    /// Where the dump files go (pass to `start_on` to restart on the same dir).
    pub fn dump_dir(&self) -> &Path {
        &self.dump_dir
    }

    /// Kills the sink; connections are refused afterwards.
    pub fn stop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.kill();
        }
    }

    /// The messages accepted so far, oldest first.
    pub fn messages(&self) -> Vec<SinkMessage> {
        let entries = std::fs::read_dir(&self.dump_dir).expect("read smtp-sink dump dir");
        let mut files: Vec<(SystemTime, PathBuf)> = entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(DUMP_PREFIX))
            .map(|entry| {
                let modified = entry.metadata().and_then(|m| m.modified());
                (modified.unwrap_or(SystemTime::UNIX_EPOCH), entry.path())
            })
            .collect();
        files.sort();
        // smtp-sink removes the file of a transaction that was cut off (the client was killed
        // mid-DATA), so a file listed a moment ago may be gone: it was never a message.
        files
            .iter()
            .filter_map(|(_, path)| match std::fs::read(path) {
                Ok(bytes) => Some(SinkMessage::parse(&String::from_utf8_lossy(&bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => panic!("read smtp-sink dump file {}: {e}", path.display()),
            })
            .collect()
    }

    /// When each accepted message arrived (its dump file was written), oldest first.
    pub fn arrivals(&self) -> Vec<SystemTime> {
        let entries = std::fs::read_dir(&self.dump_dir).expect("read smtp-sink dump dir");
        let mut times: Vec<SystemTime> = entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(DUMP_PREFIX))
            // A file gone since the listing was a transaction cut off: never a message.
            .filter_map(|entry| entry.metadata().and_then(|m| m.modified()).ok())
            .collect();
        times.sort();
        times
    }

    /// Picks a free port, retrying when another process grabs it before the sink binds.
    fn start_fresh(dump_dir: &Path, mode: SinkMode, dumping: bool) -> SmtpSink {
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(super::free_port(), dump_dir, mode, dumping) {
                Ok(sink) => return sink,
                Err(log) => last_error = log,
            }
        }
        panic!("smtp-sink did not start: {last_error}");
    }

    fn try_start(
        port: u16,
        dump_dir: &Path,
        mode: SinkMode,
        dumping: bool,
    ) -> Result<Self, String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut command = Command::new(binary("smtp-sink", None, &["/usr/sbin"]));
        if running_as_root() {
            // Root must drop to another user, who must be able to write the dumps.
            command.arg("-u").arg("nobody");
            make_world_writable(dump_dir);
        }
        if dumping {
            command.arg("-d").arg(dump_dir.join(DUMP_PREFIX));
        }
        command.args(mode.args()).arg(addr.to_string()).arg("256");
        let mut daemon = Daemon::spawn(command, &dump_dir.join("smtp-sink.log"));
        wait_ready(
            "smtp-sink to accept connections",
            &mut [&mut daemon],
            || accepts(addr),
        )?;
        Ok(SmtpSink {
            addr,
            dump_dir: dump_dir.to_path_buf(),
            daemon: Some(daemon),
            _own_dir: None,
        })
    }
}

fn make_world_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
}

/// One message as the sink received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkMessage {
    /// The MAIL FROM address, without angle brackets.
    pub mail_from: String,
    /// The RCPT TO addresses, without angle brackets.
    pub rcpt_to: Vec<String>,
    pub message_id: Option<String>,
    /// The raw (possibly RFC 2047-encoded) header value, unfolded.
    pub subject: Option<String>,
    /// The message as the client sent it (header and body; smtp-sink writes LF line ends).
    pub raw: String,
}

impl SinkMessage {
    /// Parses a dump file: smtp-sink's envelope lines (`X-Mail-Args: <from> …`,
    /// `X-Rcpt-Args: <to> …`, …), its own `Received:` header, then the message.
    fn parse(dump: &str) -> SinkMessage {
        let mut mail_from = String::new();
        let mut rcpt_to = Vec::new();
        let mut rest = dump;
        while let Some((line, after)) = rest.split_once('\n') {
            let Some((name, value)) = line.split_once(": ") else {
                break;
            };
            match name {
                "X-Mail-Args" => mail_from = angle_addr(value),
                "X-Rcpt-Args" => rcpt_to.push(angle_addr(value)),
                "X-Client-Addr" | "X-Client-Proto" | "X-Helo-Args" => {}
                _ => break,
            }
            rest = after;
        }
        let raw = strip_sink_received(rest).to_string();
        let mut message = SinkMessage {
            mail_from,
            rcpt_to,
            message_id: None,
            subject: None,
            raw,
        };
        message.message_id = message.header("Message-ID");
        message.subject = message.header("Subject");
        message
    }

    /// The first header field called `name` (any case), unfolded and trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut found: Option<String> = None;
        for line in self.header_lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = found.as_mut() {
                    value.push_str(line);
                }
            } else if found.is_some() {
                break;
            } else if let Some((field, value)) = line.split_once(':')
                && field.eq_ignore_ascii_case(name)
            {
                found = Some(value.to_string());
            }
        }
        found.map(|value| value.trim().to_string())
    }

    /// Everything after the blank line that ends the header.
    pub fn body(&self) -> &str {
        let raw = self.raw.as_str();
        let end = [("\r\n\r\n", 4), ("\n\n", 2)]
            .iter()
            .filter_map(|(sep, len)| raw.find(sep).map(|i| i + len))
            .min();
        end.map_or("", |i| &raw[i..])
    }

    fn header_lines(&self) -> impl Iterator<Item = &str> {
        self.raw
            .lines()
            .map(|line| line.trim_end_matches('\r'))
            .take_while(|line| !line.is_empty())
    }
}

/// `<a@b.test> SIZE=12` → `a@b.test`.
fn angle_addr(args: &str) -> String {
    let start = args.find('<').map_or(0, |i| i + 1);
    let end = args[start..].find('>').map_or(args.len(), |i| start + i);
    args[start..end].to_string()
}

/// Drops the `Received: … by smtp-sink …` field the sink puts in front of the message.
fn strip_sink_received(message: &str) -> &str {
    if !message.starts_with("Received: ") {
        return message;
    }
    let mut end = 0;
    for (i, line) in message.split_inclusive('\n').enumerate() {
        if i > 0 && !line.starts_with([' ', '\t']) {
            break;
        }
        end += line.len();
    }
    let field = &message[..end];
    if field.contains("by smtp-sink") {
        &message[end..]
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "X-Client-Addr: 127.0.0.1\nX-Client-Proto: ESMTP\nX-Helo-Args: vm\n\
        X-Mail-Args: <a@x.test> SIZE=300\nX-Rcpt-Args: <b@y.test>\nX-Rcpt-Args: <c@y.test>\n\
        Received: from vm ([127.0.0.1])\n\tby smtp-sink (smtp-sink) with ESMTP id 4020;\n\
        \tFri, 27 Nov 2026 10:12:34 +0000 (UTC)\n\
        From: a@x.test\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\n =?UTF-8?Q?_aus_Soest?=\n\
        message-id: <1@x.test>\n\nhello\n";

    #[test]
    fn dump_files_yield_envelope_headers_and_body() {
        let message = SinkMessage::parse(DUMP);
        assert_eq!(message.mail_from, "a@x.test");
        assert_eq!(message.rcpt_to, ["b@y.test", "c@y.test"]);
        assert_eq!(message.message_id.as_deref(), Some("<1@x.test>"));
        assert_eq!(
            message.subject.as_deref(),
            Some("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= =?UTF-8?Q?_aus_Soest?=")
        );
        assert!(
            message.raw.starts_with("From: a@x.test\n"),
            "{}",
            message.raw
        );
        assert_eq!(message.body(), "hello\n");
    }

    #[test]
    fn a_missing_header_is_none() {
        assert_eq!(SinkMessage::parse(DUMP).header("Reply-To"), None);
    }
}
