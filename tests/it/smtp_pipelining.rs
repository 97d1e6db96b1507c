//! SMTP PIPELINING (RFC 2920): a relay that announces it gets MAIL, RCPT and DATA in one
//! write; one that does not gets one command at a time. A refusal inside the group ends the
//! transaction before any message data, even if the relay wrongly accepts DATA after it.
//!
//! The relay is a small in-test server: with PIPELINING it answers nothing until the whole
//! group has arrived (a client waiting for the MAIL reply would time out); without it, it
//! notes every command that arrived while an earlier one was still unanswered.

use absage::config::{SmtpRelayConfig, TlsMode};
use absage::dispatch::email::{OutgoingEmail, SmtpRelay, build_message};
use absage::dispatch::outcome::SendFailure;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[derive(Clone, Copy)]
struct Script {
    pipelining: bool,
    rcpt: &'static str,
    /// Messages a connection takes before the relay answers the next MAIL with 421 and hangs
    /// up, as relays limiting messages per connection do.
    per_connection: usize,
    /// Announces PIPELINING, yet answers one command at a time and throws away whatever came
    /// with it: a broken relay.
    loses_pipelined: bool,
}

const ANY_NUMBER: usize = usize::MAX;

const ACCEPT: &str = "250 2.1.5 ok";

#[derive(Default)]
struct Seen {
    /// The message data of every transaction that ended with the final dot, unstuffed.
    messages: Vec<String>,
    /// Commands that arrived before the previous one was answered, at a relay that did not
    /// announce PIPELINING.
    unasked_pipelining: usize,
    /// Sessions that ended (QUIT or hang-up).
    ended: usize,
}

struct Relay {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    ended: Arc<Notify>,
}

impl Relay {
    async fn start(script: Script) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let ended = Arc::new(Notify::new());
        let (log, notify) = (seen.clone(), ended.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, notify) = (log.clone(), notify.clone());
                tokio::spawn(async move {
                    let _ = session(stream, script, &log).await;
                    log.lock().unwrap().ended += 1;
                    notify.notify_one();
                });
            }
        });
        Relay { port, seen, ended }
    }

    fn relay(&self) -> SmtpRelay {
        self.relay_waiting(5)
    }

    /// A client that gives up on a reply after `timeout_secs`.
    fn relay_waiting(&self, timeout_secs: u64) -> SmtpRelay {
        SmtpRelay::new(SmtpRelayConfig {
            name: "pipelining".into(),
            host: "127.0.0.1".into(),
            port: self.port,
            tls: TlsMode::None,
            username: None,
            password: None,
            concurrency: 1,
            timeout_secs,
            hello_name: Some("absage.test".into()),
            danger_accept_invalid_certs: false,
        })
        .unwrap()
    }
}

async fn session(stream: TcpStream, script: Script, seen: &Mutex<Seen>) -> std::io::Result<()> {
    let mut s = BufReader::new(stream);
    s.get_mut().write_all(b"220 relay.test ESMTP\r\n").await?;
    let mut group: Vec<String> = Vec::new();
    let mut taken = 0;
    loop {
        let Some(command) = line(&mut s).await? else {
            return Ok(());
        };
        if !script.pipelining && !s.buffer().is_empty() {
            seen.lock().unwrap().unasked_pipelining += 1;
        }
        let verb = command.split([' ', ':']).next().unwrap_or_default();
        let verb = verb.to_ascii_uppercase();
        if verb == "MAIL" && taken == script.per_connection {
            s.get_mut()
                .write_all(b"421 4.7.0 too many messages, closing\r\n")
                .await?;
            return Ok(());
        }
        if script.pipelining && !script.loses_pipelined && matches!(verb.as_str(), "MAIL" | "RCPT")
        {
            group.push(verb); // answered once DATA has arrived too
            continue;
        }
        let mut answers: Vec<&str> = (group.drain(..))
            .map(|verb| if verb == "RCPT" { script.rcpt } else { ACCEPT })
            .collect();
        let answer = match verb.as_str() {
            "EHLO" if script.pipelining => "250-relay.test\r\n250-PIPELINING\r\n250 8BITMIME",
            "EHLO" => "250-relay.test\r\n250 8BITMIME",
            "RCPT" => script.rcpt,
            "DATA" => "354 end with .",
            "QUIT" => "221 bye",
            _ => ACCEPT,
        };
        answers.push(answer);
        let mut out = answers.join("\r\n");
        out.push_str("\r\n");
        s.get_mut().write_all(out.as_bytes()).await?;
        if script.loses_pipelined && verb != "DATA" {
            let unread = s.buffer().len();
            s.consume(unread);
        }
        match verb.as_str() {
            "QUIT" => return Ok(()),
            "DATA" => {
                let Some(message) = data(&mut s).await? else {
                    return Ok(()); // hung up before the final dot: no message
                };
                seen.lock().unwrap().messages.push(message);
                taken += 1;
                s.get_mut().write_all(b"250 2.0.0 queued\r\n").await?;
            }
            _ => {}
        }
    }
}

async fn line(s: &mut BufReader<TcpStream>) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    let n = s.read_line(&mut line).await?;
    Ok((n > 0).then(|| line.trim_end_matches("\r\n").to_owned()))
}

/// The message up to the lone dot, with the transparency dots taken away; `None` when the
/// client hung up first.
async fn data(s: &mut BufReader<TcpStream>) -> std::io::Result<Option<String>> {
    let mut message = String::new();
    loop {
        let Some(line) = line(s).await? else {
            return Ok(None);
        };
        if line == "." {
            return Ok(Some(message));
        }
        message.push_str(line.strip_prefix('.').unwrap_or(&line));
        message.push_str("\r\n");
    }
}

fn email(text: &str) -> (lettre::address::Envelope, Vec<u8>) {
    build_message(&OutgoingEmail {
        message_id: "n1.pipelining@absage.test".into(),
        return_path: None,
        from: "Kreis Soest <termine@kreis-soest.example>".parse().unwrap(),
        reply_to: None,
        to: "jane@example.org".parse().unwrap(),
        subject: "Ihr Termin fällt aus".into(),
        text: text.into(),
        html: None,
    })
    .unwrap()
}

/// What the relay got, compared with what was sent: lettre's `message` ends the data with
/// CRLF before the dot, so a message ending in CRLF arrives with one more.
fn arrived_as_sent(arrived: &str, sent: &[u8]) -> bool {
    let sent = String::from_utf8(sent.to_vec()).unwrap();
    arrived == format!("{sent}\r\n")
}

#[tokio::test]
async fn a_relay_that_announces_pipelining_gets_the_envelope_in_one_write_and_every_message_intact()
{
    let server = Relay::start(Script {
        pipelining: true,
        rcpt: ACCEPT,
        per_connection: ANY_NUMBER,
        loses_pipelined: false,
    })
    .await;
    let relay = server.relay();
    // Lines that start with a dot need SMTP's transparency; the first two messages share one
    // connection.
    let texts = [".hidden\n..two\nend.", "Grüße\n.\nmitten", "plain"];
    for text in texts {
        let (envelope, bytes) = email(text);
        let sent = relay.send(&envelope, &bytes).await;
        assert!(sent.is_ok(), "{text:?}: {sent:?}");
        let seen = server.seen.lock().unwrap();
        let arrived = seen.messages.last().expect("a message arrived");
        assert!(arrived_as_sent(arrived, &bytes), "{arrived:?}");
    }
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.messages.len(), texts.len());
    assert_eq!(
        seen.ended, 0,
        "the connection was kept for the next message"
    );
}

#[tokio::test]
async fn a_relay_that_does_not_announce_pipelining_gets_one_command_at_a_time() {
    let server = Relay::start(Script {
        pipelining: false,
        rcpt: ACCEPT,
        per_connection: ANY_NUMBER,
        loses_pipelined: false,
    })
    .await;
    let relay = server.relay();
    for text in ["eins", ".zwei"] {
        let (envelope, bytes) = email(text);
        relay.send(&envelope, &bytes).await.unwrap();
    }
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.messages.len(), 2);
    assert_eq!(seen.unasked_pipelining, 0);
}

#[tokio::test]
async fn a_refused_recipient_ends_the_transaction_before_any_data_even_if_the_relay_takes_data() {
    // Wrong, but seen in the wild: 354 to DATA after every recipient was refused.
    let server = Relay::start(Script {
        pipelining: true,
        rcpt: "550 5.1.1 no such user",
        per_connection: ANY_NUMBER,
        loses_pipelined: false,
    })
    .await;
    let relay = server.relay();
    let (envelope, bytes) = email("Ihr Termin fällt aus.");
    let sent = relay.send(&envelope, &bytes).await;
    assert!(
        matches!(&sent, Err(SendFailure::Permanent(reason)) if reason.contains("5.1.1")),
        "{sent:?}"
    );
    // The refused connection is closed, not pooled: the relay sees the hang-up, with no data.
    let ended = tokio::time::timeout(Duration::from_secs(5), server.ended.notified()).await;
    assert!(ended.is_ok(), "the relay saw the connection end");
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.ended, 1, "the connection was dropped");
    assert!(seen.messages.is_empty(), "no message after a refused RCPT");
}

#[tokio::test]
async fn a_pooled_connection_the_relay_closes_with_421_in_the_middle_of_a_group_costs_no_message() {
    // Two messages per connection: the third send finds its pooled connection refused at
    // MAIL (the relay then hangs up, RCPT and DATA unread) and goes again on a fresh one.
    let server = Relay::start(Script {
        pipelining: true,
        rcpt: ACCEPT,
        per_connection: 2,
        loses_pipelined: false,
    })
    .await;
    let relay = server.relay();
    for i in 0..5 {
        let (envelope, bytes) = email(&format!("Nachricht {i}"));
        let sent = relay.send(&envelope, &bytes).await;
        assert!(sent.is_ok(), "message {i}: {sent:?}");
    }
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.messages.len(), 5, "each message once");
    assert_eq!(
        seen.ended, 2,
        "two connections were closed after two messages each"
    );
}

#[tokio::test]
async fn a_relay_that_loses_pipelined_commands_costs_one_timeout_then_gets_one_at_a_time() {
    let server = Relay::start(Script {
        pipelining: true,
        rcpt: ACCEPT,
        per_connection: ANY_NUMBER,
        loses_pipelined: true,
    })
    .await;
    let relay = server.relay_waiting(1);
    let (envelope, bytes) = email("Ihr Termin fällt aus.");
    let first = relay.send(&envelope, &bytes).await;
    assert!(
        matches!(&first, Err(SendFailure::Destination(reason)) if reason.contains("timed out")),
        "{first:?}"
    );
    for i in 0..3 {
        let sent = relay.send(&envelope, &bytes).await;
        assert!(sent.is_ok(), "send {i} after the timeout: {sent:?}");
    }
    assert_eq!(server.seen.lock().unwrap().messages.len(), 3);
}
