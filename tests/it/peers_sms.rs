//! SMS over the wire to Kannel with fakesmsc as the SMS centre.

use crate::helpers::*;
use crate::support::peers::{Kannel, wait_until};
use absage::config::ChannelPolicy;
use absage::domain::outage::Scope;
use chrono::Duration;

pub(crate) fn kannel_gateway(k: &Kannel) -> absage::config::SmsGatewayConfig {
    toml::from_str(&format!(
        "kind = \"kannel\"\nname = \"kannel\"\nurl = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\ntimeout_secs = 5\n",
        k.sendsms_url, k.username, k.password
    ))
    .unwrap()
}

async fn app_with_kannel(k: &Kannel, rows: &[Row]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.sms.transport = absage::config::Transport::Network;
    s.sms.gateways = vec![kannel_gateway(k)];
    let t = TestApp::start(dir, s).await;
    t.write_export(rows);
    t.import().await;
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sms_reaches_kannel_exactly_once_with_the_right_number_and_text() {
    let kannel = Kannel::start();
    let rows: Vec<Row> = (0..20)
        .map(|i| {
            Row::new(
                &format!("S{i:02}"),
                &format!("2030-01-07 {:02}:00", 8 + i / 4),
            )
            .phone(&format!("0171 55{i:05}"))
        })
        .collect();
    let t = app_with_kannel(&kannel, &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 14:00", Scope::default())
        .await;
    t.drain(&t.dispatcher()).await;
    let got = wait_until(
        "20 SMS at fakesmsc",
        std::time::Duration::from_secs(20),
        || {
            let r = kannel.received();
            (r.len() >= 20).then_some(r)
        },
    );
    assert_eq!(got.len(), 20);
    for i in 0..20 {
        let to = format!("+4917155{i:05}");
        let hits: Vec<_> = got.iter().filter(|m| m.to == to).collect();
        assert_eq!(hits.len(), 1, "exactly one SMS to {to}");
        assert_eq!(hits[0].from, "KreisSoest");
        assert!(
            hits[0].text.contains("Zulassung") && hits[0].text.contains("02921 30-0"),
            "{}",
            hits[0].text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_outside_gsm_is_sent_as_ucs2_and_arrives_intact() {
    let kannel = Kannel::start();
    let rows = vec![
        Row::new("U", "2030-01-07 09:00")
            .location("Şehir Ofisi")
            .phone("0171 7654321"),
    ];
    let t = app_with_kannel(&kannel, &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 14:00", Scope::default())
        .await;
    t.drain(&t.dispatcher()).await;
    let got = wait_until(
        "the SMS at fakesmsc",
        std::time::Duration::from_secs(20),
        || kannel.received().into_iter().next(),
    );
    assert!(got.ucs2, "sent with coding=2");
    assert!(got.text.contains("Şehir Ofisi"), "{}", got.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_smsc_link_is_down_kannel_answers_403_and_messages_wait_until_it_is_back() {
    let mut kannel = Kannel::start();
    kannel.stop_smsc();
    let rows: Vec<Row> = (0..4)
        .map(|i| Row::new(&format!("W{i}"), &format!("2030-01-07 1{i}:00")).email(""))
        .collect();
    let t = app_with_kannel(&kannel, &rows).await;
    t.declare("2030-01-07 08:00", "2030-01-07 16:00", Scope::default())
        .await;
    let d = t.dispatcher();
    t.drain(&d).await;
    let ns = t.notifications().await;
    assert!(
        ns.iter().all(|n| n.state == "queued" && n.attempts == 0),
        "{ns:?}"
    );
    kannel.start_smsc();
    t.clock.advance(Duration::seconds(31));
    t.drain(&d).await;
    assert!(t.notifications().await.iter().all(|n| n.state == "sent"));
    let got = wait_until("4 SMS", std::time::Duration::from_secs(20), || {
        let r = kannel.received();
        (r.len() >= 4).then_some(r)
    });
    assert_eq!(got.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannels_delivery_reports_reach_the_notification_and_forged_ones_are_refused() {
    let kannel = Kannel::start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.sms.transport = absage::config::Transport::Network;
    s.sms.gateways = vec![kannel_gateway(&kannel)];
    s.http.webhooks.public_url = base.clone();
    s.http.webhooks.secret = absage::secret::Secret::new("ein langes Geheimnis für Tests");
    let t = TestApp::start(dir, s).await;
    t.write_export(&[Row::new("D1", "2030-01-07 09:00").phone("0171 5550001")]);
    t.import().await;
    let stop = tokio_util::sync::CancellationToken::new();
    let router = absage::http::router(t.app.http_state());
    tokio::spawn(absage::http::serve(listener, router, stop.clone()));

    t.declare("2030-01-07 08:00", "2030-01-07 12:00", Scope::default())
        .await;
    t.drain(&t.dispatcher()).await;
    let sms_id: i64 = {
        let mut conn = t.app.ctx.store.conn().await.unwrap();
        sqlx::query_scalar("select id from notifications where channel = 'sms'")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
    };
    let delivery = || async {
        let mut conn = t.app.ctx.store.conn().await.unwrap();
        sqlx::query_scalar::<_, Option<String>>(
            "select delivery_state from notifications where id = $1",
        )
        .bind(sms_id)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
    };
    // fakesmsc accepts the message; Kannel reports it submitted (8) and delivered (1).
    let mut got = None;
    for _ in 0..200 {
        got = delivery().await;
        if got.as_deref() == Some("delivered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        got.as_deref(),
        Some("delivered"),
        "Kannel's reports arrived"
    );

    absage::tls::install();
    let call = |path: String| {
        let url = format!("{base}{path}");
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    let secret = "ein langes Geheimnis für Tests";
    let sig = absage::domain::dlr::signature(secret, sms_id, Some(1));
    let other = absage::domain::dlr::signature(secret, sms_id + 1, Some(1));
    let earlier = absage::domain::dlr::signature(secret, sms_id, Some(0));
    let forged = [
        format!("/hooks/dlr/{sms_id}/1/{other}?status=2"),
        format!("/hooks/dlr/{sms_id}/1/{}?status=2", "0".repeat(32)),
        format!("/hooks/dlr/{sms_id}/1/{sig}x?status=2"),
        format!("/hooks/dlr/{sms_id}/2/{sig}?status=2"),
        format!("/hooks/dlr/{sms_id}/{sig}?status=2"),
        format!("/hooks/dlr/{sms_id}/{earlier}?status=2"),
    ];
    for path in forged {
        assert_eq!(call(path.clone()).await, 403, "{path}");
    }
    assert_eq!(
        delivery().await.as_deref(),
        Some("delivered"),
        "forgeries changed nothing"
    );
    assert_eq!(
        call(format!("/hooks/dlr/{sms_id}/1/{sig}?status=8")).await,
        200
    );
    assert_eq!(
        delivery().await.as_deref(),
        Some("delivered"),
        "a late intermediate report does not undo delivery"
    );
    assert_eq!(
        call(format!("/hooks/dlr/{sms_id}/1/{sig}?status=9")).await,
        422
    );
    // Kannel's URL replayed with another final status: refused, nothing flips.
    assert_eq!(
        call(format!("/hooks/dlr/{sms_id}/1/{sig}?status=2")).await,
        409
    );
    let old_form = absage::domain::dlr::signature(secret, sms_id, None);
    assert_eq!(
        call(format!("/hooks/dlr/{sms_id}/{old_form}?status=16")).await,
        409,
        "nor through the URL form from before sends were counted"
    );
    let (_, report) = absage::reports::report(&t.app.ctx, 1).await.unwrap();
    assert_eq!(report[0].sms_delivery.as_deref(), Some("delivered"));
    assert_eq!(report[0].reach, absage::reports::Reach::Informed);
    stop.cancel();
}
