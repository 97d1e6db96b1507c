//! The web UI over HTTP: login with session cookie and CSRF tokens, limited login attempts,
//! tenant scoping, and the four-eyes approval from the browser's side.

use crate::helpers::*;
use absage::config::ChannelPolicy;
use absage::domain::account::Role;

struct Ui {
    t: TestApp,
    base: String,
    http: reqwest::Client,
    _stop: tokio_util::sync::CancellationToken,
}

const PASSWORD: &str = "Korrekt Pferd Batterie";

async fn ui(threshold: Option<u64>) -> Ui {
    ui_with(threshold, |_| {}).await
}

async fn ui_with(threshold: Option<u64>, edit: impl FnOnce(&mut absage::config::Settings)) -> Ui {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.tenants[0].approval_threshold = threshold;
    edit(&mut s);
    let mut werl = s.tenants[0].clone();
    werl.id = "werl".into();
    s.tenants.push(werl);
    let t = TestApp::start(dir, s).await;
    t.write_export(&[
        Row::new("A1", "2030-01-08 09:00"),
        Row::new("A2", "2030-01-08 10:00").email("").phone(""),
    ]);
    t.import().await;
    for (name, tenant, role) in [
        ("olga", "soest", Role::Operator),
        ("anna", "soest", Role::Approver),
        ("wilma", "werl", Role::Approver),
    ] {
        t.add_account(name, tenant, role, Some(PASSWORD)).await;
    }
    let (base, stop) = t.serve_http().await;
    absage::tls::install();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Ui {
        t,
        base,
        http,
        _stop: stop,
    }
}

/// Olga (operator) declares 8:00–12:00 on 8 January 2030, as the API and the UI do.
async fn declare_as_olga(ui: &Ui) -> absage::http::api::outages::Declared {
    let decl = absage::lifecycle::DeclareRequest {
        from: Some("2030-01-08 08:00".into()),
        to: Some("2030-01-08 12:00".into()),
        reason: "IT-Ausfall".into(),
        ..Default::default()
    };
    let caller = absage::accounts::Caller {
        name: "olga".into(),
        tenant: "soest".into(),
        role: Role::Operator,
    };
    let state = ui.t.app.http_state();
    let (_, declared) = absage::http::api::outages::submit(&state, &caller, &decl, false)
        .await
        .unwrap();
    declared
}

#[derive(Debug)]
struct Page {
    status: u16,
    cookies: Vec<String>,
    location: Option<String>,
    body: String,
}

impl Ui {
    async fn send(&self, method: &str, path: &str, cookie: &str, form: &[(&str, &str)]) -> Page {
        self.send_via(&self.http, method, path, cookie, form).await
    }

    /// A client on another address (127.0.0.2; Linux routes all of 127/8 to loopback), as a
    /// second person's browser.
    fn elsewhere() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
            .build()
            .unwrap()
    }

    async fn send_via(
        &self,
        http: &reqwest::Client,
        method: &str,
        path: &str,
        cookie: &str,
        form: &[(&str, &str)],
    ) -> Page {
        let mut r = http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("cookie", cookie);
        if method == "POST" {
            let body: String = form
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                    )
                })
                .collect::<Vec<_>>()
                .join("&");
            r = r
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let resp = r.send().await.unwrap();
        Page {
            status: resp.status().as_u16(),
            cookies: resp
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect(),
            location: resp
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            body: resp.text().await.unwrap(),
        }
    }

    /// Logs in; returns the session cookie and the page's CSRF token.
    async fn login(&self, name: &str, password: &str) -> Result<(String, String), Page> {
        self.login_via(&self.http, name, password).await
    }

    async fn login_via(
        &self,
        http: &reqwest::Client,
        name: &str,
        password: &str,
    ) -> Result<(String, String), Page> {
        let form = self.send_via(http, "GET", "/login", "", &[]).await;
        let login_cookie = form.cookies[0].split(';').next().unwrap().to_owned();
        let csrf = hidden_csrf(&form.body);
        let done = self
            .send_via(
                http,
                "POST",
                "/login",
                &login_cookie,
                &[("name", name), ("password", password), ("csrf", &csrf)],
            )
            .await;
        if done.status != 303 {
            return Err(done);
        }
        let session = done.cookies[0].split(';').next().unwrap().to_owned();
        let home = self.send_via(http, "GET", "/", &session, &[]).await;
        Ok((session, hidden_csrf(&home.body)))
    }
}

fn hidden_csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_login_gives_a_safe_session_cookie_and_pages_need_it() {
    let ui = ui(None).await;
    let home = ui.send("GET", "/", "", &[]).await;
    assert_eq!(
        (home.status, home.location.as_deref()),
        (303, Some("/login"))
    );

    let form = ui.send("GET", "/login", "", &[]).await;
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains("<html lang=\"de\">") && form.body.contains("<label for=\"password\">")
    );
    let csrf = hidden_csrf(&form.body);
    let no_cookie = ui
        .send(
            "POST",
            "/login",
            "",
            &[("name", "olga"), ("password", PASSWORD), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        no_cookie.status, 403,
        "the login form's CSRF cookie is required"
    );

    let wrong = ui.login("olga", "falsch").await.expect_err("refused");
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Name oder Passwort stimmen nicht."));

    let (session, _) = ui.login("olga", PASSWORD).await.expect("logged in");
    assert!(session.starts_with("absage_session=absage_"));
    let set = ui.login_cookie_flags().await;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(flag), "{flag} in {set}");
    }
    assert!(!set.contains("Secure"), "plain http: {set}");
    let login = &form.cookies[0];
    for flag in [
        "absage_login=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/login",
    ] {
        assert!(login.contains(flag), "{flag} in {login}");
    }
    let home = ui.send("GET", "/", &session, &[]).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Übersicht") && home.body.contains("olga"));
}

impl Ui {
    async fn login_cookie_flags(&self) -> String {
        let form = self.send("GET", "/login", "", &[]).await;
        let login_cookie = form.cookies[0].split(';').next().unwrap().to_owned();
        let done = self
            .send(
                "POST",
                "/login",
                &login_cookie,
                &[
                    ("name", "anna"),
                    ("password", PASSWORD),
                    ("csrf", &hidden_csrf(&form.body)),
                ],
            )
            .await;
        done.cookies[0].clone()
    }
}

#[tokio::test]
async fn behind_https_the_cookies_are_secure_and_a_cookie_header_may_hold_several() {
    let ui = ui_with(None, |s| {
        s.http.webhooks.public_url = "https://absage.kreis-soest.example".into();
    })
    .await;
    let form = ui.send("GET", "/login", "", &[]).await;
    assert!(form.cookies[0].contains("; Secure"), "{:?}", form.cookies);
    let set = ui.login_cookie_flags().await;
    assert!(
        set.contains("; Secure") && set.contains("HttpOnly"),
        "{set}"
    );
    let (session, _) = ui.login("olga", PASSWORD).await.unwrap();
    // The session among other cookies, as browsers send them.
    let several = format!("absage_lang=en; other=\"x\"; {session}");
    let home = ui.send("GET", "/", &several, &[]).await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Running cancellations"), "{}", home.body);
}

#[tokio::test]
async fn wrong_passwords_from_a_stranger_never_lock_the_account_out() {
    let ui = ui(None).await;
    for _ in 0..6 {
        assert_eq!(ui.login("anna", "falsch").await.unwrap_err().status, 401);
    }
    assert!(
        ui.login_via(&Ui::elsewhere(), "anna", PASSWORD)
            .await
            .is_ok(),
        "anna herself gets in from her own computer"
    );
}

#[tokio::test]
async fn a_flood_of_logins_with_made_up_names_is_limited_per_client_and_the_head_still_gets_in() {
    let ui = ui(None).await;
    let form = ui.send("GET", "/login", "", &[]).await;
    let cookie = form.cookies[0].split(';').next().unwrap().to_owned();
    let csrf = hidden_csrf(&form.body);
    let flood = (0..60).map(|i| {
        let (ui, cookie, csrf) = (&ui, &cookie, &csrf);
        async move {
            let name = format!("rate{i}-{:08x}", rand::random::<u32>());
            let form = [("name", name.as_str()), ("password", "x"), ("csrf", csrf)];
            ui.send("POST", "/login", cookie, &form).await.status
        }
    });
    let health = async {
        let status = ui.send("GET", "/healthz", "", &[]).await.status;
        assert_eq!(status, 200, "health answers during the flood");
    };
    let (statuses, ()) = tokio::join!(futures::future::join_all(flood), health);
    let limited = statuses.iter().filter(|s| **s == 429).count();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(
        (checked, limited),
        (10, 50),
        "ten password checks a minute from one address, the rest refused before hashing"
    );
    assert!(
        ui.login_via(&Ui::elsewhere(), "anna", PASSWORD)
            .await
            .is_ok(),
        "the office head logs in from another address during the flood"
    );
}

#[tokio::test]
async fn pages_forbid_framing_sniffing_referrers_and_caching() {
    let ui = ui(None).await;
    let (anna, _) = ui.login("anna", PASSWORD).await.unwrap();
    for (path, cookie) in [
        ("/login", ""),
        ("/", anna.as_str()),
        ("/ui/approvals", &anna),
    ] {
        let resp = ui
            .http
            .get(format!("{}{path}", ui.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers();
        let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
        assert!(
            get("content-security-policy").is_some_and(|v| v.contains("frame-ancestors 'none'")),
            "{path}: {h:?}"
        );
        assert_eq!(get("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert_eq!(
            get("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            get("referrer-policy").as_deref(),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(get("cache-control").as_deref(), Some("no-store"), "{path}");
    }
}

#[tokio::test]
async fn another_tenants_approval_is_not_found() {
    let ui = ui(Some(0)).await;
    let approval = declare_as_olga(&ui).await.approval.unwrap().id;
    let (wilma, csrf) = ui.login("wilma", PASSWORD).await.unwrap();
    for action in ["approve", "reject"] {
        let path = format!("/ui/approvals/{approval}/{action}");
        let page = ui.send("POST", &path, &wilma, &[("csrf", &csrf)]).await;
        assert_eq!(page.status, 404, "{action}: {}", page.body);
    }
    assert!(ui.t.notifications().await.is_empty());
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_approval_takes_a_second_person() {
    let ui = ui(Some(0)).await;
    // Olga's declaration through the API waits for approval (threshold 0).
    let declared = declare_as_olga(&ui).await;
    let approval = declared.approval.unwrap().id;

    let (olga, olga_csrf) = ui.login("olga", PASSWORD).await.unwrap();
    let page = ui.send("GET", "/ui/approvals", &olga, &[]).await;
    assert!(
        page.body.contains("wartet auf eine andere Person"),
        "no button for the requester"
    );

    let (anna, anna_csrf) = ui.login("anna", PASSWORD).await.unwrap();
    let waiting = ui.send("GET", "/ui/approvals", &anna, &[]).await;
    assert!(
        waiting.body.contains("Vorschau, jetzt berechnet")
            && waiting
                .body
                .contains("<strong>2</strong> Termine betroffen"),
        "the approver sees what the request would do: {}",
        waiting.body
    );
    let path = format!("/ui/approvals/{approval}/approve");
    assert_eq!(
        ui.send("POST", &path, &anna, &[("csrf", "forged")])
            .await
            .status,
        403
    );
    assert_eq!(
        ui.send("POST", &path, &anna, &[("csrf", &olga_csrf)])
            .await
            .status,
        403,
        "another session's token"
    );
    assert!(ui.t.notifications().await.is_empty());
    let done = ui.send("POST", &path, &anna, &[("csrf", &anna_csrf)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let outage_page = done.location.unwrap();
    assert!(!ui.t.notifications().await.is_empty(), "approved: queued");

    let page = ui.send("GET", &outage_page, &anna, &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg") && page.body.contains("A1"));
    let calls = ui
        .send("GET", &format!("{outage_page}/calllist"), &anna, &[])
        .await;
    assert!(
        calls.body.contains("Bürger A2"),
        "A2 has neither email nor phone"
    );
    let at = calls
        .body
        .find("/called/")
        .expect("a button to mark the call")
        + 8;
    let booking: String = calls.body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let called = format!("{outage_page}/called/{booking}");
    assert_eq!(
        ui.send("POST", &called, &anna, &[("csrf", "forged")])
            .await
            .status,
        403
    );
    let marked = ui
        .send("POST", &called, &anna, &[("csrf", &anna_csrf)])
        .await;
    assert_eq!(marked.status, 303);
    let calls = ui
        .send("GET", &format!("{outage_page}/calllist"), &anna, &[])
        .await;
    assert!(
        calls.body.contains("✓ anna"),
        "the call is noted with who made it"
    );
    let stranger = format!("{outage_page}/called/999999");
    assert_eq!(
        ui.send("POST", &stranger, &anna, &[("csrf", &anna_csrf)])
            .await
            .status,
        404
    );
    let (wilma, _) = ui.login("wilma", PASSWORD).await.unwrap();
    assert_eq!(
        ui.send("GET", &outage_page, &wilma, &[]).await.status,
        404,
        "Werl does not see Soest"
    );

    let out = ui
        .send("POST", "/logout", &anna, &[("csrf", &anna_csrf)])
        .await;
    assert_eq!(out.status, 303);
    let gone = &out.cookies[0];
    for flag in [
        "absage_session=;",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=0",
    ] {
        assert!(gone.contains(flag), "{flag} in {gone}");
    }
    assert_eq!(
        ui.send("GET", "/", &anna, &[]).await.status,
        303,
        "the session is over"
    );
}

#[tokio::test]
async fn an_operator_declares_after_seeing_who_is_affected() {
    let ui = ui(None).await;
    let (olga, csrf) = ui.login("olga", PASSWORD).await.unwrap();
    let form = ui.send("GET", "/ui/declare", &olga, &[]).await;
    assert!(form.body.contains("<label for=\"reason\">"));
    let fields = |action: &'static str, csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("from", "2030-01-08T08:00".to_owned()),
            ("to", "2030-01-08T12:00".to_owned()),
            ("services", String::new()),
            ("locations", String::new()),
            ("reason", "IT-Ausfall".to_owned()),
            ("action", action.to_owned()),
        ]
    };
    let send = |action: &'static str, csrf: String| {
        let f = fields(action, &csrf);
        let olga = olga.clone();
        let ui = &ui;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ui.send("POST", "/ui/declare", &olga, &f).await
        }
    };
    assert_eq!(send("preview", "forged".into()).await.status, 403);
    let preview = send("preview", csrf.clone()).await;
    assert_eq!(preview.status, 200);
    assert!(
        preview
            .body
            .contains("<strong>2</strong> Termine betroffen"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("1 ohne Kontakt"), "A2 has no address");
    assert!(
        ui.t.notifications().await.is_empty(),
        "a preview sends nothing"
    );
    let done = send("confirm", csrf).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap().starts_with("/ui/outages/"));
    assert_eq!(ui.t.notifications().await.len(), 2, "A1 by email and SMS");
}

#[tokio::test]
async fn the_import_history_shows_rejected_rows_and_the_audit_log_who_did_what() {
    let ui = ui(None).await;
    ui.t.write_export(&[
        Row::new("A1", "2030-01-08 09:00"),
        Row::new("A2", "2030-01-08 10:00").email("").phone(""),
        Row::new("A3", "kein Datum"),
    ]);
    ui.t.import().await;
    let (olga, _) = ui.login("olga", PASSWORD).await.unwrap();
    let page = ui.send("GET", "/ui/imports", &olga, &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("übernommen"), "applied, in German");
    let link = page
        .body
        .find("href=\"/ui/imports/")
        .expect("a link to the rejected rows")
        + 6;
    let path: String = page.body[link..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    let detail = ui.send("GET", &path, &olga, &[]).await;
    assert!(detail.body.contains("kein Datum"), "{}", detail.body);
    let (wilma, _) = ui.login("wilma", PASSWORD).await.unwrap();
    assert_eq!(ui.send("GET", &path, &wilma, &[]).await.status, 404);
    let log = ui.send("GET", "/ui/audit", &olga, &[]).await;
    assert!(
        log.body.contains("<td>olga</td><td>login</td>"),
        "{}",
        log.body
    );
    assert!(!log.body.contains("wilma"), "only the tenant's own entries");
}

#[tokio::test]
async fn german_first_and_english_on_request() {
    let ui = ui(None).await;
    let (olga, _) = ui.login("olga", PASSWORD).await.unwrap();
    let de = ui.send("GET", "/", &olga, &[]).await;
    assert!(de.body.contains("<html lang=\"de\">") && de.body.contains("Laufende Absagen"));
    let choose = ui.send("GET", "/ui/lang/en", &olga, &[]).await;
    assert_eq!(choose.status, 303);
    let lang = choose.cookies[0].split(';').next().unwrap().to_owned();
    assert_eq!(lang, "absage_lang=en");
    let both = format!("{olga}; {lang}");
    let en = ui.send("GET", "/", &both, &[]).await;
    assert!(en.body.contains("<html lang=\"en\">"), "{}", en.body);
    assert!(en.body.contains("Running cancellations") && en.body.contains("Sign out"));
    assert!(!en.body.contains("Laufende Absagen"));
    let wrong = ui.send("GET", "/login", &lang, &[]).await;
    assert!(wrong.body.contains("Sign in"), "the login page too");
}

#[tokio::test]
async fn the_outage_page_retries_failed_messages_and_retracts() {
    let ui = ui(None).await;
    let (olga, csrf) = ui.login("olga", PASSWORD).await.unwrap();
    let declared = declare_as_olga(&ui).await;
    let id = declared.impact.id.unwrap();
    let mut conn = ui.t.app.ctx.store.conn().await.unwrap();
    sqlx::query("update notifications set state = 'failed' where channel = 'sms'")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let page = ui
        .send("GET", &format!("/ui/outages/{id}"), &olga, &[])
        .await;
    assert!(
        page.body.contains("Gescheiterte erneut senden (1)"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("Nachrichten seit der Absage, im Zeitverlauf")
    );
    let retry = format!("/ui/outages/{id}/retry");
    assert_eq!(
        ui.send("POST", &retry, &olga, &[("csrf", "x")])
            .await
            .status,
        403
    );
    assert_eq!(
        ui.send("POST", &retry, &olga, &[("csrf", &csrf)])
            .await
            .status,
        303
    );
    let queued =
        ui.t.notifications()
            .await
            .iter()
            .filter(|n| n.state == "queued")
            .count();
    assert_eq!(queued, 2, "the failed SMS is queued again");

    let retract = format!("/ui/outages/{id}/retract");
    let done = ui
        .send(
            "POST",
            &retract,
            &olga,
            &[("csrf", &csrf), ("reason", "Fehlalarm")],
        )
        .await;
    assert_eq!(done.status, 303);
    let page = ui
        .send("GET", &format!("/ui/outages/{id}"), &olga, &[])
        .await;
    assert!(page.body.contains("(widerrufen)"), "{}", page.body);
    assert!(
        !page.body.contains("Widerrufen:"),
        "no second retraction offered"
    );
}

/// Each booking of an outage has its own page: every piece of evidence with its time, and the
/// citizen's contact for the call; for the tenant's own admins only.
#[tokio::test]
async fn a_bookings_page_shows_its_evidence_with_times_to_its_own_tenant_only() {
    let ui = ui(None).await;
    let (olga, _) = ui.login("olga", PASSWORD).await.unwrap();
    let id = declare_as_olga(&ui).await.impact.id.unwrap();
    ui.t.drain(&ui.t.dispatcher()).await;
    let path = format!("/ui/outages/{id}/bookings/A1");
    let page = ui.send("GET", &path, &olga, &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let history = page
        .body
        .split("<h2>Verlauf</h2>")
        .nth(1)
        .expect("a history");
    // Both channels were handed over, each a row with its time.
    let rows: Vec<&str> = history.split("<tr><td>").skip(1).collect();
    assert!(rows.len() >= 2, "{history}");
    assert!(rows.iter().all(|r| r.starts_with("2030-01-")), "{history}");
    assert!(
        history.contains("email") && history.contains("SMS"),
        "{history}"
    );
    // The outage's table links to it.
    let outage = ui
        .send("GET", &format!("/ui/outages/{id}"), &olga, &[])
        .await;
    assert!(outage.body.contains(&path), "{}", outage.body);
    // A2 has no channel: not reached, call.
    let a2 = ui
        .send("GET", &format!("/ui/outages/{id}/bookings/A2"), &olga, &[])
        .await;
    assert!(a2.body.contains("nicht erreicht"), "{}", a2.body);
    let missing = ui
        .send(
            "GET",
            &format!("/ui/outages/{id}/bookings/NOPE"),
            &olga,
            &[],
        )
        .await;
    assert_eq!(missing.status, 404);
    let (wilma, _) = ui.login("wilma", PASSWORD).await.unwrap();
    let other = ui.send("GET", &path, &wilma, &[]).await;
    assert_eq!(other.status, 404, "another tenant's booking is not found");
    assert!(!other.body.contains("A1"));
}

/// A state-wide outage puts thousands on the call list: the page shows 500 at a time, one
/// location or only those not yet called, and marking a call returns to the same page.
#[tokio::test]
async fn a_long_call_list_comes_in_pages_per_location_and_returns_to_its_page() {
    let ui = ui(None).await;
    // The fixture's A1 (email and SMS) and A2 (no channel) stay; 1,001 more have no channel.
    let mut rows = vec![
        Row::new("A1", "2030-01-08 09:00"),
        Row::new("A2", "2030-01-08 10:00").email("").phone(""),
    ];
    rows.extend((0..1001).map(|i| {
        let at = format!("2030-01-08 {:02}:{:02}", 8 + i / 60 % 4, i % 60);
        let row = Row::new(&format!("N{i:04}"), &at).email("").phone("");
        if i % 5 == 0 {
            row.location("Lippstadt")
        } else {
            row
        }
    }));
    ui.t.write_export(&rows);
    let imported = ui.t.import().await;
    assert_eq!(imported.counts.imported(), 1003, "{:?}", imported.counts);
    let (olga, csrf) = ui.login("olga", PASSWORD).await.unwrap();
    let declared = declare_as_olga(&ui).await.impact;
    assert_eq!(declared.stats.affected, 1003, "{:?}", declared.stats);
    let id = declared.id.unwrap();
    let list = format!("/ui/outages/{id}/calllist");
    let marks = |body: &str| body.matches("/called/").count();
    let first = ui.send("GET", &list, &olga, &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(marks(&first.body), 500);
    assert!(first.body.contains("Seite 1 / 3 (1002)"), "{}", first.body);
    assert!(first.body.contains("Lippstadt (201)"));
    let third = ui.send("GET", &format!("{list}?page=2"), &olga, &[]).await;
    assert_eq!(marks(&third.body), 2);
    let lippstadt = format!("{list}?location=Lippstadt&open=&page=0");
    let page = ui.send("GET", &lippstadt, &olga, &[]).await;
    assert_eq!(marks(&page.body), 201);
    assert!(!page.body.contains("Seite 1"), "one page");
    // Mark one from the Lippstadt page: back to it, and it leaves the open filter.
    let at = page.body.find("/called/").unwrap() + 8;
    let booking: String = page.body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let called = format!("/ui/outages/{id}/called/{booking}");
    let back = ui
        .send(
            "POST",
            &called,
            &olga,
            &[("csrf", &csrf), ("back", &lippstadt)],
        )
        .await;
    assert_eq!(back.status, 303);
    assert_eq!(back.location.as_deref(), Some(lippstadt.as_str()));
    let open = ui
        .send(
            "GET",
            &format!("{list}?location=Lippstadt&open=1"),
            &olga,
            &[],
        )
        .await;
    assert_eq!(marks(&open.body), 200);
    // Its chart counts every message of the outage, read once with the report.
    let (_, _, messages) = absage::reports::report_and_messages(&ui.t.app.ctx, id)
        .await
        .unwrap();
    assert_eq!(messages.len(), ui.t.notifications().await.len());
    assert!(!messages.is_empty());
    // The outage page lists its bookings 500 at a time too, and by who was reached.
    let outage = format!("/ui/outages/{id}");
    let page = ui.send("GET", &outage, &olga, &[]).await;
    let booking_links = |body: &str| body.matches("/bookings/").count();
    assert_eq!(booking_links(&page.body), 500);
    assert!(page.body.contains("Seite 1 / 3 (1003)"), "{}", page.body);
    let unknown = ui
        .send("GET", &format!("{outage}?reach=unknown"), &olga, &[])
        .await;
    assert_eq!(
        booking_links(&unknown.body),
        1,
        "A1 only: its messages wait"
    );
    let last = ui
        .send(
            "GET",
            &format!("{outage}?reach=not_reached&page=9"),
            &olga,
            &[],
        )
        .await;
    // 1,001 not reached (the one phoned above counts as informed): one on the last page.
    assert_eq!(booking_links(&last.body), 1, "clamped to the last page");
    // Never back to anywhere else.
    let page = ui.send("GET", &list, &olga, &[]).await;
    let at = page.body.find("/called/").unwrap() + 8;
    let other: String = page.body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let evil = ui
        .send(
            "POST",
            &format!("/ui/outages/{id}/called/{other}"),
            &olga,
            &[("csrf", &csrf), ("back", "https://evil.example/")],
        )
        .await;
    assert_eq!(evil.location.as_deref(), Some(list.as_str()));
    // Nor a header split (a line break would also have panicked the redirect).
    let split = format!("{list}?x=1\r\nSet-Cookie: a=b");
    let evil = ui
        .send(
            "POST",
            &format!("/ui/outages/{id}/called/{other}"),
            &olga,
            &[("csrf", &csrf), ("back", &split)],
        )
        .await;
    assert_eq!(evil.status, 303);
    assert_eq!(evil.location.as_deref(), Some(list.as_str()));
}

/// Pages that read a whole outage build one at a time, off the runtime's workers: four
/// people refreshing a 100,000-booking outage page stalled sending for 228 ms at a time
/// before; one at a time they leave the dispatcher its core (BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_outage_builds_run_one_at_a_time() {
    let ui = ui(None).await;
    let state = ui.t.app.http_state();
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let builds = (0..4).map(|_| {
        let (state, busy, most) = (state.clone(), busy.clone(), most.clone());
        tokio::spawn(async move {
            state
                .heavy(async move {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = busy.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    busy.fetch_sub(1, SeqCst);
                    anyhow::Ok(now)
                })
                .await
        })
    });
    for b in futures::future::join_all(builds).await {
        assert_eq!(b.unwrap().unwrap(), 1);
    }
    assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Sends the declare form with the given scope fields (each pair may repeat, as checkboxes do).
async fn declare_form(
    ui: &Ui,
    session: &str,
    csrf: &str,
    scope: &[(&str, &str)],
    action: &str,
) -> Page {
    let mut form = vec![
        ("csrf", csrf),
        ("from", "2030-01-08T08:00"),
        ("to", "2030-01-08T12:00"),
        ("reason", "IT-Ausfall"),
        ("action", action),
    ];
    form.extend_from_slice(scope);
    ui.send("POST", "/ui/declare", session, &form).await
}

#[tokio::test]
async fn services_and_locations_are_picked_from_the_calendar_with_their_counts() {
    let ui = ui(None).await;
    ui.t.write_export(&[
        Row::new("A1", "2030-01-08 09:00"),
        Row::new("A2", "2030-01-08 10:00").email("").phone(""),
        Row::new("B1", "2030-01-08 09:30")
            .service("Führerschein")
            .location("Lippstadt"),
        Row::new("B2", "2030-01-08 11:00").service("Führerschein"),
    ]);
    ui.t.import().await;
    let (olga, csrf) = ui.login("olga", PASSWORD).await.unwrap();
    let form = ui.send("GET", "/ui/declare", &olga, &[]).await;
    assert_eq!(form.status, 200);
    for (field, name, n) in [
        ("services", "Zulassung", 2),
        ("services", "Führerschein", 2),
        ("locations", "Soest", 3),
        ("locations", "Lippstadt", 1),
    ] {
        let want = format!("name=\"{field}\" value=\"{name}\"> {name} ({n})");
        assert!(form.body.contains(&want), "{want}: {}", form.body);
    }
    assert!(
        form.body
            .contains("name=\"services_scope\" value=\"all\" checked> alle Leistungen"),
        "all services unless chosen otherwise"
    );
    assert!(
        !form.body.contains("id=\"services\""),
        "no text field to type in"
    );

    // Only Führerschein, everywhere: the preview shows what matched, and the picks stay.
    let only = [
        ("services_scope", "some"),
        ("services", "Führerschein"),
        ("locations_scope", "all"),
    ];
    let preview = declare_form(&ui, &olga, &csrf, &only, "preview").await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(
        preview
            .body
            .contains("betroffen 2 = mit Nachricht 2 + ohne Kanal (Anrufliste) 0"),
        "{}",
        preview.body
    );
    assert!(preview.body.contains("<td>Führerschein</td><td>2</td>"));
    assert!(preview.body.contains("<td>Lippstadt</td><td>1</td>"));
    assert!(!preview.body.contains("<td>Zulassung</td>"), "not affected");
    assert!(
        preview
            .body
            .contains("value=\"Führerschein\" checked> Führerschein (2)")
    );
    assert!(
        preview.body.contains("<p class=\"conservation\">")
            && !preview.body.contains("role=\"alert\""),
        "the counts add up: no alarm"
    );

    // Two services ticked, one location.
    let two = [
        ("services_scope", "some"),
        ("services", "Führerschein"),
        ("services", "Zulassung"),
        ("locations_scope", "some"),
        ("locations", "Soest"),
    ];
    let preview = declare_form(&ui, &olga, &csrf, &two, "preview").await;
    assert!(
        preview
            .body
            .contains("betroffen 3 = mit Nachricht 2 + ohne Kanal (Anrufliste) 1"),
        "A1, A2 (no address) and B2: {}",
        preview.body
    );

    // What comes back is checked on the server: a name the calendar does not know is refused.
    let forged = [("services_scope", "some"), ("services", "Führerschien")];
    let refused = declare_form(&ui, &olga, &csrf, &forged, "preview").await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("matches no upcoming booking")
            && refused
                .body
                .contains("did you mean &quot;Führerschein&quot;"),
        "{}",
        refused.body
    );
    // "All" with ticks, or "only the ticked" with none, is asked about rather than guessed.
    let unclear = [("services_scope", "all"), ("services", "Zulassung")];
    let refused = declare_form(&ui, &olga, &csrf, &unclear, "preview").await;
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .body
            .contains("„alle“ gewählt, aber einzelne sind angekreuzt")
    );
    let none = [("locations_scope", "some")];
    let refused = declare_form(&ui, &olga, &csrf, &none, "preview").await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body.contains("aber keiner angekreuzt"),
        "{}",
        refused.body
    );
    assert!(ui.t.notifications().await.is_empty());

    let done = declare_form(&ui, &olga, &csrf, &only, "confirm").await;
    assert_eq!(done.status, 303, "{}", done.body);
    let ns = ui.t.notifications().await;
    assert_eq!(ns.len(), 4, "B1 and B2 by email and SMS");
    assert!(ns.iter().all(|n| n.key.starts_with('B')), "{ns:?}");
}

#[tokio::test]
async fn the_outage_page_shows_its_conservation_line_and_vanished_bookings_wait_for_a_person() {
    let ui = ui(None).await;
    let calendar = [
        Row::new("A1", "2030-01-08 09:00"),
        Row::new("A2", "2030-01-08 10:00").email("").phone(""),
        Row::new("A3", "2030-01-09 09:00"),
        Row::new("A4", "2030-01-09 10:00"),
    ];
    ui.t.write_export(&calendar);
    ui.t.import().await;
    let (olga, csrf) = ui.login("olga", PASSWORD).await.unwrap();
    let id = declare_as_olga(&ui).await.impact.id.unwrap();
    let path = format!("/ui/outages/{id}");
    let page = ui.send("GET", &path, &olga, &[]).await;
    assert!(
        page.body
            .contains("betroffen 2 = mit Nachricht 1 + ohne Kanal (Anrufliste) 1"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Aus dem Export verschwunden"));

    // A1 vanishes from the export while the outage runs: it stays affected, listed, unmasked
    // only as far as the rest of the page goes (key, time, service, place; no contact data).
    ui.t.write_export(&calendar[1..]);
    let report = ui.t.import().await;
    assert_eq!(report.rematched[0].1.removal_pending, 1);
    let page = ui.send("GET", &path, &olga, &[]).await;
    assert!(
        page.body.contains("Aus dem Export verschwunden (1)"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<td>A1</td><td>2030-01-08 09:00</td>"));
    for personal in ["Bürger A1", "a1@example.org", "0171"] {
        assert!(!page.body.contains(personal), "{personal}");
    }
    assert!(
        page.body
            .contains("betroffen 2 = mit Nachricht 1 + ohne Kanal (Anrufliste) 1"),
        "still affected until someone confirms"
    );
    assert!(page.body.contains("Entfernung bestätigen (1)"));

    let confirm = format!("/ui/outages/{id}/confirm-removals");
    let forged = ui
        .send("POST", &confirm, &olga, &[("csrf", "x"), ("expected", "1")])
        .await;
    assert_eq!(forged.status, 403);
    let (wilma, wilma_csrf) = ui.login("wilma", PASSWORD).await.unwrap();
    let other = ui
        .send("POST", &confirm, &wilma, &[("csrf", &wilma_csrf)])
        .await;
    assert_eq!(other.status, 404, "Werl does not see Soest's outage");
    let stale = ui
        .send(
            "POST",
            &confirm,
            &olga,
            &[("csrf", &csrf), ("expected", "2")],
        )
        .await;
    assert_eq!(stale.status, 409, "the page showed another list");
    assert!(
        ui.t.notifications()
            .await
            .iter()
            .all(|n| n.state == "queued"),
        "nothing confirmed yet"
    );

    let done = ui
        .send(
            "POST",
            &confirm,
            &olga,
            &[("csrf", &csrf), ("expected", "1")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let ns = ui.t.notifications().await;
    assert!(
        ns.iter()
            .filter(|n| n.key == "A1")
            .all(|n| n.state == "cancelled"),
        "{ns:?}"
    );
    let page = ui.send("GET", &path, &olga, &[]).await;
    assert!(!page.body.contains("Aus dem Export verschwunden"));
    assert!(
        page.body
            .contains("betroffen 1 = mit Nachricht 0 + ohne Kanal (Anrufliste) 1"),
        "{}",
        page.body
    );
    let log = ui.send("GET", "/ui/audit", &olga, &[]).await;
    assert!(
        log.body
            .contains("<td>olga</td><td>outage.confirm_removals</td>"),
        "{}",
        log.body
    );
}

#[tokio::test]
async fn the_import_page_adds_up_its_rows_and_names_contact_problems_without_their_values() {
    let ui = ui(None).await;
    ui.t.write_export(&[
        Row::new("A1", "2030-01-08 09:00"),
        Row::new("A2", "2030-01-08 10:00").email("mueller-at-example.org"),
        Row::new("A3", "kein Datum"),
    ]);
    let report = ui.t.import().await;
    let (olga, _) = ui.login("olga", PASSWORD).await.unwrap();
    let page = ui
        .send(
            "GET",
            &format!("/ui/imports/{}", report.import_id),
            &olga,
            &[],
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("gelesen 3 = importiert 2 + abgelehnt 1"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<td>E-Mail</td><td>1</td>"),
        "counted per field: {}",
        page.body
    );
    // Line 3 of the file (after the header and A1), field and reason: never the value.
    assert!(
        page.body.contains("<tr><td>3</td><td>email</td><td>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("mueller"), "{}", page.body);
    assert!(
        page.body.contains("<td>4</td><td>start</td>"),
        "the rejected row"
    );
    let list = ui.send("GET", "/ui/imports", &olga, &[]).await;
    assert!(
        list.body
            .contains(&format!("href=\"/ui/imports/{}\"", report.import_id)),
        "every import links to its page"
    );
}

/// The web UI answers as the API does, with a message for people: a window that ends before it
/// begins 400, an unknown outage 404, an approval already decided 409, and a database failing
/// during a declaration 500 — its cause in the log, none of it on the page.
#[tokio::test(flavor = "current_thread")]
async fn the_ui_answers_refusals_and_failures_with_the_apis_status() {
    let logs = capture_this_thread();
    let ui = ui(Some(0)).await;
    let (olga, csrf) = ui.login("olga", PASSWORD).await.unwrap();
    let declare = |from: &'static str, to: &'static str, action: &'static str| {
        let form = [
            ("csrf", csrf.clone()),
            ("from", from.to_owned()),
            ("to", to.to_owned()),
            ("reason", "IT-Ausfall".to_owned()),
            ("action", action.to_owned()),
        ];
        let (ui, olga) = (&ui, olga.clone());
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ui.send("POST", "/ui/declare", &olga, &form).await
        }
    };
    let backwards = declare("2030-01-08T12:00", "2030-01-08T08:00", "preview").await;
    assert_eq!(backwards.status, 400, "{}", backwards.body);
    assert!(
        backwards.body.contains("<label for=\"reason\">"),
        "the form again, saying why: {}",
        backwards.body
    );

    let unknown = ui.send("GET", "/ui/outages/999999", &olga, &[]).await;
    assert_eq!(unknown.status, 404);
    let retract = [("csrf", csrf.as_str()), ("reason", "Fehlalarm")];
    let unknown = ui
        .send("POST", "/ui/outages/999999/retract", &olga, &retract)
        .await;
    assert_eq!(unknown.status, 404);

    let approval = declare_as_olga(&ui).await.approval.unwrap().id;
    let (anna, anna_csrf) = ui.login("anna", PASSWORD).await.unwrap();
    let approve = format!("/ui/approvals/{approval}/approve");
    let form = [("csrf", anna_csrf.as_str())];
    assert_eq!(ui.send("POST", &approve, &anna, &form).await.status, 303);
    let again = ui.send("POST", &approve, &anna, &form).await;
    assert_eq!(again.status, 409, "already decided: {}", again.body);
    let unknown = ui
        .send("POST", "/ui/approvals/999999/reject", &anna, &form)
        .await;
    assert_eq!(unknown.status, 404);

    // The database loses a table in the middle of a declaration (the session and the
    // calendar's names are still read).
    let mut conn = ui.t.app.ctx.store.conn().await.unwrap();
    sqlx::query("alter table targets rename to targets_gone")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let failed = declare("2030-01-08T08:00", "2030-01-08T12:00", "confirm").await;
    assert_eq!(failed.status, 500, "{}", failed.body);
    assert!(
        failed.body.contains("Das hat nicht geklappt"),
        "a message for people: {}",
        failed.body
    );
    let lower = failed.body.to_lowercase();
    assert!(
        !lower.contains("targets") && !lower.contains("no such") && !lower.contains("relation"),
        "no internals on the page: {}",
        failed.body
    );
    let log = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let cause = log
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("targets"))
        .unwrap_or_else(|| panic!("the cause is logged:\n{log}"));
    assert!(cause.contains("method=POST path=/ui/declare"), "{cause}");
}

/// Collects what the code logs at info level and above, for this thread.
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// Where this thread's log lines go, while a test captures them.
    static CAPTURE: std::cell::RefCell<Option<Captured>> = const { std::cell::RefCell::new(None) };
}

/// Writes to the capture of the current thread, if any.
struct ThreadWriter;

impl std::io::Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|c| {
            if let Some(c) = &*c.borrow() {
                c.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures what this thread logs at INFO and above. A global subscriber, not a thread-local
/// default: with a thread-local one, call sites that another test's thread met first could be
/// cached as "nobody listens", and the capture came back empty now and then.
pub(crate) fn capture_this_thread() -> Captured {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(|| ThreadWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    });
    let logs = Captured::default();
    CAPTURE.with(|c| *c.borrow_mut() = Some(logs.clone()));
    logs
}

#[tokio::test(flavor = "current_thread")]
async fn no_personal_data_or_password_reaches_the_log_at_info_level() {
    let logs = capture_this_thread();

    let ui = ui(None).await;
    for _ in 0..6 {
        let _ = ui.login("olga", "Sommer2026!").await;
    }
    let (anna, csrf) = ui.login("anna", PASSWORD).await.unwrap();
    let form = [
        ("csrf", csrf.as_str()),
        ("from", "2030-01-08T08:00"),
        ("to", "2030-01-08T12:00"),
        ("reason", "IT-Ausfall"),
        ("action", "confirm"),
    ];
    assert_eq!(
        ui.send("POST", "/ui/declare", &anna, &form).await.status,
        303
    );
    ui.t.drain(&ui.t.dispatcher()).await;
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("declared"), "the log was captured: {text}");
    for secret in [
        "Bürger A1",
        "a1@example.org",
        "Bürger A2",
        "Sommer2026!",
        PASSWORD,
    ] {
        assert!(!text.contains(secret), "{secret:?} in the log:\n{text}");
    }
    let phone = Row::new("A1", "2030-01-08 09:00").phone;
    assert!(!text.contains(&phone[5..]), "a phone number in the log");
}
