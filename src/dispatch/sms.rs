//! SMS over HTTP gateways: Kannel's `sendsms` interface, and a generic gateway whose request
//! is described in config (templates with `{to}`, `{from}`, `{text}`, `{id}`). Both map the
//! gateway's answer to the three failure classes of [`SendFailure`].

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use tokio::sync::Semaphore;

use super::outcome::{SendFailure, Sent};
use crate::config::{BodyTemplate, HttpGatewayConfig, HttpMethod, KannelConfig, SmsGatewayConfig};

/// One SMS to send.
#[derive(Clone, Debug)]
pub struct SmsMessage {
    /// The notification id: `{id}` in templates, and the outbox file name.
    pub id: i64,
    pub to_e164: String,
    /// Sender id (alphanumeric or a number).
    pub from: String,
    pub text: String,
    /// Send as UCS-2 (the text has characters outside GSM 03.38).
    pub ucs2: bool,
    /// Where the gateway should post delivery reports.
    pub dlr_url: Option<String>,
    /// absage's signed reference of the send, for providers that hand a reference back to one
    /// callback URL (`{dlr_ref}`; see [`crate::domain::dlr::reference`]).
    pub dlr_ref: Option<String>,
    /// How long the SMS centre may keep trying: a cancellation that arrives after the
    /// appointment has started is worse than none.
    pub validity_minutes: Option<u32>,
}

/// A gateway with its own keep-alive connection pool and a limit on requests in flight.
pub struct SmsGateway {
    cfg: SmsGatewayConfig,
    /// Kannel's `sendsms` address, parsed once: each send appends its query to a copy.
    /// (Generic gateways fill in their address per send; for them it is never read.)
    kannel_url: Result<reqwest::Url, url::ParseError>,
    client: reqwest::Client,
    in_flight: Semaphore,
    pub service: super::service_time::ServiceTime,
}

/// Characters of a gateway's answer kept in a failure reason.
const REASON_EXCERPT: usize = 200;

impl SmsGateway {
    pub fn new(cfg: SmsGatewayConfig) -> anyhow::Result<Self> {
        let (name, concurrency, timeout_secs) = match &cfg {
            SmsGatewayConfig::Kannel(k) => (&k.name, k.concurrency, k.timeout_secs),
            SmsGatewayConfig::Http(h) => {
                check_templates(h)?;
                (&h.name, h.concurrency, h.timeout_secs)
            }
        };
        anyhow::ensure!(
            concurrency > 0,
            "gateway {name}: concurrency must be at least 1"
        );
        crate::tls::install();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(timeout_secs))
            .connect_timeout(Duration::from_secs(timeout_secs))
            .pool_max_idle_per_host(concurrency)
            // A redirect would repeat credentials and the message to another address.
            .redirect(reqwest::redirect::Policy::none())
            // The queue alone retries a send, and records each attempt. (The client's own
            // retry of refused HTTP/2 streams also kept a copy of every request, in case.)
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .build()?;
        // A wrong address fails each send through this gateway (so the others take over),
        // as a refused connection would, rather than the start of the daemon.
        let kannel_url = match &cfg {
            SmsGatewayConfig::Kannel(k) => reqwest::Url::parse(&k.url),
            SmsGatewayConfig::Http(_) => Err(url::ParseError::EmptyHost),
        };
        Ok(Self {
            kannel_url,
            in_flight: Semaphore::new(concurrency),
            service: Default::default(),
            client,
            cfg,
        })
    }

    pub fn name(&self) -> &str {
        self.cfg.name()
    }

    /// The longest one request may take: its connection and answer.
    pub fn timeout(&self) -> Duration {
        let secs = match &self.cfg {
            SmsGatewayConfig::Kannel(k) => k.timeout_secs,
            SmsGatewayConfig::Http(h) => h.timeout_secs,
        };
        Duration::from_secs(secs)
    }

    #[tracing::instrument(skip_all, fields(gateway = %self.name(), notification = m.id))]
    pub async fn send(&self, m: &SmsMessage) -> Result<Sent, SendFailure> {
        let _permit = self.permit().await?;
        self.send_permitted(m).await
    }

    /// Waits for one of the gateway's `concurrency` requests in flight.
    pub async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, SendFailure> {
        (self.in_flight.acquire().await).map_err(|_| SendFailure::destination("gateway closed"))
    }

    /// [`Self::send`] for a caller that holds a [`Self::permit`].
    pub async fn send_permitted(&self, m: &SmsMessage) -> Result<Sent, SendFailure> {
        let started = std::time::Instant::now();
        let sent = match &self.cfg {
            SmsGatewayConfig::Kannel(k) => self.send_kannel(k, m).await,
            SmsGatewayConfig::Http(h) => self.send_http(h, m).await,
        };
        if sent.is_ok() {
            self.service.record_since(started);
        }
        sent
    }

    /// Is the gateway answering? Kannel is asked with our credentials and no receiver, so a
    /// wrong password shows here too; a generic gateway is up if it answers below 500.
    #[tracing::instrument(skip_all, fields(gateway = %self.name()))]
    pub async fn probe(&self) -> Result<(), SendFailure> {
        let request = match &self.cfg {
            SmsGatewayConfig::Kannel(k) => self.client.get(&k.url).query(&[
                ("username", k.username.as_str()),
                ("password", k.password.expose()),
            ]),
            SmsGatewayConfig::Http(h) => match &h.auth_header {
                Some(auth) => self
                    .client
                    .get(&h.url)
                    .header(auth.name.as_str(), auth.value.expose()),
                None => self.client.get(&h.url),
            },
        };
        let response = request.send().await.map_err(request_failure)?;
        let status = response.status();
        if status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED {
            let body = excerpt(response).await;
            return Err(SendFailure::destination(format!(
                "gateway refuses our credentials ({status}): {body}"
            )));
        }
        if status.is_server_error() {
            return Err(SendFailure::destination(format!(
                "gateway answers {status}"
            )));
        }
        Ok(())
    }

    async fn send_kannel(&self, k: &KannelConfig, m: &SmsMessage) -> Result<Sent, SendFailure> {
        let mut url = match &self.kannel_url {
            Ok(url) => url.clone(),
            Err(e) => {
                return Err(SendFailure::destination(format!(
                    "the gateway's url is not an address: {e}"
                )));
            }
        };
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("username", &k.username)
                .append_pair("password", k.password.expose())
                .append_pair("from", &m.from)
                .append_pair("to", &m.to_e164)
                .append_pair("text", &m.text)
                // Kannel converts from this charset itself, also to UCS-2 when coding=2.
                .append_pair("charset", "UTF-8");
            if m.ucs2 {
                query.append_pair("coding", "2");
            }
            if let Some(smsc) = &k.smsc {
                query.append_pair("smsc", smsc);
            }
            if let Some(v) = m.validity_minutes {
                query.append_pair("validity", &v.to_string());
            }
            if let Some(dlr_url) = &m.dlr_url {
                query
                    .append_pair("dlr-mask", "31")
                    .append_pair("dlr-url", dlr_url);
            }
        }
        let response = self.client.get(url).send().await.map_err(request_failure)?;
        let status = response.status();
        if status == StatusCode::ACCEPTED {
            return Ok(Sent::default());
        }
        let retry_after = retry_after(&response);
        let body = excerpt(response).await;
        Err(classify_status(status, &body, retry_after))
    }

    async fn send_http(&self, h: &HttpGatewayConfig, m: &SmsMessage) -> Result<Sent, SendFailure> {
        let method = match h.method {
            HttpMethod::Get => Method::GET,
            HttpMethod::Post => Method::POST,
        };
        let query: Vec<(&str, String)> = h
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), fill(v, m)))
            .collect();
        let mut request = self.client.request(method, &h.url).query(&query);
        if let Some(header) = &h.auth_header {
            request = request.header(header.name.as_str(), header.value.expose());
        }
        request = match &h.body {
            Some(BodyTemplate::Json(template)) => request
                .header("Content-Type", "application/json")
                .body(fill_json(template, m).to_string()),
            Some(BodyTemplate::Form(fields)) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                for (key, value) in fields {
                    form.append_pair(key, &fill(value, m));
                }
                request
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form.finish())
            }
            None => request,
        };
        let response = request.send().await.map_err(request_failure)?;
        let status = response.status();
        if h.success_status.contains(&status.as_u16()) {
            let body = response.text().await.unwrap_or_default();
            return accepted(h, status, &body);
        }
        let retry_after = retry_after(&response);
        let body = excerpt(response).await;
        Err(classify_status(status, &body, retry_after))
    }
}

/// A success status from a generic gateway: check the body and pick out the message id.
fn accepted(h: &HttpGatewayConfig, status: StatusCode, body: &str) -> Result<Sent, SendFailure> {
    if let Some(expected) = &h.success_body_contains
        && !body.contains(expected.as_str())
    {
        let shown: String = body.chars().take(REASON_EXCERPT).collect();
        return Err(SendFailure::permanent(format!(
            "gateway answered {status} without {expected:?}: {shown}"
        )));
    }
    let provider_id = h.message_id_json_pointer.as_ref().and_then(|pointer| {
        let json: serde_json::Value = serde_json::from_str(body).ok()?;
        match json.pointer(pointer)? {
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    });
    if h.message_id_json_pointer.is_some() && provider_id.is_none() {
        tracing::warn!(gateway = %h.name, "accepted, but the answer has no message id");
    }
    Ok(Sent { provider_id })
}

/// The answer classes shared by Kannel and generic gateways (after success was ruled out).
fn classify_status(status: StatusCode, body: &str, retry_after: Option<Duration>) -> SendFailure {
    let reason = format!("{status}: {body}");
    match status.as_u16() {
        429 => SendFailure::transient(reason, retry_after),
        // Kannel's "Not routable" (SMSC down) and refused credentials: the gateway as a whole.
        401 | 403 => SendFailure::destination(format!("gateway unusable, {reason}")),
        408 => SendFailure::destination(reason),
        400..=499 => SendFailure::permanent(reason),
        _ => SendFailure::destination(reason),
    }
}

/// A request that got no answer: refused, reset, timed out. The URL is left out of the
/// reason because it may carry the password and the number.
fn request_failure(err: reqwest::Error) -> SendFailure {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let err = err.without_url();
    let mut reason = format!("{kind}: {err}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        reason.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    SendFailure::destination(reason)
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The start of an error answer, for the failure reason.
async fn excerpt(response: Response) -> String {
    let body = response.text().await.unwrap_or_default();
    body.trim().chars().take(REASON_EXCERPT).collect()
}

const PLACEHOLDERS: [&str; 7] = [
    "to",
    "to_digits",
    "from",
    "text",
    "id",
    "dlr_url",
    "dlr_ref",
];

/// Fills `{to}`, `{to_digits}`, `{from}`, `{text}`, `{id}`, `{dlr_url}` and `{dlr_ref}` in one
/// pass, so braces in the text stay as they are.
fn fill(template: &str, m: &SmsMessage) -> String {
    let mut out = String::with_capacity(template.len() + m.text.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name = after.split('}').next().filter(|_| after.contains('}'));
        let value = match name {
            Some("to") => Some(m.to_e164.clone()),
            // E.164 without its `+`, as some providers want it (Vonage).
            Some("to_digits") => Some(m.to_e164.trim_start_matches('+').to_owned()),
            Some("from") => Some(m.from.clone()),
            Some("text") => Some(m.text.clone()),
            Some("id") => Some(m.id.to_string()),
            // The signed callback without Kannel's `?status=%d`: the provider adds its own.
            Some("dlr_url") => Some(
                m.dlr_url
                    .as_deref()
                    .map(|u| u.split('?').next().unwrap_or(u).to_owned())
                    .unwrap_or_default(),
            ),
            Some("dlr_ref") => Some(m.dlr_ref.clone().unwrap_or_default()),
            _ => None,
        };
        match (value, name) {
            (Some(value), Some(name)) => {
                out.push_str(&value);
                rest = &after[name.len() + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn fill_json(template: &serde_json::Value, m: &SmsMessage) -> serde_json::Value {
    use serde_json::Value;
    match template {
        Value::String(s) => Value::String(fill(s, m)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_json(v, m)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill_json(v, m)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Refuses placeholders we do not know (`{txt}`), naming the gateway and the key.
fn check_templates(h: &HttpGatewayConfig) -> anyhow::Result<()> {
    let mut templates: Vec<(String, &str)> = h
        .query
        .iter()
        .map(|(k, v)| (format!("query.{k}"), v.as_str()))
        .collect();
    let mut json_strings = Vec::new();
    match &h.body {
        Some(BodyTemplate::Form(fields)) => {
            templates.extend(
                fields
                    .iter()
                    .map(|(k, v)| (format!("body.form.{k}"), v.as_str())),
            );
        }
        Some(BodyTemplate::Json(value)) => collect_strings(value, &mut json_strings),
        None => {}
    }
    templates.extend(
        json_strings
            .into_iter()
            .map(|s| ("body.json".to_owned(), s)),
    );
    for (key, template) in templates {
        for word in template
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}'))
        {
            let name = word.0;
            let looks_like_placeholder =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if looks_like_placeholder && !PLACEHOLDERS.contains(&name) {
                anyhow::bail!(
                    "gateway {}: {key} uses unknown placeholder {{{name}}} (known: {{to}} {{to_digits}} {{from}} {{text}} {{id}} {{dlr_url}} {{dlr_ref}})",
                    h.name
                );
            }
        }
    }
    Ok(())
}

fn collect_strings<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretHeader;
    use crate::secret::Secret;
    use std::collections::BTreeMap;
    use wiremock::matchers::{body_json, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

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

    fn http_gateway(url: String) -> HttpGatewayConfig {
        HttpGatewayConfig {
            name: "api".into(),
            method: HttpMethod::Post,
            url,
            query: BTreeMap::new(),
            body: Some(BodyTemplate::Json(serde_json::json!({
                "messages": [{"to": "{to}", "sender": "{from}", "body": "{text}", "ref": "n{id}"}]
            }))),
            auth_header: Some(SecretHeader {
                name: "Authorization".into(),
                value: Secret::new("Bearer t0ken"),
            }),
            success_status: vec![200, 201, 202],
            success_body_contains: None,
            message_id_json_pointer: Some("/messages/0/id".into()),
            concurrency: 2,
            timeout_secs: 5,
            delivery_reports: None,
        }
    }

    async fn send_http(cfg: HttpGatewayConfig) -> Result<Sent, SendFailure> {
        SmsGateway::new(SmsGatewayConfig::Http(cfg))
            .unwrap()
            .send(&sms("Termin {abgesagt}", false))
            .await
    }

    #[test]
    fn placeholders_are_filled_once_and_other_braces_stay() {
        let m = sms("{from} {x", false);
        assert_eq!(
            fill("{to}|{text}|{id}|{nope}|{", &m),
            "+4917612345678|{from} {x|42|{nope}|{"
        );
    }

    #[test]
    fn unknown_placeholders_are_refused_naming_the_key() {
        let mut cfg = http_gateway("http://127.0.0.1:1/".into());
        cfg.query.insert("msg".into(), "{txt}".into());
        let err = SmsGateway::new(SmsGatewayConfig::Http(cfg)).err().unwrap();
        assert!(
            err.to_string()
                .contains("query.msg uses unknown placeholder {txt}"),
            "{err}"
        );
    }

    #[test]
    fn gateway_config_is_read_by_kind() {
        let cfg: SmsGatewayConfig = serde_json::from_value(serde_json::json!({
            "kind": "http", "name": "api", "method": "GET", "url": "https://sms.example/send",
            "query": {"to": "{to}"}, "auth_header": {"name": "X-Key", "value": "k"}
        }))
        .unwrap();
        assert!(matches!(cfg, SmsGatewayConfig::Http(h) if h.method == HttpMethod::Get));
    }

    #[tokio::test]
    async fn a_json_gateway_gets_the_templated_request_and_its_id_is_kept() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/send"))
            .and(header("Authorization", "Bearer t0ken"))
            .and(body_json(
                serde_json::json!({"messages": [{"to": "+4917612345678",
                "sender": "KreisSoest", "body": "Termin {abgesagt}", "ref": "n42"}]}),
            ))
            .respond_with(
                ResponseTemplate::new(201).set_body_string(r#"{"messages":[{"id":"m-77"}]}"#),
            )
            .expect(1)
            .mount(&server)
            .await;
        let sent = send_http(http_gateway(format!("{}/send", server.uri())))
            .await
            .unwrap();
        assert_eq!(sent.provider_id.as_deref(), Some("m-77"));
    }

    #[tokio::test]
    async fn a_get_gateway_gets_the_text_in_its_query() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(query_param("nr", "+4917612345678"))
            .and(query_param("msg", "Termin {abgesagt}"))
            .respond_with(ResponseTemplate::new(200).set_body_string("OK 1"))
            .expect(1)
            .mount(&server)
            .await;
        let mut cfg = http_gateway(server.uri());
        cfg.method = HttpMethod::Get;
        cfg.body = None;
        cfg.query = [("nr", "{to}"), ("msg", "{text}")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        cfg.success_body_contains = Some("OK".into());
        assert_eq!(send_http(cfg).await.unwrap(), Sent { provider_id: None });
    }

    async fn answer(status: u16, retry_after: Option<&str>, body: &str) -> SendFailure {
        let server = MockServer::start().await;
        let mut response = ResponseTemplate::new(status).set_body_string(body);
        if let Some(value) = retry_after {
            response = response.insert_header("Retry-After", value);
        }
        Mock::given(method("POST"))
            .respond_with(response)
            .mount(&server)
            .await;
        send_http(http_gateway(server.uri())).await.unwrap_err()
    }

    #[tokio::test]
    async fn gateway_answers_are_classified() {
        assert_eq!(
            answer(429, Some("7"), "slow down").await,
            SendFailure::Transient {
                reason: "429 Too Many Requests: slow down".into(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let in_a_minute = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc2822();
        match answer(429, Some(&in_a_minute), "").await {
            SendFailure::Transient {
                retry_after: Some(d),
                ..
            } => {
                assert!(
                    d > Duration::from_secs(50) && d <= Duration::from_secs(60),
                    "{d:?}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            answer(500, None, "").await,
            SendFailure::Destination(_)
        ));
        assert!(matches!(
            answer(401, None, "").await,
            SendFailure::Destination(_)
        ));
        let bad = answer(400, None, "invalid number +4917612345678").await;
        assert_eq!(
            bad,
            SendFailure::Permanent("400 Bad Request: invalid number +***".into())
        );
    }

    #[tokio::test]
    async fn a_generic_gateway_is_up_while_it_answers_below_500() {
        let server = MockServer::start().await;
        let gateway = SmsGateway::new(SmsGatewayConfig::Http(http_gateway(server.uri()))).unwrap();
        let answers_405 = Mock::given(header("Authorization", "Bearer t0ken"))
            .respond_with(ResponseTemplate::new(405))
            .mount_as_scoped(&server)
            .await;
        gateway.probe().await.unwrap();
        drop(answers_405);
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        assert!(matches!(
            gateway.probe().await,
            Err(SendFailure::Destination(_))
        ));
    }

    #[tokio::test]
    async fn a_success_status_with_an_error_body_is_not_success() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"status":"error"}"#))
            .mount(&server)
            .await;
        let mut cfg = http_gateway(server.uri());
        cfg.success_body_contains = Some(r#""status":"ok""#.into());
        assert!(matches!(
            send_http(cfg).await,
            Err(SendFailure::Permanent(_))
        ));
    }

    #[tokio::test]
    async fn an_unreachable_gateway_is_down_and_the_reason_hides_url_secrets() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let gateway = SmsGateway::new(kannel_config(port, "s3cret")).unwrap();
        let failure = gateway.send(&sms("x", false)).await.unwrap_err();
        let SendFailure::Destination(reason) = &failure else {
            panic!("{failure:?}")
        };
        assert!(
            !reason.contains("s3cret") && !reason.contains("12345678"),
            "{reason}"
        );
        assert!(matches!(
            gateway.probe().await,
            Err(SendFailure::Destination(_))
        ));
    }

    #[tokio::test]
    async fn a_kannel_url_that_is_no_address_fails_its_sends_not_the_start() {
        let SmsGatewayConfig::Kannel(mut k) = kannel_config(1, "s3cret") else {
            unreachable!()
        };
        k.url = "127.0.0.1:13013/cgi-bin/sendsms".into();
        // The daemon starts, so that the other gateways and the call list still serve.
        let gateway = SmsGateway::new(SmsGatewayConfig::Kannel(k)).unwrap();
        let failure = gateway.send(&sms("x", false)).await.unwrap_err();
        let SendFailure::Destination(reason) = &failure else {
            panic!("{failure:?}")
        };
        assert!(reason.contains("not an address"), "{reason}");
    }

    fn kannel_config(port: u16, password: &str) -> SmsGatewayConfig {
        SmsGatewayConfig::Kannel(KannelConfig {
            name: "kannel".into(),
            url: format!("http://127.0.0.1:{port}/cgi-bin/sendsms"),
            username: "tester".into(),
            password: Secret::new(password),
            smsc: None,
            concurrency: 4,
            timeout_secs: 5,
        })
    }
}
