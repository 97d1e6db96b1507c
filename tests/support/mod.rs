//! Helpers shared by the integration tests: real peers started per test.

pub mod browser;
pub mod mariadb;
pub mod peers;
pub mod postgres;
