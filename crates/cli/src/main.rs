//! `closedloop`: the one binary. It reads configuration, opens the store and
//! hands each subcommand to the crate that does the work.

mod cli;
mod closed_loop;
mod clusters;
mod config;
mod contacts;
mod demo;
mod demo_loop;
mod exchange;
mod facilities;
mod report;
mod trace;
mod users;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if !matches!(args.command, cli::Command::Serve(_) | cli::Command::Demo(_)) {
        die_quietly_on_broken_pipe();
    }
    let config = match config::Config::resolve(&args.global) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(&args.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args.command, config.clone())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report::print_failure(&e, config.lang);
            ExitCode::FAILURE
        }
    }
}

/// A command whose output goes into a closed pipe (`closedloop export cases | head`)
/// stops there, silently, like any Unix tool, instead of panicking in `println!`.
/// The server keeps Rust's default (the signal ignored): a client that hangs
/// up must not stop it.
fn die_quietly_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr: JSON lines for the server (structured logs), terse text otherwise.
fn init_logging(command: &cli::Command) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CLOSEDLOOP_LOG").unwrap_or_else(|_| {
        EnvFilter::new(match command {
            cli::Command::Serve(_) | cli::Command::Demo(_) => "info,sqlx=warn",
            _ => "warn",
        })
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if matches!(command, cli::Command::Serve(_))
        && std::env::var("CLOSEDLOOP_LOG_FORMAT").as_deref() != Ok("text")
    {
        builder.json().init();
    } else {
        builder.init();
    }
}
