//! Bounces and complaints: what comes back to the return paths absage gives its emails.
//!
//! - [`parse`]: what a returned message says (a report, a complaint, a known bounce text, or
//!   nothing readable)

pub mod parse;
