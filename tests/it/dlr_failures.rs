//! A delivery report that an SMS did not arrive (issue 11, finding 5): its citizen is not
//! informed but moves on — to the other channel where the tenant's policy keeps one waiting,
//! else to the call list — under every channel policy. A replayed or edited report URL cannot
//! flip a final state, and a report for an earlier send of the same SMS does not count
//! against the later one. Reports go through the real HTTP hook; the Kannel test has Kannel
//! itself call it.

use crate::helpers::*;
use crate::peers_sms::kannel_gateway;
use crate::support::peers::{Kannel, wait_until};
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
use absage::reports::Reach;
use chrono::Duration;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "ein langes Geheimnis für Tests";

/// An app whose delivery-report URLs point at its own HTTP server, which runs.
async fn app_with_hook(
    policy: ChannelPolicy,
    kannel: Option<&Kannel>,
    rows: &[Row],
) -> (TestApp, String, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), policy);
    if let Some(k) = kannel {
        s.sms.transport = absage::config::Transport::Network;
        s.sms.gateways = vec![kannel_gateway(k)];
    }
    s.http.webhooks.public_url = base.clone();
    s.http.webhooks.secret = absage::secret::Secret::new(SECRET);
    let t = TestApp::start(dir, s).await;
    t.write_export(rows);
    t.import().await;
    let stop = CancellationToken::new();
    let router = absage::http::router(t.app.http_state());
    tokio::spawn(absage::http::serve(listener, router, stop.clone()));
    (t, base, stop)
}

/// The SMS of a booking: id, state, claims, delivery report.
async fn sms_of(t: &TestApp, key: &str) -> (i64, String, i64, Option<String>) {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query_as(
        "select n.id, n.state, n.claims, n.delivery_state from notifications n \
         join bookings b on b.id = n.booking_id \
         where b.booking_key = $1 and n.channel = 'sms' and n.kind = 'cancellation'",
    )
    .bind(key)
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

/// Calls the report URL absage gave the gateway for the booking's SMS (its current send), as
/// the gateway would, with `status` in place of `%d`.
async fn report(t: &TestApp, base: &str, key: &str, status: &str) -> u16 {
    let (id, _, claims, _) = sms_of(t, key).await;
    let url = absage::domain::dlr::callback_url(base, SECRET, id, claims).replace("%d", status);
    get(&url).await
}

async fn get(url: &str) -> u16 {
    absage::tls::install();
    reqwest::get(url).await.unwrap().status().as_u16()
}

async fn reach_of(t: &TestApp, key: &str) -> (Reach, Option<String>) {
    let (_, rows) = absage::reports::report(&t.app.ctx, 1).await.unwrap();
    let row = rows.into_iter().find(|r| r.booking_key == key).unwrap();
    let calls = absage::reports::call_list(&t.app.ctx, 1).await.unwrap();
    let why = calls
        .into_iter()
        .find(|c| c.booking_key == key)
        .map(|c| c.why);
    (row.reach, why)
}

#[tokio::test]
async fn an_sms_reported_undelivered_moves_its_citizen_on_under_every_channel_policy() {
    for policy in [
        ChannelPolicy::Both,
        ChannelPolicy::EmailFirst,
        ChannelPolicy::SmsFirst,
    ] {
        let rows = vec![
            Row::new("SMSONLY", "2030-01-07 09:00").email(""),
            Row::new("REJECTED", "2030-01-07 09:30").email(""),
            Row::new("HASMAIL", "2030-01-07 10:00"),
        ];
        let (t, base, stop) = app_with_hook(policy, None, &rows).await;
        t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
            .await;
        let d = t.dispatcher();
        t.drain(&d).await;
        assert_eq!(
            reach_of(&t, "SMSONLY").await.0,
            Reach::Unknown,
            "{policy:?}: handed to the gateway, no report yet"
        );

        assert_eq!(report(&t, &base, "SMSONLY", "8").await, 200);
        assert_eq!(report(&t, &base, "SMSONLY", "2").await, 200, "{policy:?}");
        assert_eq!(report(&t, &base, "REJECTED", "16").await, 200);
        for key in ["SMSONLY", "REJECTED"] {
            let (reach, why) = reach_of(&t, key).await;
            assert_eq!(reach, Reach::NotReached, "{policy:?} {key}");
            let why = why.unwrap_or_else(|| panic!("{policy:?}: {key} is not on the call list"));
            assert!(why.contains("SMS not delivered"), "{policy:?}: {why}");
        }

        // A citizen with an email too: under sms_first the SMS went alone, and its email
        // fallback goes now; under the other policies the email went out anyway.
        let (_, sms_state, _, _) = sms_of(&t, "HASMAIL").await;
        if sms_state == "sent" {
            assert_eq!(report(&t, &base, "HASMAIL", "2").await, 200);
        }
        t.clock.advance(Duration::seconds(1));
        t.drain(&d).await;
        let ns = t.notifications().await;
        let email = ns
            .iter()
            .find(|n| n.key == "HASMAIL" && n.channel == "email")
            .unwrap();
        assert_eq!(email.state, "sent", "{policy:?}: {ns:?}");
        assert_eq!(reach_of(&t, "HASMAIL").await, (Reach::Informed, None));

        // Replaying the URL with another status flips nothing.
        assert_eq!(report(&t, &base, "SMSONLY", "1").await, 409, "{policy:?}");
        assert_eq!(
            report(&t, &base, "SMSONLY", "2").await,
            200,
            "the same report again"
        );
        assert_eq!(reach_of(&t, "SMSONLY").await.0, Reach::NotReached);
        assert_eq!(
            sms_of(&t, "SMSONLY").await.3.as_deref(),
            Some("undelivered")
        );
        stop.cancel();
    }
}

/// A generic HTTP SMS gateway that reports the message rejected before it even answers the
/// send: the report reaches absage before the dispatcher has recorded the send.
async fn gateway_reporting_at_once() -> absage::config::SmsGatewayConfig {
    use std::collections::HashMap;
    async fn send(
        axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
    ) -> (axum::http::StatusCode, &'static str) {
        let dlr = format!("{}?status=rejected", q["dlr"]);
        match reqwest::get(dlr).await.map(|r| r.status().as_u16()) {
            Ok(200) => (axum::http::StatusCode::OK, "queued"),
            _ => (
                axum::http::StatusCode::BAD_REQUEST,
                "the report was refused",
            ),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/send", axum::routing::get(send));
    tokio::spawn(async move { axum::serve(listener, app).await });
    serde_json::from_value(serde_json::json!({
        "kind": "http", "name": "fast", "method": "GET", "url": url,
        "query": {"to": "{to}", "text": "{text}", "dlr": "{dlr_url}"}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_reported_before_the_send_is_recorded_still_moves_the_citizen_on() {
    absage::tls::install();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::SmsFirst);
    s.sms.transport = absage::config::Transport::Network;
    s.sms.gateways = vec![gateway_reporting_at_once().await];
    s.http.webhooks.public_url = base.clone();
    s.http.webhooks.secret = absage::secret::Secret::new(SECRET);
    let t = TestApp::start(dir, s).await;
    t.write_export(&[Row::new("FAST", "2030-01-07 09:00")]);
    t.import().await;
    let stop = CancellationToken::new();
    let router = absage::http::router(t.app.http_state());
    tokio::spawn(absage::http::serve(listener, router, stop.clone()));
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let d = t.dispatcher();
    t.drain(&d).await;
    let ns = t.notifications().await;
    let state = |ch: &str| ns.iter().find(|n| n.channel == ch).unwrap().state.clone();
    assert_eq!(sms_of(&t, "FAST").await.3.as_deref(), Some("rejected"));
    assert_eq!(
        (state("sms").as_str(), state("email").as_str()),
        ("sent", "sent"),
        "the email fallback went out: {ns:?}"
    );
    assert_eq!(reach_of(&t, "FAST").await, (Reach::Informed, None));
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannels_rejection_of_a_refused_send_does_not_count_against_the_send_that_went_out() {
    let mut kannel = Kannel::start();
    kannel.stop_smsc();
    let rows = vec![Row::new("K1", "2030-01-07 09:00").email("")];
    let (t, _base, stop) = app_with_hook(ChannelPolicy::Both, Some(&kannel), &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    let d = t.dispatcher();
    t.drain(&d).await;
    // Kannel answered 403 (not routable) and reported the message rejected (16) to the hook.
    for _ in 0..400 {
        if sms_of(&t, "K1").await.3.as_deref() == Some("rejected") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // (Each refused send was a claim: the first marked the gateway failing, the second down.)
    let (_, state, refused, delivery) = sms_of(&t, "K1").await;
    assert_eq!(
        (state.as_str(), delivery.as_deref()),
        ("queued", Some("rejected")),
        "Kannel's report for the refused send arrived"
    );
    assert_eq!(
        reach_of(&t, "K1").await.0,
        Reach::Unknown,
        "it waits, not on the call list"
    );

    kannel.start_smsc();
    t.clock.advance(Duration::seconds(31));
    t.drain(&d).await;
    wait_until(
        "the SMS at fakesmsc",
        std::time::Duration::from_secs(20),
        || kannel.received().into_iter().next(),
    );
    let mut got = None;
    for _ in 0..400 {
        got = sms_of(&t, "K1").await.3;
        if got.as_deref() == Some("delivered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        got.as_deref(),
        Some("delivered"),
        "Kannel's report of the second send"
    );
    let (id, state, claims, _) = sms_of(&t, "K1").await;
    assert_eq!((state.as_str(), claims), ("sent", refused + 1));
    assert_eq!(reach_of(&t, "K1").await, (Reach::Informed, None));

    // A refused send's URL, replayed with a failure, is a report for an earlier send.
    let base = t.app.ctx.settings.http.webhooks.public_url.clone();
    let earlier = absage::domain::dlr::callback_url(&base, SECRET, id, refused).replace("%d", "2");
    assert_eq!(get(&earlier).await, 200);
    assert_eq!(sms_of(&t, "K1").await.3.as_deref(), Some("delivered"));
    assert_eq!(reach_of(&t, "K1").await, (Reach::Informed, None));
    stop.cancel();
}
