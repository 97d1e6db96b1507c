//! An outage's own pages: its report with charts, retrying failed messages, retracting it, and
//! the call list (with who phoned whom).

use super::pages::{local, ser, tenant_name, unavailable};
use super::{CsrfForm, Session, chart, forbidden, render, stale_form};
use crate::domain::account::Role;
use crate::http::State as AppState;
use crate::http::api::outages::ConservationView;
use crate::lifecycle::four_eyes::Action;
use crate::store::{notifications, outages, queue_admin};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;

/// The caller's outage, or a 404 page.
async fn own(state: &AppState, s: &Session, id: i64) -> Result<outages::OutageRow, Box<Response>> {
    let mut conn = state
        .ctx
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

pub async fn outage(State(state): State<AppState>, s: Session, Path(id): Path<i64>) -> Response {
    let o = match own(&state, &s, id).await {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let built = async {
        let (_, rows) = crate::reports::report(&state.ctx, id).await?;
        let removals = crate::reports::pending_removals(&state.ctx, &o).await?;
        let mut conn = state.ctx.store.conn().await?;
        let queue = notifications::counts(&mut conn, Some(id)).await?;
        let sent = notifications::of_outage(&mut conn, id).await?;
        // A retracted run's appointments stand: nobody is to be told or phoned.
        let conservation = if o.state == "retracted" {
            None
        } else {
            let counts =
                crate::lifecycle::impact::conservation_of(&mut conn, &o, state.ctx.now()).await?;
            Some(ConservationView::from(counts))
        };
        anyhow::Ok((rows, removals, queue, sent, conservation))
    };
    match built.await {
        Ok((rows, removals, queue, sent, conservation)) => {
            let first = sent.iter().filter_map(|n| n.sent_at).min();
            let first_after = first.map(|f| format!("{:.0} s", (f - o.created_at) as f64 / 1000.0));
            let failed = queue
                .iter()
                .filter(|q| q.state == "failed")
                .map(|q| q.count)
                .sum::<i64>();
            let over_time = chart::over_time(&sent, o.created_at, s.lang);
            render(
                "outage.html",
                s.lang,
                context! {
                    me => s.caller.name, csrf => s.csrf, tenant => tenant_name(&state, &o.tenant_id),
                    window => format!("{} – {}", local(&state, &o.tenant_id, o.window_from), local(&state, &o.tenant_id, o.window_to)),
                    rows => ser(&rows), first_after => first_after, failed => failed,
                    may_act => s.caller.role >= Role::Operator,
                    chart => minijinja::Value::from_safe_string(chart::by_state(&queue, s.lang)),
                    over_time => minijinja::Value::from_safe_string(over_time),
                    outage => ser(&o), removals => ser(&removals),
                    conservation => conservation.as_ref().map(ser),
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
    let now_ms = crate::domain::to_millis(state.ctx.now());
    let done = async {
        let mut conn = state.ctx.store.conn().await?;
        let all = queue_admin::Failed::OfOutage(id);
        let n = queue_admin::retry(&mut conn, &s.caller.tenant, all, now_ms).await?;
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
    let action = Action::Retract {
        outage: id,
        reason: f.reason,
    };
    after_gate(
        crate::lifecycle::four_eyes::submit(&state.ctx, &s.caller, &action, state.ctx.now(), false)
            .await,
        id,
    )
}

/// Back to the outage once done; to the approvals when the action waits for a second person.
fn after_gate(result: anyhow::Result<crate::lifecycle::four_eyes::Submitted>, id: i64) -> Response {
    match result {
        Ok(crate::lifecycle::four_eyes::Submitted::Pending(..)) => {
            Redirect::to("/ui/approvals").into_response()
        }
        Ok(_) => Redirect::to(&format!("/ui/outages/{id}")).into_response(),
        Err(e) => super::refused(&crate::http::api::ApiError::of_lifecycle(e)),
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
            Err(e) => return unavailable(format!("{e:#}")),
        }
    }
    let action = Action::ConfirmRemovals { outage: id };
    after_gate(
        crate::lifecycle::four_eyes::submit(&state.ctx, &s.caller, &action, state.ctx.now(), false)
            .await,
        id,
    )
}

pub async fn call_list(State(state): State<AppState>, s: Session, Path(id): Path<i64>) -> Response {
    let o = match own(&state, &s, id).await {
        Ok(o) => o,
        Err(r) => return *r,
    };
    match crate::reports::call_list(&state.ctx, id).await {
        Ok(list) => render(
            "calllist.html",
            s.lang,
            context! { me => s.caller.name, csrf => s.csrf, tenant => tenant_name(&state, &o.tenant_id), outage => ser(&o), list => ser(&list) },
        ),
        Err(e) => unavailable(format!("{e:#}")),
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
    let now_ms = crate::domain::to_millis(state.ctx.now());
    let marked = async {
        let mut conn = state.ctx.store.conn().await?;
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
