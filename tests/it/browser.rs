//! The web UI in a real headless Chromium: an operator declares with a preview, a second person
//! approves, the messages reach smtp-sink and Kannel, and the outage page shows the citizens
//! informed. Screenshots of the main pages go to `target/screenshots/`.

use crate::helpers::*;
use crate::queue::relay_config;
use crate::support::browser::Browser;
use crate::support::peers::{Kannel, SinkMode, SmtpSink, wait_until};
use absage::config::ChannelPolicy;
use absage::domain::account::Role;
use std::path::PathBuf;

const PASSWORD: &str = "Korrekt Pferd Batterie";

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots")
}

async fn login(b: &Browser, base: &str, name: &str) {
    b.goto(&format!("{base}/login")).await;
    b.fill("#name", name).await;
    b.fill("#password", PASSWORD).await;
    b.click("button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_goes_from_the_browser_through_approval_to_the_citizens() {
    let sink = SmtpSink::start(SinkMode::Accept);
    let kannel = Kannel::start();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.tenants[0].approval_threshold = Some(1);
    s.email.transport = absage::config::Transport::Network;
    s.email.relays = vec![relay_config("sink", sink.addr.port())];
    s.sms.transport = absage::config::Transport::Network;
    s.sms.gateways = vec![toml::from_str(&format!(
        "kind = \"kannel\"\nname = \"kannel\"\nurl = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\n",
        kannel.sendsms_url, kannel.username, kannel.password
    ))
    .unwrap()];
    let t = TestApp::start(dir, s).await;
    t.write_export(&[
        Row::new("A1", "2030-01-08 09:00").phone("0171 5550101"),
        Row::new("A2", "2030-01-08 10:00").email("").phone(""),
    ]);
    t.import().await;
    for (name, role) in [("olga", Role::Operator), ("anna", Role::Approver)] {
        t.add_account(name, "soest", role, Some(PASSWORD)).await;
    }
    let (base, stop) = t.serve_http().await;

    let b = Browser::start().await;
    b.goto(&format!("{base}/")).await;
    assert!(b.url().await.ends_with("/login"), "pages need a login");
    b.screenshot(&shots().join("01-login.png")).await;
    login(&b, &base, "olga").await;
    b.wait_for("Laufende Absagen").await;
    b.screenshot(&shots().join("02-dashboard.png")).await;

    b.goto(&format!("{base}/ui/declare")).await;
    b.set_value("from", "2030-01-08T08:00").await;
    b.set_value("to", "2030-01-08T12:00").await;
    b.fill("#reason", "einer Störung der Kreis-IT").await;
    // Services are picked from the calendar's own names, with counts; no JavaScript involved.
    b.wait_for("Zulassung (2)").await;
    b.click("input[name=services_scope][value=some]").await;
    b.click("input[name=services][value=Zulassung]").await;
    b.click("button[value=preview]").await;
    b.wait_for("<strong>2</strong> Termine betroffen").await;
    b.wait_for("betroffen 2 = mit Nachricht 1 + ohne Kanal (Anrufliste) 1")
        .await;
    b.screenshot(&shots().join("03-declare-preview.png")).await;
    b.click("button[value=confirm]").await;
    b.wait_for("wartet auf eine andere Person").await;
    assert!(
        b.url().await.ends_with("/ui/approvals"),
        "2 > threshold 1: waits"
    );
    b.screenshot(&shots().join("04-approval-waits.png")).await;
    assert!(t.notifications().await.is_empty());

    b.click("form[action='/logout'] button").await;
    b.wait_for("Anmelden").await;
    login(&b, &base, "anna").await;
    b.wait_for("Laufende Absagen").await;
    b.goto(&format!("{base}/ui/approvals")).await;
    b.click("form[action$='/approve'] button").await;
    b.wait_for("Nachrichten je Kanal").await;
    let outage_page = b.url().await;
    assert!(outage_page.contains("/ui/outages/"), "{outage_page}");

    t.drain(&t.dispatcher()).await;
    wait_until(
        "the email at smtp-sink",
        std::time::Duration::from_secs(20),
        || (!sink.messages().is_empty()).then_some(()),
    );
    wait_until(
        "the SMS at fakesmsc",
        std::time::Duration::from_secs(20),
        || {
            kannel
                .received()
                .iter()
                .any(|m| m.to == "+491715550101")
                .then_some(())
        },
    );
    b.goto(&outage_page).await;
    let page = b.source().await;
    assert!(
        page.contains("informiert") && page.contains("anrufen"),
        "{page}"
    );
    b.screenshot(&shots().join("05-outage.png")).await;
    b.goto(&format!("{base}/")).await;
    b.wait_for("anrufen").await;
    b.screenshot(&shots().join("07-dashboard-running.png"))
        .await;
    b.goto(&format!("{outage_page}/calllist")).await;
    b.wait_for("Bürger A2").await;
    b.screenshot(&shots().join("06-call-list.png")).await;
    b.close().await;
    stop.cancel();
}
