//! The outbox (table `notifications`), by purpose:
//!
//! - [`enqueue`]: what the outage lifecycle writes — enqueue, cancel what is no longer needed
//! - [`outbox`]: what the dispatcher does — claim with a lease, record outcomes, expire
//! - [`delivery`]: delivery reports and a failed delivery moving the citizen on
//! - [`reads`]: counts, a run's notifications, breakdowns and samples

pub mod delivery;
pub mod enqueue;
pub mod outbox;
pub mod reads;

pub use delivery::*;
pub use enqueue::*;
pub use outbox::*;
pub use reads::*;
