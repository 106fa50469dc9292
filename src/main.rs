//! `qmdb`: mdb-style kernel debugging for QEMU guests.

mod cli;
mod script;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    cli::init_logging(args.verbose);
    match script::run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("qmdb: {e:#}");
            ExitCode::from(1)
        }
    }
}
