//! The `absage` binary: parse the command line, wire up signals, run, map errors to exit codes.

use clap::Parser;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// See Cargo.toml: memory allocated on one thread and freed on another is the norm here
/// (import rows, statement values handed to SQLite's worker thread).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    absage::private_files::private_umask();
    let cli = absage::cli::Cli::parse();
    let shutdown = CancellationToken::new();
    tokio::spawn(absage::shutdown_on_signals(shutdown.clone()));
    match absage::cli::run(cli, shutdown).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
