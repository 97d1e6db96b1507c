//! The integration tests: one binary, the real application, real peers (smtp-sink, Kannel).

#[path = "../support/mod.rs"]
mod support;

mod helpers;
mod http;

mod amend;
mod api;
mod bench_import;
mod bench_queue;
mod bounces;
mod browser;
mod daemon;
mod db_faults;
mod declare;
mod dlr_failures;
mod dlr_providers;
mod evidence;
mod hardening;
mod import;
mod import_bomb;
mod import_cut;
mod import_runs;
mod import_unchanged;
mod instances;
mod leases;
mod messy;
mod peers_email;
mod peers_sms;
mod planner;
mod presets;
mod process;
mod prop_corruption;
mod queue;
mod rate_budget;
mod readonly;
mod relay_refusals;
mod retention;
mod sms_kannel;
mod smtp_pipelining;
mod smtp_tls;
mod ui;
