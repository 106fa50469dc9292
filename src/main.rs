//! `qmdb`: mdb-style kernel debugging for QEMU guests.

mod cli;
mod line_prompt;
mod mcp;
mod mcp_tools;
mod proxy_mode;
mod rc;
mod script;
mod tui_mode;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let result = match &args.command {
        Some(cli::Command::Proxy(proxy)) => {
            // What the proxy does on gdb's behalf (a refused `kill`, a second gdb turned
            // away, QEMU gone) is always said.
            cli::init_logging(args.verbose, cli::LogTo::Stderr, "qmdb_bridge::proxy=info");
            proxy_mode::run(&args, proxy)
        }
        Some(cli::Command::Mcp) => {
            // stdout is the protocol's: logs go to stderr.
            cli::init_logging(args.verbose, cli::LogTo::Stderr, "off");
            mcp::run(&args)
        }
        None => {
            let tui = tui_mode::wanted(&args);
            let log_to = if tui {
                cli::LogTo::File(tui_mode::log_path())
            } else {
                cli::LogTo::Stderr
            };
            cli::init_logging(args.verbose, log_to, "off");
            if tui {
                tui_mode::run(&args)
            } else {
                script::run(&args)
            }
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("qmdb: {e:#}");
            ExitCode::from(1)
        }
    }
}
