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
                elapsed,
                quit,
                interrupted,
                ..
            } => {
                if self.running.as_ref().is_some_and(|r| r.id == id) {
                    self.running = None;
                }
                self.last_elapsed = Some(elapsed);
                if interrupted {
                    self.output.push(LineStyle::Warning, "(interrupted)");
                }
                if quit {
                    self.request_quit(&mut out);
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
            Event::PaneError { pane, message } => {
                let load = match pane {
                    Pane::Threads => &mut self.threads.load,
                    Pane::Registers => &mut self.registers.load,
                    Pane::Stack { .. } => &mut self.stack.load,
                    Pane::Disassembly { .. } => &mut self.disasm.load,
                };
                load.finish(Some(message));
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
    }

    fn disconnected(&mut self, reason: String) {
        self.output.push(
            LineStyle::Error,
            format!("connection lost: {reason} (r or ::reconnect attaches again)"),
        );
        self.link = Link::Disconnected(reason);
        self.running = None;
        for load in [
            &mut self.threads.load,
            &mut self.stack.load,
            &mut self.registers.load,
            &mut self.disasm.load,
        ] {
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
                    Side::Registers | Side::Disassembly => true,
                };
                if stale && *side.of(&self.shown) {
                    let pane = self.pane_request(side);
                    self.refresh(pane, out);
                }
            }
        }
    }
}
