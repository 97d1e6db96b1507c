//! Email over SMTP: building a message from rendered text, and a bounded pool of connections
//! to one relay. We open the TCP connections ourselves (with `TCP_NODELAY`, which lettre never
//! sets and without which every message waits ~40 ms for a delayed ACK) and drive lettre's
//! `AsyncSmtpConnection` step by step (`smtp_transaction`, pipelined where the relay allows),
//! so we know whether a failure happened before the message data left us (safe to retry on a
//! fresh connection) or after (possible duplicate).
//!
//! A 5xx reply is not always about the message: a relay that refuses our sender (MAIL FROM),
//! wants authentication, or refuses by policy (5.7.x, e.g. `554 5.7.1 Relay access denied`)
//! refuses every message alike, and so does one that gives the same refusal for several
//! different recipients in a row. Those are failures of the relay (failover, probe, no attempt
//! spent), not of the message; the probe then replays the refused envelope (MAIL, RCPT, RSET).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::ClientId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

use super::outcome::{SendFailure, Sent, mask_personal_data};
use super::smtp_transaction::{Conn, Stage, transaction};
use crate::config::{SmtpRelayConfig, TlsMode};

/// The same refusal for this many different recipients in a row is the relay's, not theirs.
pub const SAME_REFUSALS: u32 = 3;

/// A rendered email, ready to be built into MIME.
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    /// Without angle brackets, e.g. `n123.4f2a@absage.kreis-soest.de`.
    pub message_id: String,
    /// The envelope sender, where bounces go; None: the From address.
    pub return_path: Option<lettre::Address>,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub to: Mailbox,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// The `Auto-Submitted: auto-generated` header (RFC 3834), so auto-responders stay quiet.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}

/// Builds the MIME message (text, or text and HTML as multipart/alternative) with our
/// Message-ID. lettre encodes every header value, so imported data cannot add headers.
///
/// Control characters in display names and the subject become spaces first: lettre encodes
/// them in a subject but panics on a CR or LF in a display name.
pub fn build_message(e: &OutgoingEmail) -> Result<(Envelope, Vec<u8>), SendFailure> {
    let mut builder = Message::builder()
        .message_id(Some(format!("<{}>", e.message_id)))
        .from(clean_mailbox(&e.from))
        .to(clean_mailbox(&e.to))
        .subject(without_controls(&e.subject))
        .date_now()
        .header(AutoSubmitted);
    if let Some(reply_to) = &e.reply_to {
        builder = builder.reply_to(clean_mailbox(reply_to));
    }
    let built = match &e.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            e.text.clone(),
            html.clone(),
        )),
        None => builder.singlepart(SinglePart::plain(e.text.clone())),
    };
    let message = built.map_err(|err| SendFailure::permanent(format!("bad message: {err}")))?;
    let envelope = match &e.return_path {
        Some(sender) => Envelope::new(Some(sender.clone()), vec![e.to.email.clone()])
            .map_err(|err| SendFailure::permanent(format!("bad envelope: {err}")))?,
        None => message.envelope().clone(),
    };
    Ok((envelope, message.formatted()))
}

fn clean_mailbox(m: &Mailbox) -> Mailbox {
    Mailbox::new(m.name.as_deref().map(without_controls), m.email.clone())
}

fn without_controls(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A bounded pool of connections to one SMTP relay.
pub struct SmtpRelay {
    cfg: SmtpRelayConfig,
    hello: ClientId,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    in_use: Semaphore,
    idle: Mutex<Vec<Conn>>,
    refusals: Mutex<Refusals>,
    /// Set when a pipelined transaction got no replies in time: a relay that announces
    /// PIPELINING and loses what follows the first command. New connections go one command
    /// at a time from then on.
    pipelining_broken: AtomicBool,
    pub service: super::service_time::ServiceTime,
}

/// Refusals that may be the relay's rather than the recipients'.
#[derive(Default)]
struct Refusals {
    /// The last ambiguous 5xx (masked), the recipient it came for, and how many different
    /// recipients in a row got it.
    reply: String,
    recipient: String,
    count: u32,
    /// The envelope of the last send refused as a relay failure: probes replay it.
    envelope: Option<Envelope>,
}

impl SmtpRelay {
    pub fn new(cfg: SmtpRelayConfig) -> Result<Self, anyhow::Error> {
        anyhow::ensure!(
            cfg.concurrency > 0,
            "relay {}: concurrency must be at least 1",
            cfg.name
        );
        let tls = match cfg.tls {
            TlsMode::None => None,
            TlsMode::Starttls | TlsMode::Tls => Some(
                TlsParameters::builder(cfg.host.clone())
                    .dangerous_accept_invalid_certs(cfg.danger_accept_invalid_certs)
                    .build_rustls()?,
            ),
        };
        let credentials = match (&cfg.username, &cfg.password) {
            (Some(user), Some(pass)) => {
                Some(Credentials::new(user.clone(), pass.expose().to_owned()))
            }
            (None, None) => None,
            _ => anyhow::bail!(
                "relay {}: set both username and password, or neither",
                cfg.name
            ),
        };
        let hello = match &cfg.hello_name {
            Some(name) => ClientId::Domain(name.clone()),
            None => ClientId::default(),
        };
        Ok(Self {
            in_use: Semaphore::new(cfg.concurrency),
            idle: Mutex::new(Vec::new()),
            refusals: Mutex::default(),
            pipelining_broken: AtomicBool::new(false),
            service: Default::default(),
            hello,
            tls,
            credentials,
            cfg,
        })
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Sends one message. A pooled connection that the relay closed meanwhile costs nothing:
    /// the send is repeated once on a fresh connection if the data had not been written yet.
    #[tracing::instrument(skip_all, fields(relay = %self.cfg.name))]
    pub async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<Sent, SendFailure> {
        let _permit = self.permit().await?;
        self.send_permitted(envelope, bytes).await
    }

    /// Waits for one of the relay's `concurrency` connections.
    pub async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, SendFailure> {
        (self.in_use.acquire().await).map_err(|_| SendFailure::destination("relay pool closed"))
    }

    /// [`Self::send`] for a caller that holds a [`Self::permit`].
    pub async fn send_permitted(
        &self,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<Sent, SendFailure> {
        let started = std::time::Instant::now();
        let sent = self.send_held(envelope, bytes).await;
        if sent.is_ok() {
            self.service.record_since(started);
        }
        sent
    }

    async fn send_held(&self, envelope: &Envelope, bytes: &[u8]) -> Result<Sent, SendFailure> {
        if let Some(conn) = self.take_idle() {
            match self.send_on(conn, envelope, bytes).await {
                Err(f) if f.stage != Stage::AfterData && f.stale => {
                    tracing::debug!(failure = %f.failure, "pooled connection was stale; reconnecting");
                }
                other => return other.map_err(Failed::judged),
            }
        }
        let conn = self.connect().await?;
        self.send_on(conn, envelope, bytes)
            .await
            .map_err(Failed::judged)
    }

    /// Connect, EHLO, STARTTLS and AUTH as configured, then QUIT: is the relay up? After a
    /// refusal that concerned the relay, the refused envelope is replayed too (MAIL, RCPT, then
    /// RSET: nothing is sent), so a relay that still refuses our sender stays down.
    #[tracing::instrument(skip_all, fields(relay = %self.cfg.name))]
    pub async fn probe(&self) -> Result<(), SendFailure> {
        let mut conn = self.connect().await?;
        let refused = self.refusals().envelope.clone();
        if let Some(envelope) = refused {
            let replay = async {
                let smtp = &mut conn.smtp;
                smtp.command(Mail::new(envelope.from().cloned(), Vec::new()))
                    .await?;
                for to in envelope.to() {
                    smtp.command(Rcpt::new(to.clone(), Vec::new())).await?;
                }
                smtp.command(Rset).await
            };
            match tokio::time::timeout(self.timeout(), replay).await {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => {
                    return Err(SendFailure::destination(format!("still refused: {err}")));
                }
                Err(_) => return Err(SendFailure::destination("probe timed out")),
            }
        }
        match tokio::time::timeout(self.timeout(), conn.smtp.quit()).await {
            Ok(Ok(_)) => {
                *self.refusals() = Refusals::default();
                Ok(())
            }
            Ok(Err(err)) => Err(SendFailure::destination(format!("QUIT: {err}"))),
            Err(_) => Err(SendFailure::destination("QUIT timed out")),
        }
    }

    fn refusals(&self) -> std::sync::MutexGuard<'_, Refusals> {
        self.refusals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What a failed transaction means: 4xx transient (421: the relay is closing), 5xx
    /// permanent unless it concerns the relay (see the module doc), anything without a reply
    /// code (I/O, dropped connection) a destination failure.
    fn classify(
        &self,
        err: &lettre::transport::smtp::Error,
        stage: Stage,
        envelope: &Envelope,
    ) -> SendFailure {
        let code = err.status().map(u16::from);
        if code == Some(421) || !(err.is_transient() || err.is_permanent()) {
            return SendFailure::destination(err);
        }
        if err.is_transient() {
            return SendFailure::transient(err, None);
        }
        let reply = err.to_string();
        let relay = relay_refusal(code, enhanced_status(&reply), stage)
            .map(str::to_owned)
            .or_else(|| self.same_refusal_again(&reply, envelope));
        match relay {
            Some(why) => {
                self.refusals().envelope = Some(envelope.clone());
                SendFailure::destination(format!("{why}: {reply}"))
            }
            None => SendFailure::permanent(err),
        }
    }

    /// Counts a 5xx that may be the recipient's: the same reply (recipients masked) for
    /// [`SAME_REFUSALS`] different recipients in a row is the relay's.
    fn same_refusal_again(&self, reply: &str, envelope: &Envelope) -> Option<String> {
        let mut r = self.refusals();
        let recipient = envelope
            .to()
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",");
        if recipient_specific(enhanced_status(reply)) {
            (r.count, r.reply) = (0, String::new());
            return None;
        }
        let masked = mask_personal_data(reply);
        if masked != r.reply {
            (r.reply, r.count) = (masked, 1);
        } else if recipient != r.recipient {
            r.count += 1;
        }
        r.recipient = recipient;
        (r.count >= SAME_REFUSALS).then(|| {
            format!(
                "the same refusal for {} different recipients in a row",
                r.count
            )
        })
    }

    /// The longest one step may take: connecting, or one transaction.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.timeout_secs)
    }

    fn take_idle(&self) -> Option<Conn> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn put_idle(&self, conn: Conn) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }

    /// Sends on `conn` within the timeout; the connection returns to the pool only on success.
    async fn send_on(
        &self,
        mut conn: Conn,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<Sent, Failed> {
        let mut stage = Stage::Mail;
        let result = tokio::time::timeout(
            self.timeout(),
            transaction(&mut conn, envelope, bytes, &mut stage),
        )
        .await;
        match result {
            Ok(Ok(())) => {
                self.put_idle(conn);
                let mut r = self.refusals();
                (r.count, r.reply) = (0, String::new());
                Ok(Sent::default())
            }
            Ok(Err(err)) => Err(Failed {
                stage,
                // A connection the relay closed while idle fails without a reply, or with the
                // relay's parting 421 read as the answer to MAIL.
                stale: err.status().is_none_or(|c| u16::from(c) == 421),
                failure: self.classify(&err, stage, envelope),
            }),
            Err(_) => {
                if conn.pipelining() && stage != Stage::AfterData {
                    tracing::warn!(relay = %self.cfg.name, "no reply to pipelined commands in time; this relay gets one command at a time from now on");
                    self.pipelining_broken.store(true, Ordering::Relaxed);
                }
                Err(Failed {
                    stage,
                    stale: true,
                    failure: SendFailure::destination("SMTP send timed out"),
                })
            }
        }
    }

    /// A fresh connection: TCP (no delay), optional implicit TLS, EHLO, STARTTLS, AUTH.
    /// Any failure here, whatever the reply code, means the relay is unusable.
    async fn connect(&self) -> Result<Conn, SendFailure> {
        let setup = async {
            let tcp = TcpStream::connect((self.cfg.host.as_str(), self.cfg.port))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            tcp.set_nodelay(true)
                .map_err(|e| format!("TCP_NODELAY: {e}"))?;
            let stream: Box<dyn AsyncTokioStream> = match (&self.cfg.tls, &self.tls) {
                (TlsMode::Tls, Some(params)) => implicit_tls(tcp, params.clone()).await?,
                _ => Box::new(tcp),
            };
            let mut smtp = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
                .await
                .map_err(|e| format!("greeting/EHLO: {e}"))?;
            if let (TlsMode::Starttls, Some(params)) = (&self.cfg.tls, &self.tls) {
                smtp.starttls(params.clone(), &self.hello)
                    .await
                    .map_err(|e| format!("STARTTLS: {e}"))?;
            }
            let pipelining = !self.pipelining_broken.load(Ordering::Relaxed);
            let mut conn = Conn::new(smtp, &self.hello, pipelining)
                .await
                .map_err(|e| format!("EHLO: {e}"))?;
            if let Some(credentials) = &self.credentials {
                conn.smtp
                    .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                    .await
                    .map_err(|e| format!("AUTH: {e}"))?;
            }
            Ok::<_, String>(conn)
        };
        match tokio::time::timeout(self.timeout(), setup).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(reason)) => Err(SendFailure::destination(reason)),
            Err(_) => Err(SendFailure::destination("connecting timed out")),
        }
    }
}

/// A transaction that failed, and how far it got.
struct Failed {
    stage: Stage,
    failure: SendFailure,
    /// Failed without a reply (or with 421): on a pooled connection, the relay closed it.
    stale: bool,
}

impl Failed {
    /// A connection lost once the message data was on its way may have delivered it: not a
    /// reason to hand the same message to the next relay at once (a likely duplicate), but a
    /// transient failure, retried after the first delay. (A refusal the relay answered after
    /// the data is what it says.)
    fn judged(self) -> SendFailure {
        match (self.stage, self.stale, self.failure) {
            (Stage::AfterData, true, SendFailure::Destination(reason)) => SendFailure::Transient {
                reason: format!(
                    "no answer after the message was sent (it may have arrived): {reason}"
                ),
                retry_after: None,
            },
            (_, _, failure) => failure,
        }
    }
}

/// Why a 5xx concerns the relay rather than the message, if it does: a refused sender (at
/// MAIL FROM, or 5.1.7/5.1.8 later), authentication wanted (530, 534, 535, 538), or a policy
/// refusal (5.7.x, e.g. `554 5.7.1 Relay access denied`, which Postfix gives at RCPT).
fn relay_refusal(
    code: Option<u16>,
    enhanced: Option<(u16, u16, u16)>,
    stage: Stage,
) -> Option<&'static str> {
    match (code, enhanced, stage) {
        (_, _, Stage::Mail) => Some("the relay refuses our sender (MAIL FROM)"),
        (Some(530 | 534 | 535 | 538), _, _) => Some("the relay wants authentication"),
        (_, Some((5, 7, _)), _) => Some("the relay refuses by policy (5.7.x)"),
        (_, Some((5, 1, 7 | 8)), _) => Some("the relay refuses our sender address"),
        _ => None,
    }
}

/// Status codes that name the recipient's own problem (5.1.x bad address, except the sender's
/// 5.1.7/5.1.8; 5.2.x the mailbox): never taken for the relay's, however often they repeat.
fn recipient_specific(enhanced: Option<(u16, u16, u16)>) -> bool {
    matches!(enhanced, Some((5, 1, d)) if d != 7 && d != 8) || matches!(enhanced, Some((5, 2, _)))
}

/// The enhanced status code (RFC 3463) at the start of a reply's text as lettre shows it
/// (`permanent error (554): 5.7.1 Relay access denied`).
fn enhanced_status(reply: &str) -> Option<(u16, u16, u16)> {
    let text = reply.split_once("): ").map_or(reply, |(_, t)| t);
    let mut parts = text.split_whitespace().next()?.split('.');
    let mut next = || parts.next()?.parse::<u16>().ok();
    let status = (next()?, next()?, next()?);
    matches!(status.0, 2 | 4 | 5).then_some(status)
}

/// Wraps a TCP stream in TLS before lettre reads the greeting, reusing lettre's
/// `TlsParameters` so implicit TLS and STARTTLS verify certificates the same way (also the
/// bounce mailbox's IMAP connection, [`crate::bounces::imap`]).
pub(crate) async fn implicit_tls(
    tcp: TcpStream,
    params: TlsParameters,
) -> Result<Box<dyn AsyncTokioStream>, String> {
    upgrade_tls(Box::new(tcp), params).await
}

/// Wraps any plain stream in TLS (after STARTTLS, say), verified like [`implicit_tls`].
pub(crate) async fn upgrade_tls(
    plain: Box<dyn AsyncTokioStream>,
    params: TlsParameters,
) -> Result<Box<dyn AsyncTokioStream>, String> {
    #[allow(deprecated)]
    let mut stream =
        lettre::transport::smtp::client::AsyncNetworkStream::use_existing_tokio1(plain);
    let peer = stream
        .peer_addr()
        .map_err(|e| format!("peer address: {e}"))?;
    stream
        .upgrade_tls(params)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    Ok(Box::new(TlsStream {
        inner: stream.compat(),
        peer,
    }))
}

#[allow(deprecated)]
type NetworkStream = lettre::transport::smtp::client::AsyncNetworkStream;

/// lettre's TLS stream seen through tokio's I/O traits, so it can be handed back to
/// `connect_with_transport`.
#[derive(Debug)]
struct TlsStream {
    inner: Compat<NetworkStream>,
    peer: SocketAddr,
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};

    /// A Postfix `smtp-sink` on a free loopback port, dumping each message into `dir`.
    struct Sink {
        child: Child,
        port: u16,
        dir: tempfile::TempDir,
    }

    impl Sink {
        fn start(extra: &[&str]) -> Sink {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            Sink::start_on(port, extra)
        }

        fn start_on(port: u16, extra: &[&str]) -> Sink {
            use std::os::unix::fs::PermissionsExt;
            let dir = tempfile::tempdir().unwrap();
            // smtp-sink drops to `nobody` before it writes its dumps.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
            let dump = format!("{}/msg.", dir.path().display());
            let child = Command::new("smtp-sink")
                .args(["-u", "nobody", "-d", &dump])
                .args(extra)
                .arg(format!("127.0.0.1:{port}"))
                .arg("16")
                .stdout(Stdio::null())
                .spawn()
                .expect("smtp-sink (package postfix) must be installed");
            let sink = Sink { child, port, dir };
            sink.wait_until_listening();
            sink
        }

        fn wait_until_listening(&self) {
            for _ in 0..200 {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            panic!("smtp-sink did not start");
        }

        fn dumps(&self) -> Vec<String> {
            std::fs::read_dir(self.dir.path())
                .unwrap()
                .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect()
        }
    }

    impl Drop for Sink {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn relay(port: u16) -> SmtpRelay {
        SmtpRelay::new(SmtpRelayConfig {
            name: "test".into(),
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            username: None,
            password: None,
            concurrency: 2,
            timeout_secs: 5,
            hello_name: Some("absage.test".into()),
            danger_accept_invalid_certs: false,
        })
        .unwrap()
    }

    fn email(subject: &str, name: &str) -> OutgoingEmail {
        OutgoingEmail {
            message_id: "n1.abc@absage.test".into(),
            return_path: None,
            from: "Kreis Soest <absage@kreis.test>".parse().unwrap(),
            reply_to: None,
            to: Mailbox::new(Some(name.into()), "buerger@example.test".parse().unwrap()),
            subject: subject.into(),
            text: "Ihr Termin fällt aus.".into(),
            html: Some("<p>Ihr Termin fällt aus.</p>".into()),
        }
    }

    fn header_names(bytes: &[u8]) -> Vec<String> {
        let text = String::from_utf8_lossy(bytes);
        let head = text.split("\r\n\r\n").next().unwrap().to_owned();
        head.split("\r\n")
            .filter(|l| !l.starts_with([' ', '\t']))
            .map(|l| l.split(':').next().unwrap().to_ascii_lowercase())
            .collect()
    }

    #[test]
    fn imported_values_cannot_inject_headers() {
        let e = email("Absage\r\nBcc: evil@x.test", "Jane\r\nBcc: evil@x.test");
        let (envelope, bytes) = build_message(&e).unwrap();
        assert!(!header_names(&bytes).contains(&"bcc".to_owned()));
        assert_eq!(envelope.to().len(), 1);
    }

    #[test]
    fn messages_carry_our_id_and_are_marked_auto_generated() {
        let (_, bytes) = build_message(&email("Absage", "Jane")).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("Message-ID: <n1.abc@absage.test>\r\n"));
        assert!(text.contains("Auto-Submitted: auto-generated\r\n"));
        assert!(text.contains("multipart/alternative"));
        let names = header_names(text.as_bytes());
        assert!(names.contains(&"date".to_owned()));
    }

    #[tokio::test]
    async fn a_message_reaches_the_relay_byte_for_byte() {
        let sink = Sink::start(&[]);
        let (envelope, bytes) = build_message(&email("Absage", "Jane")).unwrap();
        let relay = relay(sink.port);
        relay.send(&envelope, &bytes).await.unwrap();
        relay.probe().await.unwrap();
        let dumps = wait_for_dumps(&sink, 1, &bytes);
        assert!(dumps[0].contains("X-Rcpt-Args: <buerger@example.test>"));
    }

    /// The sink's dumps once `n` of them hold the whole of `bytes` (it writes them with LF).
    fn wait_for_dumps(sink: &Sink, n: usize, bytes: &[u8]) -> Vec<String> {
        let body = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
        for _ in 0..200 {
            let dumps = sink.dumps();
            if dumps.len() >= n && dumps.iter().all(|d| d.contains(&body)) {
                return dumps;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("smtp-sink has not received the message");
    }

    async fn send_to(sink: &Sink) -> Result<Sent, SendFailure> {
        let (envelope, bytes) = build_message(&email("Absage", "Jane")).unwrap();
        relay(sink.port).send(&envelope, &bytes).await
    }

    #[tokio::test]
    async fn replies_are_classified_by_code() {
        let soft = Sink::start(&["-r", "RCPT", "-b", "450 4.2.0 <buerger@example.test> busy"]);
        match send_to(&soft).await {
            Err(SendFailure::Transient { reason, .. }) => assert!(!reason.contains("buerger")),
            other => panic!("expected transient, got {other:?}"),
        }
        let hard = Sink::start(&["-f", "RCPT"]);
        assert!(matches!(
            send_to(&hard).await,
            Err(SendFailure::Permanent(_))
        ));
        let closing = Sink::start(&["-Q", "MAIL"]);
        assert!(matches!(
            send_to(&closing).await,
            Err(SendFailure::Destination(_))
        ));
        let down = Sink::start(&["-Q", "CONNECT"]);
        assert!(matches!(
            relay(down.port).probe().await,
            Err(SendFailure::Destination(_))
        ));
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_destination_failure_but_a_dropped_dot_is_retried_not_failed_over()
     {
        let port = Sink::start(&[]).port; // dropped: nobody listens there any more
        let refused = relay(port).probe().await;
        assert!(
            matches!(refused, Err(SendFailure::Destination(_))),
            "{refused:?}"
        );
        // The relay hangs up after the message data: it may have delivered it, so the message
        // is not handed to the next relay at once (a likely duplicate) but retried later.
        let hangs_up = Sink::start(&["-q", "."]);
        let result = send_to(&hangs_up).await;
        assert!(
            matches!(&result, Err(SendFailure::Transient { reason, .. }) if reason.contains("may have arrived")),
            "{result:?}"
        );
    }

    #[test]
    fn refusals_that_concern_the_relay_are_told_from_the_recipients_own() {
        let status = |r: &str| enhanced_status(r);
        assert_eq!(
            status("permanent error (554): 5.7.1 Relay access denied"),
            Some((5, 7, 1))
        );
        assert_eq!(status("permanent error (550): Mailbox unavailable"), None);
        assert_eq!(status("permanent error (550): 1.2.3 odd"), None);
        let relay = |code, reply: &str, stage| relay_refusal(Some(code), status(reply), stage);
        assert!(relay(554, "(554): 5.7.1 Relay access denied", Stage::Rcpt).is_some());
        assert!(
            relay(550, "(550): 5.1.1 User unknown", Stage::Mail).is_some(),
            "any 5xx to MAIL FROM"
        );
        assert!(relay(530, "(530): Authentication required", Stage::Rcpt).is_some());
        assert!(relay(553, "(553): 5.1.8 Sender address rejected", Stage::Rcpt).is_some());
        assert!(relay(550, "(550): 5.1.1 User unknown", Stage::Rcpt).is_none());
        assert!(relay(552, "(552): 5.2.2 Mailbox full", Stage::Data).is_none());
        assert!(recipient_specific(status("(550): 5.1.1 User unknown")));
        assert!(!recipient_specific(status("(550): 5.1.8 Bad sender")));
        assert!(!recipient_specific(status("(550): Mailbox unavailable")));
    }

    fn envelope_to(to: &str) -> (Envelope, Vec<u8>) {
        let mut e = email("Absage", "Jane");
        e.to = Mailbox::new(None, to.parse().unwrap());
        build_message(&e).unwrap()
    }

    #[tokio::test]
    async fn a_relay_that_refuses_our_sender_or_by_policy_is_a_destination_failure_and_probes_see_it()
     {
        for args in [
            ["-f", "MAIL", "-B", "554 5.7.1 Relay access denied"],
            [
                "-f",
                "RCPT",
                "-B",
                "554 5.7.1 <buerger@example.test>: Relay access denied",
            ],
        ] {
            let sink = Sink::start(&args);
            let relay = relay(sink.port);
            let (envelope, bytes) = envelope_to("buerger@example.test");
            let failure = relay.send(&envelope, &bytes).await.unwrap_err();
            assert!(
                matches!(&failure, SendFailure::Destination(r) if r.contains("Relay access denied") && !r.contains("buerger")),
                "{args:?}: {failure:?}"
            );
            let probe = relay.probe().await.unwrap_err();
            assert!(
                probe.to_string().contains("still refused"),
                "{args:?}: {probe}"
            );
        }
        // The same relay, healthy: the replayed envelope passes and the probe succeeds.
        let healthy = Sink::start(&[]);
        let relay = relay(healthy.port);
        relay.refusals().envelope = Some(envelope_to("buerger@example.test").0);
        relay.probe().await.unwrap();
        assert!(relay.refusals().envelope.is_none());
        assert!(healthy.dumps().is_empty(), "a probe sends nothing");
    }

    #[tokio::test]
    async fn the_same_refusal_for_several_recipients_in_a_row_is_the_relays() {
        let sink = Sink::start(&["-f", "RCPT", "-B", "550 Mailbox unavailable"]);
        let relay = relay(sink.port);
        let mut got = Vec::new();
        for i in 0..5 {
            let (envelope, bytes) = envelope_to(&format!("b{i}@example.test"));
            got.push(relay.send(&envelope, &bytes).await.unwrap_err());
        }
        let kinds: Vec<&str> = got
            .iter()
            .map(|f| match f {
                SendFailure::Permanent(_) => "permanent",
                SendFailure::Destination(_) => "destination",
                SendFailure::Transient { .. } => "transient",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "permanent",
                "permanent",
                "destination",
                "destination",
                "destination"
            ]
        );
        // A recipient's own status code never counts, however often it repeats.
        let unknown = Sink::start(&["-f", "RCPT", "-B", "550 5.1.1 User unknown"]);
        let relay = super::tests::relay(unknown.port);
        for i in 0..5 {
            let (envelope, bytes) = envelope_to(&format!("u{i}@example.test"));
            let failure = relay.send(&envelope, &bytes).await.unwrap_err();
            assert!(matches!(failure, SendFailure::Permanent(_)), "{failure:?}");
        }
    }

    #[tokio::test]
    async fn a_pooled_connection_closed_by_the_relay_costs_no_attempt() {
        let first = Sink::start(&[]);
        let port = first.port;
        let relay = relay(port);
        let (envelope, bytes) = build_message(&email("Absage", "Jane")).unwrap();
        relay.send(&envelope, &bytes).await.unwrap();
        drop(first); // kills the sink; our pooled connection is now dead
        let second = Sink::start_on(port, &[]);
        relay.send(&envelope, &bytes).await.unwrap();
        assert_eq!(wait_for_dumps(&second, 1, &bytes).len(), 1);
    }
}
