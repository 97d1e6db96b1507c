//! The HTTP side of `absage run`: health and readiness for the supervisor, Prometheus metrics
//! for monitoring, and the admin API.
//!
//! - [`health`]: `/healthz`, `/readyz`
//! - [`metrics`]: the Prometheus text at `/metrics`
//! - [`hooks`]: signed SMS delivery reports at `/hooks/dlr/…`, Alertmanager at
//!   `/hooks/alertmanager`
//! - [`ui`]: the web UI (server-rendered, German), sessions with CSRF tokens
//! - [`api`]: the admin API under `/api` (accounts by token, tenant-scoped), with its OpenAPI
//!   description at `/api/openapi.json`
//! - [`edge`]: what every request passes: tracing, hardening headers, JSON errors under
//!   `/api`, a request timeout, the body size limit
//! - [`server`]: the listener, with a connection cap and header and body timeouts

pub mod api;
pub mod edge;
pub mod health;
pub mod hooks;
pub mod metrics;
pub mod server;
pub mod ui;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What the handlers share.
#[derive(Clone)]
pub struct State {
    /// The service layer's context (store, settings, templates, clock).
    pub ctx: crate::ctx::Ctx,
    /// Whether this instance's dispatcher moves (`/readyz`).
    pub progress: Arc<crate::dispatch::progress::Progress>,
    /// Login attempts per client address (web UI), `http.login_attempts_per_minute`. Not per
    /// account name: a stranger must not be able to lock the office head out.
    pub logins: Arc<governor::DefaultKeyedRateLimiter<IpAddr>>,
    /// One build at a time of what reads a whole outage (see [`State::heavy`]).
    heavy: Arc<tokio::sync::Semaphore>,
}

impl State {
    /// The handlers' state over `ctx`, with the dispatcher's `progress` for `/readyz`.
    pub fn new(ctx: crate::ctx::Ctx, progress: Arc<crate::dispatch::progress::Progress>) -> State {
        let per_minute = std::num::NonZeroU32::new(ctx.settings.http.login_attempts_per_minute)
            .unwrap_or(std::num::NonZeroU32::MIN);
        State {
            ctx,
            progress,
            logins: Arc::new(governor::RateLimiter::keyed(governor::Quota::per_minute(
                per_minute,
            ))),
            heavy: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// Runs `work` that reads a whole outage (its report, its call list: seconds for 100,000
    /// bookings) one at a time and on a thread of its own: however many people refresh the
    /// outage page, the runtime's workers stay free for the dispatcher and the other requests.
    pub async fn heavy<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    {
        let _turn = self.heavy.acquire().await?;
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || runtime.block_on(work)).await?
    }
}

/// The client's address: the connection's peer, or, when that is one of
/// `http.trusted_proxies`, the last address in `X-Forwarded-For` that is not a trusted proxy.
/// None when the router runs without [`server::serve`] (no peer known).
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<State> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let trusted = &state.ctx.settings.http.trusted_proxies;
        Ok(ClientAddr(peer.map(|peer| {
            if !trusted.contains(&peer) {
                return peer;
            }
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                .rev()
                .find(|a| !trusted.contains(a))
                .unwrap_or(peer)
        })))
    }
}

/// The token of an `Authorization: Bearer …` header (the scheme in any case, RFC 9110).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Every route, behind the [`edge`] layers (tracing, hardening headers, JSON errors under
/// `/api`, request timeout, body limit).
pub fn router(state: State) -> Router {
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/hooks/dlr/{id}/{claim}/{sig}",
            get(hooks::delivery_report).post(hooks::delivery_report),
        )
        .route(
            "/hooks/dlr/{id}/{sig}",
            get(hooks::delivery_report_unclaimed).post(hooks::delivery_report_unclaimed),
        )
        .route(
            "/hooks/dlr/gateway/{name}",
            get(hooks::gateway_report).post(hooks::gateway_report),
        )
        .route("/hooks/alertmanager", post(hooks::alertmanager))
        .merge(api::router())
        .merge(ui::router());
    edge::layered(routes, &state.ctx.settings.http).with_state(state)
}

/// Serves `router` on `listener` with the default [`server::Limits`] until `shutdown` fires
/// (then lets open requests finish).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    server::serve(listener, router, server::Limits::default(), shutdown).await
}
