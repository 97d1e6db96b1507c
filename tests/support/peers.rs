//! Real test peers on loopback: Postfix `smtp-sink` as the mail relay (and a real Postfix in
//! front of it where bounces matter) and Kannel (bearerbox + smsbox) with `fakesmsc` as the
//! SMS gateway.
//!
//! Every test starts its own peers on free 127.0.0.1 ports in its own temp dir, so tests
//! run in parallel and can inject faults without disturbing each other. Dropping a peer
//! kills its processes. The binaries come from `scripts/install-peers`; `scripts/test`
//! sets up PATH and `ABSAGE_FAKESMSC` (see PEERS.md in the shared notes for the recipes).

// Each test uses a different part of this module; the rest is unused in that binary.
#![allow(dead_code, unused_imports)]

mod dovecot;
mod fakesmsc_log;
mod kannel;
mod postfix;
mod smtp_sink;

pub use dovecot::Dovecot;
pub use fakesmsc_log::FakeSms;
pub use kannel::Kannel;
pub use postfix::{Postfix, Routes};
pub use smtp_sink::{SinkMessage, SinkMode, SmtpSink};

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How long a peer may take to come up before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, let go).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// Polls `f` every few milliseconds until it returns `Some`, and panics naming `what` when
/// `timeout` passes first. The one place where tests may wait on the clock: peers such as
/// Kannel deliver asynchronously.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        sleep(Duration::from_millis(20));
    }
}

/// Plain HTTP/1.0 GET over std::net (no client crate needed); returns status and body.
/// Only `http://host:port/path?query` URLs whose query is already percent-encoded.
pub fn http_get(url: &str) -> (u16, String) {
    try_http_get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

fn try_http_get(url: &str) -> std::io::Result<(u16, String)> {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    let reply = String::from_utf8_lossy(&reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok());
    let status =
        status.ok_or_else(|| std::io::Error::other(format!("no HTTP status: {head:?}")))?;
    Ok((status, body.to_string()))
}

/// Whether something accepts TCP connections on `addr` right now.
fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Finds a peer binary: `env_var` if set, else PATH, else the Debian locations in `dirs`.
fn binary(name: &str, env_var: Option<&str>, dirs: &[&str]) -> PathBuf {
    if let Some(path) = env_var.and_then(std::env::var_os) {
        return PathBuf::from(path);
    }
    let path_dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_dirs)
        .chain(dirs.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("test peer `{name}` not found: run scripts/install-peers (as root)")
        })
}

/// The effective user is root (smtp-sink then needs `-u nobody`). Linux only, no libc.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// A peer process that is killed (and reaped) when dropped, so a failing test leaves no
/// orphans behind. Its stdout and stderr are appended to a log file.
struct Daemon {
    name: String,
    log: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn spawn(mut command: Command, log: &Path) -> Daemon {
        let name = command.get_program().to_string_lossy().into_owned();
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
        let err: File = out.try_clone().expect("clone log handle");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}; run scripts/install-peers"));
        Daemon {
            name,
            log: log.to_path_buf(),
            child: Some(child),
        }
    }

    /// True once the process has ended (it failed to start, or stopped by itself).
    fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The end of its log, for panic messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("{} log ({}):\n{tail}", self.name, self.log.display())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `ready` holds while every daemon in `watched` keeps running. Returns the
/// log of the daemon that died instead, so the caller can retry (e.g. a port got taken).
fn wait_ready(
    what: &str,
    watched: &mut [&mut Daemon],
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if ready() {
            return Ok(());
        }
        let dead = watched
            .iter_mut()
            .find_map(|d| d.has_exited().then(|| d.log_tail()));
        if let Some(log) = dead {
            return Err(format!("{log}\nexited while waiting for {what}"));
        }
        if Instant::now() >= deadline {
            let logs: Vec<String> = watched.iter().map(|d| d.log_tail()).collect();
            return Err(format!("timed out waiting for {what}\n{}", logs.join("\n")));
        }
        sleep(Duration::from_millis(20));
    }
}
