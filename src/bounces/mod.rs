//! Bounces and complaints: what comes back to the return paths absage gives its emails.
//!
//! - [`parse`]: what a returned message says (a report, a complaint, a known bounce text, or
//!   nothing readable)
//! - [`intake`]: taking one returned message: the email it is about, its evidence, the citizen
//!   moved on, the address suppressed
//! - [`listener`]: absage's own SMTP listener for the bounce domain
//! - [`maildir`]: reading a Maildir folder the county's mail server delivers bounces to
//! - [`imap`]: reading an IMAP mailbox the same way

pub mod imap;
pub mod intake;
pub mod listener;
pub mod maildir;
pub mod parse;
