//! The web UI: server-rendered pages (minijinja, auto-escaped, no JavaScript), German first,
//! for office heads and IT operators in a crisis.
//!
//! Sessions: after a login with name and password the browser holds a random token in the
//! cookie `absage_session` (HttpOnly, SameSite=Strict, Secure behind https), the database its
//! SHA-256. Every form carries the session's CSRF token, and a POST without the right one is
//! refused; the login form uses a double-submit cookie for the same. Login attempts are limited
//! per client address (`http.login_attempts_per_minute`), never per account, so that nobody
//! can lock the office head out; passwords are checked on a small blocking pool.
//!
//! - [`pages`]: dashboard, declare with preview, approvals
//! - [`outage`]: an outage's report with charts and conservation line, retry, retract,
//!   confirming vanished bookings, call list
//! - [`chart`]: the SVG charts
//! - [`records`]: import history with rejected rows and contact problems, audit log

pub mod chart;
pub mod i18n;
pub mod outage;
pub mod pages;
pub mod records;

use i18n::Lang;

use crate::accounts::Caller;
use crate::http::State as AppState;
use crate::http::api::ApiError;
use axum::Form;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use std::sync::LazyLock;

const SESSION_COOKIE: &str = "absage_session";
const LOGIN_COOKIE: &str = "absage_login";
const LANG_COOKIE: &str = "absage_lang";

/// Every page template, by name.
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("outage.html", include_str!("templates/outage.html")),
    ("booking.html", include_str!("templates/booking.html")),
    ("calllist.html", include_str!("templates/calllist.html")),
    ("approvals.html", include_str!("templates/approvals.html")),
    ("declare.html", include_str!("templates/declare.html")),
    ("imports.html", include_str!("templates/imports.html")),
    ("import.html", include_str!("templates/import.html")),
    ("audit.html", include_str!("templates/audit.html")),
    (
        "conservation.html",
        include_str!("templates/conservation.html"),
    ),
];

/// The language a page is rendered in (its `lang` variable).
fn lang_of(state: &minijinja::State) -> Lang {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().map(Lang::parse))
        .unwrap_or(Lang::De)
}

static PAGES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    for (name, text) in TEMPLATES {
        env.add_template(name, text)
            .expect("the UI templates are valid");
    }
    env.add_function("t", |state: &minijinja::State, text: &str| {
        i18n::translate(lang_of(state), text)
    });
    env.add_function("label", |state: &minijinja::State, code: &str| {
        i18n::label(lang_of(state), code)
    });
    env
});

/// Renders a page in `lang` (a template error is ours: logged, and a plain 500).
pub fn render(name: &str, lang: Lang, ctx: minijinja::Value) -> Response {
    let ctx = minijinja::context! { lang => lang.code(), ..ctx };
    match PAGES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, page = name, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Interner Fehler").into_response()
        }
    }
}

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(pages::dashboard))
        .route("/login", get(login_form).post(login))
        .route("/ui/lang/{code}", get(choose_language))
        .route("/logout", post(logout))
        .route("/ui/outages/{id}", get(outage::outage))
        .route("/ui/outages/{id}/calllist", get(outage::call_list))
        .route("/ui/outages/{id}/bookings/{key}", get(outage::booking))
        .route("/ui/outages/{id}/retry", post(outage::retry_failed))
        .route("/ui/outages/{id}/retract", post(outage::retract))
        .route(
            "/ui/outages/{id}/confirm-removals",
            post(outage::confirm_removals),
        )
        .route(
            "/ui/outages/{id}/called/{booking}",
            post(outage::mark_called),
        )
        .route("/ui/approvals", get(pages::approvals))
        .route("/ui/imports", get(records::imports))
        .route("/ui/imports/{id}", get(records::import))
        .route("/ui/audit", get(records::audit))
        .route("/ui/declare", get(pages::declare_form).post(pages::declare))
        .route("/ui/approvals/{id}/approve", post(pages::approve))
        .route("/ui/approvals/{id}/reject", post(pages::reject))
}

/// The signed-in person: their account, and the CSRF token their forms must carry.
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
    pub lang: Lang,
    token: String,
}

/// The language the person chose (cookie), German unless English.
fn lang(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE).map_or(Lang::De, |c| Lang::parse(&c))
}

/// The value of the request's cookie `name` (the first, of every `Cookie` header).
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Session, Response> {
        let to_login = || Redirect::to("/login").into_response();
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(to_login)?;
        match crate::accounts::session(&state.ctx.store, &token, state.ctx.now()).await {
            Ok(Some((caller, csrf))) => Ok(Session {
                caller,
                csrf,
                lang: lang(&parts.headers),
                token,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot look up a session");
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Datenbank nicht erreichbar",
                )
                    .into_response())
            }
        }
    }
}

impl Session {
    /// Whether a form carries this session's CSRF token; refuse it with [`stale_form`] if not.
    pub fn csrf_ok(&self, csrf: &str) -> bool {
        same(csrf, &self.csrf)
    }
}

/// Equal, compared by digest so the time taken does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    let h = crate::domain::account::token_hash;
    !a.is_empty() && h(a) == h(b)
}

/// The answer to a form without the right CSRF token.
pub fn stale_form() -> Response {
    forbidden("Das Formular ist abgelaufen. Bitte laden Sie die Seite neu.")
}

/// What a person reads when absage itself failed; the cause is in the server's log.
const FAULT: &str = "Das hat nicht geklappt: absage oder seine Datenbank hatte einen Fehler. Die Ursache steht im Protokoll des Servers. Bitte versuchen Sie es gleich noch einmal.";

/// An action refused or failed, with the API's status and a message for people: a refusal's
/// own (another tenant's request is 404 here too, as if it did not exist), for a failure of
/// absage (500) the UI's text, never its internals.
pub fn refused(e: &ApiError, lang: Lang) -> Response {
    (
        e.status(),
        Html(format!(
            "<p>{}</p>",
            minijinja::HtmlEscape(&message(e, lang))
        )),
    )
        .into_response()
}

/// The message of `e` for people.
pub fn message(e: &ApiError, lang: Lang) -> String {
    if e.code() == "internal" {
        i18n::translate(lang, FAULT)
    } else {
        e.message().to_owned()
    }
}

/// The answer to a failed service call: refusals keep their meaning, anything else is a
/// failure of absage (logged with its cause, 500).
pub fn failed(e: anyhow::Error, lang: Lang) -> Response {
    refused(&ApiError::of_lifecycle(e), lang)
}

pub fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(format!("<p>{}</p>", minijinja::HtmlEscape(message))),
    )
        .into_response()
}

/// Whether absage is reached over https (its public URL says so): then its cookies are
/// `Secure`.
fn https(state: &AppState) -> bool {
    state
        .ctx
        .settings
        .http
        .webhooks
        .public_url
        .starts_with("https://")
}

/// A cookie only absage's own pages send back and scripts cannot read: HttpOnly,
/// SameSite=Strict, Secure behind https, for `path`, kept `max_age` seconds (None: until the
/// browser closes).
fn private_cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    path: &'static str,
    max_age: Option<i64>,
) -> Cookie<'static> {
    let mut c = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https(state))
        .path(path);
    if let Some(secs) = max_age {
        c = c.max_age(cookie::time::Duration::seconds(secs));
    }
    c.build()
}

async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    login_page(&state, lang(&headers), None, "", StatusCode::OK)
}

/// Switches the UI's language (a cookie for a year) and goes back.
async fn choose_language(Path(code): Path<String>) -> Response {
    let chosen = Lang::parse(&code);
    let mut resp = Redirect::to("/").into_response();
    let year = cookie::time::Duration::days(365);
    let c = Cookie::build((LANG_COOKIE, chosen.code()))
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(year);
    set_cookie(&mut resp, &c.build());
    resp
}

/// The login form with a fresh double-submit CSRF token (in the form and in a cookie).
fn login_page(
    state: &AppState,
    lang: Lang,
    error: Option<&str>,
    name: &str,
    status: StatusCode,
) -> Response {
    let (token, _) = crate::domain::account::new_token();
    let mut page = render(
        "login.html",
        lang,
        minijinja::context! { csrf => token.clone(), error => error, name => name },
    );
    *page.status_mut() = status;
    let c = private_cookie(state, LOGIN_COOKIE, token, "/login", None);
    set_cookie(&mut page, &c);
    page
}

/// Adds `Set-Cookie` to the answer.
fn set_cookie(resp: &mut Response, c: &Cookie<'_>) {
    if let Ok(v) = axum::http::HeaderValue::from_str(&c.to_string()) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    crate::http::ClientAddr(client): crate::http::ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same(&form.csrf, &c)) {
        return forbidden("Das Anmeldeformular ist abgelaufen. Bitte laden Sie die Seite neu.");
    }
    let name = form.name.trim().to_owned();
    let chosen = lang(&headers);
    let again = |error: &str, status: StatusCode| {
        login_page(
            &state,
            chosen,
            Some(&i18n::translate(chosen, error)),
            &name,
            status,
        )
    };
    // Per client address, whatever the names tried: a flood of made-up names is stopped
    // before it costs a password hash each, and nobody can lock someone else out.
    if state.logins.len() > 10_000 {
        state.logins.retain_recent();
    }
    let client = client.unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    if state.logins.check_key(&client).is_err() {
        tracing::warn!(client = %client, "login attempts limited for a client address");
        return again(
            "Zu viele Versuche. Bitte warten Sie eine Minute.",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    match crate::accounts::login(&state.ctx.store, &name, &form.password, state.ctx.now()).await {
        Ok(Some((token, _csrf))) => {
            let mut resp = Redirect::to("/").into_response();
            let hours = crate::accounts::SESSION_HOURS;
            let c = private_cookie(&state, SESSION_COOKIE, token, "/", Some(hours * 3600));
            set_cookie(&mut resp, &c);
            resp
        }
        Ok(None) => again(
            "Name oder Passwort stimmen nicht.",
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "login failed");
            again(
                "Die Anmeldung ist gerade nicht möglich.",
                StatusCode::SERVICE_UNAVAILABLE,
            )
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !session.csrf_ok(&form.csrf) {
        return stale_form();
    }
    if let Err(e) = crate::accounts::logout(&state.ctx.store, &session.token, state.ctx.now()).await
    {
        tracing::error!(error = %format!("{e:#}"), "logout failed");
    }
    let mut resp = Redirect::to("/login").into_response();
    let gone = private_cookie(&state, SESSION_COOKIE, String::new(), "/", Some(0));
    set_cookie(&mut resp, &gone);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conservation(counts: crate::lifecycle::Conservation, lang: Lang) -> String {
        let view = crate::http::api::outages::ConservationView::from(counts);
        PAGES
            .get_template("conservation.html")
            .unwrap()
            .render(minijinja::context! {
                lang => lang.code(), conservation => pages::ser(&view),
            })
            .unwrap()
    }

    #[test]
    fn a_conservation_line_that_does_not_add_up_is_an_alarm() {
        let counts = crate::lifecycle::Conservation {
            affected: 5,
            with_message: 3,
            call_list: 1,
            covered_elsewhere: 2,
        };
        let html = conservation(counts.clone(), Lang::De);
        assert!(
            html.contains("betroffen 5 = mit Nachricht 3 + ohne Kanal (Anrufliste) 1"),
            "{html}"
        );
        assert!(
            html.contains("class=\"conservation alarm\" role=\"alert\""),
            "{html}"
        );
        assert!(html.contains("Die Zahlen gehen nicht auf"), "{html}");
        assert!(html.contains("2 weitere Termine im Zeitraum"), "{html}");
        let en = conservation(counts, Lang::En);
        assert!(
            en.contains("affected 5 = with a message 3 + no channel (call list) 1"),
            "{en}"
        );
        assert!(en.contains("The counts do not add up"), "{en}");

        let fine = crate::lifecycle::Conservation {
            affected: 4,
            with_message: 3,
            call_list: 1,
            covered_elsewhere: 0,
        };
        let html = conservation(fine, Lang::De);
        assert!(
            !html.contains("alarm") && !html.contains("weitere Termine"),
            "{html}"
        );
    }
}
