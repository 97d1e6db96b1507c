//! The operational HTTP endpoints, through the real router on a real socket.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;

async fn get(url: &str) -> (u16, String) {
    absage::tls::install();
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn health_and_readiness_answer_and_readiness_fails_without_the_database() {
    let t = TestApp::with_rows(ChannelPolicy::Both, &[]).await;
    let (base, stop) = t.serve_http().await;
    assert_eq!(get(&format!("{base}/healthz")).await, (200, "ok\n".into()));
    assert_eq!(get(&format!("{base}/readyz")).await.0, 200);
    t.app.ctx.store.close().await;
    let (status, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        get(&format!("{base}/healthz")).await.0,
        200,
        "the process is still up"
    );
    stop.cancel();
}

#[tokio::test]
async fn metrics_report_the_queue_destinations_sources_and_time_to_first_send() {
    let t = TestApp::with_rows(
        ChannelPolicy::Both,
        &[
            Row::new("A", "2030-01-07 09:00"),
            Row::new("B", "2030-01-07 10:00"),
        ],
    )
    .await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    t.clock.advance(chrono::Duration::seconds(2));
    t.drain(&t.dispatcher()).await;
    let (base, stop) = t.serve_http().await;
    let (status, text) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("absage_notifications{state=\"sent\",channel=\"email\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("absage_notifications{state=\"sent\",channel=\"sms\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("absage_destination_up{destination=\"outbox-email\",channel=\"email\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("absage_source_import_age_seconds{source=\"termine\",tenant=\"soest\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("absage_first_send_seconds{outage=\"1\",tenant=\"soest\"} 2"),
        "{text}"
    );
    assert!(
        text.contains(
            "absage_messages_finished{channel=\"email\",destination=\"outbox-email\",outcome=\"sent\"} 2"
        ),
        "{text}"
    );
    assert!(!text.contains("example.org"), "no personal data in metrics");
    stop.cancel();
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.http.metrics_token = absage::secret::Secret::new("scrape-token-1234");
    let t = TestApp::start(dir, s).await;
    let (base, stop) = t.serve_http().await;
    let url = format!("{base}/metrics");
    assert_eq!(get(&url).await.0, 401, "without the token");
    let client = reqwest::Client::new();
    let with = |token: &str| client.get(&url).bearer_auth(token).send();
    assert_eq!(with("wrong").await.unwrap().status(), 401);
    let ok = with("scrape-token-1234").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("absage_notifications"));
    assert_eq!(
        get(&format!("{base}/healthz")).await.0,
        200,
        "health needs none"
    );
    stop.cancel();
}

/// A request that takes longer than `http.request_timeout_secs` is cut off with 503 — under
/// `/api` as the documented JSON error `timeout` — and the listener goes on answering. Here a
/// declaration waits for the database's write lock, which another transaction holds.
#[tokio::test]
async fn a_request_over_the_time_limit_is_cut_off_with_503_and_the_listener_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.http.request_timeout_secs = 1;
    let t = TestApp::start(dir, s).await;
    t.write_export(&[Row::new("A1", "2030-01-08 09:00")]);
    t.import().await;
    let operator = absage::domain::account::Role::Operator;
    t.add_account("olga", "soest", operator, None).await;
    let store = &t.app.ctx.store;
    let token = absage::accounts::issue_token(store, "olga", "test", t.clock.now())
        .await
        .unwrap();
    let (base, stop) = t.serve_http().await;

    let mut lock = store.begin().await.unwrap(); // SQLite: BEGIN IMMEDIATE, the write lock
    if store.backend() == absage::store::Backend::Postgres {
        sqlx::query("lock table outages in exclusive mode")
            .execute(&mut *lock)
            .await
            .unwrap();
    }
    let body = r#"{"from": "2030-01-08 08:00", "to": "2030-01-08 12:00", "reason": "IT-Ausfall"}"#;
    let started = std::time::Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/outages"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let json: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(json["code"], "timeout", "{json}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    lock.rollback().await.unwrap();
    stop.cancel();
}
