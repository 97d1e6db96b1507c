//! The import history (with the rejected rows of each import) and the audit log, for the
//! signed-in person's tenant.

use super::pages::{ser, tenant_name};
use super::{Session, failed, render};
use crate::http::State as AppState;
use crate::store::{audit as audit_log, imports as history};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::context;

/// An instant in the tenant's zone, to the second.
fn local(state: &AppState, tenant: &str, at: DateTime<Utc>) -> String {
    super::pages::local_as(state, tenant, at, "%d.%m.%Y %H:%M:%S")
}

pub async fn imports(State(state): State<AppState>, s: Session) -> Response {
    let tenant = s.caller.tenant.clone();
    let listed = async {
        let mut conn = state.ctx.store.conn().await?;
        anyhow::Ok(history::history_of_tenant(&mut conn, &tenant, 100).await?)
    };
    let rows = match listed.await {
        Ok(rows) => rows,
        Err(e) => return failed(e, s.lang),
    };
    let lines: Vec<minijinja::Value> = rows
        .iter()
        .map(|r| {
            let took = r
                .duration_ms()
                .map_or("–".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0));
            context! {
                started => local(&state, &tenant, r.started_at), took => took, ..ser(r)
            }
        })
        .collect();
    render(
        "imports.html",
        s.lang,
        context! { me => s.caller.name, csrf => s.csrf, tenant => tenant_name(&state, &tenant), imports => lines },
    )
}

/// One import: the conservation line (read = imported + rejected), the contact data that cost
/// a booking a channel (per field, with position, field and reason, never the value), and the
/// rejected rows.
pub async fn import(State(state): State<AppState>, s: Session, Path(id): Path<i64>) -> Response {
    match crate::overview::import_detail(&state.ctx, &s.caller.tenant, id).await {
        Ok(detail) => {
            let row = &detail.import;
            let counts = &row.counts;
            let imported = counts.imported();
            let holds = counts.rows_read == imported + counts.rows_rejected;
            render(
                "import.html",
                s.lang,
                context! {
                    me => s.caller.name, csrf => s.csrf, tenant => tenant_name(&state, &s.caller.tenant),
                    started => local(&state, &s.caller.tenant, row.started_at),
                    imported => imported, holds => holds,
                    import => ser(row), rejected => ser(&detail.rejected),
                    contact => ser(&detail.contact),
                },
            )
        }
        Err(e)
            if matches!(
                e.downcast_ref::<crate::lifecycle::Refused>(),
                Some(crate::lifecycle::Refused::NotFound(_))
            ) =>
        {
            let text = super::i18n::translate(s.lang, "Diesen Import gibt es nicht.");
            (StatusCode::NOT_FOUND, text).into_response()
        }
        Err(e) => failed(e, s.lang),
    }
}

pub async fn audit(State(state): State<AppState>, s: Session) -> Response {
    let tenant = s.caller.tenant.clone();
    let listed = async {
        let mut conn = state.ctx.store.conn().await?;
        anyhow::Ok(audit_log::list(&mut conn, &tenant, 200).await?)
    };
    match listed.await {
        Ok(entries) => {
            let lines: Vec<minijinja::Value> = entries
                .into_iter()
                .map(|e| {
                    context! {
                        at => local(&state, &tenant, e.at), actor => e.actor, action => e.action,
                        subject => e.subject, details => e.details_json,
                    }
                })
                .collect();
            render(
                "audit.html",
                s.lang,
                context! { me => s.caller.name, csrf => s.csrf, tenant => tenant_name(&state, &tenant), entries => lines },
            )
        }
        Err(e) => failed(e, s.lang),
    }
}
