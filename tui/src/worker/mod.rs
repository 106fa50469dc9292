//! The session worker: the thread that owns the session and runs dcmds for the UI.
//!
//! [`spawn`] (or [`spawn_with`], for tests and other ways of attaching) starts it and returns
//! a [`WorkerHandle`]: [`Request`]s go in, [`Event`]s come out, as [`crate::protocol`]
//! describes. The [`qmdb_dcmds::Session`] is created on the worker thread and never leaves
//! it.
//!
//! - The first event is [`Event::Ready`], then [`Event::Connected`] (followed, with a
//!   kernel, by its [`Event::Names`]) or [`Event::Disconnected`].
//! - A command's lines are sent as the dcmd produces them, then [`Event::Done`]. A lost
//!   connection drops the session and sends [`Event::Disconnected`]; the worker stays up
//!   and answers later requests with errors until [`Request::Reconnect`].
//! - Panes are refilled by running ordinary dcmds with their output captured, and turning
//!   their `--json` records into rows (`rows`). Never while the guest runs; dot is kept.
//! - `:c` is the `::cont` dcmd, run like any other: it says [`Event::Resumed`] and waits
//!   for the stop, reporting it. If the guest runs with no command waiting (resumed
//!   behind qmdb's back), the worker polls its state between requests and reports a stop
//!   with [`Event::Status`].
//! - Output that belongs to no command (a failed resume) is sent with the id [`NOTICE`].

mod memory;
mod panes;
mod rows;

pub use rows::names as completion_names;
mod stream;
#[cfg(test)]
mod tests;

use crate::protocol::{CommandId, Event, EventRow, LineKind, Pane, Request, Status};
use panes::PaneError;
use qmdb_bridge::{BridgeError, RunState, StopReason};
use qmdb_dcmds::attach::AttachOptions;
use qmdb_dcmds::Session;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use stream::{with_interrupt, Streaming};

/// The id of [`Event::Output`]s that belong to no command (a failed resume or halt).
pub const NOTICE: CommandId = CommandId::MAX;

/// How often the state of a running guest is looked at.
const RUN_POLL: Duration = Duration::from_millis(100);

/// Why the worker cannot do what was asked. The texts (`Display`) are what the UI shows.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkerError {
    /// There is no session; the reason it was lost.
    #[error("not connected ({0}); reconnect first")]
    NotConnected(String),
    /// The session's state was asked for with no session: why it was lost.
    #[error("{0}")]
    Lost(String),
    /// The target could not say its state: the connection is gone.
    #[error("{0}")]
    Target(Box<BridgeError>),
    #[error("the guest is running; halt it first")]
    Running,
    /// A pane that needs the kernel, without one: why there is none.
    #[error("threads and stacks need the kernel: {0}")]
    NoKernel(String),
    /// A pane could not be filled.
    #[error(transparent)]
    Pane(#[from] PaneError),
}

/// The UI's end of a running worker. Dropping it (or [`WorkerHandle::join`]) ends the worker
/// as [`Request::Quit`] with `resume: true` does, unless it has already ended.
pub struct WorkerHandle {
    /// Where the UI sends requests.
    pub requests: Sender<Request>,
    /// Where the worker's events arrive.
    pub events: Receiver<Event>,
    /// The flag also sent in [`Event::Ready`]: set to interrupt the running dcmd.
    interrupt: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    /// Interrupts any running dcmd, asks the worker to quit (leaving the VM as it was found)
    /// if it has not yet, and waits for its thread to end.
    pub fn join(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.interrupt.store(true, Ordering::Relaxed);
            // Fails when the worker has already ended: nothing more to do then.
            let _ = self.requests.send(Request::Quit { resume: true });
            if thread.join().is_err() {
                tracing::warn!("the session worker panicked");
            }
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts a worker that attaches with `opts` (`--target`, `--kernel`...), and again with
/// the same options on [`Request::Reconnect`].
pub fn spawn(opts: AttachOptions) -> WorkerHandle {
    spawn_with(move || {
        qmdb_dcmds::attach::attach(&opts)
            .map(|(session, _origin)| session)
            .map_err(AttachFailure::from)
    })
}

/// Starts a worker whose session comes from `attach`, called on the worker thread at start
/// and on each [`Request::Reconnect`]; its `Err` is the reason sent in
/// [`Event::Disconnected`].
pub fn spawn_with<F>(attach: F) -> WorkerHandle
where
    F: Fn() -> Result<Session, AttachFailure> + Send + 'static,
{
    let (req_tx, req_rx) = mpsc::channel();
    let (ev_tx, ev_rx) = mpsc::channel();
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupt);
    let thread = std::thread::Builder::new()
        .name("qmdb-session".into())
        .spawn(move || {
            let mut w = Worker {
                attach: Box::new(attach),
                events: ev_tx,
                interrupt: flag,
                session: None,
                lost: String::new(),
                running: false,
                last_status: None,
                last_events: None,
            };
            w.run(req_rx);
        });
    let thread = match thread {
        Ok(t) => Some(t),
        Err(e) => {
            // No thread: say so through the channel the UI reads anyway.
            let (tx, rx) = mpsc::channel();
            let _ = tx.send(Event::Disconnected {
                reason: format!("cannot start the session thread: {e}"),
            });
            let _ = tx.send(Event::Exited);
            return WorkerHandle {
                requests: req_tx,
                events: rx,
                interrupt,
                thread: None,
            };
        }
    };
    WorkerHandle {
        requests: req_tx,
        events: ev_rx,
        interrupt,
        thread,
    }
}

type AttachFn = Box<dyn Fn() -> Result<Session, AttachFailure>>;

/// Why the worker could not open a session: the attach's own error.
pub type AttachFailure = Box<dyn std::error::Error + Send + Sync>;

/// The worker thread's state.
struct Worker {
    attach: AttachFn,
    events: Sender<Event>,
    /// The UI's interrupt flag. Each session has its own; this one outlives reconnects and is
    /// passed on to the current session while a dcmd runs.
    interrupt: Arc<AtomicBool>,
    session: Option<Session>,
    /// Why there is no session.
    lost: String,
    /// The guest was last seen running.
    running: bool,
    last_status: Option<Status>,
    /// The event table as last sent, so that it is sent again only when it changed.
    last_events: Option<Vec<EventRow>>,
}

impl Worker {
    fn send(&self, ev: Event) {
        // The UI has gone when this fails; the request loop then ends.
        let _ = self.events.send(ev);
    }

    fn run(&mut self, requests: Receiver<Request>) {
        self.send(Event::Ready {
            interrupt: Arc::clone(&self.interrupt),
        });
        self.connect();
        loop {
            let req = if self.running && self.session.is_some() {
                match requests.recv_timeout(RUN_POLL) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout) => {
                        self.poll_running();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => Request::Quit { resume: true },
                }
            } else {
                requests.recv().unwrap_or(Request::Quit { resume: true })
            };
            tracing::debug!(?req, "request");
            match req {
                Request::Execute { id, line } => self.execute(id, Some(&line)),
                Request::Repeat { id } => self.execute(id, None),
                Request::Refresh(pane) => self.refresh(pane),
                Request::Halt => self.halt(),
                Request::Reconnect => {
                    self.drop_session("reconnecting");
                    self.connect();
                }
                Request::Quit { resume } => {
                    self.quit(resume);
                    self.send(Event::Exited);
                    return;
                }
            }
        }
    }

    fn connect(&mut self) {
        match (self.attach)() {
            Ok(session) => {
                self.session = Some(session);
                self.running = false;
                match self.status() {
                    Ok(st) => {
                        self.send(Event::Connected(st));
                        if let Some(k) = self.session.as_ref().and_then(|s| s.kernel()) {
                            let (symbols, types) = rows::names(k);
                            self.send(Event::Names { symbols, types });
                        }
                        // A fresh session has no events unless its start-up set some.
                        self.last_events = Some(Vec::new());
                        self.report_events(false);
                    }
                    Err(e) => self.lose(e.to_string()),
                }
            }
            Err(e) => {
                let reason = e.to_string();
                self.lost = reason.clone();
                self.send(Event::Disconnected { reason });
            }
        }
    }

    /// Drops the session (detaching, the VM left as found) and remembers why.
    fn drop_session(&mut self, why: &str) {
        self.session = None;
        self.running = false;
        self.last_status = None;
        self.last_events = None;
        self.lost = why.to_string();
    }

    /// The connection is gone: drop the session and tell the UI.
    fn lose(&mut self, reason: String) {
        self.drop_session(&reason);
        self.send(Event::Disconnected { reason });
    }

    fn not_connected(&self) -> WorkerError {
        WorkerError::NotConnected(self.lost.clone())
    }

    /// The status bar's facts, from the target and the session's kernel. Any `Err` means
    /// the connection is gone.
    fn status(&mut self) -> Result<Status, WorkerError> {
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| WorkerError::Lost(self.lost.clone()))?;
        let st = session
            .target_mut()
            .status()
            .map_err(|e| WorkerError::Target(Box::new(e)))?;
        let kernel = session.kernel();
        let (running, stop_reason) = match &st.state {
            RunState::Running => (true, None),
            RunState::Stopped(r) => (false, Some(stop_reason(r))),
        };
        self.running = running;
        let status = Status {
            target: st.target,
            running,
            stop_reason,
            vcpus: st.vcpus,
            selected_vcpu: st.selected.cpu_index(),
            kernel_release: kernel.and_then(|k| k.release.clone()),
            kaslr_slide: kernel.map(|k| k.slide),
            was_running_at_attach: st.was_running_at_attach,
        };
        self.last_status = Some(status.clone());
        Ok(status)
    }

    /// Sends the status if it changed since the last one sent (`always`: in any case).
    fn report_status(&mut self, always: bool) {
        let before = self.last_status.clone();
        match self.status() {
            Ok(st) if always || before.as_ref() != Some(&st) => self.send(Event::Status(st)),
            Ok(_) => {}
            Err(e) => self.lose(e.to_string()),
        }
    }

    /// While the guest runs: has it stopped by itself (a breakpoint, another monitor's
    /// `stop`)? Waits briefly for a stop reply, so the loop stays responsive.
    fn poll_running(&mut self) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        match session
            .target_mut()
            .wait_for_stop(Duration::from_millis(20))
        {
            Ok(Some(_)) => self.report_status(true),
            Ok(None) => {}
            Err(e) => self.lose(e.to_string()),
        }
    }

    /// Runs `line`, or with `None` repeats the last command (a blank line at the prompt,
    /// saying first which line that is).
    fn execute(&mut self, id: CommandId, line: Option<&str>) {
        let start = Instant::now();
        let Some(session) = self.session.as_mut() else {
            self.send(Event::Output {
                id,
                kind: LineKind::Error,
                text: self.not_connected().to_string(),
            });
            self.send(Event::Done {
                id,
                ok: false,
                elapsed: start.elapsed(),
                quit: false,
                fatal: true,
                interrupted: false,
            });
            return;
        };
        if line.is_none() {
            let line = session.repeat_line().map(str::to_string);
            // The UI has gone when this fails; the request loop then ends.
            let _ = self.events.send(Event::Repeating { id, line });
        }
        let mut out = Streaming::new(id, &self.events);
        let outcome = with_interrupt(&self.interrupt, session, |s| match line {
            Some(line) => s.execute(line, &mut out),
            None => s.repeat_last(&mut out),
        });
        let last_error = out.last_error.take();
        let resumed = out.resumed;
        self.send(Event::Done {
            id,
            ok: outcome.all_ok,
            elapsed: start.elapsed(),
            quit: outcome.quit,
            fatal: outcome.fatal,
            interrupted: outcome.interrupted,
        });
        if outcome.fatal {
            let why = last_error.unwrap_or_else(|| "the connection was lost".to_string());
            self.lose(why);
        } else {
            // After a resume the stop is news even if it reads as the last one did;
            // `::monitor stop` and the like change the state behind our back.
            self.report_status(resumed);
            self.report_events(false);
        }
    }

    /// Sends the event table if it changed since last sent (`always`: in any case).
    fn report_events(&mut self, always: bool) {
        let Some(session) = self.session.as_ref() else {
            return;
        };
        let rows = rows::events(session.events().events());
        if always || self.last_events.as_ref() != Some(&rows) {
            self.last_events = Some(rows.clone());
            self.send(Event::Events(rows));
        }
    }

    /// Halts the guest, then reports the state.
    fn halt(&mut self) {
        let Some(session) = self.session.as_mut() else {
            let reason = self.not_connected().to_string();
            self.send(Event::Disconnected { reason });
            return;
        };
        match session.target_mut().interrupt() {
            Err(e) if e.is_fatal() => return self.lose(e.to_string()),
            Err(e) => self.send(Event::Output {
                id: NOTICE,
                kind: LineKind::Error,
                text: format!("cannot halt: {e}"),
            }),
            Ok(_) => {}
        }
        self.report_status(true);
    }

    fn quit(&mut self, resume: bool) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        let was_running = session
            .target_mut()
            .status()
            .is_ok_and(|s| s.was_running_at_attach);
        if !resume && was_running {
            // Dropping the session would detach with `D`, resuming the VM as it was found;
            // the user asked to leave it stopped.
            if let Err(e) = session.target_mut().close(false) {
                tracing::warn!("closing the connection failed: {e}");
            }
        }
        drop(session);
    }

    fn refresh(&mut self, pane: Pane) {
        if pane == Pane::Events {
            return match self.session {
                Some(_) => self.report_events(true),
                None => self.send(Event::PaneError {
                    pane,
                    message: self.not_connected().to_string(),
                }),
            };
        }
        match self.pane_rows(&pane) {
            Ok(ev) => self.send(ev),
            Err(e) => self.send(Event::PaneError {
                pane,
                message: e.to_string(),
            }),
        }
    }

    /// Runs the dcmds that fill `pane` and turns their records into its event.
    fn pane_rows(&mut self, pane: &Pane) -> Result<Event, WorkerError> {
        if self.session.is_none() {
            return Err(self.not_connected());
        }
        if let Err(e) = self.status() {
            self.lose(e.to_string());
            return Err(e);
        }
        if self.running {
            return Err(WorkerError::Running);
        }
        let needs_kernel = matches!(pane, Pane::Threads | Pane::Stack { .. });
        let Some(session) = self.session.as_mut() else {
            return Err(self.not_connected());
        };
        if needs_kernel && session.kernel().is_none() {
            return Err(WorkerError::NoKernel(session.kernel_missing().to_string()));
        }
        // Panes must not move the user's dot.
        let dot = session.dot();
        let result = panes::pane_event(session, &self.interrupt, pane);
        session.set_dot(dot);
        match result {
            Err(e) if e.is_fatal() => {
                self.lose(e.to_string());
                Err(e.into())
            }
            r => r.map_err(WorkerError::from),
        }
    }
}

/// `SIGTRAP on vCPU 0`, `exited with status 0`.
fn stop_reason(r: &StopReason) -> String {
    match r {
        StopReason::Signal { signal, thread, .. } => {
            let name = match signal {
                2 => "SIGINT".to_string(),
                5 => "SIGTRAP".to_string(),
                n => format!("signal {n}"),
            };
            match thread {
                Some(t) => format!("{name} on vCPU {}", t.cpu_index()),
                None => name,
            }
        }
        StopReason::Exited(code) => format!("exited with status {code}"),
        StopReason::Terminated(sig) => format!("terminated by signal {sig}"),
    }
}
