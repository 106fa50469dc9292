//! Running a dcmd for the UI: its lines streamed as events, Ctrl-C passed on.

use crate::protocol::{CommandId, Event, LineKind};
use qmdb_dcmds::{Output, Session};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

/// How often the UI's interrupt flag is passed on to the session while a dcmd runs.
const INTERRUPT_POLL: Duration = Duration::from_millis(20);

/// Runs `f` on the session while a helper thread passes the UI's interrupt flag on to the
/// session's own (each session has its own flag, and the UI keeps one across reconnects).
pub(super) fn with_interrupt<R>(
    ui: &AtomicBool,
    session: &mut Session,
    f: impl FnOnce(&mut Session) -> R,
) -> R {
    // A Ctrl-C from before this command is not for it.
    ui.store(false, Ordering::Relaxed);
    let flag = session.interrupt_flag();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || loop {
            match done_rx.recv_timeout(INTERRUPT_POLL) {
                Err(RecvTimeoutError::Timeout) => {
                    if ui.swap(false, Ordering::Relaxed) {
                        flag.store(true, Ordering::Relaxed);
                    }
                }
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        });
        let r = f(session);
        drop(done_tx);
        r
    })
}

/// An [`Output`] that sends every line as an [`Event::Output`] the moment it is produced.
pub(super) struct Streaming<'a> {
    id: CommandId,
    events: &'a Sender<Event>,
    /// The last error, the reason given if the connection was lost.
    pub(super) last_error: Option<String>,
    /// Whether the command resumed the guest.
    pub(super) resumed: bool,
    closed: bool,
}

impl<'a> Streaming<'a> {
    pub(super) fn new(id: CommandId, events: &'a Sender<Event>) -> Streaming<'a> {
        Streaming {
            id,
            events,
            last_error: None,
            resumed: false,
            closed: false,
        }
    }

    fn emit(&mut self, kind: LineKind, text: &str) {
        let ev = Event::Output {
            id: self.id,
            kind,
            text: text.to_string(),
        };
        self.closed |= self.events.send(ev).is_err();
    }
}

impl Output for Streaming<'_> {
    fn begin(&mut self, _command: &str) {}

    fn guest_resumed(&mut self) {
        self.resumed = true;
        self.closed |= self.events.send(Event::Resumed).is_err();
    }

    fn line(&mut self, text: &str) {
        self.emit(LineKind::Text, text);
    }

    fn warning(&mut self, message: &str) {
        self.emit(LineKind::Warning, message);
    }

    fn error(&mut self, message: &str) {
        self.last_error = Some(message.to_string());
        self.emit(LineKind::Error, message);
    }

    fn data(&mut self, _value: Value) {}

    fn end(&mut self) {}

    fn is_closed(&self) -> bool {
        self.closed
    }
}
