//! The `> ` prompt of `--no-tui` on a terminal: line editing, history and Tab completion
//! by rustyline.
//!
//! The editor runs on its own thread and reads a line only when asked
//! ([`LinePrompt::ask`]), so that the command loop keeps watching the signal flags while
//! the user types: SIGTERM at the prompt still detaches at once. The history is the
//! terminal UI's (the same file, the same format, kept by [`qmdb_tui::app::history`]), and
//! completion offers the UI's names ([`qmdb_tui::app::completion`]): dcmds, walkers, `$`
//! aliases, and the kernel's symbols and types.

use nix::sys::termios::{self, SetArg, Termios};
use qmdb_tui::app::completion::Completer as Names;
use qmdb_tui::app::history::History;
use rustyline::completion::Completer;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::MemHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// The prompt, as mdb's.
const PROMPT: &str = "> ";

/// What one [`LinePrompt::ask`] gave.
#[derive(Debug)]
pub enum Read {
    /// A line as entered (blank: repeat the last command).
    Line(String),
    /// Ctrl-C: a fresh prompt.
    Interrupted,
    /// Ctrl-D on an empty line, or the terminal is gone.
    Eof,
    /// The terminal could not be read.
    Failed(String),
}

/// rustyline's helper: Tab completion from the UI's [`Names`]; no hints or colours.
struct QmdbHelper {
    names: Names,
}

impl Completer for QmdbHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let cursor = line.get(..pos).map_or(0, |s| s.chars().count());
        let Some(c) = self.names.complete(line, cursor) else {
            return Ok((pos, Vec::new()));
        };
        let start = line
            .char_indices()
            .nth(c.start)
            .map_or(line.len(), |(i, _)| i);
        let mut candidates = c.candidates.clone();
        if let [only] = candidates.as_mut_slice() {
            if c.adds_space() {
                only.push(' ');
            }
        }
        Ok((start, candidates))
    }
}

impl Hinter for QmdbHelper {
    type Hint = String;
}
impl Highlighter for QmdbHelper {}
impl Validator for QmdbHelper {}
impl Helper for QmdbHelper {}

/// The line editor, on its thread.
pub struct LinePrompt {
    asks: Sender<()>,
    reads: Receiver<Read>,
    /// The terminal's settings before the editor ever ran, put back by [`LinePrompt::restore`].
    saved: Option<Termios>,
}

impl LinePrompt {
    /// Starts the editor with the history kept at `history` and completion of `names`.
    pub fn start(history: Option<PathBuf>, names: Names) -> LinePrompt {
        let saved = termios::tcgetattr(std::io::stdin()).ok();
        let (asks, ask_rx) = mpsc::channel::<()>();
        let (read_tx, reads) = mpsc::channel();
        std::thread::spawn(move || editor_thread(history, names, ask_rx, read_tx));
        LinePrompt { asks, reads, saved }
    }

    /// Asks for the next line: the prompt appears, and [`LinePrompt::wait`] gives the line.
    pub fn ask(&self) {
        let _ = self.asks.send(());
    }

    /// Waits up to `timeout` for the line asked for.
    pub fn wait(&self, timeout: Duration) -> Result<Read, RecvTimeoutError> {
        self.reads.recv_timeout(timeout)
    }

    /// Puts the terminal back as it was before the editor ran: used when qmdb ends while the
    /// editor still waits for a key (in raw mode).
    pub fn restore(&self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, t);
        }
    }
}

/// Reads one line per ask until the asks or the reads channel is gone.
fn editor_thread(history: Option<PathBuf>, names: Names, asks: Receiver<()>, reads: Sender<Read>) {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut editor: Editor<QmdbHelper, MemHistory> =
        match Editor::with_history(config, MemHistory::new()) {
            Ok(e) => e,
            Err(e) => {
                let _ = reads.send(Read::Failed(e.to_string()));
                return;
            }
        };
    editor.set_helper(Some(QmdbHelper { names }));
    let (mut kept, err) = History::load(history);
    if let Some(e) = err {
        eprintln!("qmdb: history not read: {e}");
    }
    for line in kept.entries() {
        let _ = editor.add_history_entry(line.as_str());
    }
    let mut save_failed = false;
    for () in asks {
        let read = loop {
            match editor.readline(PROMPT) {
                Ok(line) => break Read::Line(line),
                Err(ReadlineError::Interrupted) => break Read::Interrupted,
                Err(ReadlineError::Eof) => break Read::Eof,
                // A window resize: read on.
                Err(ReadlineError::Signal(_)) => continue,
                Err(e) => break Read::Failed(e.to_string()),
            }
        };
        if let Read::Line(line) = &read {
            if !line.trim().is_empty() {
                let _ = editor.add_history_entry(line.trim());
                if let Err(e) = kept.push(line) {
                    if !save_failed {
                        eprintln!("qmdb: history not saved: {e}");
                        save_failed = true;
                    }
                }
            }
        }
        if reads.send(read).is_err() {
            return;
        }
    }
}
