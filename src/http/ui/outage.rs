//! An outage's own pages: its report with charts, each booking's evidence, retrying failed
//! messages, retracting it, and the call list (with who phoned whom).

use super::pages::{local, ser, tenant_name};
use super::{CsrfForm, Session, chart, failed, forbidden, render, stale_form};
use crate::domain::account::Role;
use crate::http::State as AppState;
use crate::http::api::outages::ConservationView;
use crate::lifecycle::four_eyes::Action;
use crate::store::outages;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;

/// The caller's outage, or a 404 page.
async fn own(state: &AppState, s: &Session, id: i64) -> Result<outages::OutageRow, Box<Response>> {
    crate::overview::own_outage(&state.ctx, &s.caller.tenant, id)
        .await
        .map_err(|e| {
            Box::new(if is_not_found(&e) {
                let text = super::i18n::translate(s.lang, "Diese Absage gibt es nicht.");
                (StatusCode::NOT_FOUND, text).into_response()
            } else {
                failed(e, s.lang)
            })
        })
}

/// Rows of a page: the outage's bookings and the call list come 500 at a time, so that a
/// state-wide outage (100,000 bookings) stays a page a browser can show.
const ROWS_PER_PAGE: usize = 500;

/// The `page`-th (from 0, clamped) slice of `items`, and how many pages there are.
fn paged<T>(items: &[T], page: usize) -> (&[T], usize, usize) {
    let pages = items.len().div_ceil(ROWS_PER_PAGE).max(1);
    let page = page.min(pages - 1);
    let from = page * ROWS_PER_PAGE;
    let to = (from + ROWS_PER_PAGE).min(items.len());
    (&items[from.min(to)..to], page, pages)
}

/// Which bookings the outage page lists: those of one state of reach (`informed`, `unknown`,
/// `not_reached`; empty: all), one page.
#[derive(serde::Deserialize, Default)]
pub struct OutageQuery {
    #[serde(default)]
    reach: String,
    #[serde(default)]
    page: usize,
}

pub async fn outage(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<i64>,
    axum::extract::Query(q): axum::extract::Query<OutageQuery>,
) -> Response {
    let o = match own(&state, &s, id).await {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let (ctx, run) = (state.ctx.clone(), o.clone());
    let built = state.heavy(async move {
        let (_, rows, sent) = crate::reports::report_and_messages(&ctx, id).await?;
        let standing = crate::overview::standing(&ctx, &run).await?;
        anyhow::Ok((rows, standing, sent))
    });
    match built.await {
        Ok((rows, standing, sent)) => {
            let crate::overview::Standing {
                queue,
                conservation,
                removal_pending: removals,
            } = standing;
            // A retracted run's appointments stand: nobody is to be told or phoned.
            let conservation = conservation.map(ConservationView::from);
            let first = sent.iter().filter_map(|n| n.sent_at).min();
            let first_after = first.map(|f| {
                format!(
                    "{:.0} s",
                    (f - o.created_at).num_milliseconds() as f64 / 1000.0
                )
            });
            let failed = queue
                .iter()
                .filter(|q| q.state == "failed")
                .map(|q| q.count)
                .sum::<i64>();
            let over_time = chart::over_time(&sent, o.created_at, s.lang);
            let mut reach_counts: std::collections::BTreeMap<String, usize> = Default::default();
            for r in &rows {
                *reach_counts.entry(r.reach.as_str().to_owned()).or_default() += 1;
            }
            let chosen: Vec<&crate::reports::ReportRow> = rows
                .iter()
                .filter(|r| q.reach.is_empty() || r.reach.as_str() == q.reach)
                .collect();
            let (shown, page, pages) = paged(&chosen, q.page);
            let link = |page: usize| {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("reach", &q.reach)
                    .append_pair("page", &page.to_string())
                    .finish();
                format!("/ui/outages/{id}?{query}")
            };
            render(
                "outage.html",
                s.lang,
                context! {
                    me => s.caller.name, csrf => s.csrf, tenant => tenant_name(&state, &o.tenant_id),
                    window => format!("{} – {}", local(&state, &o.tenant_id, o.window_from), local(&state, &o.tenant_id, o.window_to)),
                    rows => ser(&shown), first_after => first_after, failed => failed,
                    total => rows.len(), matching => chosen.len(), reach_counts => ser(&reach_counts),
                    reach => &q.reach, page => page + 1, pages => pages,
                    previous => (page > 0).then(|| link(page - 1)),
                    next => (page + 1 < pages).then(|| link(page + 1)),
                    may_act => s.caller.role >= Role::Operator,
                    chart => minijinja::Value::from_safe_string(chart::by_state(&queue, s.lang)),
                    over_time => minijinja::Value::from_safe_string(over_time),
                    outage => ser(&o), removals => ser(&removals),
                    conservation => conservation.as_ref().map(ser),
                },
            )
        }
        Err(e) => failed(e, s.lang),
    }
}

/// One booking of the outage: what reached the citizen, piece by piece with its time, and how
/// to phone them (the citizen's data, for the tenant's own admins only).
pub async fn booking(
    State(state): State<AppState>,
    s: Session,
    Path((id, key)): Path<(i64, String)>,
) -> Response {
    let o = match own(&state, &s, id).await {
        Ok(o) => o,
        Err(r) => return *r,
    };
    // Its own messages only: light, so not queued behind whole-outage pages.
    let row = match crate::reports::report_of_booking(&state.ctx, id, &key).await {
        Ok(row) => row,
        Err(e) => return failed(e, s.lang),
    };
    let Some(row) = row else {
        let text = super::i18n::translate(s.lang, "Diesen Termin gibt es in dieser Absage nicht.");
        return (StatusCode::NOT_FOUND, text).into_response();
    };
    let b = &row.booking;
    let phone = b.phone_e164.clone().or_else(|| b.phone_raw.clone());
    render(
        "booking.html",
        s.lang,
        context! {
            me => s.caller.name, csrf => s.csrf, outage => ser(&o), row => ser(&row),
            history => ser(&row.evidence), name => &b.name, email => &b.email, phone => phone,
            phone_other => &b.phone_other, late_reason => &row.late_reason,
            suppressed => &row.email_suppressed,
        },
    )
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
    match crate::follow_up::retry_failed_of(&state.ctx, &s.caller, id).await {
        Ok(_) => Redirect::to(&format!("/ui/outages/{id}")).into_response(),
        Err(e) => failed(e, s.lang),
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
    let action = Action::Retract {
        outage: id,
        reason: f.reason,
    };
    after_gate(
        crate::lifecycle::four_eyes::submit(&state.ctx, &s.caller, &action, state.ctx.now(), false)
            .await,
        id,
        &s,
    )
}

/// Back to the outage once done; to the approvals when the action waits for a second person.
fn after_gate(
    result: anyhow::Result<crate::lifecycle::four_eyes::Submitted>,
    id: i64,
    s: &Session,
) -> Response {
    match result {
        Ok(crate::lifecycle::four_eyes::Submitted::Pending(..)) => {
            Redirect::to("/ui/approvals").into_response()
        }
        Ok(_) => Redirect::to(&format!("/ui/outages/{id}")).into_response(),
        Err(e) => failed(e, s.lang),
    }
}

#[derive(serde::Deserialize)]
pub struct ConfirmRemovalsForm {
    csrf: String,
    /// How many vanished bookings the page showed: if more vanished since, the person has not
    /// seen them, and the confirmation is refused.
    expected: Option<usize>,
}

/// A person confirms that the bookings which vanished from the export are really gone: they
/// leave the outage and what is still queued for them is cancelled (operators; audited).
pub async fn confirm_removals(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<i64>,
    Form(f): Form<ConfirmRemovalsForm>,
) -> Response {
    if !s.csrf_ok(&f.csrf) {
        return stale_form();
    }
    if s.caller.role < Role::Operator {
        return forbidden(
            "Entfernungen bestätigen darf nur, wer die Rolle „operator“ oder „approver“ hat.",
        );
    }
    let o = match own(&state, &s, id).await {
        Ok(o) => o,
        Err(r) => return *r,
    };
    if let Some(expected) = f.expected {
        match crate::reports::pending_removals(&state.ctx, &o).await {
            Ok(now) if now.len() == expected => {}
            Ok(_) => {
                let text = super::i18n::translate(
                    s.lang,
                    "Die Liste der verschwundenen Termine hat sich inzwischen geändert. Bitte laden Sie die Seite neu und prüfen Sie sie noch einmal.",
                );
                return (StatusCode::CONFLICT, text).into_response();
            }
            Err(e) => return failed(e, s.lang),
        }
    }
    let action = Action::ConfirmRemovals { outage: id };
    after_gate(
        crate::lifecycle::four_eyes::submit(&state.ctx, &s.caller, &action, state.ctx.now(), false)
            .await,
        id,
        &s,
    )
}

/// Which part of the call list a page shows: one location, only those not yet phoned, a page.
#[derive(serde::Deserialize, serde::Serialize, Default, Clone)]
pub struct CallListQuery {
    #[serde(default)]
    location: String,
    /// Any value: only the entries nobody has phoned yet.
    #[serde(default)]
    open: String,
    #[serde(default)]
    page: usize,
}

impl CallListQuery {
    fn path(&self, id: i64, page: usize) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("location", &self.location)
            .append_pair("open", &self.open)
            .append_pair("page", &page.to_string())
            .finish();
        format!("/ui/outages/{id}/calllist?{query}")
    }
}

pub async fn call_list(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<i64>,
    axum::extract::Query(q): axum::extract::Query<CallListQuery>,
) -> Response {
    let o = match own(&state, &s, id).await {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let ctx = state.ctx.clone();
    let list = match state
        .heavy(async move { crate::reports::call_list(&ctx, id).await })
        .await
    {
        Ok(list) => list,
        Err(e) => return failed(e, s.lang),
    };
    let total = list.len();
    let open_total = list.iter().filter(|e| e.called_by.is_none()).count();
    let mut locations: std::collections::BTreeMap<&str, usize> = Default::default();
    for e in &list {
        *locations.entry(e.location.as_str()).or_default() += 1;
    }
    let chosen: Vec<&crate::reports::CallListEntry> = list
        .iter()
        .filter(|e| q.location.is_empty() || e.location == q.location)
        .filter(|e| q.open.is_empty() || e.called_by.is_none())
        .collect();
    let (shown, page, pages) = paged(&chosen, q.page);
    render(
        "calllist.html",
        s.lang,
        context! {
            me => s.caller.name, csrf => s.csrf, tenant => tenant_name(&state, &o.tenant_id),
            outage => ser(&o), list => ser(&shown), total => total, open_total => open_total,
            matching => chosen.len(), locations => ser(&locations), query => ser(&q),
            page => page + 1, pages => pages,
            back => q.path(id, page),
            previous => (page > 0).then(|| q.path(id, page - 1)),
            next => (page + 1 < pages).then(|| q.path(id, page + 1)),
        },
    )
}

#[derive(serde::Deserialize)]
pub struct CalledForm {
    csrf: String,
    /// The list page to return to (its filter and page), a path of this outage's call list.
    #[serde(default)]
    back: String,
}

/// Marks a citizen of the call list as phoned (by the signed-in person, now).
pub async fn mark_called(
    State(state): State<AppState>,
    s: Session,
    Path((id, booking)): Path<(i64, i64)>,
    Form(f): Form<CalledForm>,
) -> Response {
    if !s.csrf_ok(&f.csrf) {
        return stale_form();
    }
    if s.caller.role < Role::Operator {
        return forbidden(
            "Anrufe vermerken darf nur, wer die Rolle „operator“ oder „approver“ hat.",
        );
    }
    // Back to the same page of the list; never anywhere else (an open redirect).
    let list = format!("/ui/outages/{id}/calllist");
    let back = match f.back.strip_prefix(&list) {
        Some(rest)
            if (rest.is_empty() || rest.starts_with('?'))
                && rest.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            f.back.clone()
        }
        _ => list,
    };
    if let Err(r) = own(&state, &s, id).await {
        return *r;
    }
    match crate::follow_up::mark_called(&state.ctx, &s.caller, id, booking).await {
        Ok(()) => Redirect::to(&back).into_response(),
        Err(e) if is_not_found(&e) => {
            let text =
                super::i18n::translate(s.lang, "Dieser Termin gehört nicht zu dieser Absage.");
            (StatusCode::NOT_FOUND, text).into_response()
        }
        Err(e) => failed(e, s.lang),
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<crate::lifecycle::Refused>(),
        Some(crate::lifecycle::Refused::NotFound(_))
    )
}
