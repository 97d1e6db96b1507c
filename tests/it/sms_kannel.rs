//! The Kannel gateway on its own, against a real Kannel with fakesmsc as the SMS centre:
//! what arrives, and how Kannel's answers map to failure classes. (The generic HTTP gateway
//! is unit-tested against wiremock in `src/dispatch/sms.rs`.)

use crate::support::peers::{Kannel, wait_until};
use absage::config::{KannelConfig, SmsGatewayConfig};
use absage::dispatch::outcome::SendFailure;
use absage::dispatch::sms::{SmsGateway, SmsMessage};
use absage::secret::Secret;
use std::time::Duration;

fn gateway(kannel: &Kannel, password: &str) -> SmsGateway {
    SmsGateway::new(SmsGatewayConfig::Kannel(KannelConfig {
        name: "kannel".into(),
        url: kannel.sendsms_url.clone(),
        username: kannel.username.clone(),
        password: Secret::new(password),
        smsc: None,
        concurrency: 4,
        timeout_secs: 5,
    }))
    .unwrap()
}

fn sms(text: &str, ucs2: bool) -> SmsMessage {
    SmsMessage {
        id: 42,
        to_e164: "+4917612345678".into(),
        from: "KreisSoest".into(),
        text: text.into(),
        ucs2,
        dlr_url: None,
        dlr_ref: None,
        validity_minutes: None,
    }
}

#[tokio::test]
async fn kannel_delivers_gsm_and_ucs2_texts_intact() {
    let kannel = Kannel::start();
    let gateway = gateway(&kannel, &kannel.password);
    // Characters that mean something in a query string arrive as written.
    let gsm_text = "Grüße aus Soest: 10 & 11 Uhr, +5 % = ? #2";
    gateway.send(&sms(gsm_text, false)).await.unwrap();
    gateway.send(&sms("Grüße مرحبا", true)).await.unwrap();
    let got = wait_until("2 SMS at fakesmsc", Duration::from_secs(20), || {
        let received = kannel.received();
        (received.len() >= 2).then_some(received)
    });
    let gsm = got.iter().find(|m| !m.ucs2).expect("the GSM text");
    let ucs2 = got.iter().find(|m| m.ucs2).expect("the UCS-2 text");
    assert_eq!(
        (gsm.from.as_str(), gsm.to.as_str()),
        ("KreisSoest", "+4917612345678")
    );
    assert_eq!(gsm.text, gsm_text);
    assert_eq!(ucs2.text, "Grüße مرحبا");
    assert_eq!((gsm.parts, ucs2.parts), (1, 1));
}

#[tokio::test]
async fn kannel_answers_are_classified() {
    let kannel = Kannel::start();
    let good = gateway(&kannel, &kannel.password);
    let wrong = gateway(&kannel, "wrong");
    good.probe().await.unwrap();
    let refused = wrong.probe().await.unwrap_err();
    assert!(
        refused.to_string().contains("Authorization failed"),
        "{refused}"
    );
    let refused = wrong.send(&sms("x", false)).await.unwrap_err();
    assert!(
        matches!(&refused, SendFailure::Destination(r) if r.contains("Authorization failed")),
        "{refused:?}"
    );
    let mut no_number = sms("x", false);
    no_number.to_e164 = String::new();
    let no_number = good.send(&no_number).await;
    assert!(
        matches!(no_number, Err(SendFailure::Permanent(_))),
        "{no_number:?}"
    );
    kannel.stop_smsc();
    let unroutable = good.send(&sms("x", false)).await.unwrap_err();
    assert!(
        matches!(&unroutable, SendFailure::Destination(r) if r.contains("Not routable")),
        "{unroutable:?}"
    );
}
