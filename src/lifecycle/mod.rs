//! The outage lifecycle in one place: what an admin asks for, the four-eyes rule over it, and
//! what it does to the calendar and the queue. The command line, the admin API, the web UI and
//! the Alertmanager hook all call it the same way, with a [`Ctx`](crate::ctx::Ctx).
//!
//! - [`request`]: a declaration as received, parsed into a [`Declaration`]
//! - [`four_eyes`]: submit (preview, carry out, or wait for a second person), approve, reject
//! - [`declare`]: declare, amend, retract, confirm removals — each one transaction with its audit
//! - [`matching`]: which bookings a run affects; reads the facts and applies the [`plan`]
//! - `render`: a booking's messages rendered from the templates, as outbox rows
//! - [`plan`]: the rule "new, revived, changed, left" as a pure function, unit-tested
//! - [`impact`]: what a run amounts to (counts, costs, samples, the conservation line)
//! - [`planner`]: when messages will leave, as a pure simulation; [`deadline`]: it at work,
//!   putting whom it finds too late on the call list

/// Why the outage lifecycle refused an action: something the caller can act on. Every other
/// error (the database, a template) is a fault of absage, answered as such at the edges.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The request itself is wrong: a window that is no window, an unknown service, no reason.
    #[error("{0}")]
    Invalid(String),
    /// The outage, batch or approval does not exist (for this caller).
    #[error("{0}")]
    NotFound(String),
    /// It exists, but its state does not allow this (retracted, already decided).
    #[error("{0}")]
    Conflict(String),
    /// Not for this caller (the four-eyes rule, a role too small).
    #[error("{0}")]
    Forbidden(String),
}

/// Returns early with [`Refused::Invalid`].
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err($crate::lifecycle::Refused::Invalid(format!($($arg)*)).into())
    };
}

pub mod deadline;
pub mod declare;
pub mod four_eyes;
pub mod impact;
pub mod matching;
pub mod plan;
pub mod planner;
pub mod render;
pub mod request;

pub use declare::{Act, Amendment};
pub use four_eyes::{Action, Submitted};
pub use impact::{Conservation, Impact, Sample, SmsCost, SmsCountry};
pub use matching::MatchStats;
pub use request::{Declaration, DeclareRequest, parse_instant};
