//! `:c` / `::cont` (continue until the guest stops) and `::stop` (halt it).

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::events::run;
use crate::events::Resume;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::RunState;
use std::time::Duration;

pub const CONT: DcmdDef = DcmdDef {
    name: "cont",
    aliases: &[":c"],
    usage: "[-T seconds]",
    description: "resume the guest and wait for it to stop",
    help: "Resumes every vCPU and waits until the guest stops: at an event
(::bp, ::wp), or when Ctrl-C (the TUI's interrupt) halts it. -T halts it
after that many seconds (decimal, fractions allowed); that stop is
reported and the command succeeds, so a script goes on.
Every stop prints why, where and what ran there, then the instruction:
  stopped: breakpoint 1 (hrtimer_nanosleep), hit 1, vCPU 1 (CPU 1),
    pid 90 (sleep), task ffff8dc3c2a43000      [one line]
  hrtimer_nanosleep:               endbr64
The reason is 'breakpoint ID (WHAT), hit N', 'watchpoint ID (WHAT), hit N,
write|read|access at ADDR' (as the watchpoint was set), 'step', 'step
over', 'step out', 'interrupted', 'timeout: halted after N s', or 'signal
N, no qmdb event' for a stop qmdb did not cause. The vCPU that stopped
becomes the selected one.
Then the events' -c commands run; if every event hit has -c commands and
they all end with a continue, the guest goes on (see ::help bp). A -p
event for another task is gone on from silently. Ctrl-C halts, reports
the stop and ends the command.
Inside a -c callback, :c only says to go on once the callbacks are done.
With --json, one record per stop: {\"stop\": breakpoint|watchpoint|step|
step-over|step-out|interrupt|timeout|halt|signal|exited|terminated,
\"event\", \"events\", \"hits\", \"watch\", \"signal\", \"vcpu\", \"cpu\",
\"pid\", \"comm\", \"task\", \"pc\", \"sp\", \"mode\", \"symbol\", \"offset\",
\"instruction\"}, with null for what does not apply or is not known.",
    run: run_cont,
};

pub const STOP: DcmdDef = DcmdDef {
    name: "stop",
    aliases: &[],
    usage: "",
    description: "halt a running guest",
    help: "Halts the guest if it runs and reports where, as ::cont does (the
reason is 'halted (::stop)'). A guest that is already stopped is left as
it is. While ::cont waits, Ctrl-C (or the TUI's interrupt) does this.",
    run: run_stop,
};

/// `-T seconds`, decimal with an optional fraction.
pub(crate) fn timeout(cmd: &str, text: Option<&str>) -> Result<Option<Duration>, DcmdError> {
    let Some(t) = text else {
        return Ok(None);
    };
    let secs: f64 = t
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .ok_or_else(|| DcmdError::usage(cmd, format!("bad timeout {t:?} (seconds)")))?;
    Ok(Some(Duration::from_secs_f64(secs)))
}

fn run_cont(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = crate::args::getopts(&cmd, inv.args, "T:")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument {extra:?}")));
    }
    let timeout = timeout(&cmd, opts.value('T'))?;
    if session.events().in_callback() {
        session.events_mut().request(Resume::Continue);
        return Ok(());
    }
    session.require_run_control(&cmd)?;
    run::run(session, sink, Resume::Continue, timeout, inv.exec)
}

fn run_stop(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    session.require_run_control(&inv.display_name())?;
    if !inv.args.is_empty() {
        return Err(inv.usage_error("takes no arguments"));
    }
    if session.target_mut().status()?.state != RunState::Running {
        sink.line("the guest is already stopped");
        return Ok(());
    }
    run::halt(session, sink, inv.exec)
}
