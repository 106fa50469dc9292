//! How keys change the UI state: the key table ([`super::keys`]) picks an action, and
//! unbound keys go to the line editor, the threads filter or a search prompt.

use super::keys::{self, Action, Mode};
use super::output::LineStyle;
use super::panes::Side;
use super::{App, Focus, Link, Overlay, SearchPrompt};
use crate::protocol::{Pane, Request};
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

/// A printable character typed without Ctrl or Alt.
fn typed_char(key: &KeyEvent) -> Option<char> {
    match key.code {
        KeyCode::Char(c)
            if !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(c)
        }
        _ => None,
    }
}

impl App {
    /// The scopes of the key table that apply now.
    pub fn mode(&self) -> Mode {
        match self.overlay {
            Overlay::Help(_) => return Mode::Help,
            Overlay::QuitDialog => return Mode::QuitDialog,
            Overlay::None => {}
        }
        if self.hsearch.is_some() {
            return Mode::HistorySearch;
        }
        if self.search.is_some() {
            return Mode::OutputSearch;
        }
        match self.focus {
            Focus::CommandLine => Mode::CommandLine {
                empty: self.input.value().is_empty(),
            },
            Focus::Output => Mode::Output,
            Focus::Side(Side::Threads) => Mode::Threads,
            Focus::Side(Side::Stack) => Mode::Stack,
            Focus::Side(_) => Mode::OtherPane,
        }
    }

    /// Takes a key press; returns what to ask of the worker.
    pub fn handle_key(&mut self, key: KeyEvent) -> Vec<Request> {
        let mut out = Vec::new();
        if key.kind == KeyEventKind::Release {
            return out;
        }
        self.message = None;
        let mode = self.mode();
        let action = keys::lookup(mode, &key);
        if action != Some(Action::Complete) {
            self.menu = None;
        }
        match action {
            Some(a) => self.act(a, &mut out),
            None => self.unbound(mode, key, &mut out),
        }
        self.relayout();
        out
    }

    /// Takes pasted text: into the threads filter, the search prompt, or the command line.
    pub fn handle_paste(&mut self, text: &str) {
        let text: String = text
            .chars()
            .filter(|&c| c != '\r')
            .map(|c| if c == '\n' { ' ' } else { c })
            .collect();
        for c in text.chars() {
            let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
            match self.mode() {
                Mode::Threads | Mode::OutputSearch | Mode::HistorySearch => {
                    self.unbound(self.mode(), key, &mut Vec::new())
                }
                Mode::Help | Mode::QuitDialog => return,
                _ => {
                    self.focus = Focus::CommandLine;
                    self.input.handle(InputRequest::InsertChar(c));
                }
            }
        }
        self.relayout();
    }

    fn act(&mut self, action: Action, out: &mut Vec<Request>) {
        let out_h = self.regions.output_height().max(1);
        match action {
            Action::ShowHelp => self.overlay = Overlay::Help(0),
            Action::CloseHelp => self.overlay = Overlay::None,
            Action::FocusNext => self.cycle_focus(1),
            Action::FocusPrev => self.cycle_focus(-1),
            Action::Escape => self.escape(),
            Action::ToggleThreads => self.toggle(Side::Threads, out),
            Action::ToggleStack => self.toggle(Side::Stack, out),
            Action::ToggleRegisters => self.toggle(Side::Registers, out),
            Action::ToggleDisassembly => self.toggle(Side::Disassembly, out),
            Action::ToggleMemory => self.toggle(Side::Memory, out),
            Action::ToggleEvents => {
                self.events_toggled = true;
                self.toggle(Side::Events, out);
            }
            Action::WidenSide => self.side_pct = (self.side_pct + 4).min(70),
            Action::NarrowSide => self.side_pct = self.side_pct.saturating_sub(4).max(20),
            Action::Continue => self.continue_guest(out),
            Action::Interrupt => self.ctrl_c(out),
            Action::OutputPageUp => self.output.scroll_up(out_h.saturating_sub(1).max(1), out_h),
            Action::OutputPageDown => self.output.scroll_down(out_h.saturating_sub(1).max(1)),
            Action::OutputTop => self.output.top(out_h),
            Action::OutputBottom => self.output.bottom(),
            Action::ClearOutput => self.output.clear(),
            Action::Quit => self.request_quit(out),
            Action::Reconnect => match self.link {
                Link::Disconnected(_) => self.reconnect(out),
                _ => self.say("connected; ::reconnect attaches again anyway"),
            },
            Action::RunLine => {
                if self.hsearch.is_some() {
                    self.accept_history_search();
                }
                self.run_line(out);
            }
            Action::HistoryPrev => {
                if let Some(e) = self.history.older(self.input.value()) {
                    self.input = Input::new(e.to_string());
                }
            }
            Action::HistoryNext => {
                if let Some(e) = self.history.newer() {
                    self.input = Input::new(e);
                }
            }
            Action::HistorySearch => self.history_search_older(),
            Action::Complete => self.complete(),
            Action::Up => self.move_in_focus(-1),
            Action::Down => self.move_in_focus(1),
            Action::PageUp => self.move_in_focus(-(self.page() as isize)),
            Action::PageDown => self.move_in_focus(self.page() as isize),
            Action::Top => self.move_in_focus(isize::MIN / 2),
            Action::Bottom => self.move_in_focus(isize::MAX / 2),
            Action::Left => self.output.hscroll = self.output.hscroll.saturating_sub(8),
            Action::Right => self.output.hscroll += 8,
            Action::Select => self.select(out),
            Action::FilterBackspace => {
                if let Some(hs) = &mut self.hsearch {
                    hs.query.pop();
                    hs.hit = self.history.search(&hs.query, usize::MAX);
                } else {
                    let h = self.height(Side::Threads);
                    self.threads.pop_filter(h);
                }
            }
            Action::SearchStart | Action::SearchBackward => {
                let w = self.output.window(out_h);
                let backward = action == Action::SearchBackward;
                self.search = Some(SearchPrompt {
                    input: Input::default(),
                    anchor: if backward {
                        w.end.saturating_sub(1)
                    } else {
                        w.start
                    },
                    backward,
                    saved_scroll: self.output.scroll(),
                    found: true,
                });
            }
            Action::SearchNext | Action::SearchPrev => {
                // `n` keeps the search's direction, `N` turns it round (less, vim).
                let older = self.output.backward == (action == Action::SearchNext);
                match self.output.search_again(older, out_h) {
                    None if self.output.pattern.is_none() => {
                        self.say("no search yet: / searches forward, ? backward")
                    }
                    None => self.say_error("no match"),
                    Some(true) if older => self.say("search hit TOP, continuing at BOTTOM"),
                    Some(true) => self.say("search hit BOTTOM, continuing at TOP"),
                    Some(false) => {}
                }
            }
            Action::Copy => self.copy_output(),
            Action::Accept => {
                if let Some(p) = self.search.take() {
                    if !p.found {
                        self.say_error(format!("not found: {}", p.input.value()));
                    }
                }
            }
            Action::Cancel => self.cancel(),
            Action::QuitResume => self.send_quit(true, out),
            Action::QuitLeaveHalted => self.send_quit(false, out),
            Action::Text => {}
        }
    }

    /// Keys the table does not bind: editing, filtering, typing in a pane.
    fn unbound(&mut self, mode: Mode, key: KeyEvent, out: &mut Vec<Request>) {
        match mode {
            Mode::CommandLine { .. } => self.edit_line(key),
            Mode::Threads => {
                if let Some(c) = typed_char(&key) {
                    let h = self.height(Side::Threads);
                    self.threads.push_filter(c, h);
                }
            }
            Mode::HistorySearch => match typed_char(&key) {
                Some(c) => {
                    if let Some(hs) = self.hsearch.as_mut() {
                        hs.query.push(c);
                        hs.hit = self.history.search(&hs.query, usize::MAX);
                    }
                }
                None => {
                    // Any other key ends the search with the match in the line, then acts.
                    self.accept_history_search();
                    self.handle_key_again(key, out);
                }
            },
            Mode::OutputSearch => {
                let ev = TermEvent::Key(key);
                if let (Some(p), Some(req)) = (self.search.as_mut(), to_input_request(&ev)) {
                    if p.input.handle(req).is_some_and(|c| c.value) {
                        self.incremental_search();
                    }
                }
            }
            Mode::Output | Mode::Stack | Mode::OtherPane => {
                // Typing in a pane starts a command.
                if typed_char(&key).is_some() {
                    self.focus = Focus::CommandLine;
                    self.edit_line(key);
                }
            }
            Mode::Help | Mode::QuitDialog => {}
        }
    }

    fn handle_key_again(&mut self, key: KeyEvent, out: &mut Vec<Request>) {
        out.extend(self.handle_key(key));
    }

    fn edit_line(&mut self, key: KeyEvent) {
        if let Some(req) = to_input_request(&TermEvent::Key(key)) {
            if self.input.handle(req).is_some_and(|c| c.value) {
                self.history.reset();
            }
        }
    }

    fn page(&self) -> usize {
        match self.overlay {
            Overlay::Help(_) => (self.screen.height as usize).saturating_sub(6).max(1),
            _ => match self.focus {
                Focus::Side(s) => self.height(s).saturating_sub(1).max(1),
                _ => self.regions.output_height().saturating_sub(1).max(1),
            },
        }
    }

    /// Up/Down/Home/End in whatever has focus (or the help overlay).
    fn move_in_focus(&mut self, delta: isize) {
        if let Overlay::Help(s) = self.overlay {
            let max = keys::help_line_count().saturating_sub(self.page());
            self.overlay = Overlay::Help(s.saturating_add_signed(delta).min(max));
            return;
        }
        let out_h = self.regions.output_height().max(1);
        match self.focus {
            Focus::CommandLine => {}
            Focus::Output if delta < 0 => self.output.scroll_up(delta.unsigned_abs(), out_h),
            Focus::Output => self.output.scroll_down(delta as usize),
            Focus::Side(side) => self.move_side(side, delta),
        }
    }

    pub(crate) fn move_side(&mut self, side: Side, delta: isize) {
        let h = self.height(side);
        match side {
            Side::Threads => self.threads.move_by(delta, h),
            Side::Stack => self.stack.move_by(delta, h),
            Side::Registers => {
                let max = self.registers.rows.len().saturating_sub(1) as isize;
                self.registers.offset =
                    (self.registers.offset as isize + delta).clamp(0, max.max(0)) as usize;
            }
            Side::Disassembly => self.disasm.scroll(delta, h),
            Side::Memory => {
                let per_line = self.memory_bytes_per_line();
                self.memory.scroll(delta, per_line, h);
            }
            Side::Events => {
                let max = self.events.rows.len().saturating_sub(1) as isize;
                self.events.offset =
                    (self.events.offset as isize + delta).clamp(0, max.max(0)) as usize;
            }
        }
    }

    /// How many bytes a line of the memory pane shows at its current width.
    pub(crate) fn memory_bytes_per_line(&self) -> usize {
        let width = self
            .regions
            .pane(Side::Memory)
            .map_or(0, |a| a.rect.width.saturating_sub(2) as usize);
        crate::app::memory::layout_for(width).per_line
    }

    fn cycle_focus(&mut self, dir: isize) {
        let mut ring = vec![Focus::CommandLine, Focus::Output];
        ring.extend(
            Side::ALL
                .into_iter()
                .filter(|&s| self.is_shown(s))
                .map(Focus::Side),
        );
        let at = ring.iter().position(|f| *f == self.focus).unwrap_or(0) as isize;
        let n = ring.len() as isize;
        if let Some(&f) = ring.get((at + dir).rem_euclid(n) as usize) {
            self.focus = f;
        }
    }

    fn escape(&mut self) {
        let h = self.height(Side::Threads);
        match self.focus {
            Focus::Side(Side::Threads) if self.threads.clear_filter(h) => {}
            Focus::Output if self.output.pattern.is_some() => self.output.clear_search(),
            _ => self.focus = Focus::CommandLine,
        }
    }

    fn toggle(&mut self, side: Side, out: &mut Vec<Request>) {
        let shown = side.of_mut(&mut self.shown);
        *shown = !*shown;
        let on = *shown;
        if on {
            match self.pane_request(side) {
                Some(pane) => self.refresh(pane, out),
                None => self.say(":mem EXPR sets what the memory pane shows"),
            }
        } else if self.focus == Focus::Side(side) {
            self.focus = Focus::CommandLine;
        }
    }

    /// F5: `:c`, as if typed (breakpoints, `-c` callbacks and the stop report work as in
    /// script mode; Ctrl-C halts).
    pub(super) fn continue_guest(&mut self, out: &mut Vec<Request>) {
        match self.link {
            Link::Connected if self.running.is_some() => {
                self.say_error("a command is running: wait, or Ctrl-C cancels it")
            }
            Link::Connected if self.status.running => self.say("the guest is already running"),
            Link::Connected => {
                self.remember(":c");
                self.execute(":c".to_string(), out);
            }
            _ => self.say_error("not connected: r or ::reconnect attaches again"),
        }
    }

    /// Ctrl-C: cancel the running command or refresh; else halt a running guest; else clear
    /// the line.
    fn ctrl_c(&mut self, out: &mut Vec<Request>) {
        let loading = self.loads_mut().iter().any(|l| l.since.is_some());
        if self.running.is_some() || loading {
            if self.set_interrupt() {
                if let Some(r) = &mut self.running {
                    r.interrupting = true;
                }
                self.say("interrupting...");
            }
        } else if self.link == Link::Connected && self.status.running {
            out.push(Request::Halt);
            self.say("halting the guest...");
        } else if !self.input.value().is_empty() {
            self.input.reset();
            self.history.reset();
        } else {
            self.say("nothing to interrupt (q, $q or Ctrl-D quits)");
        }
    }

    pub(super) fn reconnect(&mut self, out: &mut Vec<Request>) {
        if self.quitting.is_some() {
            return;
        }
        self.link = Link::Connecting;
        self.running = None;
        let target = self.status.target.clone();
        self.output
            .push(LineStyle::Note, format!("reconnecting to {target}..."));
        out.push(Request::Reconnect);
    }

    /// Enter in a pane: a thread's `::findstack -v` (and its stack in the stack pane); a
    /// frame's disassembly.
    fn select(&mut self, out: &mut Vec<Request>) {
        match self.focus {
            Focus::Side(Side::Threads) => {
                let Some(t) = self.threads.selected().map(|t| t.thread) else {
                    return;
                };
                if self.running.is_some() {
                    return self.say_error("a command is running: wait, or Ctrl-C cancels it");
                }
                if self.link != Link::Connected {
                    return self.say_error("not connected: r or ::reconnect attaches again");
                }
                self.execute(format!("{t:x}::findstack -v"), out);
                if *Side::Stack.of(&self.shown) {
                    self.refresh(Pane::Stack { thread: Some(t) }, out);
                }
            }
            Focus::Side(Side::Stack) => {
                if let Some(pc) = self.stack.selected().map(|f| f.pc) {
                    *Side::Disassembly.of_mut(&mut self.shown) = true;
                    self.refresh(Pane::Disassembly { addr: Some(pc) }, out);
                }
            }
            _ => {}
        }
    }

    fn cancel(&mut self) {
        if let Some(hs) = self.hsearch.take() {
            self.input = Input::new(hs.original);
        } else if let Some(p) = self.search.take() {
            let h = self.regions.output_height().max(1);
            self.output.clear_search();
            self.output.set_scroll(p.saved_scroll, h);
        } else if self.overlay == Overlay::QuitDialog {
            self.overlay = Overlay::None;
        }
    }

    fn incremental_search(&mut self) {
        let h = self.regions.output_height().max(1);
        let Some(p) = &mut self.search else { return };
        let pattern = p.input.value().to_string();
        let (anchor, saved, backward) = (p.anchor, p.saved_scroll, p.backward);
        if pattern.is_empty() {
            p.found = true;
            self.output.clear_search();
            self.output.set_scroll(saved, h);
            return;
        }
        self.output.backward = backward;
        let found = self
            .output
            .search_wrap(&pattern, anchor, backward, h)
            .is_some();
        if let Some(p) = &mut self.search {
            p.found = found;
        }
    }
}
