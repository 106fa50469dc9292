//! Command-line interface.

use clap::Parser;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Commands are mdb's: `addr/K`, `expr=X`, `::dcmd args`, `::walk x | ::dcmd`,
`$r`, `$q`. Inside qmdb, `::dcmds`, `::walkers`, `::formats` and `::help NAME`
list them all.

Examples:
  qemu-system-x86_64 -s ...                 # QEMU's gdbstub on 127.0.0.1:1234
  qmdb --target 127.0.0.1:1234              # interactive
  qmdb -e '$r; <rsp,4/K'                    # one-shot
  echo '::status' | qmdb --json             # script mode, JSON lines";

/// mdb-style kernel debugging for QEMU guests, over QEMU's gdbstub.
#[derive(Debug, Parser)]
#[command(name = "qmdb", version, about, after_help = AFTER_HELP, term_width = 79)]
pub struct Args {
    /// The gdbstub to attach to (QEMU's `-s` is 127.0.0.1:1234).
    #[arg(
        short,
        long,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:1234"
    )]
    pub target: String,

    /// The guest's kernel: a vmlinuz (bzImage) or vmlinux. Checked against the guest.
    #[arg(short, long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,

    /// Run these `;`-separated commands and exit (may be repeated).
    #[arg(short = 'e', long = "execute", value_name = "CMDS")]
    pub execute: Vec<String>,

    /// Run the commands in FILE and exit.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Print one JSON object per command (schema in the README).
    #[arg(long)]
    pub json: bool,

    /// Allow writing guest memory and registers (as mdb's -w). Off by default.
    #[arg(short = 'w', long)]
    pub writable: bool,

    /// Seconds to wait for any one reply from the stub.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,

    /// Do not cache guest memory between reads (every read goes to the stub).
    #[arg(long)]
    pub no_cache: bool,

    /// Log what qmdb does to stderr (-v: debug, -vv: trace with every packet).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Sets up `tracing` to stderr; silent unless `-v` (or `RUST_LOG`) asks for it.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "off",
        1 => "qmdb=debug,qmdb_bridge=debug,qmdb_dcmds=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn help_fits_79_columns() {
        let help = Args::command().render_long_help().to_string();
        for line in help.lines() {
            assert!(line.chars().count() <= 79, "too wide: {line:?}");
        }
    }
}
