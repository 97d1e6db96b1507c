//! The daemon's parts on their own: the listener bound before running (port 0), and the
//! background jobs' steps (watch, schedule) without their loops.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::jobs;
use tokio_util::sync::CancellationToken;

async fn imports_of(t: &TestApp) -> usize {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    absage::store::imports::history(&mut conn, None, 100)
        .await
        .unwrap()
        .len()
}

async fn fresh() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), ChannelPolicy::Both);
    TestApp::start(dir, s).await
}

#[tokio::test]
async fn the_daemon_serves_on_the_port_it_bound_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.http.listen = "127.0.0.1:0".into();
    let mut t = TestApp::start(dir, s).await;
    let addr = t.app.bind().await.unwrap().expect("a listener");
    assert_ne!(addr.port(), 0, "port 0 picked a free port");
    assert_eq!(t.app.bind().await.unwrap(), Some(addr), "bound once");
    let shutdown = CancellationToken::new();
    let TestApp { app, dir: _dir, .. } = t;
    let daemon = tokio::spawn(app.run_until_stopped(shutdown.clone(), false));
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test]
async fn without_a_listen_address_nothing_is_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.http.listen = String::new();
    let mut t = TestApp::start(dir, s).await;
    assert_eq!(t.app.bind().await.unwrap(), None);
}

#[tokio::test]
async fn the_watch_imports_a_new_export_once_it_has_settled_and_only_once() {
    let t = fresh().await;
    let (ctx, source) = (&t.app.ctx, &t.app.ctx.settings.sources[0]);
    let mut watch = absage::import::watch::Watch::default();
    assert!(
        !jobs::watch::step(ctx, "test", source, &mut watch).await,
        "no export yet"
    );
    t.write_export(&[Row::new("A1", "2030-01-07 09:00")]);
    let first = jobs::watch::step(ctx, "test", source, &mut watch).await;
    assert!(!first, "first seen: it may still be copied");
    let settled = jobs::watch::step(ctx, "test", source, &mut watch).await;
    assert!(settled, "unchanged since: imported");
    assert_eq!(imports_of(&t).await, 1);
    let again = jobs::watch::step(ctx, "test", source, &mut watch).await;
    assert!(!again, "the same file is not imported again");
    assert_eq!(imports_of(&t).await, 1);
}

#[tokio::test]
async fn a_schedule_step_imports_the_due_sources_and_stops_at_shutdown() {
    let t = fresh().await;
    t.write_export(&[Row::new("A1", "2030-01-07 09:00")]);
    let source = t.app.ctx.settings.sources[0].clone();
    let stopped = CancellationToken::new();
    stopped.cancel();
    jobs::schedule::step(&t.app.ctx, "test", &[&source], &stopped).await;
    assert_eq!(imports_of(&t).await, 0, "nothing after shutdown");
    jobs::schedule::step(&t.app.ctx, "test", &[&source], &CancellationToken::new()).await;
    assert_eq!(imports_of(&t).await, 1);
}
