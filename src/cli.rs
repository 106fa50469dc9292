//! Command-line interface.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Commands are mdb's: `addr/K`, `expr=X`, `::dcmd args`, `::walk x | ::dcmd`,
`$r`, `$q`. Inside qmdb, `::dcmds`, `::walkers`, `::formats` and `::help NAME`
list them all.

On a terminal (stdin and stdout), without -e, -f, --json or --no-tui, qmdb
opens its terminal UI; F1 there lists the keys. Its command history is kept in
$XDG_STATE_HOME/qmdb/history (default ~/.local/state/qmdb/history), shared
with the `> ` prompt of --no-tui (line editing, Tab completion, history). At a
prompt, an empty line repeats the last command (`addr/X` shows what follows).

Script mode, the `> ` prompt and the UI first run the commands in ~/.qmdbrc
(or $QMDB_RC), as mdb runs .mdbrc: before any -e or -f, in the same session.
`QMDB_RC=` (empty) or --no-rc skips it. Its errors name FILE:LINE and do not
stop qmdb; with --json its output goes to stderr.

Examples:
  qemu-system-x86_64 -s ...                 # QEMU's gdbstub on 127.0.0.1:1234
  qmdb --target 127.0.0.1:1234 -k vmlinuz   # the terminal UI
  qmdb --no-tui                             # a plain `> ` prompt instead
  qmdb -e '$r; <rsp,4/K'                    # one-shot
  echo '::status' | qmdb --json             # script mode, JSON lines
  qmdb proxy -k vmlinuz                     # for gdb: target remote :2345
  qmdb mcp --target 127.0.0.1:1234          # for AI agents, over stdio

`qmdb proxy` serves stock gdb (and its front ends) with kernel tasks as
threads and dcmds as `monitor` commands; `qmdb proxy --help` says more.
`qmdb mcp` is a Model Context Protocol server whose tools are the dcmds;
`qmdb mcp --help` says more.";

const MCP_AFTER_HELP: &str = "\
An MCP client starts `qmdb mcp` and speaks JSON-RPC on its stdin and stdout
(logs and errors go to stderr). qmdb attaches once, at startup, and detaches
when stdin ends or on SIGINT/SIGTERM, leaving the VM as it found it.

Tools: one per dcmd (`findstack`, `ps`, `print`, `walk`...), described by
the dcmd's `::help`, taking `address` (an mdb expression: `ffff8880...`,
`init_task`, `<rsp`) and `args` (the dcmd's arguments as typed after it);
and `command`, which runs any qmdb command line (`::walk thread |
::findstack -v`). Each returns the --json objects of its commands: text
lines in `output`, typed records in `data`.

Read-only unless started with -w, as the debugger itself; no shell pipe
(`cmd ! sh`); ~/.qmdbrc is not read. A client configuration, for example:
  {\"mcpServers\": {\"qmdb\": {\"command\": \"qmdb\",
   \"args\": [\"mcp\", \"--target\", \"127.0.0.1:1234\"]}}}";

const PROXY_AFTER_HELP: &str = "\
Then, in gdb: `file vmlinux` (a debug vmlinux: Debian's -dbg package), then
`target remote 127.0.0.1:2345`: the proxy tells gdb the KASLR slide
(qOffsets), and prints an add-symbol-file line for a gdb that ignores it.
gdb works as against QEMU's gdbstub, plus:
  info threads                  every kernel task (pid, comm, state; the
                                ones on a vCPU say so); `thread N` selects
                                one, and bt/frame/info registers show its
                                saved registers (pc in __schedule)
  monitor ::walk thread | ::findstack -v
                                any qmdb command line, output streamed back
  monitor qemu info registers   QEMU's own monitor (read-only without -w)
  monitor help                  both lists

Breakpoints, stepping, continue and Ctrl-C go to QEMU; gdb's `kill` does
not stop QEMU: the proxy detaches instead (the VM runs on). One gdb at a
time; gdb may disconnect and reconnect. SIGINT or SIGTERM ends the proxy,
detaching from QEMU and leaving the VM running.

A gdbstub gives full control of the VM: --listen on anything but a
loopback address lets anyone who can reach it take the VM over.";

/// mdb-style kernel debugging for QEMU guests, over QEMU's gdbstub.
#[derive(Debug, Parser)]
#[command(name = "qmdb", version, about, after_help = AFTER_HELP, term_width = 79)]
pub struct Args {
    /// What to run instead of the debugger itself.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The gdbstub to attach to (QEMU's `-s` is 127.0.0.1:1234).
    #[arg(
        short,
        long,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:1234",
        global = true
    )]
    pub target: String,

    /// The guest's kernel: a vmlinuz (bzImage) or vmlinux, checked against the
    /// guest. Optional: without it, qmdb finds the kernel in guest memory.
    #[arg(short, long, value_name = "FILE", global = true)]
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
    #[arg(short = 'w', long, global = true)]
    pub writable: bool,

    /// Seconds to wait for any one reply from the stub.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, global = true)]
    pub timeout: f64,

    /// Do not cache guest memory between reads (every read goes to the stub).
    #[arg(long, global = true)]
    pub no_cache: bool,

    /// Use the plain line-by-line prompt, not the terminal UI.
    #[arg(long)]
    pub no_tui: bool,

    /// Do not run ~/.qmdbrc (or $QMDB_RC) at startup.
    #[arg(long)]
    pub no_rc: bool,

    /// Log what qmdb does to stderr (-v: debug, -vv: trace with every packet). In
    /// the terminal UI, logs go to $XDG_STATE_HOME/qmdb/qmdb.log instead (default
    /// ~/.local/state/qmdb/qmdb.log), or nowhere if that cannot be opened.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// qmdb's subcommands; without one, qmdb is the debugger.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve stock gdb: kernel tasks as gdb threads, dcmds as `monitor` commands.
    #[command(after_help = PROXY_AFTER_HELP)]
    Proxy(ProxyArgs),
    /// Serve AI agents: a Model Context Protocol server on stdio, dcmds as tools.
    #[command(after_help = MCP_AFTER_HELP)]
    Mcp,
}

/// `qmdb proxy`'s own options (with the global --target, --kernel, -w, -v...).
#[derive(Debug, Clone, clap::Args)]
pub struct ProxyArgs {
    /// Where gdb connects. Port 0 picks a free port (printed). Anything but a
    /// loopback address exposes the VM to whoever can reach it.
    #[arg(
        short,
        long,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:2345"
    )]
    pub listen: String,

    /// What gdb's threads are: every kernel task (needs the kernel's types), or
    /// QEMU's vCPUs.
    #[arg(long, value_enum, value_name = "VIEW", default_value_t = Threads::Tasks)]
    pub threads: Threads,
}

/// `--threads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Threads {
    /// Every kernel task (the vCPUs when there is no kernel or no BTF).
    Tasks,
    /// QEMU's vCPUs, as gdb sees them attached to QEMU directly.
    Vcpus,
}

/// Where logs are written.
pub enum LogTo {
    Stderr,
    /// Appended to this file (the terminal belongs to the UI); dropped if it cannot be
    /// opened.
    File(Option<PathBuf>),
}

/// Sets up `tracing`: `quiet` is the filter without `-v` (`"off"`, or what a mode always
/// reports), `-v`/`-vv` and `RUST_LOG` ask for more.
pub fn init_logging(verbose: u8, to: LogTo, quiet: &'static str) {
    let default = match verbose {
        0 => quiet,
        1 => "qmdb=debug,qmdb_bridge=debug,qmdb_dcmds=debug,qmdb_tui=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match to {
        LogTo::Stderr => {
            use std::io::IsTerminal;
            builder
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .init()
        }
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
        let mut cmd = Args::command();
        let help = cmd.render_long_help().to_string();
        let proxy = cmd
            .find_subcommand_mut("proxy")
            .expect("proxy subcommand")
            .render_long_help()
            .to_string();
        let mcp = cmd
            .find_subcommand_mut("mcp")
            .expect("mcp subcommand")
            .render_long_help()
            .to_string();
        for line in help.lines().chain(proxy.lines()).chain(mcp.lines()) {
            assert!(line.chars().count() <= 79, "too wide: {line:?}");
        }
    }

    #[test]
    fn without_a_subcommand_qmdb_is_the_debugger() {
        let a =
            Args::try_parse_from(["qmdb", "--target", "h:1", "-k", "vmlinuz", "-e", "$r"]).unwrap();
        assert!(a.command.is_none());
        assert_eq!(a.target, "h:1");
        assert_eq!(a.execute, vec!["$r".to_string()]);
    }

    #[test]
    fn mcp_takes_the_attach_options_and_no_script() {
        for argv in [
            &["qmdb", "mcp", "--target", "h:1", "-k", "vm", "-w"][..],
            &["qmdb", "--target", "h:1", "-k", "vm", "-w", "mcp"][..],
        ] {
            let a = Args::try_parse_from(argv).unwrap();
            assert!(matches!(a.command, Some(Command::Mcp)), "{argv:?}");
            assert_eq!(a.target, "h:1");
            assert_eq!(a.kernel, Some(PathBuf::from("vm")));
            assert!(a.writable);
        }
        assert!(Args::try_parse_from(["qmdb", "mcp", "-e", "$r"]).is_err());
    }

    #[test]
    fn no_rc_is_an_option_of_the_debugger() {
        let a = Args::try_parse_from(["qmdb", "--no-rc", "-e", "$r"]).unwrap();
        assert!(a.no_rc);
        assert!(!Args::try_parse_from(["qmdb"]).unwrap().no_rc);
    }

    #[test]
    fn proxy_takes_the_attach_options_before_or_after_it() {
        for argv in [
            &["qmdb", "proxy", "--target", "h:1", "-k", "vm", "-w", "-v"][..],
            &["qmdb", "--target", "h:1", "-k", "vm", "-w", "-v", "proxy"][..],
        ] {
            let a = Args::try_parse_from(argv).unwrap();
            let Some(Command::Proxy(p)) = &a.command else {
                panic!("{argv:?}: {a:?}");
            };
            assert_eq!(p.listen, "127.0.0.1:2345");
            assert_eq!(p.threads, Threads::Tasks);
            assert_eq!(a.target, "h:1");
            assert_eq!(a.kernel, Some(PathBuf::from("vm")));
            assert!(a.writable);
            assert_eq!(a.verbose, 1);
        }
        let a = Args::try_parse_from([
            "qmdb",
            "proxy",
            "--listen",
            "0.0.0.0:0",
            "--threads",
            "vcpus",
        ])
        .unwrap();
        let Some(Command::Proxy(p)) = &a.command else {
            panic!("{a:?}");
        };
        assert_eq!(p.listen, "0.0.0.0:0");
        assert_eq!(p.threads, Threads::Vcpus);
        // Script options are the debugger's, not the proxy's.
        assert!(Args::try_parse_from(["qmdb", "proxy", "-e", "$r"]).is_err());
        assert!(Args::try_parse_from(["qmdb", "proxy", "--threads", "cpus"]).is_err());
    }
}
