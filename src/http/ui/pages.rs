//! The pages: dashboard, an outage with its report and a chart, the printable call list, and
//! the approvals that wait for a second pair of eyes.

use super::{CsrfForm, Session, failed, forbidden, render, stale_form};
use crate::domain::account::Role;
use crate::http::State as AppState;
use crate::store::approvals;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::Serialize;

pub(super) fn ser<T: Serialize>(value: &T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}

/// An instant in the tenant's zone, as German offices write it.
pub(super) fn local(state: &AppState, tenant: &str, at: Option<DateTime<Utc>>) -> String {
    at.map_or("–".into(), |m| {
        local_as(state, tenant, m, "%d.%m.%Y %H:%M")
    })
}

/// An instant in the tenant's zone, in `format`.
pub(super) fn local_as(state: &AppState, tenant: &str, at: DateTime<Utc>, format: &str) -> String {
    let tz = state.ctx.settings.zone_of(tenant);
    at.with_timezone(&tz).format(format).to_string()
}

#[derive(Serialize)]
struct OutageLine {
    id: i64,
    kind: String,
    window: String,
    reason: String,
    informed: usize,
    unknown: usize,
    to_call: usize,
    not_informed_24h: usize,
}

pub async fn dashboard(State(state): State<AppState>, s: Session) -> Response {
    let tenant = s.caller.tenant.clone();
    let board = match crate::overview::dashboard(&state.ctx, &tenant).await {
        Ok(board) => board,
        Err(e) => return failed(e, s.lang),
    };
    let lines: Vec<OutageLine> = board
        .runs
        .into_iter()
        .map(|run| {
            let o = run.outage;
            OutageLine {
                id: o.id,
                window: format!(
                    "{} – {}",
                    local(&state, &tenant, o.window_from),
                    local(&state, &tenant, o.window_to)
                ),
                kind: o.kind.to_string(),
                reason: o.reason,
                informed: run.informed,
                unknown: run.unknown,
                to_call: run.to_call,
                not_informed_24h: run.not_informed_24h,
            }
        })
        .collect();
    let sources: Vec<_> = board
        .sources
        .into_iter()
        .map(|src| {
            context! {
                name => src.source,
                age => src.age_secs.map(|a| a / 60),
                stale => src.stale,
                outcome => src.last_outcome,
            }
        })
        .collect();
    render(
        "dashboard.html",
        s.lang,
        context! {
            me => s.caller.name, tenant => tenant_name(&state, &tenant), csrf => s.csrf,
            outages => ser(&lines), queue => ser(&board.queue),
            destinations => ser(&board.destinations), sources => sources,
            pending => board.pending_approvals,
        },
    )
}

pub(super) fn tenant_name(state: &AppState, tenant: &str) -> String {
    state
        .ctx
        .settings
        .tenant(tenant)
        .map_or(tenant.to_owned(), |t| t.name.clone())
}

pub async fn approvals(State(state): State<AppState>, s: Session) -> Response {
    let listed = async {
        let mut conn = state.ctx.store.conn().await?;
        anyhow::Ok(approvals::list(&mut conn, &s.caller.tenant).await?)
    };
    let list = match listed.await {
        Ok(list) => list,
        Err(e) => return failed(e, s.lang),
    };
    // What a pending request would do if approved now: the same dry run as the declare page.
    let mut lines = Vec::new();
    for a in &list {
        let preview = match crate::lifecycle::four_eyes::Action::of_approval(a) {
            Ok(action) if a.state == "pending" => crate::lifecycle::four_eyes::run(
                &state.ctx,
                &action,
                &a.tenant_id,
                &a.requested_by,
                state.ctx.now(),
                true,
            )
            .await
            .ok()
            .map(|impact| ser(&impact)),
            _ => None,
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
    let now = state.ctx.now();
    match crate::lifecycle::four_eyes::approve(&state.ctx, &s.caller, id, now).await {
        Ok(impact) => match impact.id {
            Some(outage) => Redirect::to(&format!("/ui/outages/{outage}")).into_response(),
            None => Redirect::to("/ui/approvals").into_response(),
        },
        Err(e) => failed(e, s.lang),
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
    let now = state.ctx.now();
    match crate::lifecycle::four_eyes::reject(&state.ctx, &s.caller, id, now).await {
        Ok(_) => Redirect::to("/ui/approvals").into_response(),
        Err(e) => failed(e, s.lang),
    }
}

/// The declaration form's fields, as sent. Services and locations are picked (checkboxes, one
/// value each) from the calendar's own names; `…_scope` says whether all or only the picked
/// ones are meant.
#[derive(Debug, Default, Serialize)]
pub struct DeclareForm {
    csrf: String,
    from: String,
    to: String,
    services: Vec<String>,
    locations: Vec<String>,
    /// `all` or `some`; empty when the form did not say (then: picked ones, or all).
    services_scope: String,
    locations_scope: String,
    reason: String,
    /// `preview` or `confirm`.
    action: String,
}

impl DeclareForm {
    /// From the form's fields; a field given several times (the checkboxes) collects its values.
    fn from_pairs(pairs: Vec<(String, String)>) -> DeclareForm {
        let mut f = DeclareForm::default();
        for (key, value) in pairs {
            match key.as_str() {
                "csrf" => f.csrf = value,
                "from" => f.from = value,
                "to" => f.to = value,
                "services" | "locations" if value.trim().is_empty() => {}
                "services" => f.services.push(value),
                "locations" => f.locations.push(value),
                "services_scope" => f.services_scope = value,
                "locations_scope" => f.locations_scope = value,
                "reason" => f.reason = value,
                "action" => f.action = value,
                _ => {}
            }
        }
        f
    }

    /// The services and locations the form means (empty: all), or why it is unclear.
    fn scope(&self) -> Result<(Vec<String>, Vec<String>), &'static str> {
        let services = chosen(
            &self.services_scope,
            &self.services,
            "Bei den Leistungen ist „alle“ gewählt, aber einzelne sind angekreuzt. Bitte wählen Sie „nur die angekreuzten“ oder entfernen Sie die Häkchen.",
            "Bei den Leistungen ist „nur die angekreuzten“ gewählt, aber keine angekreuzt.",
        )?;
        let locations = chosen(
            &self.locations_scope,
            &self.locations,
            "Bei den Orten ist „alle“ gewählt, aber einzelne sind angekreuzt. Bitte wählen Sie „nur die angekreuzten“ oder entfernen Sie die Häkchen.",
            "Bei den Orten ist „nur die angekreuzten“ gewählt, aber keiner angekreuzt.",
        )?;
        Ok((services, locations))
    }
}

/// All (empty) or the picked names; a choice that contradicts the ticks is refused rather
/// than guessed: cancelling too much or too little both hurt.
fn chosen(
    scope: &str,
    picked: &[String],
    all_but_picked: &'static str,
    none_picked: &'static str,
) -> Result<Vec<String>, &'static str> {
    match (scope, picked.is_empty()) {
        ("all" | "", true) => Ok(Vec::new()),
        ("all", false) => Err(all_but_picked),
        ("some", true) => Err(none_picked),
        _ => Ok(picked.to_vec()),
    }
}

/// The calendar's services and locations with counts of upcoming bookings, to pick from.
async fn calendar_names(
    state: &AppState,
    tenant: &str,
) -> anyhow::Result<crate::domain::names::Names> {
    let mut conn = state.ctx.store.conn().await?;
    crate::lifecycle::declare::known_names(&mut conn, tenant, state.ctx.now()).await
}

pub async fn declare_form(State(state): State<AppState>, s: Session) -> Response {
    let names = match calendar_names(&state, &s.caller.tenant).await {
        Ok(names) => names,
        Err(e) => return failed(e, s.lang),
    };
    let form = DeclareForm {
        services_scope: "all".into(),
        locations_scope: "all".into(),
        ..DeclareForm::default()
    };
    render(
        "declare.html",
        s.lang,
        context! {
            me => s.caller.name, csrf => s.csrf, tenant => tenant_name(&state, &s.caller.tenant),
            form => ser(&form), names => ser(&names),
        },
    )
}

/// Shows the preview, or (after a preview) declares — above the approval threshold the
/// declaration waits for a second person. The picked names are checked on the server like any
/// declaration's: a name the calendar does not know is refused with the closest ones.
pub async fn declare(
    State(state): State<AppState>,
    s: Session,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let f = DeclareForm::from_pairs(pairs);
    if !s.csrf_ok(&f.csrf) {
        return stale_form();
    }
    if s.caller.role < Role::Operator {
        return forbidden(
            "Absagen erklären darf nur, wer die Rolle „operator“ oder „approver“ hat.",
        );
    }
    let names = match calendar_names(&state, &s.caller.tenant).await {
        Ok(names) => names,
        Err(e) => return failed(e, s.lang),
    };
    // The form again, with the preview or with why it was refused (and the API's status).
    let page = |impact: Option<&crate::lifecycle::Impact>, error: Option<(StatusCode, &str)>| {
        let conservation = impact.map(|i| {
            ser(&crate::http::api::outages::ConservationView::from(
                i.conservation.clone(),
            ))
        });
        let mut resp = render(
            "declare.html",
            s.lang,
            context! {
                me => s.caller.name.clone(), csrf => s.csrf.clone(),
                tenant => tenant_name(&state, &s.caller.tenant), form => ser(&f),
                names => ser(&names), impact => impact.map(ser), conservation => conservation,
                error => error.map(|(_, message)| message),
            },
        );
        if let Some((status, _)) = error {
            *resp.status_mut() = status;
        }
        resp
    };
    let (services, locations) = match f.scope() {
        Ok(scope) => scope,
        Err(e) => {
            let unclear = super::i18n::translate(s.lang, e);
            return page(None, Some((StatusCode::BAD_REQUEST, &unclear)));
        }
    };
    let request = crate::lifecycle::DeclareRequest {
        from: Some(f.from.clone()),
        to: Some(f.to.clone()),
        services,
        locations,
        keys: None,
        batch: false,
        reason: f.reason.clone(),
    };
    let confirm = f.action == "confirm";
    let action = crate::lifecycle::four_eyes::Action::Declare(request);
    let now = state.ctx.now();
    use crate::lifecycle::four_eyes::Submitted;
    match crate::lifecycle::four_eyes::submit(&state.ctx, &s.caller, &action, now, !confirm).await {
        Ok(Submitted::Preview(impact)) => page(Some(&impact), None),
        Ok(Submitted::Done(crate::lifecycle::Impact { id: Some(id), .. })) => {
            Redirect::to(&format!("/ui/outages/{id}")).into_response()
        }
        Ok(_) => Redirect::to("/ui/approvals").into_response(),
        Err(e) => {
            let e = crate::http::api::ApiError::of_lifecycle(e);
            page(None, Some((e.status(), &super::message(&e, s.lang))))
        }
    }
}
