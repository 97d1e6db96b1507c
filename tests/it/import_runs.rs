//! Interrupted imports (issue 11, finding 8): an API import runs on its own, so a client that
//! goes away does not stop it; a run left `running` by a killed process blocks its source for
//! one short lease at most and is shown as failed with the reason; the history keeps real
//! durations and, for a download, the URL without its secrets.

use crate::helpers::*;
use crate::import_cut::rows;
use absage::accounts::Caller;
use absage::config::ChannelPolicy;
use absage::domain::account::Role;
use absage::import::{Busy, ImportOptions, Outcome};
use absage::store::imports::{self, ImportRow};
use absage::store::leases;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use std::time::Duration;

async fn history(t: &TestApp) -> Vec<ImportRow> {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    imports::history(&mut conn, None, 100).await.unwrap()
}

/// Waits until import `id` is no longer running. An import detached from its request ends on
/// its own task, so there is nothing to await but its record (as with a peer, see
/// `support::peers::wait_until`).
async fn ended(t: &TestApp, id: i64) -> ImportRow {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let row = history(t).await.into_iter().find(|r| r.id == id);
        if let Some(row) = row.filter(|r| r.outcome != "running") {
            return row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "import #{id} still running after 20 s: it died with its request"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn olga() -> Caller {
    Caller {
        name: "olga".into(),
        tenant: "soest".into(),
        role: Role::Operator,
    }
}

fn trigger(t: &TestApp) -> impl Future<Output = axum::response::Response> + use<> {
    let state = t.app.http_state();
    async move {
        absage::http::api::records::trigger_import(State(state), olga(), Path("termine".into()))
            .await
            .into_response()
    }
}

#[tokio::test]
async fn an_api_import_whose_client_goes_away_completes_and_frees_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), ChannelPolicy::Both);
    let t = TestApp::start(dir, s).await;
    // The export is a pipe: the import waits in the middle of reading it for as long as the
    // test likes, and the test knows when reading began (opening the pipe returns).
    let export = t.dir.path().join("export.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&export)
        .status()
        .unwrap();
    assert!(made.success());
    let mut request = Box::pin(trigger(&t));
    let pipe = export.clone();
    let opening = tokio::task::spawn_blocking(move || {
        std::fs::OpenOptions::new().write(true).open(pipe).unwrap()
    });
    let mut writer = tokio::select! {
        response = &mut request => panic!("answered before the export was read: {}", response.status()),
        writer = opening => writer.unwrap(),
    };
    let running = history(&t).await;
    assert_eq!(running[0].outcome, "running");
    let id = running[0].id;
    // Meanwhile the source is taken: a second request is told so.
    assert_eq!(trigger(&t).await.status(), 409);
    // The client goes away: axum drops the request's future.
    drop(request);
    t.clock.advance(chrono::Duration::seconds(7));
    std::thread::spawn(move || {
        use std::io::Write;
        writer.write_all(csv_text(&rows(30)).as_bytes()).unwrap();
    })
    .join()
    .unwrap();

    let row = ended(&t, id).await;
    assert_eq!(
        (row.outcome.as_str(), row.counts.rows_new),
        ("applied", 30),
        "{:?}",
        row.message
    );
    assert_eq!(row.duration_ms(), Some(7_000), "the time it really took");
    assert_eq!(row.location, export.display().to_string());
    // The audit entry follows the import's end (the same task writes it right after).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut conn = t.app.ctx.store.conn().await.unwrap();
        let audit = absage::store::audit::list(&mut conn, "soest", 10)
            .await
            .unwrap();
        if audit
            .iter()
            .any(|a| a.action == "import.trigger" && a.actor == "olga")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "recorded although nobody was listening"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The source is free at once, not after 30 minutes.
    std::fs::remove_file(&export).unwrap();
    t.write_export(&rows(30));
    let response = trigger(&t).await;
    assert_eq!(response.status(), 200);
    assert_eq!(history(&t).await[0].outcome, "applied");
}

/// What a process killed in the middle of an import leaves: its run `running`, and the
/// source's lease, which it renewed last at `now` and does not renew again. The process is
/// named as on another machine: whether it still runs cannot be known here.
async fn left_by_a_killed_process(t: &TestApp, source: &str) -> i64 {
    left_by(t, source, "dead-host-4242-0badcafe/schedule#00000001").await
}

async fn left_by(t: &TestApp, source: &str, owner: &str) -> i64 {
    let now = t.clock.now();
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    let job = format!("import:soest:{source}");
    let until = now + absage::import::lease::LEASE;
    assert!(
        leases::acquire(&mut conn, &job, owner, now, until)
            .await
            .unwrap()
    );
    imports::start(&mut conn, "soest", source, "export.csv", now)
        .await
        .unwrap()
}

/// Imports the source (its 10 rows, unchanged) and returns the run `dead` left, now failed.
async fn imported_and_shown_failed(t: &TestApp, dead: i64) -> ImportRow {
    let r = t.import().await;
    assert_eq!(
        (r.outcome, r.counts.rows_unchanged),
        (Outcome::Applied, 10),
        "{:?}",
        r.message
    );
    let dead = history(t).await.into_iter().find(|r| r.id == dead).unwrap();
    assert_eq!(dead.outcome, "failed");
    dead
}

#[tokio::test]
async fn a_run_left_by_a_killed_process_blocks_its_source_for_one_lease_and_is_shown_failed() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows(10)).await;
    let dead = left_by_a_killed_process(&t, "termine").await;
    let source = t.app.ctx.settings.sources[0].clone();
    let err = t
        .app
        .import(&source, &ImportOptions::default(), &|_| {})
        .await
        .expect_err("the lease is still live");
    assert!(err.is::<Busy>(), "{err:#}");
    // The operator learns who holds the source and when it is free at the latest.
    let until = (t.clock.now() + absage::import::lease::LEASE).format("%Y-%m-%d %H:%M:%S");
    let message = err.to_string();
    assert!(
        message.contains("is being imported right now")
            && message.contains("by dead-host-4242-0badcafe/schedule#00000001")
            && message.contains(&format!("lease runs until {until} UTC")),
        "{message}"
    );

    t.clock.advance(chrono::Duration::seconds(61));
    let dead = imported_and_shown_failed(&t, dead).await;
    let message = dead.message.unwrap_or_default();
    assert!(
        message.starts_with("interrupted: the process that ran this import stopped"),
        "{message}"
    );
    assert!(dead.finished_at.is_some());
}

/// A run killed on this machine (its process is known to be gone) does not block its source
/// at all: the next import takes its lease over at once and shows the run failed. One whose
/// process still runs keeps the source.
#[tokio::test]
async fn a_run_killed_on_this_machine_does_not_block_its_source_for_its_lease() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows(10)).await;
    let (mut running, holder) = a_process_on_this_machine("cli#");
    let alive = left_by(&t, "termine", &holder).await;
    let source = t.app.ctx.settings.sources[0].clone();
    let err = t
        .app
        .import(&source, &ImportOptions::default(), &|_| {})
        .await
        .expect_err("its process runs");
    assert!(err.is::<Busy>(), "{err:#}");
    assert!(
        err.to_string()
            .contains(&format!("by cli#host-{}-00c0ffee,", running.id())),
        "{err}"
    );
    running.kill().unwrap();
    running.wait().unwrap();

    // Now the process is gone (and its run left `running`), within the lease.
    imported_and_shown_failed(&t, alive).await;
    // And the lease is this run's no longer: the source is free for the next.
    assert_eq!(t.import().await.outcome, Outcome::Applied);
}

#[tokio::test]
async fn at_start_runs_whose_lease_ran_out_are_marked_failed_and_live_ones_kept() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &rows(3)).await;
    let dead = left_by_a_killed_process(&t, "termine").await;
    t.clock.advance(chrono::Duration::seconds(61));
    // Another instance is importing another source right now: its lease is live.
    let live = left_by_a_killed_process(&t, "andere").await;
    // A run from before leases were kept on imports (no lease at all).
    let old = {
        let mut conn = t.app.ctx.store.conn().await.unwrap();
        imports::start(
            &mut conn,
            "soest",
            "alt",
            "alt.csv",
            absage::domain::from_millis(0),
        )
        .await
        .unwrap()
    };
    assert_eq!(t.app.fail_orphaned_imports().await.unwrap(), 2);
    let all = history(&t).await;
    let outcome = |id: i64| all.iter().find(|r| r.id == id).unwrap().outcome.clone();
    assert_eq!(
        (outcome(dead), outcome(old), outcome(live)),
        ("failed".into(), "failed".into(), "running".into())
    );
}

#[tokio::test]
async fn a_downloaded_export_is_recorded_by_its_url_without_secrets() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let full = csv_text(&rows(6));
    Mock::given(method("GET"))
        .and(path("/export.csv"))
        .respond_with(ResponseTemplate::new(200).set_body_string(&full[..full.len() - 20]))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    let url = format!("{}/export.csv", server.uri()).replace("http://", "http://user:geheim@");
    s.sources[0].http = toml::from_str(&format!("url = \"{url}?token=abc\"\n")).unwrap();
    let t = TestApp::start(dir, s).await;
    let r = t.import().await;
    let shown = format!("{}/export.csv", server.uri());
    let message = r.message.clone().unwrap_or_default();
    assert_eq!(r.outcome, Outcome::Refused, "the download is cut off");
    assert_eq!(r.file.display().to_string(), shown);
    assert!(
        message.contains(&format!("{shown}: looks cut off at line")),
        "named by its URL, not a temporary file: {message}"
    );
    assert!(
        !message.contains("geheim") && !message.contains("abc") && !message.contains("/tmp"),
        "{message}"
    );
    assert_eq!(history(&t).await[0].location, shown);
}
