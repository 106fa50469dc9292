//! Start-up commands (`~/.qmdbrc`): run once, in order, after the first attach, each
//! echoed as if typed; a failing one is named by its `FILE:LINE` and the rest still run.

use super::output::LineStyle;
use super::App;
use crate::protocol::{CommandId, Request};
use std::collections::VecDeque;

/// The start-up commands not yet run, and the one running.
#[derive(Debug, Default)]
pub(crate) struct Startup {
    /// `(FILE:LINE, command)` in order.
    pending: VecDeque<(String, String)>,
    running: Option<(CommandId, String)>,
}

impl App {
    /// Commands to run after the first attach (`place` is `FILE:LINE`, for their errors).
    pub fn set_startup(&mut self, commands: Vec<(String, String)>) {
        self.startup.pending = commands.into();
    }

    /// Runs the next start-up command if there is one and nothing else runs.
    pub(crate) fn next_startup(&mut self, out: &mut Vec<Request>) {
        if self.running.is_some() {
            return;
        }
        if let Some((place, line)) = self.startup.pending.pop_front() {
            self.execute(line, out);
            self.startup.running = self.running.as_ref().map(|r| (r.id, place));
        }
    }

    /// A command ended: says where a failed start-up command came from.
    pub(crate) fn startup_done(&mut self, id: CommandId, ok: bool) {
        if let Some((running, place)) = self.startup.running.take() {
            if running == id && !ok {
                self.output
                    .push(LineStyle::Warning, format!("{place}: this command failed"));
            } else if running != id {
                self.startup.running = Some((running, place));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::app::fixtures;
    use crate::app::history::History;
    use crate::app::App;
    use crate::protocol::{Event, Request};
    use std::time::Duration;

    fn done(id: u64, ok: bool) -> Event {
        Event::Done {
            id,
            ok,
            elapsed: Duration::from_millis(1),
            quit: false,
            fatal: false,
            interrupted: false,
        }
    }

    #[test]
    fn startup_commands_run_one_after_another_after_the_first_attach() {
        let mut app = App::new(History::in_memory());
        app.set_startup(vec![
            ("rc:1".into(), "::status".into()),
            ("rc:3".into(), "::nosuch".into()),
            ("rc:4".into(), "$r".into()),
        ]);
        let reqs = app.handle_event(Event::Connected(fixtures::status()));
        let first: Vec<_> = reqs
            .iter()
            .filter_map(|r| match r {
                Request::Execute { id, line } => Some((*id, line.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(first.len(), 1, "{reqs:?}");
        assert_eq!(first[0].1, "::status");
        let reqs = app.handle_event(done(first[0].0, true));
        let Some(Request::Execute { id, line }) = reqs
            .iter()
            .find(|r| matches!(r, Request::Execute { .. }))
            .cloned()
        else {
            panic!("no second command: {reqs:?}");
        };
        assert_eq!(line, "::nosuch");
        let reqs = app.handle_event(done(id, false));
        let text: String = (0..app.output.len())
            .filter_map(|i| app.output.line(i))
            .map(|l| format!("{}\n", l.text))
            .collect();
        assert!(text.contains("rc:3: this command failed"), "{text}");
        assert!(!text.contains("rc:1: this command failed"), "{text}");
        assert!(
            reqs.iter()
                .any(|r| matches!(r, Request::Execute { line, .. } if line == "$r")),
            "{reqs:?}"
        );
        // A reconnect later does not run them again.
        let reqs = app.handle_event(Event::Connected(fixtures::status()));
        assert!(
            !reqs.iter().any(|r| matches!(r, Request::Execute { .. })),
            "{reqs:?}"
        );
    }
}
