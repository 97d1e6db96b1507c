//! The import history (with the rejected rows of each import) and the audit log, for the
//! signed-in person's tenant.

use super::pages::{ser, tenant_name, unavailable};
use super::{Session, render};
use crate::http::State as AppState;
use crate::import::ContactProblems;
use crate::store::{audit as audit_log, imports as history};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;

/// An instant in the tenant's zone, to the second.
fn local(state: &AppState, tenant: &str, ms: i64) -> String {
    super::pages::local_as(state, tenant, ms, "%d.%m.%Y %H:%M:%S")
}

pub async fn imports(State(state): State<AppState>, s: Session) -> Response {
    let tenant = s.caller.tenant.clone();
    let mut conn = match state.ctx.store.conn().await {
        Ok(c) => c,
        Err(e) => return unavailable(format!("{e:#}")),
    };
    let rows = match history::history_of_tenant(&mut conn, &tenant, 100).await {
        Ok(rows) => rows,
        Err(e) => return unavailable(e),
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
    let mut conn = match state.ctx.store.conn().await {
        Ok(c) => c,
        Err(e) => return unavailable(format!("{e:#}")),
    };
    let found = import_of(&mut conn, &s.caller.tenant, id);
    match found.await {
        Ok(Some((row, rejected, contact))) => {
            let rejected: serde_json::Value = rejected
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default();
            let contact: ContactProblems = contact
                .and_then(|j| serde_json::from_str(&j).ok())
                .unwrap_or_default();
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
                    import => ser(&row), rejected => ser(&rejected), contact => ser(&contact),
                },
            )
        }
        Ok(None) => (StatusCode::NOT_FOUND, "Diesen Import gibt es nicht.").into_response(),
        Err(e) => unavailable(e),
    }
}

type ImportFound = Option<(history::ImportRow, Option<String>, Option<String>)>;

/// An import of the tenant with its rejected rows and contact problems (both JSON).
async fn import_of(
    conn: &mut crate::store::Conn,
    tenant: &str,
    id: i64,
) -> sqlx::Result<ImportFound> {
    let Some((row, rejected)) = history::with_rejected(conn, tenant, id).await? else {
        return Ok(None);
    };
    let contact = history::contact_of(conn, tenant, id).await?;
    Ok(Some((row, rejected, contact)))
}

pub async fn audit(State(state): State<AppState>, s: Session) -> Response {
    let tenant = s.caller.tenant.clone();
    let mut conn = match state.ctx.store.conn().await {
        Ok(c) => c,
        Err(e) => return unavailable(format!("{e:#}")),
    };
    match audit_log::list(&mut conn, &tenant, 200).await {
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
        Err(e) => unavailable(e),
    }
}
