//! The same export read again: during an outage the booking system is down and every scheduled
//! import reads the same last export. Such an import finds the calendar already as it would
//! make it (the latest applied import read the same bytes with the same settings) and writes
//! no booking: on SQLite it no longer holds the write lock, and the sending, up for as long as
//! it takes to read. What it reports is what reading it again would: its rows unchanged, the
//! same rejected rows and contact problems. Anything else (a changed byte, changed settings,
//! `--force`) is read and applied as before.

use crate::helpers::*;
use crate::import_cut::rows;
use absage::config::ChannelPolicy;
use absage::import::{ImportOptions, Outcome};

/// Each booking of the source as it stands (key, start, status, name, email, phone, content
/// hash), and the import that last wrote or touched it.
async fn calendar(t: &TestApp) -> (Vec<(String, i64, String, String, String)>, Vec<i64>) {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let rows: Vec<(String, i64, String, String, String, i64)> = sqlx::query_as(
        "select booking_key, starts_at, status, name || '|' || coalesce(email, '') || '|' || \
         coalesce(phone_e164, ''), content_hash, last_import_id from bookings order by booking_key",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let written = rows.iter().map(|r| r.5).collect();
    let bookings = rows
        .into_iter()
        .map(|(k, s, st, contact, h, _)| (k, s, st, contact, h))
        .collect();
    (bookings, written)
}

fn with_problems() -> Vec<Row> {
    let mut rows = rows(12);
    rows[3] = Row::new("K0003", "2030-02-30 09:00"); // no such day: rejected
    rows[5] = rows[5].clone().email("buerger@@example.org"); // email unusable, phone kept
    rows
}

#[tokio::test]
async fn the_same_export_again_writes_no_booking_and_reports_what_reading_it_would() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), ChannelPolicy::Both);
    let t = TestApp::start(dir, s).await;
    t.write_export(&with_problems());
    let first = t.import().await;
    assert_eq!(first.outcome, Outcome::Applied, "{:?}", first.message);
    assert_eq!((first.counts.rows_new, first.counts.rows_rejected), (11, 1));
    let (before, written) = calendar(&t).await;
    assert!(written.iter().all(|&id| id == first.import_id));

    t.clock.advance(chrono::Duration::minutes(15));
    t.write_export(&with_problems()); // written again: the same bytes, a new mtime
    let again = t.import().await;
    assert_eq!(again.outcome, Outcome::Applied, "{:?}", again.message);
    let message = again.message.clone().unwrap_or_default();
    assert!(
        message.starts_with("unchanged:") && message.contains(&format!("#{}", first.import_id)),
        "{message}"
    );
    let c = &again.counts;
    assert_eq!(
        (
            c.rows_read,
            c.rows_new,
            c.rows_updated,
            c.rows_unchanged,
            c.rows_removed,
            c.rows_rejected
        ),
        (12, 0, 0, 11, 0, 1)
    );
    assert_eq!(again.rejected, first.rejected);
    assert_eq!(again.contact, first.contact);
    assert!(again.contact.summary().is_some(), "{:?}", again.contact);

    let (after, still) = calendar(&t).await;
    assert_eq!(after, before);
    assert!(
        still.iter().all(|&id| id == first.import_id),
        "no booking was written or touched: {still:?}"
    );

    // The history shows it applied, with its counts, and when it ended: the source is fresh.
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let history = absage::store::imports::history(&mut conn, None, 10)
        .await
        .unwrap();
    let row = history.iter().find(|r| r.id == again.import_id).unwrap();
    assert_eq!(
        (row.outcome.as_str(), row.counts.rows_unchanged),
        ("applied", 11)
    );
    let last = absage::store::imports::last_applied(&mut conn, "soest", "termine")
        .await
        .unwrap();
    assert_eq!(last, Some(t.clock.now()));
    drop(conn);

    // Read again and again (every scheduled import during an outage): each names the import
    // that read the export, not the one before it.
    let third = t.import().await;
    assert!(
        third
            .message
            .as_deref()
            .is_some_and(|m| m.contains(&format!("as import #{} (applied)", first.import_id))),
        "{:?}",
        third.message
    );

    // What it skipped is what reading it would have made: a forced reading of the same file
    // changes no booking either (only which import touched them last).
    let forced = t.import_forced().await;
    assert_eq!(forced.counts.rows_unchanged, 11, "{:?}", forced.message);
    assert_eq!(forced.message, None);
    let (read, touched) = calendar(&t).await;
    assert_eq!(read, before);
    assert!(touched.iter().all(|&id| id == forced.import_id));
}

#[tokio::test]
async fn a_changed_byte_or_changed_settings_are_read_again_and_a_refused_export_in_between_changes_nothing()
 {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), ChannelPolicy::Both);
    let t = TestApp::start(dir, s).await;
    let mut export = rows(20);
    t.write_export(&export);
    assert_eq!(t.import().await.counts.rows_new, 20);

    // One name corrected: read again, one booking updated.
    export[7].name = "Bürgerin K0007".into();
    t.write_export(&export);
    let changed = t.import().await;
    assert_eq!(
        (changed.counts.rows_updated, changed.counts.rows_unchanged),
        (1, 19),
        "{:?}",
        changed.message
    );
    assert_eq!(changed.message, None);

    // The same bytes read with other settings: read again.
    let mut source = t.app.ctx.settings.sources[0].clone();
    source.max_removal_share = 0.9;
    let other = t
        .app
        .import(&source, &ImportOptions::default(), &|_| {})
        .await
        .unwrap();
    assert_eq!(other.message, None);
    assert_eq!(other.counts.rows_unchanged, 20);
    let (_, touched) = calendar(&t).await;
    assert!(touched.iter().all(|&id| id == other.import_id));

    // Back to the configured settings: the latest applied import read with others, so the
    // file is read again although its bytes and settings are those of an earlier import.
    let back = t.import().await;
    assert_eq!(back.message, None);
    assert_eq!(back.counts.rows_unchanged, 20);

    // A truncated copy is refused; the good export after it finds the calendar as it left it.
    t.write_export(&export[..5]);
    let cut = t.import().await;
    assert_eq!(cut.outcome, Outcome::Refused, "{:?}", cut.message);
    t.write_export(&export);
    let good = t.import().await;
    assert_eq!(good.outcome, Outcome::Applied);
    assert!(
        good.message
            .as_deref()
            .is_some_and(|m| m.contains(&format!("#{}", back.import_id))),
        "{:?}",
        good.message
    );
    let (bookings, _) = calendar(&t).await;
    assert_eq!(bookings.len(), 20);
    assert!(bookings.iter().all(|b| b.2 == "active"), "{bookings:?}");
}

#[tokio::test]
async fn an_export_rewritten_while_it_is_read_is_not_taken_for_what_it_held_before() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), ChannelPolicy::Both);
    let t = TestApp::start(dir, s).await;
    let before = rows(10);
    let mut after = rows(10);
    after[2].name = "Bürgerin K0002".into();
    t.write_export(&before);
    // The exporter writes the file anew while the import reads it (after its first chunk).
    let source = t.app.ctx.settings.sources[0].clone();
    let rewrite = || t.write_export(&after);
    let read = t
        .app
        .import(&source, &ImportOptions::default(), &|_| rewrite())
        .await
        .unwrap();
    assert_eq!(read.outcome, Outcome::Applied);
    // Whichever bytes the reader got, the file's earlier content is read again, not skipped.
    t.write_export(&before);
    let again = t.import().await;
    assert_eq!(again.message, None, "{:?}", again.message);
    // And once the file stands still, the same bytes again are recognised.
    let stable = t.import().await;
    assert!(
        stable
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("unchanged:")),
        "{:?}",
        stable.message
    );
}

/// Every column of every booking an import decides (not which import wrote it last, nor when).
pub(crate) async fn decided(t: &TestApp) -> Vec<String> {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query_scalar(
        "select booking_key || '|' || starts_at || '|' || ends_at || '|' || service || '|' || \
         location || '|' || name || '|' || coalesce(email, '') || '|' || coalesce(phone_raw, '') \
         || '|' || coalesce(phone_e164, '') || '|' || phone_mobile || '|' || \
         coalesce(language, '') || '|' || status || '|' || content_hash || '|' || revision || \
         '|' || coalesce(email_problem, '') || '|' || coalesce(phone_problem, '') || '|' || \
         coalesce(phone_other, '') || '|' || coalesce(person, '') from bookings \
         order by booking_key",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap()
}

/// Skipping an export read before is right only if reading it again would change nothing: the
/// import is a fixpoint. Checked on the messy export of what offices really produce, with
/// repeated keys of every kind (another service of the same booking, another citizen under
/// the same key, a key whose first row is broken) and rows that are no appointment.
#[tokio::test]
async fn reading_a_messy_export_again_changes_no_booking_so_skipping_it_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    let source = &mut s.sources[0];
    source.csv.delimiter = ';';
    source.fields = crate::messy::messy_fields();
    source.formats.list_separator = Some(",".into());
    source.formats.ignored_values = vec!["Entwurf".into()];
    let t = TestApp::start(dir, s).await;
    let (mut text, _) = crate::messy::corpus();
    for row in [
        // Another service of the same appointment, and another citizen under the same key.
        "R-1;07.01.2030;09:00;Kfz-Zulassung;Soest;Anna;Alt;anna@example.org;0171 5550001;;",
        "R-1;07.01.2030;09:00;Führerschein;Soest;Anna;Alt;anna@example.org;0171 5550001;;",
        "R-1;07.01.2030;10:00;Kfz-Zulassung;Soest;Berta;Neu;berta@example.org;;;",
        // A key whose first row is broken, then a good row of it.
        "R-2;31.02.2030;09:00;Kfz-Zulassung;Soest;Carl;Kaputt;carl@example.org;;;",
        "R-2;08.01.2030;09:00;Kfz-Zulassung;Soest;Dora;Heil;dora@example.org;;;",
    ] {
        text.push_str(row);
        text.push_str("\r\n");
    }
    std::fs::write(t.dir.path().join("export.csv"), &text).unwrap();
    let first = t.import().await;
    assert_eq!(first.outcome, Outcome::Applied, "{:?}", first.message);
    assert!(first.counts.rows_merged > 0 && first.counts.rows_rejected > 0);
    let once = decided(&t).await;
    assert!(once.iter().any(|b| b.starts_with("R-1#")), "{once:#?}");

    let forced = t.import_forced().await;
    assert_eq!(
        (
            forced.counts.rows_new,
            forced.counts.rows_updated,
            forced.counts.rows_removed
        ),
        (0, 0, 0),
        "{:?}",
        forced.counts
    );
    assert_eq!(decided(&t).await, once, "a second reading changed bookings");

    let skipped = t.import().await;
    assert!(
        skipped
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("unchanged:")),
        "{:?}",
        skipped.message
    );
    assert_eq!(skipped.counts.imported(), forced.counts.imported());
    assert_eq!(skipped.counts.rows_rejected, forced.counts.rows_rejected);
    assert_eq!(skipped.rejected, forced.rejected);
    assert_eq!(decided(&t).await, once);
}

/// Bookings written before the content hash was cut to 8 bytes keep their whole SHA-256 until
/// they change: an upgrade reads the next export as before, with no booking counted as changed
/// (a changed one would be re-matched against every outage).
#[tokio::test]
async fn bookings_hashed_whole_by_an_earlier_version_are_not_taken_for_changed() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), ChannelPolicy::Both);
    let t = TestApp::start(dir, s).await;
    let mut export = rows(12);
    t.write_export(&export);
    assert_eq!(t.import().await.counts.rows_new, 12);
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    // As an earlier version stored them: the same SHA-256, all 32 bytes of it.
    sqlx::query("update bookings set content_hash = content_hash || $1")
        .bind("9f".repeat(24))
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let (before, _) = calendar(&t).await;
    assert!(before.iter().all(|b| b.4.len() == 64), "{before:?}");

    export[4].name = "Bürgerin K0004".into();
    t.write_export(&export);
    let again = t.import().await;
    assert_eq!(again.outcome, Outcome::Applied, "{:?}", again.message);
    assert_eq!(
        (again.counts.rows_updated, again.counts.rows_unchanged),
        (1, 11),
        "{:?}",
        again.counts
    );
    let (after, _) = calendar(&t).await;
    for (old, new) in before.iter().zip(&after) {
        if new.0 == "K0004" {
            assert_eq!(new.4.len(), 16, "{new:?}");
            assert!(!old.4.starts_with(&new.4), "{old:?} {new:?}");
        } else {
            assert_eq!(old, new, "an unchanged booking was rewritten");
        }
    }
}
