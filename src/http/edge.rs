//! What every request of the listener passes through, outermost first:
//!
//! 1. request tracing ([`TraceLayer`]): a span `request{method, path}` around the handler, and
//!    one line per answer with its status and latency — at INFO, at DEBUG for the probes
//!    (`/healthz`, `/readyz`, `/metrics`), at WARN for a 5xx. Never the query string (a booking
//!    search carries a citizen's name there), headers (tokens, cookies) or bodies; a delivery
//!    report's path is logged as its route, without the signature;
//! 2. the hardening headers ([`hardening_headers`]);
//! 3. errors under `/api` as JSON ([`crate::http::api::json_errors`]);
//! 4. a request timeout, `http.request_timeout_secs` (503 with a sentence for people; 0: none);
//! 5. the one request body limit, [`MAX_BODY_BYTES`] (413), for every extractor: axum's own
//!    default limit is switched off so that there is only this one.
//!
//! The listener itself ([`super::server`]) caps connections and times out slow headers and
//! bodies.

use super::State;
use crate::config::HttpSettings;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::{Level, Span};

/// The largest request body taken (2 MiB, what axum allowed before): an Alertmanager batch, a
/// declaration with booking keys, a form.
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// `router` with the layers above.
pub fn layered(router: Router<State>, http: &HttpSettings) -> Router<State> {
    let router = router
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES));
    let router = match http.request_timeout_secs {
        0 => router,
        secs => router.layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(secs),
        )),
    };
    router
        .layer(axum::middleware::from_fn(timed_out_text))
        .layer(axum::middleware::from_fn(super::api::json_errors))
        .layer(axum::middleware::map_response(hardening_headers))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(answered)
                .on_failure(()),
        )
}

/// The timeout's empty 503 with a sentence for people (under `/api`, [`json_errors`] makes it
/// the JSON error `timeout`).
///
/// [`json_errors`]: super::api::json_errors
async fn timed_out_text(req: Request, next: axum::middleware::Next) -> Response {
    use http_body::Body as _;
    let resp = next.run(req).await;
    if resp.status() != StatusCode::SERVICE_UNAVAILABLE
        || resp.body().size_hint().exact() != Some(0)
    {
        return resp;
    }
    let text = "Das hat zu lange gedauert (http.request_timeout_secs). Bitte sehen Sie nach, ob es \
                ausgeführt wurde, bevor Sie es noch einmal versuchen. / This took too long; \
                please look whether it was carried out before trying again.";
    (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
}

/// Requests that monitoring repeats every few seconds: logged at DEBUG only.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The path as it may be logged: a route whose path carries a secret (the signature of a
/// delivery report) as its route, every other one as it is; never the query.
fn loggable_path(req: &Request) -> &str {
    match req.extensions().get::<MatchedPath>() {
        Some(route) if route.as_str().contains("{sig}") => route.as_str(),
        _ => req.uri().path(),
    }
}

fn request_span(req: &Request) -> Span {
    let path = loggable_path(req);
    if is_probe(path) {
        tracing::debug_span!("request", method = %req.method(), path = %path)
    } else {
        tracing::info_span!("request", method = %req.method(), path = %path)
    }
}

fn answered(resp: &Response, latency: Duration, span: &Span) {
    let status = resp.status().as_u16();
    let latency_ms = latency.as_millis() as u64;
    let probe = span.metadata().is_some_and(|m| *m.level() == Level::DEBUG);
    if resp.status().is_server_error() {
        tracing::warn!(status, latency_ms, "answered");
    } else if probe {
        tracing::debug!(status, latency_ms, "answered");
    } else {
        tracing::info!(status, latency_ms, "answered");
    }
}

/// Headers on every answer: no framing (clickjacking), no content sniffing, no referrer
/// leaving absage, and nothing kept in caches (pages, reports and call lists carry citizens'
/// names and numbers). A handler's own `Cache-Control` wins.
async fn hardening_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_logged_without_its_query() {
        let req = Request::builder()
            .uri("/api/bookings?q=B%C3%BCrger%20A1")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(loggable_path(&req), "/api/bookings");
        assert!(is_probe("/metrics") && !is_probe("/api/outages"));
    }
}
