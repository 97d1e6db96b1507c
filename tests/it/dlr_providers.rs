//! Delivery reports of the generic HTTP gateway in two real providers' documented formats
//! (issue 14), with the example configurations shipped in `config/examples/`: Twilio posts a
//! form to each message's own callback URL; Vonage posts JSON to one URL for the account and
//! hands back absage's signed reference. The providers' APIs cannot run here, so a mock server
//! stands in for the sending side; the reports go through absage's real HTTP hooks.

use crate::helpers::*;
use absage::config::{ChannelPolicy, SmsSettings};
use absage::domain::outage::Scope;
use absage::reports::Reach;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "ein langes Geheimnis für Anbieter";

#[derive(serde::Deserialize)]
struct Example {
    sms: SmsSettings,
}

/// The example's gateway, pointed at `server` (its path kept).
fn example(file: &str, server: &MockServer) -> SmsSettings {
    let text = std::fs::read_to_string(format!(
        "{}/config/examples/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut sms = toml::from_str::<Example>(&text).unwrap().sms;
    for g in &mut sms.gateways {
        if let absage::config::SmsGatewayConfig::Http(h) = g {
            let url = url::Url::parse(&h.url).unwrap();
            h.url = format!("{}{}", server.uri(), url.path());
        }
    }
    sms
}

async fn app(
    sms: SmsSettings,
    rows: &[Row],
) -> (TestApp, String, tokio_util::sync::CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::SmsFirst);
    s.sms = sms;
    s.http.webhooks.public_url = base.clone();
    s.http.webhooks.secret = absage::secret::Secret::new(SECRET);
    let t = TestApp::start(dir, s).await;
    t.write_export(rows);
    t.import().await;
    let stop = tokio_util::sync::CancellationToken::new();
    let router = absage::http::router(t.app.http_state());
    tokio::spawn(absage::http::serve(listener, router, stop.clone()));
    (t, base, stop)
}

async fn sms_state(t: &TestApp, key: &str) -> (String, Option<String>) {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query_as(
        "select n.state, n.delivery_state from notifications n join bookings b on b.id = n.booking_id \
         where b.booking_key = $1 and n.channel = 'sms' and n.kind = 'cancellation'",
    )
    .bind(key)
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

async fn reach(t: &TestApp, key: &str) -> Reach {
    let (_, rows) = absage::reports::report(&t.app.ctx, 1).await.unwrap();
    rows.into_iter()
        .find(|r| r.booking_key == key)
        .unwrap()
        .reach
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_status_callbacks_to_each_message_s_url_move_the_citizen_on() {
    absage::tls::install();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(
            "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json",
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({"sid": "SM0123", "status": "queued"})),
        )
        .mount(&server)
        .await;
    let rows = [
        Row::new("DELIVERED", "2030-01-07 09:00").email(""),
        Row::new("FAILS", "2030-01-07 09:30"),
    ];
    let (t, _, stop) = app(example("sms-twilio.toml", &server), &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    t.drain(&t.dispatcher()).await;
    // What Twilio got: the form of its API, with absage's signed callback per message.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let callbacks: Vec<String> = requests
        .iter()
        .map(|r| {
            assert_eq!(
                r.headers.get("authorization").unwrap(),
                "Basic QUMwMTIzNDU2Nzg5OmF1dGgtdG9rZW4="
            );
            let form: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(&r.body).into_owned().collect();
            assert!(form["To"].starts_with("+49"), "{form:?}");
            form["StatusCallback"].clone()
        })
        .collect();
    let client = reqwest::Client::new();
    let post = |url: String, status: &'static str| {
        let client = client.clone();
        async move {
            // Twilio's status callback: a form POST.
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("MessageSid", "SM0123")
                .append_pair("MessageStatus", status)
                .append_pair("AccountSid", "AC0123456789abcdef0123456789abcdef")
                .append_pair(
                    "ErrorCode",
                    if status == "undelivered" { "30003" } else { "" },
                )
                .finish();
            client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        reach(&t, "DELIVERED").await,
        Reach::Unknown,
        "no report yet"
    );
    // Each message's own URL names its notification.
    let delivered = of(
        &callbacks,
        &format!("/hooks/dlr/{}/", sms_id(&t, "DELIVERED").await),
    );
    let fails = of(
        &callbacks,
        &format!("/hooks/dlr/{}/", sms_id(&t, "FAILS").await),
    );
    assert_eq!(post(delivered.clone(), "sent").await, 200);
    assert_eq!(post(delivered, "delivered").await, 200);
    assert_eq!(post(fails.clone(), "undelivered").await, 200);
    assert_eq!(post(fails, "some-new-status").await, 200, "ignored");
    assert_eq!(
        sms_state(&t, "DELIVERED").await,
        ("sent".into(), Some("delivered".into()))
    );
    assert_eq!(reach(&t, "DELIVERED").await, Reach::Informed);
    assert_eq!(
        sms_state(&t, "FAILS").await,
        ("sent".into(), Some("undelivered".into()))
    );
    // FAILS has an email: under sms_first it was waiting, and it goes now.
    t.clock.advance(chrono::Duration::seconds(1));
    t.drain(&t.dispatcher()).await;
    let email = t
        .notifications()
        .await
        .into_iter()
        .find(|n| n.key == "FAILS" && n.channel == "email")
        .unwrap();
    assert_eq!(email.state, "sent");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vonage_receipts_to_one_url_are_found_by_absage_s_signed_reference() {
    absage::tls::install();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/sms/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"message-count":"1","messages":[{"to":"4917112345","message-id":"0A00000012345678","status":"0","remaining-balance":"3.14","message-price":"0.0333","network":"26202"}]}"#,
        ))
        .mount(&server)
        .await;
    let rows = [
        Row::new("GOOD", "2030-01-07 09:00").email(""),
        Row::new("NOPE", "2030-01-07 09:30").email(""),
    ];
    let (t, base, stop) = app(example("sms-vonage.toml", &server), &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    t.drain(&t.dispatcher()).await;
    let refs: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert!(!body["to"].as_str().unwrap().starts_with('+'), "{body}");
            body["client-ref"].as_str().unwrap().to_owned()
        })
        .collect();
    let receipt = |reference: &str, status: &str| {
        serde_json::json!({
            "msisdn": "4917112345", "to": "KreisSoest", "network-code": "26202",
            "messageId": "0A00000012345678", "price": "0.03330000", "status": status,
            "scts": "3001070805", "err-code": if status == "delivered" { "0" } else { "6" },
            "api-key": "abcd1234", "client-ref": reference,
            "message-timestamp": "2030-01-07 07:05:00"
        })
    };
    let client = reqwest::Client::new();
    let url = format!("{base}/hooks/dlr/gateway/vonage");
    let post = |body: serde_json::Value| {
        let (client, url) = (client.clone(), url.clone());
        async move { post_json(&client, &url, &body).await }
    };
    // The reference starts with the notification's id.
    let good = of(&refs, &format!("{}-", sms_id(&t, "GOOD").await));
    let nope = of(&refs, &format!("{}-", sms_id(&t, "NOPE").await));
    assert_eq!(post(receipt(&good, "accepted")).await, 200);
    assert_eq!(post(receipt(&good, "delivered")).await, 200);
    assert_eq!(post(receipt(&nope, "failed")).await, 200);
    assert_eq!(sms_state(&t, "GOOD").await.1.as_deref(), Some("delivered"));
    assert_eq!(
        sms_state(&t, "NOPE").await.1.as_deref(),
        Some("undelivered")
    );
    assert_eq!(reach(&t, "GOOD").await, Reach::Informed);
    assert_eq!(
        reach(&t, "NOPE").await,
        Reach::NotReached,
        "no email: call list"
    );

    // A reference with a wrong signature, or none, changes nothing.
    let forged = format!("{}0000", &good[..good.len() - 4]);
    assert_ne!(forged, good);
    assert_eq!(post(receipt(&forged, "failed")).await, 403);
    assert_eq!(post(serde_json::json!({"status": "failed"})).await, 403);
    assert_eq!(sms_state(&t, "GOOD").await.1.as_deref(), Some("delivered"));
    let other = format!("{base}/hooks/dlr/gateway/other");
    assert_eq!(
        post_json(&client, &other, &receipt(&good, "failed")).await,
        404
    );
    stop.cancel();
}

async fn post_json(client: &reqwest::Client, url: &str, body: &serde_json::Value) -> u16 {
    client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn sms_id(t: &TestApp, key: &str) -> i64 {
    let mut conn = t.app.ctx.store.conn().await.unwrap();
    sqlx::query_scalar(
        "select n.id from notifications n join bookings b on b.id = n.booking_id \
         where b.booking_key = $1 and n.channel = 'sms'",
    )
    .bind(key)
    .fetch_one(&mut *conn)
    .await
    .unwrap()
}

/// The one item containing `part` (or, for a reference, starting with it).
fn of(items: &[String], part: &str) -> String {
    let found: Vec<&String> = items
        .iter()
        .filter(|i| {
            i.contains(&format!("/{}", part.trim_start_matches('/'))) || i.starts_with(part)
        })
        .collect();
    assert_eq!(found.len(), 1, "{part} in {items:?}");
    found[0].clone()
}
