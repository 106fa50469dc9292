//! The UI state and its update logic (keys and worker events in, requests out); no drawing.
//!
//! [`App`] is a state machine: [`App::handle_key`], [`App::handle_mouse`] and
//! [`App::handle_paste`] turn input into [`Request`]s for the worker, [`App::handle_event`]
//! takes the worker's [`Event`]s, and [`App::tick`] moves the clock the progress indicator
//! reads. Nothing here touches the terminal, so tests drive it directly.
//!
//! [`Event`]: crate::protocol::Event

pub mod completion;
mod copy;
pub mod cursor;
pub(crate) mod events;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod history;
mod input;
pub mod keys;
pub mod layout;
mod line;
pub mod memory;
pub mod output;
pub mod panes;
mod pointer;
mod startup;
#[cfg(test)]
pub(crate) mod tests;
pub mod threads;

use crate::protocol::{CommandId, Pane, Request, Status};
use completion::{Completer, Completion};
use history::History;
use layout::{LayoutInput, Regions};
use output::{LineStyle, Output};
use panes::{DisasmPane, EventsPane, Load, MemoryPane, RegistersPane, Side, StackPane, SIDES};
use ratatui::layout::Rect;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use threads::ThreadsPane;
use tui_input::Input;

/// Work that has run this long shows the progress indicator.
pub const PROGRESS_AFTER: Duration = Duration::from_millis(200);
/// How long quitting waits for the worker to detach.
pub const QUIT_WAIT: Duration = Duration::from_secs(3);

/// What has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    CommandLine,
    Output,
    Side(Side),
}

/// What is drawn over everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    None,
    /// The key help, scrolled by this many lines.
    Help(usize),
    /// Quitting would leave the guest halted: resume, leave it, or cancel?
    QuitDialog,
}

/// The connection, as the status bar tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Connected,
    Disconnected(String),
}

/// The command the worker is running.
#[derive(Debug, Clone)]
pub struct Running {
    pub id: CommandId,
    pub line: String,
    pub started: Instant,
    /// Ctrl-C was pressed: the interrupt flag is set.
    pub interrupting: bool,
}

/// Ctrl-R's state.
#[derive(Debug, Clone, Default)]
pub struct HistorySearch {
    pub query: String,
    /// The index of the matching history entry.
    pub hit: Option<usize>,
    /// The line before the search, given back by Esc.
    pub original: String,
}

/// The output pane's `/` prompt.
#[derive(Debug, Clone)]
pub struct SearchPrompt {
    pub input: Input,
    /// Where the search starts: the top line of the view when `/` was pressed, the bottom
    /// one for `?`.
    anchor: usize,
    /// `?`: towards older lines.
    pub backward: bool,
    saved_scroll: usize,
    /// Whether the pattern as typed was found.
    pub found: bool,
}

/// The completion candidates listed above the command line; Tab again cycles them.
#[derive(Debug, Clone)]
pub struct Menu {
    pub completion: Completion,
    /// The candidate put in the line by the last Tab.
    pub chosen: Option<usize>,
}

/// A one-line message shown beside the command line until the next key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

/// The whole UI state.
#[derive(Debug)]
pub struct App {
    pub(crate) input: Input,
    pub(crate) history: History,
    pub(crate) hsearch: Option<HistorySearch>,
    pub(crate) completer: Completer,
    pub(crate) menu: Option<Menu>,
    pub(crate) output: Output,
    pub(crate) search: Option<SearchPrompt>,
    pub(crate) threads: ThreadsPane,
    pub(crate) stack: StackPane,
    pub(crate) registers: RegistersPane,
    pub(crate) disasm: DisasmPane,
    pub(crate) memory: MemoryPane,
    pub(crate) events: EventsPane,
    /// Which side panes are on, by [`Side::index`].
    pub(crate) shown: [bool; SIDES],
    /// The user has shown or hidden the events pane (it is no longer shown by itself when
    /// the first event is set).
    pub(crate) events_toggled: bool,
    /// Text to put on the terminal's clipboard (OSC 52) at the next frame.
    pub(crate) clipboard: Option<String>,
    pub(crate) side_pct: u16,
    pub(crate) focus: Focus,
    pub(crate) overlay: Overlay,
    pub(crate) link: Link,
    pub(crate) status: Status,
    pub(crate) running: Option<Running>,
    pub(crate) interrupt: Option<Arc<AtomicBool>>,
    pub(crate) last_elapsed: Option<Duration>,
    pub(crate) message: Option<Message>,
    pub(crate) now: Instant,
    pub(crate) screen: Rect,
    pub(crate) regions: Regions,
    /// When Quit was sent.
    pub(crate) quitting: Option<Instant>,
    pub(crate) exited: bool,
    /// The worker's channels closed.
    pub(crate) gone: bool,
    /// The thread the stack pane shows (`None`: the selected vCPU's).
    pub(crate) stack_target: Option<u64>,
    /// Counts the guest's stops, for the registers' change highlighting.
    stops: u64,
    /// Start-up commands (`~/.qmdbrc`) still to run.
    pub(crate) startup: startup::Startup,
    next_id: CommandId,
    history_error_shown: bool,
}

impl App {
    /// A fresh UI with this history, for an 80x24 screen until told its size.
    pub fn new(history: History) -> Self {
        let mut app = App {
            input: Input::default(),
            history,
            hsearch: None,
            completer: Completer::new(),
            menu: None,
            output: Output::default(),
            search: None,
            threads: ThreadsPane::default(),
            stack: StackPane::default(),
            registers: RegistersPane::default(),
            disasm: DisasmPane::default(),
            memory: MemoryPane::default(),
            events: EventsPane::default(),
            shown: layout::DEFAULT_SHOWN,
            events_toggled: false,
            clipboard: None,
            side_pct: 36,
            focus: Focus::CommandLine,
            overlay: Overlay::None,
            link: Link::Connecting,
            status: Status::default(),
            running: None,
            interrupt: None,
            last_elapsed: None,
            message: None,
            now: Instant::now(),
            screen: Rect::new(0, 0, 80, 24),
            regions: Regions::default(),
            quitting: None,
            exited: false,
            gone: false,
            stack_target: None,
            stops: 0,
            startup: startup::Startup::default(),
            next_id: 1,
            history_error_shown: false,
        };
        app.relayout();
        app
    }

    /// Adds a note from the UI to the output (e.g. that the history could not be read).
    pub fn note(&mut self, style: LineStyle, text: impl Into<String>) {
        self.output.push(style, text);
    }

    /// The screen changed size.
    pub fn resize(&mut self, width: u16, height: u16) {
        self.screen = Rect::new(0, 0, width, height);
        self.relayout();
    }

    /// Moves the clock the progress indicator and the quit timeout read.
    pub fn tick(&mut self, now: Instant) {
        self.now = now;
    }

    /// Whether the UI should end: the worker has exited, or is gone or did not exit in
    /// time after Quit.
    pub fn should_exit(&self) -> bool {
        self.exited
            || self
                .quitting
                .is_some_and(|t| self.gone || self.now.saturating_duration_since(t) >= QUIT_WAIT)
    }

    /// Whether the worker's channels closed.
    pub fn worker_is_gone(&self) -> bool {
        self.gone
    }

    /// Whether the worker said it exited (a clean end).
    pub fn exited(&self) -> bool {
        self.exited
    }

    /// Whether Quit was sent.
    pub fn is_quitting(&self) -> bool {
        self.quitting.is_some()
    }

    /// The screen's regions as last laid out.
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// What has focus.
    pub fn focus(&self) -> Focus {
        self.focus
    }

    /// The work to show a progress indicator for, and how long it has run: the running
    /// command, else the oldest pane refresh, once past [`PROGRESS_AFTER`].
    pub fn progress(&self) -> Option<(String, Duration)> {
        let since = |t: Instant| self.now.saturating_duration_since(t);
        let (label, started) = match &self.running {
            Some(r) => (r.line.clone(), r.started),
            None => {
                let loads = [
                    ("threads", &self.threads.load),
                    ("stack", &self.stack.load),
                    ("registers", &self.registers.load),
                    ("disassembly", &self.disasm.load),
                    ("memory", &self.memory.load),
                ];
                let (name, t) = loads
                    .iter()
                    .filter_map(|(n, l)| l.since.map(|t| (*n, t)))
                    .min_by_key(|(_, t)| *t)?;
                (format!("reading {name}"), t)
            }
        };
        Some((label, since(started))).filter(|(_, d)| *d >= PROGRESS_AFTER)
    }

    pub(crate) fn is_shown(&self, side: Side) -> bool {
        self.regions.pane(side).is_some()
    }

    pub(crate) fn relayout(&mut self) {
        let focus = match self.focus {
            Focus::Side(s) => Some(s),
            _ => None,
        };
        self.regions = layout::compute(
            self.screen,
            LayoutInput {
                shown: self.shown,
                side_pct: self.side_pct,
                focus,
            },
        );
        if focus.is_some_and(|s| !self.is_shown(s)) {
            self.focus = Focus::CommandLine;
        }
    }

    /// The rows of a side pane's list (the threads and stack panes have a header row).
    pub(crate) fn height(&self, side: Side) -> usize {
        let header = matches!(side, Side::Threads | Side::Stack) as usize;
        self.regions
            .content_height(side)
            .saturating_sub(header)
            .max(1)
    }

    pub(crate) fn say(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            text: text.into(),
            error: false,
        });
    }

    pub(crate) fn say_error(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            text: text.into(),
            error: true,
        });
    }

    fn load_of(&mut self, pane: &Pane) -> &mut Load {
        match pane {
            Pane::Threads => &mut self.threads.load,
            Pane::Registers => &mut self.registers.load,
            Pane::Stack { .. } => &mut self.stack.load,
            Pane::Disassembly { .. } => &mut self.disasm.load,
            Pane::Memory { .. } => &mut self.memory.load,
            Pane::Events => &mut self.events.load,
        }
    }

    /// Every pane's load, for what concerns them all (Ctrl-C, a lost connection).
    pub(crate) fn loads_mut(&mut self) -> [&mut Load; SIDES] {
        [
            &mut self.threads.load,
            &mut self.stack.load,
            &mut self.registers.load,
            &mut self.memory.load,
            &mut self.events.load,
            &mut self.disasm.load,
        ]
    }

    /// Takes the text to put on the terminal's clipboard, if any (see [`crate::clipboard`]).
    pub fn take_clipboard(&mut self) -> Option<String> {
        self.clipboard.take()
    }

    /// Asks for a pane's data, noting that it is on its way.
    pub(crate) fn refresh(&mut self, pane: Pane, out: &mut Vec<Request>) {
        if self.link != Link::Connected {
            return;
        }
        if let Pane::Stack { thread } = pane {
            self.stack_target = thread;
        }
        let now = self.now;
        self.load_of(&pane).start(now);
        out.push(Request::Refresh(pane));
    }

    /// Refreshes the side panes that are on.
    pub(crate) fn refresh_shown(&mut self, out: &mut Vec<Request>) {
        for side in Side::ALL {
            if *side.of(&self.shown) {
                if let Some(pane) = self.pane_request(side) {
                    self.refresh(pane, out);
                }
            }
        }
    }

    /// The refresh a side pane needs to show what it shows now (none for a memory pane
    /// with no expression yet).
    pub(crate) fn pane_request(&self, side: Side) -> Option<Pane> {
        Some(match side {
            Side::Threads => Pane::Threads,
            Side::Stack => Pane::Stack {
                thread: self.stack_target,
            },
            Side::Registers => Pane::Registers,
            Side::Memory => Pane::Memory {
                expr: self.memory.expr.clone()?,
            },
            Side::Events => Pane::Events,
            Side::Disassembly => Pane::Disassembly { addr: None },
        })
    }

    /// Sends an mdb command line to the worker, echoing it to the output.
    pub(crate) fn execute(&mut self, line: String, out: &mut Vec<Request>) {
        if let Some(flag) = &self.interrupt {
            flag.store(false, Ordering::SeqCst);
        }
        let id = self.next_id();
        self.output.bottom();
        self.output.push(LineStyle::Command, format!("> {line}"));
        self.running = Some(Running {
            id,
            line: line.clone(),
            started: self.now,
            interrupting: false,
        });
        out.push(Request::Execute { id, line });
    }

    /// A new command id.
    pub(crate) fn next_id(&mut self) -> CommandId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Records a command in the history, saying once if the history cannot be saved.
    pub(crate) fn remember(&mut self, line: &str) {
        if let Err(e) = self.history.push(line) {
            if !self.history_error_shown {
                self.history_error_shown = true;
                self.output
                    .push(LineStyle::Warning, format!("history not saved: {e}"));
            }
        }
    }

    /// Sets the interrupt flag the worker's dcmds check.
    pub(crate) fn set_interrupt(&mut self) -> bool {
        match &self.interrupt {
            Some(flag) => {
                flag.store(true, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Quits, first asking if that would leave a guest halted that was running at attach.
    pub(crate) fn request_quit(&mut self, out: &mut Vec<Request>) {
        if self.quitting.is_some() {
            return;
        }
        let would_leave_halted = self.link == Link::Connected
            && self.status.was_running_at_attach
            && !self.status.running;
        if would_leave_halted {
            self.overlay = Overlay::QuitDialog;
        } else {
            self.send_quit(true, out);
        }
    }

    /// Sends Quit (interrupting the running command first).
    pub(crate) fn send_quit(&mut self, resume: bool, out: &mut Vec<Request>) {
        self.overlay = Overlay::None;
        if self.running.is_some() {
            self.set_interrupt();
        }
        self.quitting = Some(self.now);
        out.push(Request::Quit { resume });
    }

    /// The counter of stops, for tests.
    #[cfg(test)]
    pub(crate) fn stops(&self) -> u64 {
        self.stops
    }
}
