//! Command history: kept across runs in a file (one command a line), deduplicated (running
//! a command again moves it to the end), bounded; browsed with Up/Down and searched with
//! Ctrl-R.

use std::io;
use std::path::{Path, PathBuf};

/// How many commands are kept.
pub const HISTORY_CAP: usize = 1000;

/// The command history and where the user is in it.
#[derive(Debug, Default)]
pub struct History {
    entries: Vec<String>,
    cap: usize,
    path: Option<PathBuf>,
    /// The entry shown while browsing with Up/Down.
    browsing: Option<usize>,
    /// The line as typed before browsing started, given back past the newest entry.
    draft: String,
}

impl History {
    /// An empty history kept nowhere.
    pub fn in_memory() -> Self {
        History {
            cap: HISTORY_CAP,
            ..History::default()
        }
    }

    /// Loads the history kept at `path` (`None`: kept nowhere). A missing file is an empty
    /// history; an unreadable one is an error (the UI says so and goes on without).
    pub fn load(path: Option<PathBuf>) -> (Self, Option<io::Error>) {
        let mut h = History {
            path,
            ..History::in_memory()
        };
        let err = match h.path.as_deref().map(std::fs::read_to_string) {
            Some(Ok(text)) => {
                for line in text.lines() {
                    h.add(line);
                }
                None
            }
            Some(Err(e)) if e.kind() == io::ErrorKind::NotFound => None,
            Some(Err(e)) => Some(e),
            None => None,
        };
        (h, err)
    }

    /// The commands, oldest first.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    fn add(&mut self, line: &str) -> bool {
        let line = line.trim();
        if line.is_empty() {
            return false;
        }
        self.entries.retain(|e| e != line);
        self.entries.push(line.to_string());
        if self.entries.len() > self.cap {
            let excess = self.entries.len() - self.cap;
            self.entries.drain(..excess);
        }
        true
    }

    /// Records a command that was run, and saves the history. Ends any browsing.
    pub fn push(&mut self, line: &str) -> io::Result<()> {
        self.reset();
        if !self.add(line) {
            return Ok(());
        }
        match &self.path {
            Some(path) => save(path, &self.entries),
            None => Ok(()),
        }
    }

    /// Stops browsing (the line was edited or run).
    pub fn reset(&mut self) {
        self.browsing = None;
        self.draft.clear();
    }

    /// The entry before the one shown (Up); `current` is the line as it is now, kept as the
    /// draft when browsing starts. `None` at the oldest entry.
    pub fn older(&mut self, current: &str) -> Option<&str> {
        let i = match self.browsing {
            None if self.entries.is_empty() => return None,
            None => {
                self.draft = current.to_string();
                self.entries.len() - 1
            }
            Some(0) => return None,
            Some(i) => i - 1,
        };
        let entry = self.entries.get(i)?;
        self.browsing = Some(i);
        Some(entry)
    }

    /// The entry after the one shown (Down), or the draft past the newest; `None` when not
    /// browsing.
    pub fn newer(&mut self) -> Option<String> {
        let i = self.browsing?;
        if let Some(entry) = self.entries.get(i + 1) {
            self.browsing = Some(i + 1);
            Some(entry.clone())
        } else {
            self.browsing = None;
            Some(std::mem::take(&mut self.draft))
        }
    }

    /// The newest entry before index `before` that contains `query` (case-insensitive when
    /// the query is lower case), as Ctrl-R searches.
    pub fn search(&self, query: &str, before: usize) -> Option<usize> {
        self.entries
            .iter()
            .take(before)
            .rposition(|e| super::output::matches(e, query))
    }
}

/// Writes the history beside its file, then renames it over, so a crash never leaves half a
/// file.
fn save(path: &Path, entries: &[String]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut text = entries.join("\n");
    text.push('\n');
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_deduplicated_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("history");
        let (mut h, err) = History::load(Some(path.clone()));
        assert!(err.is_none(), "a missing file is an empty history");
        h.push("::status").unwrap();
        h.push("::walk thread").unwrap();
        h.push("  ::status ").unwrap();
        h.push("").unwrap();
        assert_eq!(h.entries(), ["::walk thread", "::status"]);
        let (again, _) = History::load(Some(path.clone()));
        assert_eq!(again.entries(), ["::walk thread", "::status"]);

        let mut big = History::in_memory();
        for i in 0..HISTORY_CAP + 10 {
            big.push(&format!("{i:x}::findstack")).unwrap();
        }
        assert_eq!(big.entries().len(), HISTORY_CAP);
        assert_eq!(big.entries()[0], "a::findstack");
    }

    #[test]
    fn up_and_down_browse_and_give_back_the_draft() {
        let mut h = History::in_memory();
        for l in ["::status", "::ps", "::regs"] {
            h.push(l).unwrap();
        }
        assert_eq!(h.older("::wa"), Some("::regs"));
        assert_eq!(h.older("::regs"), Some("::ps"));
        assert_eq!(h.older("::ps"), Some("::status"));
        assert_eq!(h.older("::status"), None);
        assert_eq!(h.newer().as_deref(), Some("::ps"));
        assert_eq!(h.newer().as_deref(), Some("::regs"));
        assert_eq!(h.newer().as_deref(), Some("::wa"));
        assert_eq!(h.newer(), None);
    }

    #[test]
    fn search_finds_newest_first_and_then_older() {
        let mut h = History::in_memory();
        for l in ["::walk thread", "::ps -t", "::walk proc", "::regs"] {
            h.push(l).unwrap();
        }
        let first = h.search("walk", usize::MAX).unwrap();
        assert_eq!(h.entries()[first], "::walk proc");
        let second = h.search("walk", first).unwrap();
        assert_eq!(h.entries()[second], "::walk thread");
        assert_eq!(h.search("walk", second), None);
        assert_eq!(h.search("WALK", usize::MAX), None, "upper case is exact");
    }

    #[test]
    fn an_unreadable_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (h, err) = History::load(Some(dir.path().to_path_buf()));
        assert!(err.is_some());
        assert!(h.entries().is_empty());
    }
}
