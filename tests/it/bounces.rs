//! Bounces with a real Postfix (issue 14): absage's emails leave through a Postfix of the
//! test's own, which relays them to smtp-sinks that accept, refuse (550 5.1.1) or defer (450)
//! the recipient. Postfix itself writes the bounces and delay notices to the emails' signed
//! return paths and delivers them where a county would route them: to absage's listener, or
//! into a Maildir absage reads. The tests assert which emails end bounced, which stay sent,
//! who moves on to SMS and who lands on the call list, with what reason — and that the
//! address is not mailed in the next outage.

use crate::helpers::*;
use crate::queue::relay_config;
use crate::support::peers::{Dovecot, Postfix, Routes, SinkMode, SmtpSink};
use absage::bounces::parse::Kind;
use absage::config::{ChannelPolicy, Transport};
use absage::domain::outage::Scope;
use absage::reports::Reach;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const DOMAIN: &str = "bounces.absage.test";
const SECRET: &str = "ein Geheimnis nur für Rücksendungen";

struct Peers {
    ok: SmtpSink,
    _hard: SmtpSink,
    _defer: SmtpSink,
    postfix: Postfix,
}

/// The sinks and a Postfix that routes the bounce domain to `bounces_to` (absage's listener)
/// or, without it, into its own Maildir.
fn peers(bounces_to: Option<std::net::SocketAddr>) -> Peers {
    let ok = SmtpSink::start(SinkMode::Accept);
    let hard = SmtpSink::start(SinkMode::PermFailRcpt);
    let defer = SmtpSink::start(SinkMode::TempFailRcpt);
    let mut transports = vec![
        ("hard.test".to_owned(), hard.addr),
        ("defer.test".to_owned(), defer.addr),
    ];
    if let Some(at) = bounces_to {
        transports.push((DOMAIN.to_owned(), at));
    }
    let postfix = Postfix::start(&Routes {
        relayhost: ok.addr,
        transports,
        maildir_domain: bounces_to.is_none().then(|| DOMAIN.to_owned()),
    });
    Peers {
        ok,
        _hard: hard,
        _defer: defer,
        postfix,
    }
}

fn rows() -> Vec<Row> {
    vec![
        Row::new("OK", "2030-01-07 09:00").email("ok.citizen@ok.test"),
        // Refused: the SMS waiting as fallback goes at once.
        Row::new("HARD", "2030-01-07 09:30").email("typo@hard.test"),
        // Refused, no mobile: onto the call list.
        Row::new("HARDLAND", "2030-01-07 10:00")
            .email("nobody@hard.test")
            .phone("02921 30-0"),
        // Deferred until Postfix gives up: a delay notice first, then the bounce.
        Row::new("DEFER", "2030-01-07 10:30")
            .email("full@defer.test")
            .phone(""),
        // The next day, the same citizens have new appointments.
        Row::new("HARD2", "2030-01-08 09:30").email("Typo@hard.test"),
        Row::new("HARDLAND2", "2030-01-08 10:00")
            .email("nobody@hard.test")
            .phone(""),
    ]
}

async fn app(peers_postfix: std::net::SocketAddr, maildir: Option<std::path::PathBuf>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::EmailFirst);
    s.email.transport = Transport::Network;
    s.email.relays = vec![relay_config("postfix", peers_postfix.port())];
    s.bounces.domain = DOMAIN.into();
    s.bounces.secret = absage::secret::Secret::new(SECRET);
    s.bounces.maildir = maildir;
    let t = TestApp::start(dir, s).await;
    t.write_export(&rows());
    t.import().await;
    t
}

async fn returned_kinds(t: &TestApp) -> Vec<(String, String)> {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query_as(
        "select b.booking_key, r.kind from returned_mail r \
         join notifications n on n.id = r.notification_id \
         join bookings b on b.id = n.booking_id order by b.booking_key, r.id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap()
}

/// Polls until Postfix's bounces for HARD, HARDLAND and DEFER (delay notice and bounce) are
/// taken; `pass` runs before each look (the Maildir reader; nothing for the listener).
async fn wait_for_bounces<F: std::future::Future<Output = ()>>(
    t: &TestApp,
    peers: &Peers,
    mut pass: impl FnMut() -> F,
) -> Vec<(String, String)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        pass().await;
        let kinds = returned_kinds(t).await;
        let failed = kinds.iter().filter(|(_, k)| k == "hard" || k == "gave_up");
        if failed.count() >= 3 {
            return kinds;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "bounces not taken: {kinds:?}\npostfix log:\n{}",
            peers.postfix.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn assert_citizens_moved_on(t: &TestApp, kinds: &[(String, String)]) {
    let kinds_of = |key: &str| {
        kinds
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, kind)| kind.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds_of("HARD"), ["hard"]);
    assert_eq!(kinds_of("HARDLAND"), ["hard"]);
    assert!(kinds_of("OK").is_empty(), "{kinds:?}");
    // Postfix writes the delay notice before it gives up; both are kept, in that order.
    assert_eq!(kinds_of("DEFER").last(), Some(&"gave_up"), "{kinds:?}");

    let ns = t.notifications().await;
    let email = |key: &str| {
        ns.iter()
            .find(|n| n.key == key && n.channel == "email")
            .unwrap()
    };
    for key in ["OK", "HARD", "HARDLAND", "DEFER"] {
        assert_eq!(email(key).state, "sent", "{key}: the relay took it");
    }
    // HARD's SMS, waiting as fallback, went out once its email bounced.
    t.clock.advance(chrono::Duration::seconds(1));
    t.drain(&t.dispatcher()).await;
    let ns = t.notifications().await;
    let sms_of = |key: &str| {
        ns.iter()
            .find(|n| n.key == key && n.channel == "sms")
            .map(|n| n.state.clone())
    };
    assert_eq!(sms_of("HARD").as_deref(), Some("sent"));
    assert_eq!(
        sms_of("OK").as_deref(),
        Some("cancelled"),
        "OK needs no SMS"
    );

    assert_each_booking_reports_alone_as_in_the_whole(t, 1).await;
    let (_, report) = absage::reports::report(&t.app.ctx, 1).await.unwrap();
    let row = |key: &str| report.iter().find(|r| r.booking_key == key).unwrap();
    assert_eq!(row("OK").reach, Reach::Informed);
    assert_eq!(row("OK").email_delivery, None);
    assert_eq!(row("HARD").reach, Reach::Informed, "by SMS");
    assert_eq!(row("HARD").email_delivery.as_deref(), Some("bounced"));
    let calls = absage::reports::call_list(&t.app.ctx, 1).await.unwrap();
    let why = |key: &str| {
        calls
            .iter()
            .find(|c| c.booking_key == key)
            .map(|c| c.why.clone())
    };
    assert_eq!(
        why("HARDLAND").as_deref(),
        Some("email not delivered: the email address does not exist (5.1.1)")
    );
    // With the time of what put them there: the bounce.
    let hardland = calls.iter().find(|c| c.booking_key == "HARDLAND").unwrap();
    assert_eq!(
        hardland.since.as_deref(),
        Some("2030-01-07 06:00"),
        "{hardland:?}"
    );
    let defer = why("DEFER").expect("DEFER is on the call list");
    assert!(defer.contains("gave up"), "{defer}");
    assert_eq!(calls.len(), 2, "{calls:?}");

    // The next outage does not mail the refused addresses (whatever their case): HARD2 gets
    // its SMS at once, and HARDLAND2 is on that outage's call list with the reason.
    let suppressed = {
        let mut conn = t.app.ctx.store.conn().await.unwrap();
        absage::store::returned::suppressions(&mut conn, Some("soest"))
            .await
            .unwrap()
    };
    let mut addresses: Vec<&str> = suppressed.iter().map(|s| s.address.as_str()).collect();
    addresses.sort();
    assert_eq!(addresses, ["nobody@hard.test", "typo@hard.test"]);
    let second = t
        .declare("2030-01-08 08:00", "2030-01-08 12:00", Scope::default())
        .await;
    assert_eq!(second.stats.email_suppressed, 2, "{:?}", second.stats);
    let calls = absage::reports::call_list(&t.app.ctx, second.id.unwrap())
        .await
        .unwrap();
    let why: Vec<&str> = calls.iter().map(|c| c.why.as_str()).collect();
    assert_eq!(calls.len(), 1, "{why:?}");
    assert_eq!(calls[0].booking_key, "HARDLAND2");
    assert!(
        why[0].starts_with("email address not mailed any more (email not delivered: the email address does not exist"),
        "{why:?}"
    );

    // The office lifts one (the citizen fixed the address): audited, the address masked.
    let ctx = &t.app.ctx;
    let lift = |a: &'static str| absage::follow_up::lift_suppression(ctx, "soest", a, "cli:ina");
    assert!(lift(" Typo@Hard.TEST").await.unwrap());
    assert!(!lift("typo@hard.test").await.unwrap(), "only once");
    assert!(lift("nobody@hard.test").await.is_ok());
    let mut conn = ctx.store.conn().await.unwrap();
    let audit: Vec<(String, String)> = sqlx::query_as(
        "select actor, details_json from audit_log where action = 'suppression.lift' order by id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(!audit[0].1.contains("typo@"), "masked: {audit:?}");
    assert!(
        absage::store::returned::suppressions(&mut conn, Some("soest"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A suppressed address is personal data: it is deleted `bounces.suppress_days` after it was
/// suppressed, and mailed again.
#[tokio::test]
async fn suppressions_expire_after_the_configured_days() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.bounces.suppress_days = 30;
    let t = TestApp::start(dir, s).await;
    let now = t.clock.now();
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    for (address, days_ago) in [("old@x.test", 31), ("new@x.test", 29)] {
        let at = now - chrono::Duration::days(days_ago);
        absage::store::returned::suppress(&mut conn, "soest", address, "hard", "gone", 1, at)
            .await
            .unwrap();
    }
    drop(conn);
    let (_, purged) = absage::jobs::retention::step(&t.app.ctx, "i1", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(purged.suppressions, 1);
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let left = absage::store::returned::suppressions(&mut conn, None)
        .await
        .unwrap();
    let left: Vec<&str> = left.iter().map(|s| s.address.as_str()).collect();
    assert_eq!(left, ["new@x.test"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_bounces_reach_the_listener_and_move_citizens_on() {
    absage::tls::install();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peers = peers(Some(listener.local_addr().unwrap()));
    let t = app(peers.postfix.addr, None).await;
    let stop = CancellationToken::new();
    tokio::spawn(absage::bounces::listener::serve(
        t.app.ctx.clone(),
        listener,
        stop.clone(),
    ));
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    t.drain(&t.dispatcher()).await;
    let kinds = wait_for_bounces(&t, &peers, || async {}).await;
    assert_eq!(
        peers.ok.messages().len(),
        1,
        "only OK's email was delivered"
    );
    assert!(
        peers.ok.messages()[0].mail_from.starts_with("bounce+"),
        "every email leaves with its return path"
    );
    assert_citizens_moved_on(&t, &kinds).await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_bounces_in_a_maildir_move_citizens_on() {
    absage::tls::install();
    let peers = peers(None);
    let t = app(peers.postfix.addr, Some(peers.postfix.maildir())).await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    t.drain(&t.dispatcher()).await;
    let dir = peers.postfix.maildir();
    let kinds = wait_for_bounces(&t, &peers, || {
        let (ctx, dir) = (t.app.ctx.clone(), dir.clone());
        async move {
            absage::bounces::maildir::read_once(&ctx, &dir)
                .await
                .unwrap();
        }
    })
    .await;
    assert_citizens_moved_on(&t, &kinds).await;
    let left: Vec<_> = ["new", "cur"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(dir.join(sub)).unwrap())
        .collect();
    assert!(left.is_empty(), "taken messages are deleted: {left:?}");
}

/// One booking's email sent to the outbox, and the listener serving on a free port.
async fn listening(
    tune: impl FnOnce(&mut absage::config::BounceSettings),
) -> (TestApp, std::net::SocketAddr, CancellationToken) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.bounces.domain = DOMAIN.into();
    s.bounces.secret = absage::secret::Secret::new(SECRET);
    tune(&mut s.bounces);
    let t = TestApp::start(dir, s).await;
    t.write_export(&[Row::new("A", "2030-01-07 09:00")]);
    t.import().await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    t.drain(&t.dispatcher()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(absage::bounces::listener::serve(
        t.app.ctx.clone(),
        listener,
        stop.clone(),
    ));
    (t, addr, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_bounces_read_over_imap_from_dovecot_move_citizens_on() {
    absage::tls::install();
    let peers = peers(None);
    let dovecot = Dovecot::start(&peers.postfix.maildir());
    let t = app(peers.postfix.addr, None).await;
    let imap = absage::config::ImapSettings {
        host: "127.0.0.1".into(),
        port: dovecot.addr.port(),
        tls: absage::config::TlsMode::None,
        username: "absage".into(),
        password: absage::secret::Secret::new(Dovecot::PASSWORD),
        mailbox: "INBOX".into(),
    };
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    t.drain(&t.dispatcher()).await;
    let kinds = wait_for_bounces(&t, &peers, || {
        let (ctx, imap) = (t.app.ctx.clone(), imap.clone());
        async move {
            absage::bounces::imap::read_once(&ctx, &imap).await.unwrap();
        }
    })
    .await;
    assert_citizens_moved_on(&t, &kinds).await;
    // Everything taken was expunged: the next pass finds nothing.
    let pass = absage::bounces::imap::read_once(&t.app.ctx, &imap)
        .await
        .unwrap();
    assert_eq!(pass, absage::bounces::maildir::Pass::default());
    let mut wrong = imap.clone();
    wrong.password = absage::secret::Secret::new("falsch");
    let refused = absage::bounces::imap::read_once(&t.app.ctx, &wrong)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("login as absage"), "{refused}");
}

/// What the listener refuses: a forged return path, a stranger's address, a message over the
/// size limit; a client that stays silent is hung up on. A refused bounce changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_refuses_forgeries_strangers_oversize_and_idlers() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (t, addr, stop) = listening(|b| {
        b.max_message_kib = 64;
        b.idle_timeout_secs = 1;
        b.messages_per_minute = 3;
    })
    .await;
    let email_id = email_of(&t).await.0;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut said = async |line: &str| -> String {
        if !line.is_empty() {
            write
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .unwrap();
        }
        let mut reply = String::new();
        loop {
            let mut l = String::new();
            read.read_line(&mut l).await.unwrap();
            reply.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return reply;
            }
        }
    };
    assert!(said("").await.starts_with("220"));
    assert!(said("EHLO relay.test").await.contains("SIZE 65536"));
    assert!(said("MAIL FROM:<>").await.starts_with("250"));
    let genuine = absage::domain::return_path::address(DOMAIN, SECRET, email_id);
    let forged = absage::domain::return_path::address(DOMAIN, SECRET, email_id + 1).replace(
        &format!("bounce+{}.", email_id + 1),
        &format!("bounce+{}.", email_id),
    );
    assert_ne!(forged, genuine);
    assert!(
        said(&format!("RCPT TO:<{forged}>"))
            .await
            .starts_with("550 5.7.1")
    );
    assert!(
        said("RCPT TO:<postmaster@kreis.test>")
            .await
            .starts_with("550 5.1.1")
    );
    assert!(said("DATA").await.starts_with("503"), "no valid recipient");
    assert!(said("RSET").await.starts_with("250"));
    assert!(said("MAIL FROM:<> SIZE=9999999").await.starts_with("552"));
    assert!(said("MAIL FROM:<>").await.starts_with("250"));
    assert!(
        said(&format!("RCPT TO:<{genuine}>"))
            .await
            .starts_with("250")
    );
    assert!(said("DATA").await.starts_with("354"));
    let bounce = std::fs::read_to_string(format!(
        "{}/tests/fixtures/bounces/postfix-hard.eml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("RETURN_PATH", &genuine);
    let padding = "X".repeat(70);
    let oversized = format!("{bounce}\n{}", format!("{padding}\n").repeat(1000));
    assert!(said(&format!("{oversized}\r\n.")).await.starts_with("552"));
    assert_eq!(returned_kinds(&t).await, [], "nothing taken yet");
    // The session goes on after the refusal (the third message this minute)…
    assert!(said("MAIL FROM:<>").await.starts_with("250"));
    // …but a fourth from this address must wait; silence then ends the session.
    assert!(said("RSET").await.starts_with("250"));
    assert!(said("MAIL FROM:<>").await.starts_with("450 4.7.1"));
    let idle = said("").await;
    assert!(idle.starts_with("421"), "{idle}");
    assert_eq!(email_of(&t).await, (email_id, "sent".into(), None));
    assert_eq!(
        absage::bounces::parse::read(bounce.as_bytes()).kind,
        Kind::Hard,
        "the refused message itself would have counted"
    );
    stop.cancel();
}

/// The one email: id, state, delivery state.
async fn email_of(t: &TestApp) -> (i64, String, Option<String>) {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query_as("select id, state, delivery_state from notifications where channel = 'email'")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

/// While the database refuses writes, a bounce is answered 451 (the sending server keeps it
/// and tries again) and nothing is half-recorded; once writes work, the same bounce is taken
/// and fails the email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_the_database_cannot_take_is_deferred_not_lost() {
    let (t, addr, stop) = listening(|_| {}).await;
    let (email_id, _, _) = email_of(&t).await;
    let genuine = absage::domain::return_path::address(DOMAIN, SECRET, email_id);
    let bounce = std::fs::read_to_string(format!(
        "{}/tests/fixtures/bounces/gmail-hard.eml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("RETURN_PATH", &genuine);
    let send = |bounce: String, genuine: String| async move {
        use lettre::AsyncTransport;
        let relay = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(
            addr.ip().to_string(),
        )
        .port(addr.port())
        .build();
        let envelope =
            lettre::address::Envelope::new(None, vec![genuine.parse().unwrap()]).unwrap();
        relay.send_raw(&envelope, bounce.as_bytes()).await
    };
    let fault = crate::db_faults::WriteFault::of(&t);
    fault.start().await;
    let refused = send(bounce.clone(), genuine.clone()).await.unwrap_err();
    assert!(refused.is_transient(), "{refused}");
    assert!(refused.to_string().contains("451"), "{refused}");
    fault.end().await;
    assert_eq!(returned_kinds(&t).await, [], "nothing half-recorded");
    send(bounce, genuine).await.expect("taken once writes work");
    assert_eq!(returned_kinds(&t).await, [("A".into(), "hard".into())]);
    assert_eq!(
        email_of(&t).await,
        (email_id, "sent".into(), Some("bounced".into()))
    );
    stop.cancel();
}

/// A Maildir message over the size limit is not read: it stays, flagged for a person, and is
/// listed as too large; a readable one beside it is taken and deleted.
#[tokio::test]
async fn a_maildir_message_too_large_to_read_is_left_flagged_for_a_person() {
    let (t, _, stop) = listening(|b| b.max_message_kib = 64).await;
    stop.cancel();
    let dir = t.dir.path().join("bounces");
    std::fs::create_dir_all(dir.join("new")).unwrap();
    std::fs::write(dir.join("new/1.big"), vec![b'x'; 70 * 1024]).unwrap();
    std::fs::write(dir.join("new/2.small"), b"Subject: hello\n\nnot a bounce\n").unwrap();
    let pass = absage::bounces::maildir::read_once(&t.app.ctx, &dir)
        .await
        .unwrap();
    assert_eq!((pass.taken, pass.too_large, pass.failed), (1, 1, 0));
    let left: Vec<String> = std::fs::read_dir(dir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["1.big:2,F"]);
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let kinds: Vec<(String, String)> =
        sqlx::query_as("select kind, via from returned_mail order by id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            ("too_large".to_owned(), "maildir".to_owned()),
            ("unaddressed".to_owned(), "maildir".to_owned())
        ]
    );
    drop(conn);
    // The next pass leaves it alone.
    let again = absage::bounces::maildir::read_once(&t.app.ctx, &dir)
        .await
        .unwrap();
    assert_eq!(again, absage::bounces::maildir::Pass::default());
}
