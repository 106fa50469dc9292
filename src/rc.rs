//! `~/.qmdbrc`: commands run at startup, as mdb runs `.mdbrc`.
//!
//! The file is `$QMDB_RC` when that is set (set but empty: none), else `~/.qmdbrc` when it
//! exists; `--no-rc` skips it. Its lines run in order before any `-e`/`-f` command or
//! prompt; blank lines and `//` comments are skipped. A failing line is reported with
//! `FILE:LINE` and the rest still runs: a broken rc file never stops qmdb.

use qmdb_dcmds::{Output, Session};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The environment variable naming the rc file.
pub const ENV: &str = "QMDB_RC";

/// The rc file to run, if any: `$QMDB_RC` (empty: none), else `~/.qmdbrc` if it exists.
pub fn path(no_rc: bool) -> Option<PathBuf> {
    if no_rc {
        return None;
    }
    match std::env::var_os(ENV) {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => {
            let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
            let p = PathBuf::from(home).join(".qmdbrc");
            p.is_file().then_some(p)
        }
    }
}

/// The commands of an rc file with their line numbers (from 1), blank lines and `//`
/// comments left out.
pub fn commands(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with("//"))
        .map(|(n, l)| (n, l.to_string()))
        .collect()
}

/// The commands of the rc file at `path`; an unreadable file is a message for stderr.
pub fn load(path: &Path) -> Result<Vec<(usize, String)>, String> {
    std::fs::read_to_string(path)
        .map(|t| commands(&t))
        .map_err(|e| format!("{}: not read: {e}", path.display()))
}

/// Prefixes the warnings and errors of an rc line with `FILE:LINE: `.
struct Located<'a> {
    inner: &'a mut dyn Output,
    place: String,
}

impl Output for Located<'_> {
    fn begin(&mut self, command: &str) {
        self.inner.begin(command)
    }
    fn line(&mut self, text: &str) {
        self.inner.line(text)
    }
    fn warning(&mut self, message: &str) {
        self.inner.warning(&format!("{}: {message}", self.place))
    }
    fn error(&mut self, message: &str) {
        self.inner.error(&format!("{}: {message}", self.place))
    }
    fn data(&mut self, value: Value) {
        self.inner.data(value)
    }
    fn record(&mut self, rec: Box<dyn qmdb_dcmds::record::AnyRecord>) {
        self.inner.record(rec)
    }
    fn end(&mut self) {
        self.inner.end()
    }
    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
    fn guest_resumed(&mut self) {
        self.inner.guest_resumed()
    }
}

/// How running an rc file went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RcOutcome {
    /// How many lines failed.
    pub failed: usize,
    /// A line asked to quit (`$q`), or the target is gone: the caller should end.
    pub stop: bool,
}

/// Runs the rc file at `path` (named `shown` in messages) on `session`.
pub fn run(session: &mut Session, path: &Path, out: &mut dyn Output) -> RcOutcome {
    let mut outcome = RcOutcome::default();
    let lines = match load(path) {
        Ok(lines) => lines,
        Err(e) => {
            eprintln!("qmdb: {e}");
            outcome.failed = 1;
            return outcome;
        }
    };
    for (n, line) in lines {
        let mut located = Located {
            inner: &mut *out,
            place: format!("{}:{n}", path.display()),
        };
        let o = session.execute(&line, &mut located);
        if !o.all_ok {
            outcome.failed += 1;
        }
        if o.quit || o.fatal || o.interrupted || out.is_closed() {
            outcome.stop = true;
            break;
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_and_comments_are_skipped_and_lines_keep_their_numbers() {
        let text = "// settings\n\n::status\n  $r  \n// end\n";
        assert_eq!(
            commands(text),
            vec![(3, "::status".to_string()), (4, "$r".to_string())]
        );
    }

    #[test]
    fn errors_are_located() {
        let mut cap = qmdb_dcmds::CaptureOutput::new();
        let mut l = Located {
            inner: &mut cap,
            place: "/h/.qmdbrc:3".into(),
        };
        l.begin("::nosuch");
        l.error("unknown dcmd");
        l.end();
        let (recs, _) = cap.take();
        assert_eq!(recs[0].error.as_deref(), Some("/h/.qmdbrc:3: unknown dcmd"));
    }
}
