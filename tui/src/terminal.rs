//! The terminal: raw mode, the alternate screen, the event loop joining keys, worker events
//! and drawing.
//!
//! The terminal is restored however the UI ends: by `TerminalGuard`'s drop on return or
//! unwinding, and by a panic hook before the panic message is printed (so it is readable).

use crate::app::history::History;
use crate::app::output::LineStyle;
use crate::app::App;
use crate::protocol::{Event, Request};
use crate::ui::{self, Theme};
use crate::worker::{self, WorkerHandle};
use crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent, KeyEventKind,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use qmdb_dcmds::attach::AttachOptions;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{self, Stdout};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the loop waits for a key before looking at the worker again.
const POLL: Duration = Duration::from_millis(30);
/// The most worker events taken between two frames (a long dcmd streams many lines).
const EVENTS_PER_FRAME: usize = 20_000;

/// How the UI is started.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    pub attach: AttachOptions,
    /// Where command history is kept across runs (`None`: not kept).
    pub history_path: Option<PathBuf>,
    /// Commands run once, in order, after the first attach (`~/.qmdbrc`): `(FILE:LINE,
    /// command)`.
    pub startup: Vec<(String, String)>,
}

/// Puts the terminal back as it was: cooked mode, the main screen, no mouse capture.
fn restore() {
    let _ = disable_raw_mode();
    let _ = crossterm::execute!(
        io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Owns the terminal's raw state; restores it when dropped.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        enable_raw_mode()?;
        let guard = TerminalGuard;
        crossterm::execute!(
            io::stdout(),
            EnterAlternateScreen,
            EnableMouseCapture,
            EnableBracketedPaste
        )?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Runs the UI until the user quits. Returns whether the session ended cleanly (the worker
/// detached and said so).
pub fn run(opts: TuiOptions) -> io::Result<bool> {
    let (history, err) = History::load(opts.history_path.clone());
    let mut app = App::new(history);
    app.set_startup(opts.startup.clone());
    if let Some(e) = err {
        app.note(LineStyle::Warning, format!("history not read: {e}"));
    }
    let guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    // SIGTERM and SIGHUP (the terminal went away) end the session cleanly: the worker
    // detaches, leaving the VM as it was found, instead of the process dying attached.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let worker = worker::spawn(opts.attach);
    let result = event_loop(&mut terminal, &mut app, &worker, &Theme::from_env(), &stop);
    drop(terminal);
    drop(guard);
    if app.exited() || app.worker_is_gone() || result.is_err() {
        // Joins the worker (asking it to quit if it has not).
        drop(worker);
    } else {
        // It did not detach in time: do not wait on it any longer.
        std::mem::forget(worker);
    }
    result.map(|()| app.exited())
}

fn send(worker: &WorkerHandle, app: &mut App, requests: Vec<Request>) {
    for r in requests {
        if worker.requests.send(r).is_err() {
            app.worker_gone();
            return;
        }
    }
}

/// Sets the flag when dropped (however the loop ends).
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Reads terminal events on a thread of its own, so that the loop can always notice a
/// signal and end: when the terminal goes away, crossterm may spin inside its read of the
/// dead tty and never return. The thread ends when the receiver is gone (at the next event
/// or poll timeout after `done` is set), or with the process.
fn spawn_input(done: Arc<AtomicBool>) -> Receiver<io::Result<TermEvent>> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("qmdb-input".into())
        .spawn(move || loop {
            let ev = match event::poll(POLL) {
                Ok(true) => event::read(),
                Ok(false) if done.load(Ordering::Relaxed) => return,
                Ok(false) => continue,
                Err(e) => Err(e),
            };
            let failed = ev.is_err();
            if tx.send(ev).is_err() || failed {
                return;
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the input thread: {e}");
    }
    rx
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    worker: &WorkerHandle,
    theme: &Theme,
    stop: &AtomicBool,
) -> io::Result<()> {
    let done = Arc::new(AtomicBool::new(false));
    let input = spawn_input(Arc::clone(&done));
    let _stop_input = SetOnDrop(done);
    let size = terminal.size()?;
    app.resize(size.width, size.height);
    loop {
        if stop.load(Ordering::Relaxed) {
            // The caller joins the worker, which detaches as it ends.
            return Err(io::Error::other("terminated by a signal"));
        }
        app.tick(Instant::now());
        terminal.draw(|f| ui::draw(f, app, theme))?;
        if let Some(text) = app.take_clipboard() {
            let backend = terminal.backend_mut();
            io::Write::write_all(backend, crate::clipboard::osc52(&text).as_bytes())?;
            io::Write::flush(backend)?;
        }
        // Input: wait a little for the first event, then take what is queued.
        let mut first = true;
        loop {
            let ev = if first {
                first = false;
                match input.recv_timeout(POLL) {
                    Ok(ev) => ev,
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(io::Error::other("the terminal input ended"))
                    }
                }
            } else {
                match input.try_recv() {
                    Ok(ev) => ev,
                    Err(_) => break,
                }
            };
            let reqs = match ev? {
                TermEvent::Key(k) if k.kind != KeyEventKind::Release => app.handle_key(k),
                TermEvent::Mouse(m) => app.handle_mouse(m),
                TermEvent::Paste(s) => {
                    app.handle_paste(&s);
                    Vec::new()
                }
                TermEvent::Resize(w, h) => {
                    app.resize(w, h);
                    Vec::new()
                }
                _ => Vec::new(),
            };
            send(worker, app, reqs);
        }
        for _ in 0..EVENTS_PER_FRAME {
            match worker.events.try_recv() {
                Ok(ev) => {
                    let exited = matches!(ev, Event::Exited);
                    let reqs = app.handle_event(ev);
                    send(worker, app, reqs);
                    if exited {
                        break;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    app.worker_gone();
                    break;
                }
            }
        }
        app.tick(Instant::now());
        if app.should_exit() {
            return Ok(());
        }
    }
}
