//! The command line's own work: running a line (`::reconnect` and `$q` are the UI's; the
//! rest goes to the worker), Ctrl-R's history search, and Tab completion.

use super::completion::Completion;
use super::output::LineStyle;
use super::{App, HistorySearch, Link, Menu};
use crate::protocol::Request;
use tui_input::Input;

impl App {
    /// Enter on the command line: `::reconnect`, `$q` and `:mem EXPR` are the UI's own;
    /// anything else (`:c` too) goes to the worker. A blank line repeats the last command,
    /// as in mdb.
    pub(super) fn run_line(&mut self, out: &mut Vec<Request>) {
        let line = self.input.value().trim().to_string();
        if line.is_empty() {
            return self.repeat(out);
        }
        if let Some(arg) = mem_command(&line) {
            self.input.reset();
            self.remember(&line);
            return self.memory_command(arg, out);
        }
        let local = matches!(line.as_str(), "::reconnect" | "$q" | "::quit");
        if !local && self.running.is_some() {
            self.say_error("a command is running: wait, or Ctrl-C cancels it");
            return;
        }
        if !local && matches!(self.link, Link::Disconnected(_)) {
            self.say_error("not connected: r or ::reconnect attaches again");
            return;
        }
        self.input.reset();
        self.remember(&line);
        self.output.bottom();
        if !local {
            return self.execute(line, out);
        }
        self.output.push(LineStyle::Command, format!("> {line}"));
        match line.as_str() {
            "::reconnect" => self.reconnect(out),
            _ => self.request_quit(out),
        }
    }

    /// A blank line: the worker runs the last command again (`addr/X` shows the next
    /// units, `:s` steps again) and says which line that is.
    fn repeat(&mut self, out: &mut Vec<Request>) {
        if self.running.is_some() {
            return self.say_error("a command is running: wait, or Ctrl-C cancels it");
        }
        if self.link != Link::Connected {
            return self.say_error("not connected: r or ::reconnect attaches again");
        }
        if let Some(flag) = &self.interrupt {
            flag.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        let id = self.next_id();
        self.output.bottom();
        self.running = Some(super::Running {
            id,
            line: "(repeat)".to_string(),
            started: self.now,
            interrupting: false,
        });
        out.push(Request::Repeat { id });
    }

    pub(super) fn history_search_older(&mut self) {
        match &mut self.hsearch {
            None => {
                self.hsearch = Some(HistorySearch {
                    original: self.input.value().to_string(),
                    ..HistorySearch::default()
                });
            }
            Some(hs) => {
                let before = hs.hit.unwrap_or(usize::MAX);
                if let Some(i) = self.history.search(&hs.query, before) {
                    hs.hit = Some(i);
                }
            }
        }
    }

    pub(super) fn accept_history_search(&mut self) {
        if let Some(hs) = self.hsearch.take() {
            let line = match hs.hit.and_then(|i| self.history.entries().get(i)) {
                Some(entry) => entry.clone(),
                None => hs.original,
            };
            self.input = Input::new(line);
            self.history.reset();
        }
    }

    /// Tab on the command line: complete the word at the cursor; again, cycle the choices.
    pub(super) fn complete(&mut self) {
        if let Some(menu) = &mut self.menu {
            let n = menu.completion.candidates.len();
            let next = menu
                .chosen
                .and_then(|i| (i + 1).checked_rem(n))
                .unwrap_or(0);
            if let Some(word) = menu.completion.candidates.get(next).cloned() {
                menu.chosen = Some(next);
                let start = menu.completion.start;
                self.replace_word(start, &word);
            }
            return;
        }
        let cursor = self.input.cursor();
        let Some(c) = self.completer.complete(self.input.value(), cursor) else {
            return;
        };
        match c.candidates.len() {
            0 => self.say(format!("no {} matches '{}'", kind_name(&c), c.prefix)),
            1 => {
                let Some(mut word) = c.candidates.first().cloned() else {
                    return;
                };
                let at_end = cursor == self.input.value().chars().count();
                if c.adds_space() && at_end {
                    word.push(' ');
                }
                self.replace_word(c.start, &word);
            }
            _ => {
                let common = c.common_prefix();
                if common.chars().count() > c.prefix.chars().count() {
                    self.replace_word(c.start, &common);
                } else {
                    self.menu = Some(Menu {
                        completion: c,
                        chosen: None,
                    });
                }
            }
        }
    }

    /// Replaces the line from char `start` to the cursor with `word`.
    fn replace_word(&mut self, start: usize, word: &str) {
        let value = self.input.value();
        let cursor = self.input.cursor();
        let mut line: String = value.chars().take(start).collect();
        line.push_str(word);
        let new_cursor = line.chars().count();
        line.extend(value.chars().skip(cursor));
        self.input = Input::new(line).with_cursor(new_cursor);
    }
}

/// The argument of `:mem EXPR` (or `:mem` alone), if `line` is that command.
fn mem_command(line: &str) -> Option<&str> {
    let rest = line.strip_prefix(":mem")?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then_some(rest)
}

fn kind_name(c: &Completion) -> &'static str {
    use super::completion::NameKind;
    match c.kind {
        NameKind::Dcmd => "dcmd",
        NameKind::Alias => "alias",
        NameKind::Walker => "walker",
        NameKind::Type => "type",
        NameKind::Symbol => "symbol",
    }
}
