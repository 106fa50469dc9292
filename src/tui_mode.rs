//! The terminal UI mode: when it is chosen, and where it keeps its files.

use crate::cli::Args;
use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Whether to open the terminal UI: stdin and stdout are terminals, and no script
/// (`-e`, `-f`), `--json` or `--no-tui` asks for something else.
pub fn wanted(args: &Args) -> bool {
    !args.no_tui
        && !args.json
        && args.execute.is_empty()
        && args.file.is_none()
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal()
}

/// qmdb's state directory: `$XDG_STATE_HOME/qmdb`, else `~/.local/state/qmdb`.
fn state_dir() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        // The XDG spec: a relative path is invalid and is ignored.
        .filter(|p| p.is_absolute());
    let base = match xdg {
        Some(p) => p,
        None => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?)
            .join(".local")
            .join("state"),
    };
    Some(base.join("qmdb"))
}

/// Where the UI's command history is kept: `<state dir>/history`.
pub fn history_path() -> Option<PathBuf> {
    state_dir().map(|d| d.join("history"))
}

/// Where `-v` logs go in UI mode (the terminal is the UI's): `<state dir>/qmdb.log`.
pub fn log_path() -> Option<PathBuf> {
    state_dir().map(|d| d.join("qmdb.log"))
}

/// Runs the UI until the user quits. Returns whether the session ended cleanly.
pub fn run(args: &Args) -> Result<bool> {
    let mut attach = crate::script::attach_options(args)?;
    // The screen is the UI's: no progress lines on it (::status says how the kernel was
    // found, or why not).
    attach.progress = None;
    let startup = match crate::rc::path(args.no_rc) {
        None => Vec::new(),
        Some(rc) => match crate::rc::load(&rc) {
            Ok(lines) => lines
                .into_iter()
                .map(|(n, line)| (format!("{}:{n}", rc.display()), line))
                .collect(),
            Err(e) => {
                eprintln!("qmdb: {e}");
                Vec::new()
            }
        },
    };
    qmdb_tui::run(qmdb_tui::TuiOptions {
        attach,
        // The UI creates the directory when it first saves.
        history_path: history_path(),
        startup,
    })
    .context("terminal UI")
}
