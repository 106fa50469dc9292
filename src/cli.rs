//! Command-line interface.

use clap::Parser;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Commands are mdb's: `addr/K`, `expr=X`, `::dcmd args`, `::walk x | ::dcmd`,
`$r`, `$q`. Inside qmdb, `::dcmds`, `::walkers`, `::formats` and `::help NAME`
list them all.

On a terminal (stdin and stdout), without -e, -f, --json or --no-tui, qmdb
opens its terminal UI; F1 there lists the keys. Its command history is kept in
$XDG_STATE_HOME/qmdb/history (default ~/.local/state/qmdb/history).

Examples:
  qemu-system-x86_64 -s ...                 # QEMU's gdbstub on 127.0.0.1:1234
  qmdb --target 127.0.0.1:1234 -k vmlinuz   # the terminal UI
  qmdb --no-tui                             # a plain `> ` prompt instead
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

    /// Use the plain line-by-line prompt, not the terminal UI.
    #[arg(long)]
    pub no_tui: bool,

    /// Log what qmdb does to stderr (-v: debug, -vv: trace with every packet). In
    /// the terminal UI, logs go to $XDG_STATE_HOME/qmdb/qmdb.log instead (default
    /// ~/.local/state/qmdb/qmdb.log), or nowhere if that cannot be opened.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Where logs are written.
pub enum LogTo {
    Stderr,
    /// Appended to this file (the terminal belongs to the UI); dropped if it cannot be
    /// opened.
    File(Option<PathBuf>),
}

/// Sets up `tracing`; silent unless `-v` (or `RUST_LOG`) asks for it.
pub fn init_logging(verbose: u8, to: LogTo) {
    let default = match verbose {
        0 => "off",
        1 => "qmdb=debug,qmdb_bridge=debug,qmdb_dcmds=debug,qmdb_tui=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match to {
        LogTo::Stderr => builder.with_writer(std::io::stderr).init(),
        LogTo::File(path) => {
            if filter_is_off(verbose) {
                return;
            }
            let file = path.and_then(|p| {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir).ok()?;
                }
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .ok()
            });
            match file {
                Some(f) => builder
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(f))
                    .init(),
                None => builder.with_writer(std::io::sink).init(),
            }
        }
    }
}

/// Whether nothing would be logged (no `-v`, no `RUST_LOG`): then no log file is created.
fn filter_is_off(verbose: u8) -> bool {
    verbose == 0 && std::env::var_os("RUST_LOG").is_none_or(|v| v.is_empty())
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
