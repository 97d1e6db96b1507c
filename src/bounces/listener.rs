//! absage's own SMTP listener for the bounce domain: the county's mail server routes the
//! domain here (Postfix `transport_maps`), absage takes what comes back to its return paths.
//!
//! It speaks just enough ESMTP for mail servers delivering bounces (EHLO/HELO, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT), and refuses what is not for it:
//! - a recipient that is not a return path of the domain (550 5.1.1), or one whose signature
//!   is wrong (550 5.7.1): a forged bounce never reaches the queue;
//! - a message larger than `max_message_kib` (552, announced with SIZE);
//! - more than `messages_per_minute` messages from one address (450, try later);
//! - more than `max_connections` at once (421), a line longer than 4 KiB outside DATA,
//!   and a client silent for `idle_timeout_secs` (421, hung up);
//!
//! A message is answered 250 only after it is committed; a database error answers 451, so the
//! sending server keeps it and tries again.

use super::intake;
use crate::ctx::Ctx;
use crate::domain::return_path::{self, Recipient};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Longest command line taken.
const MAX_LINE: usize = 4096;
/// Recipients per message.
const MAX_RECIPIENTS: usize = 100;
/// Refused commands before the listener hangs up.
const MAX_ERRORS: u32 = 10;

struct Shared {
    ctx: Ctx,
    domain: String,
    secret: String,
    max_bytes: usize,
    idle: Duration,
    per_peer: DefaultKeyedRateLimiter<IpAddr>,
    connections: Semaphore,
}

/// Binds the listener of `[bounces] listen`.
pub async fn bind(ctx: &Ctx) -> anyhow::Result<Option<TcpListener>> {
    let listen = &ctx.settings.bounces.listen;
    if listen.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(listen.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("bounces.listen: cannot listen on {listen}: {e}"))?;
    Ok(Some(listener))
}

/// Serves `listener` until `shutdown`.
pub async fn serve(ctx: Ctx, listener: TcpListener, shutdown: CancellationToken) {
    let settings = &ctx.settings.bounces;
    let Some((domain, secret)) = settings.return_paths() else {
        tracing::error!("bounces.listen is set, but bounces.domain and bounces.secret are not");
        return;
    };
    let per_minute = NonZeroU32::new(settings.messages_per_minute).unwrap_or(NonZeroU32::MIN);
    let shared = Arc::new(Shared {
        domain: domain.to_owned(),
        secret: secret.to_owned(),
        max_bytes: settings.max_message_bytes(),
        idle: Duration::from_secs(settings.idle_timeout_secs),
        per_peer: RateLimiter::keyed(Quota::per_minute(per_minute)),
        connections: Semaphore::new(settings.max_connections),
        ctx: ctx.clone(),
    });
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, domain, "taking bounces over SMTP");
    }
    let sessions = tokio_util::task::TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "bounce listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        let token = shutdown.clone();
        sessions.spawn(async move {
            let _ = stream.set_nodelay(true);
            let Ok(_slot) = shared.connections.try_acquire() else {
                let mut stream = stream;
                let _ = stream
                    .write_all(b"421 4.3.2 too many connections, try later\r\n")
                    .await;
                return;
            };
            tokio::select! {
                r = session(&shared, stream, peer) => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "bounce listener: session ended");
                    }
                }
                () = token.cancelled() => {}
            }
        });
    }
    sessions.close();
    sessions.wait().await;
}

/// Where a session is.
#[derive(Default)]
struct Envelope {
    helo: bool,
    mail: bool,
    recipients: Vec<String>,
}

async fn session(shared: &Shared, stream: TcpStream, peer: SocketAddr) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut env = Envelope::default();
    let mut errors = 0;
    reply(
        &mut write,
        &format!("220 {} absage bounce intake", shared.domain),
    )
    .await?;
    loop {
        let mut line = Vec::new();
        match tokio::time::timeout(shared.idle, read_line(&mut read, &mut line, MAX_LINE)).await {
            Err(_) => {
                return reply(&mut write, "421 4.4.2 idle too long, closing").await;
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Line::End)) => return Ok(()),
            Ok(Ok(Line::TooLong)) => {
                return reply(&mut write, "500 5.5.2 line too long, closing").await;
            }
            Ok(Ok(Line::Complete)) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let answer = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                env = Envelope {
                    helo: true,
                    ..Envelope::default()
                };
                format!(
                    "250-{}\r\n250-SIZE {}\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES",
                    shared.domain, shared.max_bytes
                )
            }
            "HELO" => {
                env = Envelope {
                    helo: true,
                    ..Envelope::default()
                };
                format!("250 {}", shared.domain)
            }
            "MAIL" if !env.helo => "503 5.5.1 say EHLO first".into(),
            "MAIL" if env.mail => "503 5.5.1 MAIL already given".into(),
            "MAIL" => mail(shared, arg, peer.ip(), &mut env),
            "RCPT" if !env.mail => "503 5.5.1 MAIL first".into(),
            "RCPT" => rcpt(shared, arg, &mut env),
            "DATA" if env.recipients.is_empty() => "503 5.5.1 no valid recipient".into(),
            "DATA" => {
                reply(&mut write, "354 end with <CRLF>.<CRLF>").await?;
                let answer =
                    match tokio::time::timeout(shared.idle, read_data(&mut read, shared.max_bytes))
                        .await
                    {
                        Err(_) => {
                            return reply(&mut write, "421 4.4.2 idle too long, closing").await;
                        }
                        Ok(Err(e)) => return Err(e),
                        Ok(Ok(None)) => {
                            format!("552 5.3.4 larger than {} bytes", shared.max_bytes)
                        }
                        Ok(Ok(Some(message))) => deliver(shared, &message, &env.recipients).await,
                    };
                env = Envelope {
                    helo: true,
                    ..Envelope::default()
                };
                answer
            }
            "RSET" => {
                env = Envelope {
                    helo: env.helo,
                    ..Envelope::default()
                };
                "250 2.0.0 ok".into()
            }
            "NOOP" => "250 2.0.0 ok".into(),
            "QUIT" => return reply(&mut write, "221 2.0.0 bye").await,
            "VRFY" => "252 2.5.2 cannot verify".into(),
            _ => "502 5.5.1 not implemented".into(),
        };
        if answer.starts_with('5') {
            errors += 1;
            if errors >= MAX_ERRORS {
                reply(&mut write, &answer).await?;
                return reply(&mut write, "421 4.7.0 too many errors, closing").await;
            }
        }
        reply(&mut write, &answer).await?;
    }
}

fn mail(shared: &Shared, arg: &str, peer: IpAddr, env: &mut Envelope) -> String {
    let Some(rest) = strip_prefix_ci(arg, "FROM:") else {
        return "501 5.5.4 syntax: MAIL FROM:<address>".into();
    };
    let size = rest
        .split_whitespace()
        .filter_map(|p| strip_prefix_ci(p, "SIZE="))
        .find_map(|n| n.parse::<usize>().ok());
    if size.is_some_and(|n| n > shared.max_bytes) {
        return format!("552 5.3.4 larger than {} bytes", shared.max_bytes);
    }
    if shared.per_peer.check_key(&peer).is_err() {
        return "450 4.7.1 too many messages, try later".into();
    }
    env.mail = true;
    "250 2.1.0 ok".into()
}

fn rcpt(shared: &Shared, arg: &str, env: &mut Envelope) -> String {
    let Some(rest) = strip_prefix_ci(arg, "TO:") else {
        return "501 5.5.4 syntax: RCPT TO:<address>".into();
    };
    let address = rest.split_whitespace().next().unwrap_or("");
    if env.recipients.len() >= MAX_RECIPIENTS {
        return "452 4.5.3 too many recipients".into();
    }
    match return_path::recipient(&shared.domain, &shared.secret, address) {
        Recipient::Notification(_) => {
            env.recipients
                .push(address.trim_matches(['<', '>']).to_owned());
            "250 2.1.5 ok".into()
        }
        Recipient::Forged => "550 5.7.1 not a return path absage gave out".into(),
        Recipient::Other => format!("550 5.1.1 only return paths of {} here", shared.domain),
    }
}

async fn deliver(shared: &Shared, message: &[u8], recipients: &[String]) -> String {
    match intake::take(&shared.ctx, message, recipients, "smtp").await {
        Ok(_) => "250 2.0.0 taken".into(),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "bounce listener: could not keep a message");
            "451 4.3.0 cannot keep it now, try later".into()
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s[prefix.len()..].trim_start())
}

async fn reply(write: &mut (impl AsyncWrite + Unpin), text: &str) -> std::io::Result<()> {
    write.write_all(format!("{text}\r\n").as_bytes()).await?;
    write.flush().await
}

enum Line {
    Complete,
    TooLong,
    End,
}

/// Reads one line (with its LF) into `buf`, holding at most `max` bytes: a longer line gives
/// its first `max` bytes as `TooLong`, the rest is left for the next read.
async fn read_line(
    read: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    loop {
        let available = read.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                Line::End
            } else {
                Line::Complete
            });
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if buf.len() + take > max {
            let fits = max - buf.len();
            buf.extend_from_slice(&available[..fits]);
            read.consume(fits);
            return Ok(Line::TooLong);
        }
        buf.extend_from_slice(&available[..take]);
        read.consume(take);
        if done {
            return Ok(Line::Complete);
        }
    }
}

/// Reads the message after DATA up to the lone dot, dot-unstuffed. None when it grew past
/// `max` bytes (the rest is read and dropped, so the session can go on).
async fn read_data(
    read: &mut (impl AsyncBufRead + Unpin),
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut message = Vec::new();
    let mut too_large = false;
    let mut line_start = true;
    loop {
        let mut line = Vec::new();
        let starts_line = line_start;
        match read_line(read, &mut line, 64 * 1024).await? {
            Line::End => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed inside DATA",
                ));
            }
            // A longer line is not SMTP; its pieces are taken as they come.
            Line::TooLong => line_start = false,
            Line::Complete => line_start = true,
        }
        if starts_line && (line == b".\r\n" || line == b".\n") {
            return Ok((!too_large).then_some(message));
        }
        let line = match line.strip_prefix(b".") {
            Some(unstuffed) if starts_line => unstuffed,
            _ => &line,
        };
        if message.len() + line.len() > max {
            too_large = true;
            message = Vec::new();
        }
        if !too_large {
            message.extend_from_slice(line);
        }
    }
}
