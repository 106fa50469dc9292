//! The output pane's buffer: a bounded ring of lines, the scroll position, and `/` search.
//!
//! Lines are addressed by an absolute number that stays valid when old lines fall off the
//! front of the ring. Drawing asks only for the visible window.

use std::collections::VecDeque;
use std::ops::Range;

/// How many lines the output keeps.
pub const OUTPUT_CAP: usize = 100_000;

/// What a line is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStyle {
    Text,
    Warning,
    Error,
    /// The echo of a command the user ran.
    Command,
    /// A note from the UI itself (attached, disconnected...).
    Note,
}

/// One line of output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub style: LineStyle,
    pub text: String,
}

/// Whether `text` contains `pattern`: case-insensitive when the pattern has no upper case
/// letter (smart case).
pub fn matches(text: &str, pattern: &str) -> bool {
    find_in(text, pattern).is_some()
}

/// The byte range of the first match of `pattern` in `text` at or after byte `from`, with
/// smart case.
pub fn find_in_from(text: &str, pattern: &str, from: usize) -> Option<Range<usize>> {
    if pattern.is_empty() || from > text.len() {
        return None;
    }
    let rest = text.get(from..)?;
    let start = if pattern.chars().any(char::is_uppercase) {
        rest.find(pattern)?
    } else if rest.is_ascii() && pattern.is_ascii() {
        rest.to_ascii_lowercase().find(pattern)?
    } else {
        // Lowercasing may change byte lengths; fall back to a char-by-char comparison.
        return rest.char_indices().find_map(|(i, _)| {
            let tail = &rest[i..];
            let mut t = tail.chars().flat_map(char::to_lowercase);
            let mut len = 0;
            for p in pattern.chars() {
                let c = t.next()?;
                if c != p {
                    return None;
                }
                len += c.len_utf8();
            }
            Some(from + i..from + i + len.min(tail.len()))
        });
    };
    Some(from + start..from + start + pattern.len())
}

/// The byte range of the first match, with smart case.
pub fn find_in(text: &str, pattern: &str) -> Option<Range<usize>> {
    find_in_from(text, pattern, 0)
}

/// The output lines and how they are viewed.
#[derive(Debug)]
pub struct Output {
    lines: VecDeque<OutputLine>,
    cap: usize,
    /// Lines dropped from the front so far: absolute number of `lines[0]`.
    dropped: u64,
    /// Lines between the bottom of the view and the newest line (0: following the output).
    scroll: usize,
    /// Columns scrolled to the right.
    pub hscroll: usize,
    /// The search pattern whose matches are highlighted.
    pub pattern: Option<String>,
    /// The absolute line of the current match.
    pub current: Option<u64>,
    /// The last search went towards older lines (`?`); `n` keeps that direction.
    pub backward: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output::with_cap(OUTPUT_CAP)
    }
}

impl Output {
    /// An empty buffer keeping at most `cap` lines.
    pub fn with_cap(cap: usize) -> Self {
        Output {
            lines: VecDeque::new(),
            cap: cap.max(1),
            dropped: 0,
            scroll: 0,
            hscroll: 0,
            pattern: None,
            current: None,
            backward: false,
        }
    }

    /// Appends a line. A view scrolled back stays on the same lines.
    pub fn push(&mut self, style: LineStyle, text: impl Into<String>) {
        if self.lines.len() == self.cap {
            self.lines.pop_front();
            self.dropped += 1;
            self.scroll = self.scroll.min(self.lines.len());
        }
        self.lines.push_back(OutputLine {
            style,
            text: text.into(),
        });
        if self.scroll > 0 {
            self.scroll += 1;
        }
    }

    /// Forgets every line.
    pub fn clear(&mut self) {
        self.dropped += self.lines.len() as u64;
        self.lines.clear();
        self.scroll = 0;
        self.current = None;
    }

    /// How many lines are kept.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The absolute number of the line at index `i`.
    pub fn abs(&self, i: usize) -> u64 {
        self.dropped + i as u64
    }

    /// The line at index `i` (0: the oldest kept).
    pub fn line(&self, i: usize) -> Option<&OutputLine> {
        self.lines.get(i)
    }

    /// Lines scrolled back from the end (0: following).
    pub fn scroll(&self) -> usize {
        self.scroll
    }

    /// The indices of the lines a view `height` lines high shows.
    pub fn window(&self, height: usize) -> Range<usize> {
        let end = self.lines.len().saturating_sub(self.scroll);
        end.saturating_sub(height)..end
    }

    fn max_scroll(&self, height: usize) -> usize {
        self.lines.len().saturating_sub(height)
    }

    /// Scrolls towards older lines.
    pub fn scroll_up(&mut self, n: usize, height: usize) {
        self.scroll = (self.scroll + n).min(self.max_scroll(height));
    }

    /// Scrolls towards newer lines.
    pub fn scroll_down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
    }

    /// Shows the oldest lines.
    pub fn top(&mut self, height: usize) {
        self.scroll = self.max_scroll(height);
    }

    /// Follows the output again.
    pub fn bottom(&mut self) {
        self.scroll = 0;
    }

    /// Sets the scroll back (used to restore a view).
    pub fn set_scroll(&mut self, scroll: usize, height: usize) {
        self.scroll = scroll.min(self.max_scroll(height));
    }

    /// Finds `pattern` searching from index `from` towards older lines (`older`) or newer
    /// ones, `from` included; makes it the current match and brings it into a view `height`
    /// lines high. Returns whether it was found.
    pub fn search(&mut self, pattern: &str, from: usize, older: bool, height: usize) -> bool {
        self.pattern = Some(pattern.to_string()).filter(|p| !p.is_empty());
        let hit = if older {
            self.lines
                .iter()
                .take(from.saturating_add(1))
                .rposition(|l| matches(&l.text, pattern))
        } else {
            self.lines
                .iter()
                .skip(from)
                .position(|l| matches(&l.text, pattern))
                .map(|i| i + from)
        };
        match hit {
            Some(i) => {
                self.current = Some(self.abs(i));
                self.reveal(i, height);
                true
            }
            None => false,
        }
    }

    /// The index of the current match, if still kept.
    pub fn current_index(&self) -> Option<usize> {
        let c = self.current?;
        c.checked_sub(self.dropped)
            .map(|i| i as usize)
            .filter(|&i| i < self.lines.len())
    }

    /// Like [`Output::search`], but past the oldest (newest) line it goes on from the
    /// newest (oldest), as vim's `wrapscan`: `Some(wrapped)` when found.
    pub fn search_wrap(
        &mut self,
        pattern: &str,
        from: usize,
        older: bool,
        height: usize,
    ) -> Option<bool> {
        if self.search(pattern, from, older, height) {
            return Some(false);
        }
        let restart = if older {
            self.lines.len().saturating_sub(1)
        } else {
            0
        };
        self.search(pattern, restart, older, height).then_some(true)
    }

    /// The next match after the current one, older or newer, wrapping around the ends
    /// (`Some(wrapped)`); `None` when there is no search or no match.
    pub fn search_again(&mut self, older: bool, height: usize) -> Option<bool> {
        let pattern = self.pattern.clone()?;
        let w = self.window(height);
        let from = match (self.current_index(), older) {
            (Some(0), true) => {
                let last = self.lines.len().saturating_sub(1);
                return self.search(&pattern, last, true, height).then_some(true);
            }
            (Some(i), true) => i - 1,
            (Some(i), false) => i + 1,
            (None, true) => w.end.saturating_sub(1),
            (None, false) => w.start,
        };
        self.search_wrap(&pattern, from, older, height)
    }

    /// The lines of the output block around line `i`: the lines a command printed (after
    /// its `> command` echo, up to the next echo); the echo itself (without `> `) when the
    /// command printed nothing.
    pub fn block_at(&self, i: usize) -> Vec<String> {
        let is_cmd = |l: &OutputLine| l.style == LineStyle::Command;
        let Some(start) = self
            .lines
            .iter()
            .take(i.saturating_add(1))
            .rposition(is_cmd)
        else {
            // Before the first command: the notes up to it.
            let end = self
                .lines
                .iter()
                .position(is_cmd)
                .unwrap_or(self.lines.len());
            return self
                .lines
                .iter()
                .take(end)
                .map(|l| l.text.clone())
                .collect();
        };
        let body: Vec<String> = self
            .lines
            .iter()
            .skip(start + 1)
            .take_while(|l| !is_cmd(l))
            .map(|l| l.text.clone())
            .collect();
        if body.is_empty() {
            let echo = self.lines.get(start).map(|l| l.text.as_str()).unwrap_or("");
            return vec![echo.strip_prefix("> ").unwrap_or(echo).to_string()];
        }
        body
    }

    /// Stops highlighting the search.
    pub fn clear_search(&mut self) {
        self.pattern = None;
        self.current = None;
    }

    /// Scrolls so that line `i` is in view, centred if it was not.
    fn reveal(&mut self, i: usize, height: usize) {
        let w = self.window(height);
        if w.contains(&i) {
            return;
        }
        let end = (i + height / 2 + 1).min(self.lines.len());
        self.scroll = (self.lines.len() - end).min(self.max_scroll(height));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: usize, cap: usize) -> Output {
        let mut o = Output::with_cap(cap);
        for i in 0..n {
            o.push(LineStyle::Text, format!("line {i}"));
        }
        o
    }

    #[test]
    fn the_ring_is_bounded_and_the_view_follows() {
        let o = filled(150, 100);
        assert_eq!(o.len(), 100);
        assert_eq!(o.line(0).unwrap().text, "line 50");
        assert_eq!(o.abs(0), 50);
        assert_eq!(o.window(10), 90..100);
    }

    #[test]
    fn scrolled_back_views_stay_put_as_lines_arrive() {
        let mut o = filled(50, 1000);
        o.scroll_up(20, 10);
        assert_eq!(o.window(10), 20..30);
        o.push(LineStyle::Text, "new");
        assert_eq!(o.window(10), 20..30);
        o.scroll_down(100);
        assert_eq!(o.window(10), 41..51);
        o.top(10);
        assert_eq!(o.window(10), 0..10);
        o.scroll_up(5, 10);
        assert_eq!(o.window(10), 0..10, "cannot scroll past the top");
        o.bottom();
        assert_eq!(o.scroll(), 0);
    }

    #[test]
    fn search_walks_matches_and_reveals_them() {
        let mut o = Output::with_cap(1000);
        for i in 0..100 {
            let t = if i % 30 == 5 {
                format!("__schedule+0x34d {i}")
            } else {
                format!("frame {i}")
            };
            o.push(LineStyle::Text, t);
        }
        assert!(!o.search("SCHEDULE", 99, true, 10), "upper case is exact");
        assert!(o.search("schedule", 99, true, 10));
        assert_eq!(o.current_index(), Some(95));
        assert_eq!(o.search_again(true, 10), Some(false));
        assert_eq!(o.current_index(), Some(65));
        assert!(o.window(10).contains(&65));
        assert_eq!(o.search_again(true, 10), Some(false));
        assert_eq!(o.search_again(true, 10), Some(false));
        assert_eq!(o.current_index(), Some(5));
        assert_eq!(o.search_again(true, 10), Some(true), "wraps to the newest");
        assert_eq!(o.current_index(), Some(95));
        assert_eq!(o.search_again(false, 10), Some(true), "wraps to the oldest");
        assert_eq!(o.current_index(), Some(5));
        assert_eq!(o.search_again(false, 10), Some(false));
        assert_eq!(o.current_index(), Some(35));
        // Forward from the top of a view, as `/` does.
        o.clear_search();
        assert_eq!(o.search_wrap("schedule", 70, false, 10), Some(false));
        assert_eq!(o.current_index(), Some(95));
        assert_eq!(o.search_wrap("schedule", 96, false, 10), Some(true));
        assert_eq!(o.current_index(), Some(5));
        assert_eq!(o.search_wrap("nowhere", 0, false, 10), None);
    }

    #[test]
    fn blocks_are_a_commands_output() {
        let mut o = Output::with_cap(100);
        o.push(LineStyle::Note, "attached");
        o.push(LineStyle::Command, "> ::ps");
        o.push(LineStyle::Text, "PID COMM");
        o.push(LineStyle::Text, "1 init");
        o.push(LineStyle::Command, "> 0=K");
        assert_eq!(o.block_at(0), ["attached"]);
        assert_eq!(o.block_at(1), ["PID COMM", "1 init"]);
        assert_eq!(o.block_at(3), ["PID COMM", "1 init"]);
        assert_eq!(o.block_at(4), ["0=K"], "no output: the command itself");
        assert_eq!(o.block_at(99), ["0=K"]);
    }

    #[test]
    fn smart_case_ranges() {
        assert_eq!(find_in("Do_Nanosleep+0x7b", "nano"), Some(3..7));
        assert_eq!(find_in("Do_Nanosleep+0x7b", "Nano"), Some(3..7));
        assert_eq!(find_in("Do_Nanosleep+0x7b", "NANO"), None);
        assert_eq!(find_in_from("a.a.a", "a", 1), Some(2..3));
        assert_eq!(find_in("ÉCOLE école", "école"), Some(0..6));
    }
}
