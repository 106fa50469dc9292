//! How the worker's events change the UI state.

use super::output::LineStyle;
use super::panes::Side;
use super::{App, Link};
use crate::protocol::{Event, LineKind, Pane, Request, Status};

/// How the status bar and notes describe the run state.
pub fn describe_run_state(s: &Status) -> String {
    if s.running {
        "running".to_string()
    } else {
        match &s.stop_reason {
            Some(why) if why.starts_with("stopped") => why.clone(),
            Some(why) => format!("stopped ({why})"),
            None => "stopped".to_string(),
        }
    }
}

impl App {
    /// Takes one event from the worker; returns what to ask of it in turn (pane refreshes
    /// after attaching or a stop, Quit after `$q`).
    pub fn handle_event(&mut self, event: Event) -> Vec<Request> {
        let mut out = Vec::new();
        match event {
            Event::Ready { interrupt } => self.interrupt = Some(interrupt),
            Event::Connected(status) => self.connected(status, &mut out),
            Event::Disconnected { reason } => self.disconnected(reason),
            Event::Output { kind, text, .. } => {
                let style = match kind {
                    LineKind::Text => LineStyle::Text,
                    LineKind::Warning => LineStyle::Warning,
                    LineKind::Error => LineStyle::Error,
                };
                for line in text.trim_end_matches('\n').split('\n') {
                    self.output.push(style, line.trim_end_matches('\r'));
                }
            }
            Event::Done {
                id,
                ok,
                elapsed,
                quit,
                interrupted,
                ..
            } => {
                self.startup_done(id, ok);
                if self.running.as_ref().is_some_and(|r| r.id == id) {
                    self.running = None;
                    // The command may have changed memory, dot or the event table.
                    if *Side::Memory.of(&self.shown) {
                        if let Some(pane) = self.pane_request(Side::Memory) {
                            self.refresh(pane, &mut out);
                        }
                    }
                }
                self.last_elapsed = Some(elapsed);
                if interrupted {
                    self.output.push(LineStyle::Warning, "(interrupted)");
                }
                if quit {
                    self.request_quit(&mut out);
                } else {
                    self.next_startup(&mut out);
                }
            }
            // The stop comes as a Status after the command's Done.
            Event::Resumed => self.status.running = true,
            Event::Status(status) => self.set_status(status, &mut out),
            Event::Threads(rows) => {
                let h = self.height(Side::Threads);
                self.threads.set_rows(rows, h);
            }
            Event::Registers(rows) => self.registers.set(rows, self.stops),
            Event::Stack(view) => {
                let h = self.height(Side::Stack);
                self.stack.set(view, h);
            }
            Event::Disassembly(rows) => self.disasm.set(rows),
            Event::Memory(view) => {
                // A refresh for an expression since replaced is stale.
                if self.memory.expr.as_deref() == Some(view.expr.as_str()) {
                    self.memory.set(view);
                }
            }
            Event::Events(rows) => {
                if !rows.is_empty() && !self.events_toggled {
                    *Side::Events.of_mut(&mut self.shown) = true;
                }
                self.events.set(rows);
            }
            Event::Repeating { id, line } => {
                if let Some(r) = self.running.as_mut().filter(|r| r.id == id) {
                    match line {
                        Some(line) => {
                            self.output.push(LineStyle::Command, format!("> {line}"));
                            r.line = line;
                        }
                        None => self.say("nothing to repeat yet"),
                    }
                }
            }
            Event::PaneError { pane, message } => {
                // An answer for an expression since replaced is stale. (The bytes of the
                // last refresh stay, with the error beside them.)
                if let Pane::Memory { expr } = &pane {
                    if self.memory.expr.as_ref() != Some(expr) {
                        return out;
                    }
                }
                self.load_of(&pane).finish(Some(message));
            }
            Event::Exited => self.exited = true,
            Event::Names { symbols, types } => self.completer.set_names(symbols, types),
        }
        self.relayout();
        out
    }

    /// The worker's channel closed without Exited: it ended (or died). The UI stays up
    /// (saying so) until the user quits.
    pub fn worker_gone(&mut self) {
        if !self.gone && self.quitting.is_none() {
            self.disconnected("the session worker ended".to_string());
        }
        self.gone = true;
    }

    fn connected(&mut self, status: Status, out: &mut Vec<Request>) {
        self.link = Link::Connected;
        let mut note = format!("attached to {}", status.target);
        if let Some(r) = &status.kernel_release {
            note.push_str(&format!(", Linux {r}"));
        }
        note.push_str(&format!(
            ", {} vCPU{}, {}",
            status.vcpus,
            if status.vcpus == 1 { "" } else { "s" },
            describe_run_state(&status)
        ));
        self.output.push(LineStyle::Note, note);
        self.registers.forget();
        self.stops += 1;
        self.status = status;
        self.refresh_shown(out);
        self.next_startup(out);
    }

    fn disconnected(&mut self, reason: String) {
        self.output.push(
            LineStyle::Error,
            format!("connection lost: {reason} (r or ::reconnect attaches again)"),
        );
        self.link = Link::Disconnected(reason);
        self.running = None;
        for load in self.loads_mut() {
            load.since = None;
        }
    }

    /// A new status: after a stop (or a vCPU switch) the panes showing the guest's current
    /// state are refreshed.
    fn set_status(&mut self, status: Status, out: &mut Vec<Request>) {
        let old = std::mem::replace(&mut self.status, status);
        let new = &self.status;
        let stopped = old.running && !new.running;
        let vcpu_changed = old.selected_vcpu != new.selected_vcpu;
        if old.running != new.running {
            // "halting the guest..." is answered.
            if self.message.as_ref().is_some_and(|m| !m.error) {
                self.message = None;
            }
            let msg = if new.running {
                "guest running".to_string()
            } else {
                format!("guest {}", describe_run_state(new))
            };
            self.output.push(LineStyle::Note, msg);
        }
        if stopped {
            self.stops += 1;
        }
        if vcpu_changed {
            self.registers.forget();
        }
        if stopped || vcpu_changed {
            for side in Side::ALL {
                let stale = match side {
                    Side::Threads => stopped,
                    Side::Stack => stopped || self.stack_target.is_none(),
                    // `<rsp` is another vCPU's.
                    Side::Registers | Side::Memory | Side::Disassembly => true,
                    // Sent by the worker after each command.
                    Side::Events => false,
                };
                if stale && *side.of(&self.shown) {
                    if let Some(pane) = self.pane_request(side) {
                        self.refresh(pane, out);
                    }
                }
            }
        }
    }
}
