//! The terminal: raw mode, the alternate screen, the event loop joining keys, worker events
//! and drawing.

use qmdb_dcmds::attach::AttachOptions;
use std::path::PathBuf;

/// How the UI is started.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    pub attach: AttachOptions,
    /// Where command history is kept across runs (`None`: not kept).
    pub history_path: Option<PathBuf>,
}

/// Runs the UI until the user quits. Returns whether the session ended cleanly.
pub fn run(_opts: TuiOptions) -> std::io::Result<bool> {
    Err(std::io::Error::other("the terminal UI is not built yet"))
}
