//! qmdb's events when another front end runs the guest: gdb, through the proxy. Events set
//! with `monitor ::bp`/`::wp` are planted before gdb resumes, and at each stop of gdb's
//! continue they count their hits, filter by task (`-p`), print the stop report and run
//! their `-c` callbacks (into gdb's console); a filtered stop, or one whose callbacks all
//! continue, resumes the guest without gdb seeing it. gdb's own breakpoints and watchpoints
//! are always reported to it.

use super::run::{self, Run, FILTERED};
use super::stop::StopWhy;
use super::table::Resume;
use crate::dcmd::Executor;
use crate::error::DcmdError;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::{StopReason, VcpuId};

/// What the front end does with a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Report it (to gdb).
    Report,
    /// Resume the guest silently: a `-p` event for another task, or callbacks that all
    /// ended with `:c`.
    GoOn,
}

/// Before the front end resumes the guest: plants the enabled events; for a continue (not
/// a single step, which executes the instruction under a breakpoint anyway), steps
/// `last_stop`, the vCPU of the last stop the front end reported, off a qmdb breakpoint it
/// sits on. A watchpoint stop of that step is returned: it is the stop to handle, instead
/// of resuming.
pub fn before_resume(
    session: &mut Session,
    stepping: bool,
    last_stop: Option<VcpuId>,
) -> Result<Option<StopReason>, DcmdError> {
    if let Some(v) = last_stop {
        session.events_mut().last_stop_vcpu = Some(v);
    }
    if session.events().events().is_empty() {
        return Ok(None);
    }
    run::sync(session)?;
    if stepping {
        return Ok(None);
    }
    run::step_off(session, None)
}

/// A stop of the guest the front end resumed. `theirs`: the front end planted a point that
/// explains it, so it is reported whatever qmdb's events say. A stop no event explains
/// still deletes the `-t` events, as any stop does.
pub fn at_stop(
    session: &mut Session,
    sink: &mut Sink<'_>,
    reason: StopReason,
    theirs: bool,
    exec: Executor,
) -> Result<Verdict, DcmdError> {
    if let StopReason::Signal {
        thread: Some(v), ..
    } = &reason
    {
        session.events_mut().last_stop_vcpu = Some(*v);
    }
    if session.events().events().is_empty() {
        return Ok(Verdict::Report);
    }
    let run = Run::new(session, "the stop", None);
    let stopped = run::classify(session, &run, reason, None, None)?;
    let verdict = match stopped.why {
        StopWhy::Signal(FILTERED) => Verdict::GoOn,
        StopWhy::Event { .. } => {
            let next = run::finish_stop(session, sink, stopped, exec);
            // `$q` in a callback means nothing here: gdb's detach ends the session.
            session.take_quit();
            match next? {
                Some(Resume::Continue) => Verdict::GoOn,
                // A step asked for by a callback is left to the front end.
                _ => Verdict::Report,
            }
        }
        _ => {
            for e in run::delete_temporaries(session) {
                if e.ends_command() {
                    return Err(e);
                }
                sink.warn(&e.to_string());
            }
            Verdict::Report
        }
    };
    Ok(if theirs { Verdict::Report } else { verdict })
}

/// The front end is leaving: deletes every event (removing it from QEMU), so that the
/// guest runs on with none. Failures are logged.
pub fn clear(session: &mut Session) -> Result<(), DcmdError> {
    let ids: Vec<u32> = session.events().events().iter().map(|e| e.id).collect();
    for id in ids {
        let (table, target) = session.events_and_target();
        match table.delete(target, id) {
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => tracing::warn!("removing event {id} when gdb left: {e}"),
            Ok(_) => {}
        }
    }
    Ok(())
}
