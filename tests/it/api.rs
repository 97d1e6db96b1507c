//! The admin API through the real router on a real socket: tokens, roles, tenant scoping, the
//! four-eyes rule, the audit log, and an OpenAPI description that matches the routes.

use crate::helpers::*;
use absage::accounts;
use absage::config::ChannelPolicy;
use absage::domain::account::Role;
use serde_json::{Value, json};

struct Api {
    t: TestApp,
    base: String,
    _stop: tokio_util::sync::CancellationToken,
    http: reqwest::Client,
}

/// Soest (approval threshold `threshold`) with four bookings on 8 January 2030, and Werl as a
/// second tenant; accounts in both.
async fn api(threshold: Option<u64>) -> (Api, Tokens) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ChannelPolicy::Both);
    s.tenants[0].approval_threshold = threshold;
    let mut werl = s.tenants[0].clone();
    werl.id = "werl".into();
    werl.name = "Stadt Werl".into();
    s.tenants.push(werl);
    s.alerts = toml::from_str(
        r#"
        token = "alertmanager-token-1234"
        [[rules]]
        match = { alertname = "TerminsystemAusfall", kreis = "soest" }
        tenant = "soest"
        hours = 4
        reason = "Störung der Kreis-IT"
        "#,
    )
    .unwrap();
    let t = TestApp::start(dir, s).await;
    t.write_export(&[
        Row::new("A1", "2030-01-08 09:00"),
        Row::new("A2", "2030-01-08 10:00"),
        Row::new("A3", "2030-01-08 11:00"),
        Row::new("B1", "2030-01-09 09:00"),
    ]);
    t.import().await;
    let mut tokens = Tokens::default();
    for (name, tenant, role) in [
        ("olga", "soest", Role::Operator),
        ("anna", "soest", Role::Approver),
        ("bernd", "soest", Role::Approver),
        ("vera", "soest", Role::Viewer),
        ("wilma", "werl", Role::Approver),
    ] {
        t.add_account(name, tenant, role, None).await;
        let token = accounts::issue_token(&t.app.ctx.store, name, "test", t.clock.now())
            .await
            .unwrap();
        tokens.0.push((name, token));
    }
    let (base, stop) = t.serve_http().await;
    absage::tls::install();
    let api = Api {
        t,
        base,
        _stop: stop,
        http: reqwest::Client::new(),
    };
    (api, tokens)
}

#[derive(Default)]
struct Tokens(Vec<(&'static str, String)>);

impl Tokens {
    fn of(&self, name: &str) -> &str {
        &self.0.iter().find(|(n, _)| *n == name).unwrap().1
    }
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }
}

fn window() -> Value {
    json!({ "from": "2030-01-08 08:00", "to": "2030-01-08 12:00", "reason": "IT-Ausfall" })
}

#[tokio::test]
async fn without_a_valid_token_every_route_answers_401_with_a_json_error() {
    let (api, _) = api(None).await;
    for token in [None, Some("absage_0000"), Some("")] {
        let (status, body) = api.call("GET", "/api/outages", token, None).await;
        assert_eq!(status, 401, "{token:?}");
        assert_eq!(body["code"], "unauthorized");
        assert!(body["message"].as_str().unwrap().contains("Bearer"));
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let (api, tokens) = api(None).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let resp = api
            .http
            .get(format!("{}/api/outages", api.base))
            .header("authorization", format!("{scheme} {}", tokens.of("vera")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn requests_the_extractors_refuse_get_the_documented_json_error() {
    let (api, tokens) = api(None).await;
    let token = tokens.of("olga");
    let send = |method: &str, path: &str, content_type: &str, body: &str| {
        api.http
            .request(method.parse().unwrap(), format!("{}{path}", api.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
    };
    let cases = [
        ("POST", "/api/outages", "application/json", "{not json", 400),
        ("POST", "/api/outages", "text/plain", "{}", 415),
        (
            "POST",
            "/api/outages",
            "application/json",
            "{\"from\": 3}",
            400,
        ),
        (
            "POST",
            "/api/outages",
            "application/json",
            "{\"from\": \"2030-01-08 08:00\"}",
            400,
        ),
        (
            "GET",
            "/api/outages/not-a-number",
            "application/json",
            "",
            400,
        ),
        (
            "GET",
            "/api/imports?limit=many",
            "application/json",
            "",
            400,
        ),
    ];
    for (method, path, content_type, body, status) in cases {
        let resp = send(method, path, content_type, body).await.unwrap();
        assert_eq!(resp.status(), status, "{method} {path} {body}");
        let text = resp.text().await.unwrap();
        let json: Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(json["code"], "invalid", "{method} {path}: {json}");
        assert!(
            !json["message"].as_str().unwrap().is_empty(),
            "{method} {path}: {json}"
        );
    }
    let big = format!("{{\"reason\": \"{}\"}}", "x".repeat(3 << 20));
    let resp = send("POST", "/api/outages", "application/json", &big)
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let json: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(json["code"], "invalid");

    // A body that does not fit says which field is wrong.
    let resp = send("POST", "/api/outages", "application/json", "{\"from\": 3}")
        .await
        .unwrap();
    let json: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let message = json["message"].as_str().unwrap();
    assert!(message.starts_with("from: invalid type"), "{message}");
    let resp = send("POST", "/api/outages", "application/json", "{}")
        .await
        .unwrap();
    let json: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert!(
        json["message"].as_str().unwrap().contains("`reason`"),
        "{json}"
    );
    // Unknown routes under /api answer the documented error too.
    let resp = send("GET", "/api/nothing-here", "application/json", "")
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let json: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(json["code"], "not_found");
}

#[tokio::test]
async fn a_viewer_sees_but_cannot_declare_and_an_operator_can() {
    let (api, tokens) = api(None).await;
    let (status, body) = api.post("/api/outages", tokens.of("vera"), window()).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));

    let mut dry = window();
    dry["dry_run"] = json!(true);
    let (status, body) = api.post("/api/outages", tokens.of("olga"), dry).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("preview")));
    assert_eq!(body["impact"]["affected"], 3);
    assert_eq!(
        api.get("/api/outages", tokens.of("vera")).await.1,
        json!([]),
        "a preview keeps nothing"
    );

    let (status, body) = api.post("/api/outages", tokens.of("olga"), window()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (201, Some("declared")),
        "{body}"
    );
    assert_eq!(
        body["impact"]["queued"], 6,
        "email and SMS for three bookings"
    );
    let id = body["impact"]["id"].as_i64().unwrap();
    let (status, list) = api.get("/api/outages", tokens.of("vera")).await;
    assert_eq!((status, list[0]["id"].as_i64()), (200, Some(id)));
    assert_eq!(list[0]["created_by"], "olga");

    let (status, bad) = api
        .post(
            "/api/outages",
            tokens.of("olga"),
            json!({ "from": "morgen", "to": "x", "reason": "r" }),
        )
        .await;
    assert_eq!((status, bad["code"].as_str()), (400, Some("invalid")));
}

#[tokio::test]
async fn another_tenants_outages_do_not_exist_for_the_caller() {
    let (api, tokens) = api(None).await;
    let (_, body) = api.post("/api/outages", tokens.of("olga"), window()).await;
    let id = body["impact"]["id"].as_i64().unwrap();
    let wilma = tokens.of("wilma");
    assert_eq!(api.get("/api/outages", wilma).await.1, json!([]));
    for path in [
        format!("/api/outages/{id}"),
        format!("/api/outages/{id}/report"),
        format!("/api/outages/{id}/calllist"),
    ] {
        let (status, body) = api.get(&path, wilma).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, _) = api
        .post(
            &format!("/api/outages/{id}/retract"),
            wilma,
            json!({ "reason": "Irrtum" }),
        )
        .await;
    assert_eq!(status, 404, "not 403: the outage does not exist for Werl");
    let (status, _) = api
        .post("/api/sources/termine/import", wilma, json!({}))
        .await;
    assert_eq!(status, 404, "Soest's source does not exist for Werl");
    assert_eq!(api.get("/api/queue", wilma).await.1, json!([]));
    let (status, queue) = api.get("/api/queue", tokens.of("vera")).await;
    assert_eq!((status, queue.as_array().map(Vec::len)), (200, Some(2)));
}

#[tokio::test]
async fn above_the_threshold_a_declaration_waits_for_a_different_approver() {
    let (api, tokens) = api(Some(2)).await;
    // Anna is an approver herself, and still may not approve her own request.
    let (status, body) = api.post("/api/outages", tokens.of("anna"), window()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("pending_approval")),
        "{body}"
    );
    assert_eq!(body["impact"]["affected"], 3);
    let approval = body["approval"]["id"].as_i64().unwrap();
    assert_eq!(
        api.get("/api/outages", tokens.of("vera")).await.1,
        json!([]),
        "nothing declared yet"
    );
    assert!(api.t.notifications().await.is_empty(), "nothing queued yet");

    let approve = format!("/api/approvals/{approval}/approve");
    let (status, body) = api.post(&approve, tokens.of("anna"), json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "the requester"
    );
    assert!(body["message"].as_str().unwrap().contains("four-eyes"));
    assert_eq!(
        api.post(&approve, tokens.of("olga"), json!({})).await.0,
        403,
        "an operator"
    );
    assert_eq!(
        api.post(&approve, tokens.of("wilma"), json!({})).await.0,
        404,
        "another tenant"
    );

    let (status, impact) = api.post(&approve, tokens.of("bernd"), json!({})).await;
    assert_eq!(status, 201, "{impact}");
    assert_eq!(impact["queued"], 6);
    assert_eq!(api.t.notifications().await.len(), 6);
    let (_, list) = api.get("/api/outages", tokens.of("vera")).await;
    assert_eq!(
        list[0]["created_by"], "anna",
        "declared as requested, by the requester"
    );
    let (status, again) = api.post(&approve, tokens.of("bernd"), json!({})).await;
    assert_eq!((status, again["code"].as_str()), (409, Some("conflict")));

    let (_, approvals) = api.get("/api/approvals", tokens.of("vera")).await;
    assert_eq!(approvals[0]["state"], "approved");
    assert_eq!(approvals[0]["decided_by"], "bernd");
    assert_eq!(approvals[0]["outage_id"], list[0]["id"]);

    // Below the threshold, a declaration goes out at once.
    let (status, _) = api
        .post(
            "/api/outages",
            tokens.of("olga"),
            json!({ "from": "2030-01-09 08:00", "to": "2030-01-09 12:00", "reason": "IT-Ausfall" }),
        )
        .await;
    assert_eq!(status, 201);
}

fn at(from: &str, to: &str) -> Value {
    json!({ "from": from, "to": to, "reason": "IT-Ausfall" })
}

/// The distinct bookings with a cancellation queued.
async fn told(api: &Api) -> std::collections::BTreeSet<String> {
    let ns = api.t.notifications().await;
    ns.iter()
        .filter(|n| n.state == "queued")
        .map(|n| n.key.clone())
        .collect()
}

/// Found by a probe: three bookings declared, then widened by `amend` to all of them — no
/// approval. What an amendment adds counts like a declaration.
#[tokio::test]
async fn widening_a_small_outage_past_the_threshold_waits_for_a_second_person() {
    let (api, tokens) = api(Some(2)).await;
    let (status, body) = api
        .post(
            "/api/outages",
            tokens.of("olga"),
            at("2030-01-08 08:00", "2030-01-08 09:30"),
        )
        .await;
    assert_eq!(status, 201, "one booking: below the threshold");
    let id = body["impact"]["id"].as_i64().unwrap();
    let amend = format!("/api/outages/{id}/amend");
    let wider = json!({ "from": "2030-01-08 08:00", "to": "2030-01-09 12:00" });
    let (status, body) = api.post(&amend, tokens.of("olga"), wider).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("pending_approval")),
        "{body}"
    );
    assert_eq!(body["approval"]["action"], "amend");
    assert_eq!(body["approval"]["affected"], 3, "what the amendment adds");
    assert_eq!(
        told(&api).await,
        ["A1".to_string()].into(),
        "nothing more told yet"
    );

    let approval = body["approval"]["id"].as_i64().unwrap();
    let approve = format!("/api/approvals/{approval}/approve");
    assert_eq!(
        api.post(&approve, tokens.of("olga"), json!({})).await.0,
        403
    );
    let (status, impact) = api.post(&approve, tokens.of("anna"), json!({})).await;
    assert_eq!(status, 201, "{impact}");
    assert_eq!(impact["affected"], 4);
    assert_eq!(
        told(&api).await.len(),
        4,
        "amended as requested once approved"
    );
}

/// Found by a probe: several small declarations by one account skip the rule. They add up
/// within the tenant's window; another account has its own count.
#[tokio::test]
async fn small_declarations_by_one_account_add_up_to_the_threshold() {
    let (api, tokens) = api(Some(2)).await;
    let post = |from: &'static str, to: &'static str, who: &'static str| {
        api.post("/api/outages", tokens.of(who), at(from, to))
    };
    assert_eq!(
        post("2030-01-08 08:30", "2030-01-08 09:30", "olga").await.0,
        201
    );
    assert_eq!(
        post("2030-01-08 09:30", "2030-01-08 10:30", "olga").await.0,
        201
    );
    let (status, body) = post("2030-01-08 10:30", "2030-01-08 11:30", "olga").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("pending_approval")),
        "{body}"
    );
    assert_eq!(told(&api).await.len(), 2);
    // A dry run counts nothing and is never held.
    let mut dry = at("2030-01-09 08:00", "2030-01-09 12:00");
    dry["dry_run"] = json!(true);
    assert_eq!(
        api.post("/api/outages", tokens.of("olga"), dry).await.0,
        200
    );
    // Anna's own count starts at zero.
    assert_eq!(
        post("2030-01-09 08:00", "2030-01-09 12:00", "anna").await.0,
        201
    );
    assert_eq!(told(&api).await.len(), 3);
    // A day later (approval_window_minutes) Olga's earlier actions no longer count.
    api.t.clock.advance(chrono::Duration::hours(25));
    assert_eq!(
        post("2030-01-08 10:30", "2030-01-08 11:30", "olga").await.0,
        201
    );
    assert_eq!(told(&api).await.len(), 4);
}

/// Found by a probe: declarations sent at the same moment each saw the others' count as
/// zero. Whatever the interleaving, what one account did alone never exceeds the threshold.
#[tokio::test]
async fn declarations_at_the_same_moment_cannot_slip_past_the_threshold_together() {
    let (api, tokens) = api(Some(2)).await;
    let windows = [
        ("2030-01-08 08:30", "2030-01-08 09:30"),
        ("2030-01-08 09:30", "2030-01-08 10:30"),
        ("2030-01-08 10:30", "2030-01-08 11:30"),
        ("2030-01-09 08:00", "2030-01-09 12:00"),
    ];
    let all = windows
        .iter()
        .map(|(from, to)| api.post("/api/outages", tokens.of("olga"), at(from, to)));
    let results = futures::future::join_all(all).await;
    let done = results.iter().filter(|(status, _)| *status == 201).count();
    let held = results.iter().filter(|(status, _)| *status == 202).count();
    assert_eq!(done + held, 4, "{results:?}");
    assert!(done <= 2, "{done} declared alone: {results:?}");
    assert!(told(&api).await.len() <= 2);
}

/// Found by a probe: retracting an outage of many citizens needs no approval. Retracting takes
/// their cancellation back, so it counts like declaring it.
#[tokio::test]
async fn retracting_a_large_outage_waits_for_a_second_person() {
    let (api, tokens) = api(Some(2)).await;
    let (_, body) = api.post("/api/outages", tokens.of("olga"), window()).await;
    let approval = body["approval"]["id"].as_i64().unwrap();
    let (status, impact) = api
        .post(
            &format!("/api/approvals/{approval}/approve"),
            tokens.of("anna"),
            json!({}),
        )
        .await;
    assert_eq!(status, 201);
    let id = impact["id"].as_i64().unwrap();
    assert_eq!(told(&api).await.len(), 3);

    let retract = format!("/api/outages/{id}/retract");
    let (status, body) = api
        .post(
            &retract,
            tokens.of("olga"),
            json!({ "reason": "Fehlalarm" }),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("pending_approval")),
        "{body}"
    );
    assert_eq!(body["approval"]["action"], "retract");
    assert_eq!(
        told(&api).await.len(),
        3,
        "the cancellations stay queued meanwhile"
    );
    let (_, outage) = api
        .get(&format!("/api/outages/{id}"), tokens.of("vera"))
        .await;
    assert_eq!(outage["outage"]["state"], "active");

    let approval = body["approval"]["id"].as_i64().unwrap();
    let (status, _) = api
        .post(
            &format!("/api/approvals/{approval}/approve"),
            tokens.of("bernd"),
            json!({}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, outage) = api
        .get(&format!("/api/outages/{id}"), tokens.of("vera"))
        .await;
    assert_eq!(outage["outage"]["state"], "retracted");
    assert!(told(&api).await.is_empty(), "retracted once approved");
}

/// Errors keep their meaning at the boundary: a window that ends before it begins is a 400
/// `invalid` (no longer 422), an action on an outage in the wrong state a 409, an unknown one a
/// 404, and a database failing during a declaration a 500 `internal` — its cause in the log,
/// none of it in the answer. (An approval already decided is a 409 too: see
/// `a_rejected_request_declares_nothing`; the web UI: `ui::the_ui_answers_…`.)
#[tokio::test(flavor = "current_thread")]
async fn lifecycle_errors_keep_their_meaning_and_internals_stay_in_the_log() {
    let logs = crate::ui::capture_this_thread();
    let (api, tokens) = api(None).await;
    let bad = json!({ "from": "2030-01-08 12:00", "to": "2030-01-08 08:00", "reason": "x" });
    let (status, body) = api.post("/api/outages", tokens.of("olga"), bad).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid")),
        "{body}"
    );
    assert!(!body["message"].as_str().unwrap().is_empty());

    let (_, body) = api.post("/api/outages", tokens.of("olga"), window()).await;
    let id = body["impact"]["id"].as_i64().unwrap();
    let retract = format!("/api/outages/{id}/retract");
    let (status, _) = api
        .post(
            &retract,
            tokens.of("olga"),
            json!({ "reason": "Fehlalarm" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .post(&retract, tokens.of("olga"), json!({ "reason": "noch mal" }))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    for path in [
        "/api/outages/999999/retract",
        "/api/outages/999999/amend",
        "/api/approvals/999999/approve",
    ] {
        let (status, body) = api
            .post(path, tokens.of("anna"), json!({ "reason": "x" }))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("not_found")),
            "{path}: {body}"
        );
    }

    // The database loses a table under the running server, in the middle of a declaration
    // (the caller's token and the calendar's names are still read).
    let mut conn = api.t.app.ctx.store.conn().await.unwrap();
    sqlx::query("alter table targets rename to targets_gone")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let later = json!({ "from": "2030-01-09 08:00", "to": "2030-01-09 12:00", "reason": "x" });
    let (status, body) = api.post("/api/outages", tokens.of("olga"), later).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (500, Some("internal")),
        "{body}"
    );
    let text = body.to_string();
    assert!(
        !text.contains("targets") && !text.to_lowercase().contains("table"),
        "no internals reach the client: {text}"
    );
    // A search by name: the query (a citizen's name) is not logged with the request.
    let (status, _) = api
        .get("/api/bookings?q=B%C3%BCrger%20A1", tokens.of("vera"))
        .await;
    assert_eq!(status, 200);

    let log = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let failure = log
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("targets"))
        .unwrap_or_else(|| panic!("the cause is logged:\n{log}"));
    assert!(
        failure.contains("method=POST path=/api/outages"),
        "within the request's span: {failure}"
    );
    assert!(
        log.lines().any(|l| l.contains("path=/api/outages")
            && l.contains("answered status=500")
            && l.contains("latency_ms=")),
        "{log}"
    );
    assert!(log.contains("path=/api/bookings}"), "{log}");
    for personal in ["Bürger", "B%C3%BCrger", "q="] {
        assert!(!log.contains(personal), "{personal} in the log:\n{log}");
    }
}

/// The API answers with its own types, not the store's rows: lists are arrays, times RFC 3339
/// in UTC, states and kinds their lower-case strings — and the OpenAPI description says so.
#[tokio::test]
async fn answers_have_arrays_rfc3339_times_and_enums_and_the_description_matches() {
    let (api, tokens) = api(Some(3)).await;
    let scoped = json!({
        "from": "2030-01-08 08:00", "to": "2030-01-08 12:00", "reason": "IT-Ausfall",
        "services": ["Zulassung"], "locations": ["Soest"],
    });
    let (status, body) = api.post("/api/outages", tokens.of("olga"), scoped).await;
    assert_eq!(status, 201, "{body}");
    let vera = tokens.of("vera");
    let (_, list) = api.get("/api/outages", vera).await;
    let outage = &list[0];
    assert_eq!(
        outage["services"],
        json!(["zulassung"]),
        "as matched: normalised"
    );
    assert_eq!(outage["locations"], json!(["soest"]));
    assert_eq!(outage["keys"], Value::Null);
    assert_eq!(
        outage["window_from"], "2030-01-08T07:00:00Z",
        "08:00 in Berlin"
    );
    assert_eq!(outage["window_to"], "2030-01-08T11:00:00Z");
    assert_eq!(
        outage["created_at"], "2030-01-07T05:00:00Z",
        "the test clock"
    );
    assert_eq!(
        (outage["kind"].as_str(), outage["state"].as_str()),
        (Some("outage"), Some("active"))
    );
    for stored in ["services_json", "locations_json", "keys_json"] {
        assert!(outage.get(stored).is_none(), "{stored}: {outage}");
    }
    let (_, shown) = api
        .get(&format!("/api/outages/{}", outage["id"]), vera)
        .await;
    assert_eq!(&shown["outage"], outage);
    assert_eq!(shown["queue"][0]["state"], "queued");

    // A batch by keys, above the threshold: the approval carries its request as an object.
    let batch = json!({ "keys": ["A1", "A2", "A3", "B1"], "reason": "Umzug" });
    let (status, body) = api.post("/api/outages", tokens.of("olga"), batch).await;
    assert_eq!(status, 202, "{body}");
    let approval = &body["approval"];
    assert_eq!(approval["action"], "declare");
    assert_eq!(approval["kind"], "batch");
    assert_eq!(approval["state"], "pending");
    assert_eq!(
        approval["request"]["keys"],
        json!(["A1", "A2", "A3", "B1"]),
        "{approval}"
    );
    assert_eq!(approval["requested_at"], "2030-01-07T05:00:00Z");
    assert!(approval.get("request_json").is_none());

    let (_, ns) = api.get("/api/notifications?channel=sms", vera).await;
    assert_eq!(
        ns[0]["deadline"], "2030-01-08T08:00:00Z",
        "A1 begins at 09:00"
    );
    assert_eq!(
        (ns[0]["channel"].as_str(), ns[0]["kind"].as_str()),
        (Some("sms"), Some("cancellation"))
    );
    let (_, found) = api.get("/api/bookings?q=A1", vera).await;
    assert_eq!(found[0]["services"], json!(["Zulassung"]));
    assert_eq!(found[0]["starts_at"], "2030-01-08T08:00:00Z");
    assert_eq!(found[0]["phone_mobile"], true);
    let (_, imports) = api.get("/api/imports", vera).await;
    assert_eq!(imports[0]["started_at"], "2030-01-07T05:00:00Z");
    assert_eq!(imports[0]["outcome"], "applied");
    assert_eq!(imports[0]["rows_read"], 4);
    let (_, log) = api.get("/api/audit", vera).await;
    assert!(log[0]["at"].as_str().unwrap().ends_with('Z') && log[0]["details"].is_object());
    let (_, queue) = api.get("/api/queue", vera).await;
    assert!(
        queue
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["count"].is_i64())
    );

    let (_, doc) = api.get("/api/openapi.json", vera).await;
    let schemas = &doc["components"]["schemas"];
    let o = &schemas["Outage"]["properties"];
    assert_eq!(o["services"]["type"], "array", "{o}");
    assert_eq!(o["created_at"]["format"], "date-time", "{o}");
    assert_eq!(
        schemas["OutageState"]["enum"],
        json!(["active", "retracted", "closed"])
    );
    assert_eq!(
        schemas["Approval"]["properties"]["request"]["type"],
        "object"
    );
    for row in [
        "OutageRow",
        "ApprovalRow",
        "QueuedRow",
        "BookingRow",
        "AuditRow",
        "ImportRow",
    ] {
        assert!(
            schemas.get(row).is_none(),
            "{row} is the store's, not the API's"
        );
    }
}

#[tokio::test]
async fn a_rejected_request_declares_nothing() {
    let (api, tokens) = api(Some(2)).await;
    let (_, body) = api.post("/api/outages", tokens.of("olga"), window()).await;
    let approval = body["approval"]["id"].as_i64().unwrap();
    let (status, decided) = api
        .post(
            &format!("/api/approvals/{approval}/reject"),
            tokens.of("anna"),
            json!({}),
        )
        .await;
    assert_eq!((status, decided["state"].as_str()), (200, Some("rejected")));
    assert_eq!(
        api.get("/api/outages", tokens.of("vera")).await.1,
        json!([])
    );
    let (status, _) = api
        .post(
            &format!("/api/approvals/{approval}/approve"),
            tokens.of("bernd"),
            json!({}),
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn the_audit_log_records_who_did_what_with_which_impact_and_cannot_be_changed() {
    let (api, tokens) = api(Some(2)).await;
    let (_, body) = api.post("/api/outages", tokens.of("olga"), window()).await;
    let approval = body["approval"]["id"].as_i64().unwrap();
    api.post(
        &format!("/api/approvals/{approval}/approve"),
        tokens.of("anna"),
        json!({}),
    )
    .await;
    let (status, log) = api.get("/api/audit", tokens.of("vera")).await;
    assert_eq!(status, 200);
    let entries: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .take(3)
        .collect();
    assert_eq!(
        entries,
        [
            ("anna", "approval.approve"),
            ("olga", "outage.declare"),
            ("olga", "outage.request")
        ],
        "newest first; the run is declared as requested, in the same transaction"
    );
    let (approved, declared) = (&log[0]["details"], &log[1]["details"]);
    assert!(approved.is_object() && declared.is_object(), "{log}");
    assert_eq!(
        (declared["affected"].as_i64(), log[1]["subject"].as_str()),
        (
            Some(3),
            Some(format!("outage #{}", approved["outage"]).as_str())
        )
    );
    assert_eq!(log[0]["subject"], format!("approval #{approval}"));
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "account.add" && e["subject"] == "vera"),
        "account changes are in the log too"
    );
    let (_, werl) = api.get("/api/audit", tokens.of("wilma")).await;
    assert!(
        werl.as_array()
            .unwrap()
            .iter()
            .all(|e| e["tenant_id"] == "werl")
    );

    let mut conn = api.t.app.ctx.store.conn().await.unwrap();
    for statement in ["update audit_log set actor = 'x'", "delete from audit_log"] {
        let err = sqlx::query(statement)
            .execute(&mut *conn)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
}

#[tokio::test]
async fn reports_come_as_json_or_csv_and_imports_can_be_triggered() {
    let (api, tokens) = api(None).await;
    let (_, body) = api.post("/api/outages", tokens.of("olga"), window()).await;
    let id = body["impact"]["id"].as_i64().unwrap();
    let (status, rows) = api
        .get(&format!("/api/outages/{id}/report"), tokens.of("vera"))
        .await;
    assert_eq!((status, rows.as_array().map(Vec::len)), (200, Some(3)));
    assert_eq!(rows[0]["booking_key"], "A1");
    let (status, csv) = api
        .get(
            &format!("/api/outages/{id}/report?format=csv"),
            tokens.of("vera"),
        )
        .await;
    assert_eq!(status, 200);
    assert!(csv.as_str().unwrap().starts_with("booking_key,"), "{csv}");
    let (status, shown) = api
        .get(&format!("/api/outages/{id}"), tokens.of("vera"))
        .await;
    assert_eq!(
        (status, shown["outage"]["reason"].as_str()),
        (200, Some("IT-Ausfall"))
    );

    assert_eq!(
        api.post("/api/sources/termine/import", tokens.of("vera"), json!({}))
            .await
            .0,
        403
    );
    let (status, summary) = api
        .post("/api/sources/termine/import", tokens.of("olga"), json!({}))
        .await;
    assert_eq!(
        (status, summary["outcome"].as_str()),
        (200, Some("applied")),
        "{summary}"
    );
    assert_eq!(summary["rows_unchanged"], 4);
    let (_, history) = api.get("/api/imports?limit=1", tokens.of("vera")).await;
    assert_eq!(history[0]["id"], summary["import_id"]);
    let detail = format!("/api/imports/{}", summary["import_id"]);
    let (status, one) = api.get(&detail, tokens.of("vera")).await;
    assert_eq!((status, one["rejected"].clone()), (200, json!([])));
    assert_eq!(api.get(&detail, tokens.of("wilma")).await.0, 404);
}

#[tokio::test]
async fn csv_reports_and_call_lists_neutralise_cells_that_would_start_a_formula() {
    let (api, tokens) = api(None).await;
    // A citizen whose export cells would be formulas in Excel, and who has no channel.
    let mut x1 = Row::new("X1", "2030-01-08 09:30")
        .location("@Soest")
        .email("")
        .phone("=2+5");
    x1.name = "-1+1 Müller".into();
    api.t.write_export(&[
        Row::new("A1", "2030-01-08 09:00"),
        Row::new("A2", "2030-01-08 10:00"),
        Row::new("A3", "2030-01-08 11:00"),
        Row::new("B1", "2030-01-09 09:00"),
        x1,
    ]);
    api.t.import().await;
    let (_, body) = api.post("/api/outages", tokens.of("olga"), window()).await;
    let id = body["impact"]["id"].as_i64().unwrap();
    let (status, csv) = api
        .get(
            &format!("/api/outages/{id}/calllist?format=csv"),
            tokens.of("vera"),
        )
        .await;
    let csv = csv.as_str().unwrap().to_owned();
    assert_eq!(status, 200, "{csv}");
    assert!(csv.contains(",'-1+1 Müller,'=2+5,"), "{csv}");
    assert!(csv.contains(",'@Soest,"), "{csv}");
    let (_, csv) = api
        .get(
            &format!("/api/outages/{id}/report?format=csv"),
            tokens.of("vera"),
        )
        .await;
    let csv = csv.as_str().unwrap();
    assert!(
        csv.contains("X1,2030-01-08 09:30,Zulassung,'@Soest,"),
        "{csv}"
    );
    for line in csv.lines() {
        for cell in line.split(',') {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell} in {csv}");
        }
    }
    let (_, json) = api
        .get(&format!("/api/outages/{id}/calllist"), tokens.of("vera"))
        .await;
    assert_eq!(json[0]["name"], "-1+1 Müller", "JSON is data, not a sheet");
}

#[tokio::test]
async fn the_openapi_description_lists_exactly_the_routes_the_router_serves() {
    let (api, tokens) = api(None).await;
    let (status, doc) = api.get("/api/openapi.json", tokens.of("vera")).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut described = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            described.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    described.sort();
    let expected = [
        "GET /api/approvals",
        "GET /api/audit",
        "GET /api/bookings",
        "GET /api/destinations",
        "GET /api/imports",
        "GET /api/imports/{id}",
        "GET /api/notifications",
        "GET /api/outages",
        "GET /api/outages/{id}",
        "GET /api/outages/{id}/calllist",
        "GET /api/outages/{id}/report",
        "GET /api/queue",
        "GET /api/tenants/{tenant}/names",
        "POST /api/approvals/{id}/approve",
        "POST /api/approvals/{id}/reject",
        "POST /api/notifications/{id}/cancel",
        "POST /api/notifications/{id}/retry",
        "POST /api/outages",
        "POST /api/outages/{id}/amend",
        "POST /api/outages/{id}/confirm-removals",
        "POST /api/outages/{id}/retract",
        "POST /api/sources/{source}/import",
    ];
    assert_eq!(described, expected);
    // Every described route is served (and guarded): without a token it answers 401, not 404.
    for route in &described {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path
            .replace("{id}", "1")
            .replace("{source}", "termine")
            .replace("{tenant}", "soest");
        let (status, _) = api.call(method, &path, None, Some(json!({}))).await;
        assert_eq!(status, 401, "{route}");
    }
    assert!(doc["components"]["securitySchemes"]["token"].is_object());
}

#[tokio::test]
async fn the_calendars_names_with_counts_are_only_for_the_tenants_own_accounts() {
    let (api, tokens) = api(None).await;
    api.t.write_export(&[
        Row::new("A1", "2030-01-08 09:00"),
        Row::new("A2", "2030-01-08 10:00").service("Führerschein"),
        Row::new("A3", "2030-01-08 11:00").location("Lippstadt"),
        Row::new("B1", "2030-01-09 09:00").service("Führerschein"),
    ]);
    api.t.import().await;
    let (status, names) = api.get("/api/tenants/soest/names", tokens.of("vera")).await;
    assert_eq!(status, 200, "{names}");
    assert_eq!(
        names,
        json!({
            "services": [
                { "name": "Führerschein", "bookings": 2 },
                { "name": "Zulassung", "bookings": 2 },
            ],
            "locations": [
                { "name": "Soest", "bookings": 3 },
                { "name": "Lippstadt", "bookings": 1 },
            ],
        })
    );
    // Another tenant's admin: Soest does not exist for her, and her own calendar is empty.
    let wilma = tokens.of("wilma");
    let (status, body) = api.get("/api/tenants/soest/names", wilma).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    assert!(!body.to_string().contains("Zulassung"));
    let (status, own) = api.get("/api/tenants/werl/names", wilma).await;
    assert_eq!(
        (status, own),
        (200, json!({ "services": [], "locations": [] }))
    );
    let (status, _) = api
        .call("GET", "/api/tenants/soest/names", None, None)
        .await;
    assert_eq!(status, 401);
    // Only upcoming bookings count: after A1 to A3 have ended, B1 is left.
    api.t.clock.set(api.t.local("2030-01-08 12:00"));
    let (_, names) = api.get("/api/tenants/soest/names", tokens.of("olga")).await;
    assert_eq!(
        names["locations"],
        json!([{ "name": "Soest", "bookings": 1 }])
    );
}

#[tokio::test]
async fn an_outage_shows_its_conservation_and_vanished_bookings_until_an_operator_confirms() {
    let (api, tokens) = api(None).await;
    let (_, body) = api.post("/api/outages", tokens.of("olga"), window()).await;
    let id = body["impact"]["id"].as_i64().unwrap();
    let show = format!("/api/outages/{id}");
    let (status, view) = api.get(&show, tokens.of("vera")).await;
    assert_eq!(status, 200);
    assert_eq!(
        view["conservation"],
        json!({
            "affected": 3, "with_message": 3, "call_list": 0, "covered_elsewhere": 0,
            "holds": true, "line": "affected 3 = with a message 3 + no channel (call list) 0",
        })
    );
    assert_eq!(view["removal_pending"], json!([]));
    let (_, doc) = api.get("/api/openapi.json", tokens.of("vera")).await;
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["OutageView"]["properties"]["conservation"].is_object());
    assert!(schemas["ConservationView"].is_object(), "{schemas}");

    // A1 vanishes from the export: it stays affected and is listed, without contact data.
    api.t.write_export(&[
        Row::new("A2", "2030-01-08 10:00"),
        Row::new("A3", "2030-01-08 11:00"),
        Row::new("B1", "2030-01-09 09:00"),
    ]);
    api.t.import().await;
    let (_, view) = api.get(&show, tokens.of("vera")).await;
    let pending = &view["removal_pending"];
    assert_eq!(pending.as_array().map(Vec::len), Some(1), "{view}");
    assert_eq!(pending[0]["booking_key"], "A1");
    assert_eq!(pending[0]["starts_at"], "2030-01-08 09:00");
    for personal in ["name", "email", "phone"] {
        assert!(pending[0].get(personal).is_none(), "{personal}");
    }
    assert_eq!(view["conservation"]["affected"], 3);

    let confirm = format!("/api/outages/{id}/confirm-removals");
    let (status, _) = api.post(&confirm, tokens.of("vera"), json!({})).await;
    assert_eq!(status, 403, "viewers only see");
    let (status, _) = api.post(&confirm, tokens.of("wilma"), json!({})).await;
    assert_eq!(status, 404, "Werl does not see Soest's outage");
    let (status, dry) = api
        .post(&confirm, tokens.of("olga"), json!({ "dry_run": true }))
        .await;
    assert_eq!((status, dry["withdrawn"].as_u64()), (200, Some(1)), "{dry}");
    assert_eq!(
        api.get(&show, tokens.of("vera")).await.1["conservation"]["affected"],
        3
    );
    let (status, done) = api.post(&confirm, tokens.of("olga"), json!({})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["conservation"]["affected"], 2);
    let (_, view) = api.get(&show, tokens.of("vera")).await;
    assert_eq!(view["removal_pending"], json!([]));
    assert_eq!(
        view["conservation"]["line"],
        "affected 2 = with a message 2 + no channel (call list) 0"
    );
    let (_, log) = api.get("/api/audit", tokens.of("vera")).await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "outage.confirm_removals" && e["actor"] == "olga"),
        "{log}"
    );

    // A retracted outage has no conservation line: nobody is to be told or phoned.
    api.post(
        &format!("/api/outages/{id}/retract"),
        tokens.of("olga"),
        json!({ "reason": "Fehlalarm" }),
    )
    .await;
    assert_eq!(
        api.get(&show, tokens.of("vera")).await.1["conservation"],
        Value::Null
    );
}

#[tokio::test]
async fn an_imports_contact_problems_name_line_field_and_reason_but_not_the_value() {
    let (api, tokens) = api(None).await;
    api.t.write_export(&[
        Row::new("A1", "2030-01-08 09:00"),
        Row::new("A2", "2030-01-08 10:00").email("mueller-at-example.org"),
        Row::new("A3", "2030-01-08 11:00"),
        Row::new("B1", "2030-01-09 09:00"),
    ]);
    let report = api.t.import().await;
    let (status, detail) = api
        .get(
            &format!("/api/imports/{}", report.import_id),
            tokens.of("vera"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(detail["contact"]["email"], 1);
    assert_eq!(detail["contact"]["first"][0]["line"], 3);
    assert_eq!(detail["contact"]["first"][0]["field"], "email");
    assert!(!detail.to_string().contains("mueller"), "{detail}");
}

#[tokio::test]
async fn operators_cancel_queued_and_retry_failed_notifications_of_their_own_tenant() {
    let (api, tokens) = api(None).await;
    api.post("/api/outages", tokens.of("olga"), window()).await;
    let (status, sms) = api
        .get(
            "/api/notifications?channel=sms&state=queued",
            tokens.of("vera"),
        )
        .await;
    assert_eq!(status, 200);
    let sms = sms.as_array().unwrap();
    assert_eq!(sms.len(), 3);
    assert_eq!(sms[0]["booking_key"], "A1", "earliest appointment first");
    let (first, second) = (
        sms[0]["id"].as_i64().unwrap(),
        sms[1]["id"].as_i64().unwrap(),
    );

    let cancel = format!("/api/notifications/{first}/cancel");
    assert_eq!(api.post(&cancel, tokens.of("vera"), json!({})).await.0, 403);
    assert_eq!(
        api.post(&cancel, tokens.of("wilma"), json!({})).await.0,
        404
    );
    assert_eq!(api.post(&cancel, tokens.of("olga"), json!({})).await.0, 204);
    let (status, again) = api.post(&cancel, tokens.of("olga"), json!({})).await;
    assert_eq!((status, again["code"].as_str()), (409, Some("conflict")));
    let retry_queued = format!("/api/notifications/{second}/retry");
    assert_eq!(
        api.post(&retry_queued, tokens.of("olga"), json!({}))
            .await
            .0,
        409,
        "not failed"
    );

    // A gateway refused it for good; the operator has fixed the cause and sends it again.
    let mut conn = api.t.app.ctx.store.conn().await.unwrap();
    sqlx::query("update notifications set state = 'failed', attempts = 8 where id = $1")
        .bind(second)
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    assert_eq!(
        api.post(&retry_queued, tokens.of("olga"), json!({}))
            .await
            .0,
        204
    );
    let (_, all) = api
        .get("/api/notifications?channel=sms", tokens.of("vera"))
        .await;
    let state_of = |id: i64| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .map(|n| {
                (
                    n["state"].as_str().unwrap().to_owned(),
                    n["attempts"].as_i64().unwrap(),
                )
            })
            .unwrap()
    };
    assert_eq!(state_of(first), ("cancelled".to_owned(), 0));
    assert_eq!(state_of(second), ("queued".to_owned(), 0), "fresh attempts");
    assert_eq!(
        api.get("/api/notifications", tokens.of("wilma")).await.1,
        json!([])
    );
}

#[tokio::test]
async fn the_booking_search_finds_by_key_or_name_within_the_tenant() {
    let (api, tokens) = api(None).await;
    let (status, found) = api.get("/api/bookings?q=a2", tokens.of("vera")).await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["booking_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["A2"]);
    let (_, by_name) = api
        .get("/api/bookings?q=B%C3%BCRGER%20b", tokens.of("vera"))
        .await;
    assert_eq!(by_name[0]["booking_key"], "B1", "names, case-insensitive");
    let (_, wildcard) = api.get("/api/bookings?q=%25", tokens.of("vera")).await;
    assert_eq!(wildcard, json!([]), "% is a character, not a wildcard");
    assert_eq!(
        api.get("/api/bookings?q=a", tokens.of("wilma")).await.1,
        json!([])
    );
    assert_eq!(
        api.get("/api/bookings?q=%20", tokens.of("vera")).await.0,
        400
    );
}

async fn alert(api: &Api, token: &str, alerts: Value) -> (u16, Value) {
    let resp = api
        .http
        .post(format!("{}/hooks/alertmanager", api.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(json!({ "version": "4", "status": "firing", "alerts": alerts }).to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.text().await.unwrap()).unwrap(),
    )
}

fn firing(kreis: &str) -> Value {
    json!({
        "status": "firing",
        "labels": { "alertname": "TerminsystemAusfall", "kreis": kreis, "severity": "critical" },
        "annotations": {},
        "startsAt": "2030-01-08T07:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "c0ffee"
    })
}

#[tokio::test]
async fn a_firing_alert_declares_its_outage_once_and_a_wrong_token_is_refused() {
    let (api, tokens) = api(None).await;
    let (status, _) = alert(&api, "wrong", json!([firing("soest")])).await;
    assert_eq!(status, 401);
    let mut resolved = firing("soest");
    resolved["status"] = json!("resolved");
    let (status, body) = alert(
        &api,
        "alertmanager-token-1234",
        json!([firing("werl"), resolved]),
    )
    .await;
    assert_eq!(
        (status, body["outcomes"].clone()),
        (200, json!([])),
        "no rule, or not firing"
    );

    let (status, body) = alert(&api, "alertmanager-token-1234", json!([firing("soest")])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcomes"][0]["status"], "declared");
    assert_eq!(
        body["outcomes"][0]["affected"], 3,
        "08:00 to 12:00 Berlin time"
    );
    let (_, again) = alert(&api, "alertmanager-token-1234", json!([firing("soest")])).await;
    assert_eq!(
        again["outcomes"][0]["status"], "repeat",
        "Alertmanager repeats itself"
    );
    let (_, list) = api.get("/api/outages", tokens.of("vera")).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["created_by"], "alertmanager");
    assert_eq!(list[0]["reason"], "Störung der Kreis-IT");
}

/// A stranger's body is not even parsed: a wrong token with garbage answers 401, not a parse
/// error; with the right token (any case of `Bearer`) garbage is a 400 naming the payload.
#[tokio::test]
async fn the_alert_hook_checks_the_token_before_it_reads_the_body() {
    let (api, _) = api(None).await;
    let post = |auth: &'static str, body: &'static str| {
        api.http
            .post(format!("{}/hooks/alertmanager", api.base))
            .header("authorization", auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let resp = post("Bearer wrong", "{ not json").await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = post("bearer alertmanager-token-1234", "{ not json")
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(body["code"], "invalid", "{body}");
    let resp = post(
        "BEARER alertmanager-token-1234",
        r#"{"version":"4","status":"firing","alerts":[]}"#,
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn an_alert_above_the_threshold_waits_for_an_approver() {
    let (api, tokens) = api(Some(2)).await;
    let (_, body) = alert(&api, "alertmanager-token-1234", json!([firing("soest")])).await;
    assert_eq!(body["outcomes"][0]["status"], "pending_approval", "{body}");
    let approval = body["outcomes"][0]["approval"].as_i64().unwrap();
    assert_eq!(
        api.get("/api/outages", tokens.of("vera")).await.1,
        json!([])
    );
    let (status, _) = api
        .post(
            &format!("/api/approvals/{approval}/approve"),
            tokens.of("anna"),
            json!({}),
        )
        .await;
    assert_eq!(status, 201);
    let (_, log) = api.get("/api/audit?limit=5", tokens.of("vera")).await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "alertmanager" && e["action"] == "outage.request")
    );
}
