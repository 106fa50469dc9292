//! Script mode (commands from `-e`, `-f` or a non-terminal stdin) and the plain interactive
//! loop used on a terminal until the TUI lands.

use crate::cli::Args;
use anyhow::{Context, Result};
use qmdb_bridge::blocking::{BlockingTarget, ConnectOptions};
use qmdb_bridge::client::ClientOptions;
use qmdb_dcmds::{JsonOutput, Output, Session, TextOutput};
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

/// Where commands come from.
enum Source {
    Lines(Vec<String>),
    Stdin { interactive: bool },
}

fn source(args: &Args) -> Result<Source> {
    let mut lines: Vec<String> = args.execute.clone();
    if let Some(path) = &args.file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        lines.extend(text.lines().map(str::to_string));
    }
    if !lines.is_empty() {
        return Ok(Source::Lines(lines));
    }
    Ok(Source::Stdin {
        interactive: std::io::stdin().is_terminal(),
    })
}

/// Connects, runs every command, and detaches. Returns whether every command succeeded.
pub fn run(args: &Args) -> Result<bool> {
    let source = source(args)?;
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        anyhow::bail!("--timeout must be a positive number of seconds");
    }
    let opts = ConnectOptions {
        client: ClientOptions {
            timeout: Duration::from_secs_f64(args.timeout),
        },
        cache: !args.no_cache,
        writable: args.writable,
    };
    let target = BlockingTarget::connect(&args.target, opts)
        .with_context(|| format!("cannot attach to {}", args.target))?;
    let mut session = Session::new(Box::new(target));
    let stdout = std::io::stdout();
    let mut out: Box<dyn Output> = if args.json {
        Box::new(JsonOutput::new(stdout.lock()))
    } else {
        Box::new(TextOutput::with_diagnostics(
            stdout.lock(),
            Box::new(std::io::stderr()),
        ))
    };

    let mut all_ok = true;
    let mut run_line = |line: &str, out: &mut dyn Output| -> bool {
        let outcome = session.execute(line, out);
        all_ok &= outcome.all_ok;
        !(outcome.quit || outcome.fatal || out.is_closed())
    };
    match source {
        Source::Lines(lines) => {
            for line in &lines {
                if !run_line(line, out.as_mut()) {
                    break;
                }
            }
        }
        Source::Stdin { interactive } => {
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            let mut line = String::new();
            loop {
                if interactive {
                    print!("> ");
                    let _ = std::io::stdout().flush();
                }
                line.clear();
                if input.read_line(&mut line).context("reading commands")? == 0 {
                    break;
                }
                if !run_line(line.trim_end_matches(['\n', '\r']), out.as_mut()) {
                    break;
                }
            }
        }
    }
    drop(out);
    // Dropping the session detaches, leaving the VM as it was found.
    drop(session);
    Ok(all_ok)
}
