use super::*;
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/bounces/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every message of the corpus: what it is, and the status it carries.
#[test]
fn the_corpus_reads_as_what_each_message_is() {
    let cases: &[(&str, Kind, Option<&str>)] = &[
        ("postfix-hard.eml", Kind::Hard, Some("5.0.0")),
        ("postfix-delayed.eml", Kind::Delayed, Some("4.4.1")),
        ("postfix-gave-up.eml", Kind::GaveUp, Some("4.2.2")),
        ("gmail-hard.eml", Kind::Hard, Some("5.1.1")),
        ("exchange-dsn.eml", Kind::Hard, Some("5.1.10")),
        ("exim-text.eml", Kind::Hard, Some("5.1.1")),
        ("exim-delayed.eml", Kind::Delayed, Some("4.7.1")),
        ("qmail-text.eml", Kind::Hard, Some("5.1.1")),
        ("exchange-legacy-text.eml", Kind::Hard, Some("5.1.1")),
        ("exchange-delayed-text.eml", Kind::Delayed, None),
        ("arf-complaint.eml", Kind::Complaint, None),
        ("auto-reply.eml", Kind::AutoReply, None),
        ("human-reply.eml", Kind::Unrecognised, None),
        ("multi-recipient-dsn.eml", Kind::Hard, Some("5.2.1")),
        // Found by the fuzz target: mail-parser 0.11 panics on it in debug builds.
        ("malformed-multipart-fuzz.eml", Kind::Unrecognised, None),
        // Found by the fuzz target: a complaint type of 300 characters made the kept reason
        // longer than REASON_CHARS.
        ("malformed-complaint-fuzz.eml", Kind::Complaint, None),
    ];
    let listed = std::fs::read_dir(format!(
        "{}/tests/fixtures/bounces",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .count();
    assert_eq!(
        listed,
        cases.len(),
        "every fixture has its expectation here"
    );
    for (name, kind, status) in cases {
        let raw = fixture(name);
        let raw = match String::from_utf8(raw.clone()) {
            Ok(text) => text
                .replace(
                    "RETURN_PATH",
                    "bounce+7.0123456789abcdef@bounces.kreis.test",
                )
                .into_bytes(),
            // The fuzz target's finding, byte for byte.
            Err(_) => raw,
        };
        let read = read(&raw);
        assert_eq!(
            (read.kind, read.status.as_deref()),
            (*kind, *status),
            "{name}"
        );
        if let Some(d) = &read.diagnostic {
            assert!(
                d.chars().count() <= REASON_CHARS && !d.contains('\n'),
                "{name}"
            );
        }
        if name.starts_with("malformed") {
            continue;
        }
        assert!(
            read.addressed_to
                .iter()
                .any(|a| a == "bounce+7.0123456789abcdef@bounces.kreis.test"),
            "{name}: {:?}",
            read.addressed_to
        );
    }
}

#[test]
fn the_server_s_words_are_kept_as_one_line() {
    let read = read(&fixture("gmail-hard.eml"));
    assert_eq!(
        read.diagnostic.as_deref().map(|d| &d[..60]),
        Some("The email account that you tried to reach does not exist. Pl")
    );
    let exim = read_text("exim-text.eml");
    assert_eq!(
        exim.diagnostic.as_deref(),
        Some("550 5.1.1 <hans.meier@web.test>: Recipient address rejected: User unknown")
    );
    assert_eq!(
        read_text("arf-complaint.eml").diagnostic.as_deref(),
        Some("complaint: abuse")
    );
}

fn read_text(name: &str) -> Returned {
    read(&fixture(name))
}

/// A Postfix bounce cut off before its report part: the text alone decides, and a 5xx reply
/// without a status still counts as permanent; cut before that, it is not guessed.
#[test]
fn a_truncated_bounce_falls_back_to_its_text_or_to_a_person() {
    let raw = fixture("postfix-hard.eml");
    let text = String::from_utf8(raw.clone()).unwrap();
    let cut = text.find("Content-Description: Delivery report").unwrap();
    assert_eq!(read(&raw[..cut]).kind, Kind::Hard);
    let cut = text.find("I'm sorry").unwrap();
    assert_eq!(read(&raw[..cut]).kind, Kind::Unrecognised);
}

#[test]
fn what_is_not_a_message_is_unrecognised() {
    for raw in [
        &b""[..],
        b"\0\0\0\xff\xfe",
        b"no headers at all, just words",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\nContent-Type: message/delivery-status\n\nAction: failed\nStatus: 5.1.1\n",
    ] {
        let r = read(raw);
        assert_ne!(r.kind, Kind::Hard, "{:?}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn statuses_are_read_strictly() {
    assert_eq!(enhanced_status("5.1.1"), Some("5.1.1".into()));
    assert_eq!(
        enhanced_status(" 4.4.7 (delivery expired)"),
        Some("4.4.7".into())
    );
    assert_eq!(enhanced_status("5.1.10"), Some("5.1.10".into()));
    for bad in ["3.1.1", "5.1", "5.1.1.1", "5..1", "5.1.1234", "x.1.1", ""] {
        assert_eq!(enhanced_status(bad), None, "{bad}");
    }
    assert_eq!(find_status("said: 550 5.7.1 refused"), Some("5.7.1".into()));
    assert_eq!(find_status("version 10.2.3.4 at 12.30"), None);
}

/// A 10 MB bounce (a returned message with a large attachment) is read like a small one.
#[test]
fn a_ten_megabyte_bounce_is_read() {
    let mut raw = String::from_utf8(fixture("postfix-hard.eml")).unwrap();
    let end = raw.rfind("--4Vb1Qk2Xz9z9sWq").unwrap();
    let attachment = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n".repeat(10 * 1024 * 1024 / 37);
    raw.insert_str(end, &format!("\n{attachment}\n"));
    assert!(raw.len() > 10_000_000);
    assert_eq!(read(raw.as_bytes()).kind, Kind::Hard);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Corrupting any message of the corpus (bytes flipped, cut, spliced) never panics, and
    /// never turns a message that is not a failure into a hard bounce by chance of the
    /// flips in its headers alone.
    #[test]
    fn corrupted_bounces_never_panic(
        which in 0usize..16,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..40),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut names: Vec<_> = std::fs::read_dir(format!(
            "{}/tests/fixtures/bounces",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
        names.sort();
        let mut raw = std::fs::read(&names[which % names.len()]).unwrap();
        for (at, byte) in flips {
            let i = at.index(raw.len());
            raw[i] = byte;
        }
        let end = cut.index(raw.len() + 1);
        let read = read(&raw[..end]);
        if let Some(d) = read.diagnostic {
            prop_assert!(d.chars().count() <= REASON_CHARS);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = read(&raw);
    }
}

#[test]
fn only_complaints_and_addresses_that_do_not_exist_are_suppressed() {
    assert!(Kind::Complaint.suppresses(None));
    assert!(Kind::Hard.suppresses(Some("5.1.1")));
    assert!(Kind::Hard.suppresses(Some("5.1.10")));
    for (kind, status) in [
        (Kind::Hard, Some("5.2.2")),
        (Kind::Hard, Some("5.7.1")),
        (Kind::Hard, None),
        (Kind::GaveUp, Some("4.2.2")),
        (Kind::Delayed, Some("4.4.1")),
        (Kind::AutoReply, None),
    ] {
        assert!(!kind.suppresses(status), "{kind:?} {status:?}");
    }
}
