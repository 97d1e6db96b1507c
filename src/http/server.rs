//! The listener of `absage run`, hardened for being reachable from outside (gateways post
//! delivery reports, so it cannot always hide behind a proxy):
//!
//! - at most `max_connections` at once: beyond that, new connections wait in the kernel's
//!   backlog and cost absage no file descriptor, so the dispatcher can still open the database
//!   and its relays (see [`fitting_connections`] for the descriptors kept free);
//! - a connection must send a request's headers within `header_timeout` (so a half-sent request
//!   holds its place only that long), and this is also how long an idle keep-alive connection
//!   stays open;
//! - a request body must arrive within `body_timeout` from the end of the headers.
//!
//! axum's own `serve` has neither a connection cap nor these timeouts, hence this small loop
//! over hyper.

use crate::config::{HttpSettings, Settings};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How the listener protects itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

impl Limits {
    /// The limits `[http]` configures, as they are (see [`fitting_connections`] for the cap in
    /// force).
    pub fn from_settings(http: &HttpSettings) -> Limits {
        Limits {
            max_connections: http.max_connections.max(1) as usize,
            header_timeout: Duration::from_secs(http.header_timeout_secs.max(1)),
            body_timeout: Duration::from_secs(http.body_timeout_secs.max(1)),
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::from_settings(&HttpSettings::default())
    }
}

/// File descriptors kept for everything but HTTP connections: the process itself, logs,
/// import files, outbox files, DNS, the database's listener.
const RESERVED_FDS: u64 = 128;

/// The connection cap that leaves enough of `open_files` (the process's limit) for the
/// database (a SQLite connection holds the database, its WAL and its shared memory: three
/// descriptors) and the connections to relays and gateways; never above the configured cap.
pub fn fitting_connections(settings: &Settings, open_files: u64) -> usize {
    let relays: u64 = settings
        .email
        .relays
        .iter()
        .map(|r| r.concurrency as u64)
        .sum();
    let gateways: u64 = settings
        .sms
        .gateways
        .iter()
        .map(|g| g.concurrency() as u64)
        .sum();
    let reserved =
        RESERVED_FDS + 3 * u64::from(settings.database.max_connections) + relays + gateways;
    let room = open_files.saturating_sub(reserved).max(1);
    (settings.http.max_connections.max(1) as u64).min(room) as usize
}

/// Serves `router` on `listener` within `limits` until `shutdown` fires, then lets requests
/// in progress finish. Handlers can ask for `ConnectInfo<SocketAddr>`, the client's address.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    let mut accept_errors = 0u32;
    loop {
        // Take a slot before accepting, so that a full house leaves new connections in the
        // kernel's backlog instead of opening descriptors for them.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    accept_errors = 0;
                    accepted
                }
                Err(e) => {
                    // Out of descriptors (or a connection reset before it was accepted): log
                    // it once in a while and let the rest of the process breathe.
                    if accept_errors.is_multiple_of(100) {
                        tracing::warn!(error = %e, "accept error");
                    }
                    accept_errors = accept_errors.wrapping_add(1);
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                        () = shutdown.cancelled() => break,
                    }
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let req = req.map(|body| {
                    axum::body::Body::new(DeadlineBody::new(body, limits.body_timeout))
                });
                router.clone().oneshot(req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}

/// A request body that fails once `timeout` has passed since the request's headers, however
/// slowly its bytes trickle in.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )
            .into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Raises the soft limit of open files to the hard limit (systemd starts services with a soft
/// limit of 1,024 and a much higher hard one) and returns the limit in force; None where the
/// system does not say.
///
/// The limits are read from `/proc/self/limits`, not with `getrlimit`: the systemd unit's
/// system call filter denies `prlimit64` (`~@resources`), and with `LimitNOFILE=` there soft
/// and hard are equal, so nothing needs raising.
pub fn raise_open_files_limit() -> Option<u64> {
    let (soft, hard) = open_files_limits()?;
    #[cfg(unix)]
    if hard.is_none_or(|hard| soft < hard) {
        use rustix::process::{Resource, Rlimit, setrlimit};
        let raised = Rlimit {
            current: hard,
            maximum: hard,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, soft, "cannot raise the limit of open files");
            return Some(soft);
        }
        return open_files_limits().map(|(soft, _)| soft);
    }
    Some(soft)
}

/// The soft and hard limits of open files (None: unlimited) of this process.
fn open_files_limits() -> Option<(u64, Option<u64>)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files(&limits)
}

fn parse_open_files(limits: &str) -> Option<(u64, Option<u64>)> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut values = line["Max open files".len()..].split_whitespace();
    let soft = values.next()?.parse().ok()?;
    let hard = match values.next()? {
        "unlimited" => None,
        n => Some(n.parse().ok()?),
    };
    Some((soft, hard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_descriptors_for_the_database_and_the_relays() {
        let mut s = Settings::default();
        s.http.max_connections = 512;
        s.database.max_connections = 8;
        assert_eq!(
            fitting_connections(&s, 1_048_576),
            512,
            "the configured cap"
        );
        assert_eq!(fitting_connections(&s, 1024), 512);
        assert_eq!(fitting_connections(&s, 512), 512 - 128 - 24);
        s.email.relays = vec![
            toml::from_str("name = \"a\"\nhost = \"h\"\nport = 25\nconcurrency = 10").unwrap(),
        ];
        assert_eq!(fitting_connections(&s, 512), 512 - 128 - 24 - 10);
        assert_eq!(fitting_connections(&s, 100), 1, "never none at all");
    }

    #[test]
    fn the_open_files_limits_are_read_from_proc() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             63452                63452                processes\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_open_files(limits), Some((1024, Some(524_288))));
        let unlimited =
            "Max open files            4096                 unlimited            files\n";
        assert_eq!(parse_open_files(unlimited), Some((4096, None)));
        assert_eq!(parse_open_files("Max processes 1 1 processes"), None);
        assert!(raise_open_files_limit().is_some_and(|n| n >= 1024));
    }
}
