//! The pages: dashboard, an outage with its report and a chart, the printable call list, and
//! the approvals that wait for a second pair of eyes.

use super::{CsrfForm, Session, forbidden, render, stale_form};
use crate::domain::account::Role;
use crate::domain::from_millis;
use crate::http::State as AppState;
use crate::reports::Reach;
use crate::store::{approvals, destinations, notifications, outages};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Serialize;

pub(super) fn ser<T: Serialize>(value: &T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "a page could not be built");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Die Datenbank ist gerade nicht erreichbar.",
    )
        .into_response()
}

fn local(state: &AppState, tenant: &str, ms: Option<i64>) -> String {
    let tz = state
        .settings
        .tenant(tenant)
        .map_or(chrono_tz::UTC, |t| t.time_zone);
    ms.map_or("–".into(), |m| {
        from_millis(m)
            .with_timezone(&tz)
            .format("%d.%m.%Y %H:%M")
            .to_string()
    })
}

#[derive(Serialize)]
struct OutageLine {
    id: i64,
    kind: String,
    window: String,
    reason: String,
    informed: usize,
    pending: usize,
    unreachable: usize,
}

pub async fn dashboard(State(state): State<AppState>, s: Session) -> Response {
    let tenant = s.caller.tenant.clone();
    let now = (state.clock)();
    let built = async {
        let mut conn = state.store.conn().await?;
        let runs: Vec<_> = outages::list(&mut conn, Some(&tenant))
            .await?
            .into_iter()
            .filter(|o| o.state == "active")
            .collect();
        let queue = notifications::counts_of_tenant(&mut conn, &tenant).await?;
        let health = destinations::all(&mut conn).await?;
        let pending = approvals::list(&mut conn, &tenant)
            .await?
            .into_iter()
            .filter(|a| a.state == "pending")
            .count();
        drop(conn);
        let mut lines = Vec::new();
        for o in runs {
            let (_, rows) = crate::reports::report(&state.store, &state.settings, o.id).await?;
            let count = |r: Reach| rows.iter().filter(|x| x.affected && x.reach == r).count();
            lines.push(OutageLine {
                id: o.id,
                kind: o.kind.clone(),
                window: format!(
                    "{} – {}",
                    local(&state, &tenant, o.window_from),
                    local(&state, &tenant, o.window_to)
                ),
                reason: o.reason.clone(),
                informed: count(Reach::Informed),
                pending: count(Reach::Pending),
                unreachable: count(Reach::Unreachable),
            });
        }
        let status = crate::reports::status(&state.store, &state.settings, now).await?;
        let sources: Vec<_> = status
            .sources
            .into_iter()
            .filter(|src| src.tenant == tenant)
            .map(|src| {
                context! {
                    name => src.source,
                    age => src.age_secs.map(|a| a / 60),
                    stale => src.stale,
                    outcome => src.last_outcome,
                }
            })
            .collect();
        anyhow::Ok(context! {
            outages => ser(&lines), queue => ser(&queue), destinations => ser(&health),
            sources => sources, pending => pending,
        })
    };
    match built.await {
        Ok(data) => render(
            "dashboard.html",
            s.lang,
            context! { me => s.caller.name, tenant => tenant_name(&state, &tenant), csrf => s.csrf, ..data },
        ),
        Err(e) => unavailable(format!("{e:#}")),
    }
}

pub(super) fn tenant_name(state: &AppState, tenant: &str) -> String {
    state
        .settings
        .tenant(tenant)
        .map_or(tenant.to_owned(), |t| t.name.clone())
}

/// The caller's outage, or a 404 page.
async fn own(state: &AppState, s: &Session, id: i64) -> Result<outages::OutageRow, Box<Response>> {
    let mut conn = state
        .store
        .conn()
        .await
        .map_err(|e| Box::new(unavailable(format!("{e:#}"))))?;
    match outages::get(&mut conn, id).await {
        Ok(Some(o)) if o.tenant_id == s.caller.tenant => Ok(o),
        Ok(_) => Err(Box::new(
            (StatusCode::NOT_FOUND, "Diese Absage gibt es nicht.").into_response(),
        )),
        Err(e) => Err(Box::new(unavailable(e))),
    }
}

/// A bar per channel and state, as a small SVG (no script, printable).
fn chart(queue: &[notifications::QueueCount], lang: super::Lang) -> String {
    use super::i18n::{label, translate};
    const STATES: [(&str, &str); 5] = [
        ("sent", "#2e7d32"),
        ("queued", "#f9a825"),
        ("sending", "#1565c0"),
        ("failed", "#c62828"),
        ("expired", "#6d4c41"),
    ];
    let max = queue.iter().map(|q| q.count).max().unwrap_or(1).max(1) as f64;
    let mut svg = format!(
        r#"<svg role="img" aria-label="{}" width="520" height="200" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12">"#,
        translate(lang, "Nachrichten je Kanal und Stand")
    );
    for (row, channel) in ["email", "sms"].iter().enumerate() {
        let y0 = 20 + row * 90;
        svg.push_str(&format!(
            r#"<text x="0" y="{}">{}</text>"#,
            y0 + 12,
            label(lang, channel)
        ));
        for (i, (state, colour)) in STATES.iter().enumerate() {
            let n = queue
                .iter()
                .find(|q| q.channel == *channel && q.state == *state)
                .map_or(0, |q| q.count);
            let w = (n as f64 / max * 300.0).round();
            let y = y0 + 18 + i * 13;
            svg.push_str(&format!(
                r#"<rect x="90" y="{y}" width="{w}" height="11" fill="{colour}"/><text x="{}" y="{}">{}: {n}</text>"#,
                95.0 + w,
                y + 10,
                label(lang, state)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

pub async fn outage(State(state): State<AppState>, s: Session, Path(id): Path<i64>) -> Response {
    let o = match own(&state, &s, id).await {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let built = async {
        let (_, rows) = crate::reports::report(&state.store, &state.settings, id).await?;
        let mut conn = state.store.conn().await?;
        let queue = notifications::counts(&mut conn, Some(id)).await?;
        let sent = notifications::of_outage(&mut conn, id).await?;
        anyhow::Ok((rows, queue, sent))
    };
    match built.await {
        Ok((rows, queue, sent)) => {
            let first = sent.iter().filter_map(|n| n.sent_at).min();
            let first_after = first.map(|f| format!("{:.0} s", (f - o.created_at) as f64 / 1000.0));
            let failed = queue
                .iter()
                .filter(|q| q.state == "failed")
                .map(|q| q.count)
                .sum::<i64>();
            let over_time = super::chart::over_time(&sent, o.created_at, s.lang);
            render(
                "outage.html",
                s.lang,
                context! {
                    me => s.caller.name, csrf => s.csrf, tenant => tenant_name(&state, &o.tenant_id),
                    window => format!("{} – {}", local(&state, &o.tenant_id, o.window_from), local(&state, &o.tenant_id, o.window_to)),
                    rows => ser(&rows), first_after => first_after, failed => failed,
                    may_act => s.caller.role >= Role::Operator,
                    chart => minijinja::Value::from_safe_string(chart(&queue, s.lang)),
                    over_time => minijinja::Value::from_safe_string(over_time),
                    outage => ser(&o),
                },
            )
        }
        Err(e) => unavailable(format!("{e:#}")),
    }
}

/// Sends every failed message of the outage again (operators).
pub async fn retry_failed(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !s.csrf_ok(&f.csrf) {
        return stale_form();
    }
    if s.caller.role < Role::Operator {
        return forbidden("Erneut senden darf nur, wer die Rolle „operator“ oder „approver“ hat.");
    }
    if let Err(r) = own(&state, &s, id).await {
        return *r;
    }
    let now_ms = crate::domain::to_millis((state.clock)());
    let done = async {
        let mut conn = state.store.conn().await?;
        let n = crate::store::queue_admin::retry_failed_of_outage(
            &mut conn,
            &s.caller.tenant,
            id,
            now_ms,
        )
        .await?;
        crate::store::notify_work(&mut conn).await?;
        crate::store::audit::append(
            &mut conn,
            &crate::store::audit::Entry {
                tenant: Some(&s.caller.tenant),
                actor: &s.caller.name,
                action: "notification.retry",
                subject: Some(format!("outage #{id}")),
                details: serde_json::json!({ "retried": n }),
            },
            now_ms,
        )
        .await?;
        anyhow::Ok(())
    };
    match done.await {
        Ok(()) => Redirect::to(&format!("/ui/outages/{id}")).into_response(),
        Err(e) => unavailable(format!("{e:#}")),
    }
}

#[derive(serde::Deserialize)]
pub struct RetractForm {
    csrf: String,
    reason: String,
}

/// Retracts the outage: queued messages are cancelled, and everyone already told hears that the
/// appointment stands (operators).
pub async fn retract(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<RetractForm>,
) -> Response {
    if !s.csrf_ok(&f.csrf) {
        return stale_form();
    }
    if s.caller.role < Role::Operator {
        return forbidden("Widerrufen darf nur, wer die Rolle „operator“ oder „approver“ hat.");
    }
    if let Err(r) = own(&state, &s, id).await {
        return *r;
    }
    let now = (state.clock)();
    match crate::declare::retract(
        &state.store,
        &state.settings,
        &state.templates,
        id,
        &f.reason,
        now,
        false,
    )
    .await
    {
        Ok(impact) => {
            let mut conn = match state.store.conn().await {
                Ok(c) => c,
                Err(e) => return unavailable(format!("{e:#}")),
            };
            let entry = crate::store::audit::Entry {
                tenant: Some(&s.caller.tenant),
                actor: &s.caller.name,
                action: "outage.retract",
                subject: Some(format!("outage #{id}")),
                details: serde_json::json!({
                    "retractions": impact.stats.retractions, "cancelled": impact.stats.cancelled,
                }),
            };
            if let Err(e) =
                crate::store::audit::append(&mut conn, &entry, crate::domain::to_millis(now)).await
            {
                return unavailable(e);
            }
            Redirect::to(&format!("/ui/outages/{id}")).into_response()
        }
        Err(e) => forbidden(&format!("{e:#}")),
    }
}

pub async fn call_list(State(state): State<AppState>, s: Session, Path(id): Path<i64>) -> Response {
    let o = match own(&state, &s, id).await {
        Ok(o) => o,
        Err(r) => return *r,
    };
    match crate::reports::call_list(&state.store, &state.settings, id).await {
        Ok(list) => render(
            "calllist.html",
            s.lang,
            context! { me => s.caller.name, csrf => s.csrf, tenant => tenant_name(&state, &o.tenant_id), outage => ser(&o), list => ser(&list) },
        ),
        Err(e) => unavailable(format!("{e:#}")),
    }
}

pub async fn approvals(State(state): State<AppState>, s: Session) -> Response {
    let list = {
        let mut conn = match state.store.conn().await {
            Ok(c) => c,
            Err(e) => return unavailable(format!("{e:#}")),
        };
        match approvals::list(&mut conn, &s.caller.tenant).await {
            Ok(list) => list,
            Err(e) => return unavailable(e),
        }
    };
    // What a pending request would do if approved now: the same dry run as the declare page.
    let mut lines = Vec::new();
    for a in &list {
        let preview = if a.state == "pending" {
            let requester = crate::accounts::Caller {
                name: a.requested_by.clone(),
                tenant: a.tenant_id.clone(),
                role: Role::Operator,
            };
            match serde_json::from_str::<crate::declare::DeclareRequest>(&a.request_json) {
                Ok(request) => {
                    crate::http::api::outages::submit(&state, &requester, &request, true)
                        .await
                        .ok()
                        .map(|(_, d)| ser(&d.impact))
                }
                Err(_) => None,
            }
        } else {
            None
        };
        lines.push(context! { preview => preview, ..ser(a) });
    }
    render(
        "approvals.html",
        s.lang,
        context! {
            me => s.caller.name.clone(), csrf => s.csrf, tenant => tenant_name(&state, &s.caller.tenant),
            approvals => lines, may_approve => s.caller.role >= Role::Approver,
        },
    )
}

pub async fn approve(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !s.csrf_ok(&f.csrf) {
        return stale_form();
    }
    match crate::http::api::approvals::approve_as(&state, &s.caller, id).await {
        Ok(impact) => match impact.id {
            Some(outage) => Redirect::to(&format!("/ui/outages/{outage}")).into_response(),
            None => Redirect::to("/ui/approvals").into_response(),
        },
        Err(e) => forbidden(e.message()),
    }
}

pub async fn reject(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !s.csrf_ok(&f.csrf) {
        return stale_form();
    }
    match crate::http::api::approvals::reject_as(&state, &s.caller, id).await {
        Ok(_) => Redirect::to("/ui/approvals").into_response(),
        Err(e) => forbidden(e.message()),
    }
}

/// The declaration form's fields, as typed.
#[derive(Debug, Default, serde::Deserialize, Serialize)]
pub struct DeclareForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    services: String,
    #[serde(default)]
    locations: String,
    #[serde(default)]
    reason: String,
    /// `preview` or `confirm`.
    #[serde(default)]
    action: String,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn declare_form(State(state): State<AppState>, s: Session) -> Response {
    render(
        "declare.html",
        s.lang,
        context! {
            me => s.caller.name, csrf => s.csrf, tenant => tenant_name(&state, &s.caller.tenant),
            form => ser(&DeclareForm::default()),
        },
    )
}

/// Shows the preview, or (after a preview) declares — above the approval threshold the
/// declaration waits for a second person.
pub async fn declare(
    State(state): State<AppState>,
    s: Session,
    Form(f): Form<DeclareForm>,
) -> Response {
    if !s.csrf_ok(&f.csrf) {
        return stale_form();
    }
    if s.caller.role < Role::Operator {
        return forbidden(
            "Absagen erklären darf nur, wer die Rolle „operator“ oder „approver“ hat.",
        );
    }
    let request = crate::declare::DeclareRequest {
        from: Some(f.from.clone()),
        to: Some(f.to.clone()),
        services: list(&f.services),
        locations: list(&f.locations),
        keys: None,
        batch: false,
        reason: f.reason.clone(),
    };
    let confirm = f.action == "confirm";
    let page = |impact: Option<&crate::declare::Impact>, error: Option<&str>| {
        render(
            "declare.html",
            s.lang,
            context! {
                me => s.caller.name.clone(), csrf => s.csrf.clone(),
                tenant => tenant_name(&state, &s.caller.tenant), form => ser(&f),
                impact => impact.map(ser), error => error,
            },
        )
    };
    match crate::http::api::outages::submit(&state, &s.caller, &request, !confirm).await {
        Ok((_, declared)) if declared.status == "preview" => page(Some(&declared.impact), None),
        Ok((_, declared)) => match (declared.impact.id, declared.approval) {
            (Some(id), _) => Redirect::to(&format!("/ui/outages/{id}")).into_response(),
            _ => Redirect::to("/ui/approvals").into_response(),
        },
        Err(e) => {
            let mut resp = page(None, Some(e.message()));
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            resp
        }
    }
}

/// Marks a citizen of the call list as phoned (by the signed-in person, now).
pub async fn mark_called(
    State(state): State<AppState>,
    s: Session,
    Path((id, booking)): Path<(i64, i64)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !s.csrf_ok(&f.csrf) {
        return stale_form();
    }
    if s.caller.role < Role::Operator {
        return forbidden(
            "Anrufe vermerken darf nur, wer die Rolle „operator“ oder „approver“ hat.",
        );
    }
    if let Err(r) = own(&state, &s, id).await {
        return *r;
    }
    let now_ms = crate::domain::to_millis((state.clock)());
    let marked = async {
        let mut conn = state.store.conn().await?;
        let on_list = outages::target_states(&mut conn, id)
            .await?
            .iter()
            .any(|(b, _)| *b == booking);
        if !on_list {
            return anyhow::Ok(None);
        }
        let first =
            crate::store::calls::mark(&mut conn, id, booking, &s.caller.name, now_ms).await?;
        if first {
            crate::store::audit::append(
                &mut conn,
                &crate::store::audit::Entry {
                    tenant: Some(&s.caller.tenant),
                    actor: &s.caller.name,
                    action: "call.mark",
                    subject: Some(format!("outage #{id}")),
                    details: serde_json::json!({ "booking": booking }),
                },
                now_ms,
            )
            .await?;
        }
        Ok(Some(()))
    };
    match marked.await {
        Ok(Some(())) => Redirect::to(&format!("/ui/outages/{id}/calllist")).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            "Dieser Termin gehört nicht zu dieser Absage.",
        )
            .into_response(),
        Err(e) => unavailable(format!("{e:#}")),
    }
}
