//! SMTP with TLS: STARTTLS, implicit TLS, AUTH, and refusing certificates we do not trust.
//!
//! smtp-sink speaks plain SMTP only, so the relay here is a small in-test server (rustls,
//! certificate made with rcgen) that answers just enough SMTP and records every command it
//! read, marked `tls:` when it came over TLS. `SmtpRelayConfig` has no setting for an extra
//! CA, so the tests that are not about the certificate set `danger_accept_invalid_certs`.

use absage::config::{SmtpRelayConfig, TlsMode};
use absage::dispatch::email::{OutgoingEmail, SmtpRelay, build_message};
use absage::dispatch::outcome::SendFailure;
use absage::secret::Secret;
use lettre::address::Envelope;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer;

const USER: &str = "absage";
const PASSWORD: &str = "s3cret";
/// `AUTH PLAIN` of USER and PASSWORD: base64 of `\0absage\0s3cret`.
const GOOD_AUTH: &str = "AUTH PLAIN AGFic2FnZQBzM2NyZXQ=";

/// How the test relay offers encryption.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Offer {
    /// TLS from the first byte.
    Implicit,
    /// Plain, with `STARTTLS` in its EHLO answer.
    Starttls,
    /// Plain only, yet it offers AUTH: a client must not send credentials here.
    PlainOnly,
}

/// What the relay saw: every command line, and the data of every message.
#[derive(Default)]
struct Seen {
    commands: Vec<String>,
    messages: Vec<String>,
}

type Log = Arc<Mutex<Seen>>;

/// The in-test relay on a free loopback port; its tasks end with the test's runtime.
struct TestRelay {
    port: u16,
    log: Log,
}

impl TestRelay {
    async fn start(offer: Offer) -> TestRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Log::default();
        tokio::spawn(serve(listener, offer, self_signed_acceptor(), log.clone()));
        TestRelay { port, log }
    }

    fn commands(&self) -> Vec<String> {
        self.log.lock().unwrap().commands.clone()
    }

    fn messages(&self) -> Vec<String> {
        self.log.lock().unwrap().messages.clone()
    }

    /// Where the first command starting with `prefix` is in the log.
    fn position(&self, prefix: &str) -> usize {
        let commands = self.commands();
        commands
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {commands:?}"))
    }

    /// Whether any command that only comes after a good setup (AUTH, MAIL) reached it.
    fn got_credentials_or_mail(&self) -> bool {
        let commands = self.commands();
        commands
            .iter()
            .any(|c| c.contains("AUTH") || c.contains("MAIL"))
    }
}

/// A TLS acceptor with a fresh self-signed certificate for `localhost`.
fn self_signed_acceptor() -> TlsAcceptor {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key.into())
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

async fn serve(listener: TcpListener, offer: Offer, acceptor: TlsAcceptor, log: Log) {
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, log) = (acceptor.clone(), log.clone());
        // A client that gives up (e.g. on our certificate) only ends its own connection.
        tokio::spawn(async move { connection(tcp, offer, acceptor, log).await });
    }
}

async fn connection(
    mut tcp: tokio::net::TcpStream,
    offer: Offer,
    acceptor: TlsAcceptor,
    log: Log,
) -> std::io::Result<()> {
    if offer == Offer::Implicit {
        let mut tls = acceptor.accept(tcp).await?;
        reply(&mut tls, "220 relay.test ESMTP\r\n").await?;
        session(tls, true, offer, &log).await?;
        return Ok(());
    }
    reply(&mut tcp, "220 relay.test ESMTP\r\n").await?;
    if let Some(plain) = session(tcp, false, offer, &log).await? {
        let tls = acceptor.accept(plain).await?;
        session(tls, true, offer, &log).await?;
    }
    Ok(())
}

async fn reply<S: AsyncWrite + Unpin>(stream: &mut S, text: &str) -> std::io::Result<()> {
    stream.write_all(text.as_bytes()).await?;
    stream.flush().await
}

/// Serves SMTP commands until QUIT or hang-up; hands the stream back after `STARTTLS`.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    tls: bool,
    offer: Offer,
    log: &Log,
) -> std::io::Result<Option<S>> {
    let mut s = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let command = line.trim_end().to_owned();
        let mark = if tls { "tls:" } else { "" };
        log.lock()
            .unwrap()
            .commands
            .push(format!("{mark}{command}"));
        let verb = command.split(' ').next().unwrap_or_default();
        let answer = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => ehlo_answer(tls, offer),
            "STARTTLS" if !tls && offer == Offer::Starttls => {
                reply(&mut s, "220 2.0.0 ready for TLS\r\n").await?;
                return Ok(Some(s.into_inner()));
            }
            "STARTTLS" => "454 4.7.0 TLS not available\r\n",
            "AUTH" if command == GOOD_AUTH => "235 2.7.0 accepted\r\n",
            "AUTH" => "535 5.7.8 credentials invalid\r\n",
            "DATA" => {
                reply(&mut s, "354 end with .\r\n").await?;
                let message = read_data(&mut s).await?;
                log.lock().unwrap().messages.push(message);
                "250 2.0.0 queued\r\n"
            }
            "QUIT" => {
                reply(&mut s, "221 2.0.0 bye\r\n").await?;
                return Ok(None);
            }
            _ => "250 2.0.0 ok\r\n",
        };
        reply(&mut s, answer).await?;
    }
}

fn ehlo_answer(tls: bool, offer: Offer) -> &'static str {
    match (tls, offer) {
        (false, Offer::Starttls) => "250-relay.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
        // After STARTTLS it pipelines (the group then travels encrypted); the others do not.
        (true, Offer::Starttls) => {
            "250-relay.test\r\n250-AUTH PLAIN LOGIN\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
        }
        _ => "250-relay.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
    }
}

/// The message lines up to the lone `.`.
async fn read_data<S: AsyncRead + Unpin>(s: &mut BufReader<S>) -> std::io::Result<String> {
    let mut message = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await? == 0 || line == ".\r\n" {
            return Ok(message);
        }
        message.push_str(&line);
    }
}

/// A relay config with our credentials that accepts the test's self-signed certificate.
fn config(port: u16, tls: TlsMode) -> SmtpRelayConfig {
    SmtpRelayConfig {
        name: "tls-relay".into(),
        host: "localhost".into(),
        port,
        tls,
        username: Some(USER.into()),
        password: Some(Secret::new(PASSWORD)),
        concurrency: 2,
        timeout_secs: 5,
        hello_name: Some("absage.test".into()),
        danger_accept_invalid_certs: true,
    }
}

fn relay(port: u16, tls: TlsMode) -> SmtpRelay {
    SmtpRelay::new(config(port, tls)).unwrap()
}

fn message() -> (Envelope, Vec<u8>) {
    build_message(&OutgoingEmail {
        message_id: "n1.tls@absage.test".into(),
        return_path: None,
        from: "Kreis Soest <termine@kreis-soest.example>".parse().unwrap(),
        reply_to: None,
        to: "jane@example.org".parse().unwrap(),
        subject: "Ihr Termin fällt aus".into(),
        text: "Grüße aus Soest".into(),
        html: None,
    })
    .unwrap()
}

fn is_destination_failure_mentioning(result: &Result<(), SendFailure>, word: &str) -> bool {
    matches!(result, Err(SendFailure::Destination(reason)) if reason.contains(word))
}

#[tokio::test]
async fn with_starttls_credentials_and_the_message_travel_only_encrypted() {
    let server = TestRelay::start(Offer::Starttls).await;
    let (envelope, bytes) = message();
    relay(server.port, TlsMode::Starttls)
        .send(&envelope, &bytes)
        .await
        .unwrap();
    let commands = server.commands();
    assert_eq!(
        commands[..2],
        ["EHLO absage.test", "STARTTLS"],
        "{commands:?}"
    );
    assert!(
        commands[2..].iter().all(|c| c.starts_with("tls:")),
        "{commands:?}"
    );
    assert!(server.position("tls:EHLO") < server.position("tls:AUTH"));
    assert!(server.position("tls:AUTH") < server.position("tls:MAIL FROM"));
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("Message-ID: <n1.tls@absage.test>"),
        "{}",
        messages[0]
    );
}

#[tokio::test]
async fn with_implicit_tls_every_byte_is_encrypted_and_the_connection_is_reused() {
    let server = TestRelay::start(Offer::Implicit).await;
    let relay = relay(server.port, TlsMode::Tls);
    let (envelope, bytes) = message();
    relay.send(&envelope, &bytes).await.unwrap();
    relay.send(&envelope, &bytes).await.unwrap();
    relay.probe().await.unwrap();
    let commands = server.commands();
    assert!(
        commands.iter().all(|c| c.starts_with("tls:")),
        "{commands:?}"
    );
    let logins = commands
        .iter()
        .filter(|c| c.starts_with("tls:AUTH"))
        .count();
    // Two sends share one pooled connection; the probe opens its own.
    assert_eq!(logins, 2, "{commands:?}");
    assert_eq!(server.messages().len(), 2);
}

#[tokio::test]
async fn the_relay_gets_our_credentials_and_refusing_them_makes_it_unusable() {
    let server = TestRelay::start(Offer::Implicit).await;
    relay(server.port, TlsMode::Tls).probe().await.unwrap();
    assert!(server.commands().contains(&format!("tls:{GOOD_AUTH}")));

    let mut wrong = config(server.port, TlsMode::Tls);
    wrong.password = Some(Secret::new("wrong"));
    let wrong = SmtpRelay::new(wrong).unwrap();
    assert!(is_destination_failure_mentioning(
        &wrong.probe().await,
        "AUTH"
    ));
    let (envelope, bytes) = message();
    let sent = wrong.send(&envelope, &bytes).await.map(|_| ());
    assert!(is_destination_failure_mentioning(&sent, "AUTH"), "{sent:?}");
    assert_eq!(server.messages().len(), 0);
}

#[tokio::test]
async fn a_relay_without_starttls_gets_neither_credentials_nor_mail_in_plain_text() {
    let server = TestRelay::start(Offer::PlainOnly).await;
    let relay = relay(server.port, TlsMode::Starttls);
    let probed = relay.probe().await;
    assert!(
        is_destination_failure_mentioning(&probed, "STARTTLS"),
        "{probed:?}"
    );
    let (envelope, bytes) = message();
    let sent = relay.send(&envelope, &bytes).await.map(|_| ());
    assert!(matches!(sent, Err(SendFailure::Destination(_))), "{sent:?}");
    assert!(!server.got_credentials_or_mail(), "{:?}", server.commands());
}

#[tokio::test]
async fn an_untrusted_certificate_makes_the_relay_unusable_before_anything_is_sent() {
    for (offer, mode, step) in [
        (Offer::Implicit, TlsMode::Tls, "TLS"),
        (Offer::Starttls, TlsMode::Starttls, "STARTTLS"),
    ] {
        let server = TestRelay::start(offer).await;
        let mut trusting_only_real_cas = config(server.port, mode);
        trusting_only_real_cas.danger_accept_invalid_certs = false;
        let relay = SmtpRelay::new(trusting_only_real_cas).unwrap();
        let probed = relay.probe().await;
        assert!(
            is_destination_failure_mentioning(&probed, step),
            "{probed:?}"
        );
        assert!(
            is_destination_failure_mentioning(&probed, "certificate"),
            "{probed:?}"
        );
        let (envelope, bytes) = message();
        let sent = relay.send(&envelope, &bytes).await.map(|_| ());
        assert!(matches!(sent, Err(SendFailure::Destination(_))), "{sent:?}");
        assert!(!server.got_credentials_or_mail(), "{:?}", server.commands());
    }
}
