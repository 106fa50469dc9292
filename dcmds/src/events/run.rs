//! Run control: continue until a stop qmdb reports, step, and what happens at each stop
//! (hit counts, `-n`/`-d`/`-D`/`-t`, `-p` filtering, `-c` callbacks).
//!
//! Every wait is bounded: the guest is polled for a stop in slices of [`WAIT_SLICE`], and
//! between slices the session's interrupt flag (Ctrl-C, the TUI's interrupt) and the
//! `-T` deadline are checked; either halts the guest. A `-c` chain that always continues
//! runs under the same deadline and flag.

use super::callback::CallbackOutput;
use super::event::{EventKind, LimitAction};
use super::stop::{here, report, Here, StopWhy};
use super::table::{Resume, StepKind};
use crate::dcmd::Executor;
use crate::error::DcmdError;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::{BreakKind, StopReason, Target, VcpuId, VirtAddr};
use qmdb_linux::{self, LinuxContext, TaskRef};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one poll for a stop waits before the flags are checked again.
pub const WAIT_SLICE: Duration = Duration::from_millis(100);

/// How long a single instruction step may take before qmdb halts the guest (a `hlt` with
/// interrupts masked never ends).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// The most stops one `::cont` handles (each with its callbacks) before it gives up; a
/// `-c '...; :c'` chain is otherwise bounded only by Ctrl-C and `-T`.
pub const MAX_STOPS: u64 = 1_000_000;

/// An internal breakpoint `::step over`/`out` runs to: reached when the same task gets to
/// `addr` with its stack pointer above (`strict`) or at least at `sp`.
#[derive(Debug, Clone)]
pub(super) struct Goal {
    addr: u64,
    task: Option<TaskRef>,
    sp: u64,
    strict: bool,
    kind: StepKind,
}

impl Goal {
    fn reached(&self, h: &Here) -> bool {
        if h.pc != self.addr {
            return false;
        }
        let same_task = match (&self.task, &h.task) {
            (Some(t), Some(now)) => *t == now.addr,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let sp_ok = if self.strict {
            h.sp > self.sp
        } else {
            h.sp >= self.sp
        };
        same_task && sp_ok
    }
}

/// A stop, before the hit is counted.
pub(super) struct Stopped {
    pub(super) why: StopWhy,
    here: Option<Here>,
}

/// How a wait ended.
enum Waited {
    Stop(StopReason),
    Interrupted(StopReason),
    Timeout(StopReason),
}

impl Waited {
    /// The stop, and why qmdb forced it (if it did).
    fn split(self, run: &Run) -> (StopReason, Option<StopWhy>) {
        match self {
            Waited::Stop(r) => (r, None),
            Waited::Interrupted(r) => (r, Some(StopWhy::Interrupted)),
            Waited::Timeout(r) => (r, Some(StopWhy::Timeout(run.started.elapsed()))),
        }
    }
}

/// Limits of one run-control command.
pub(super) struct Run {
    started: Instant,
    deadline: Option<Instant>,
    linux: Option<Arc<LinuxContext>>,
}

impl Run {
    /// Limits starting now, with the kernel's context (for the current task) if there is
    /// a kernel; `deadline` halts the guest (`-T`).
    pub(super) fn new(session: &mut Session, cmd: &str, timeout: Option<Duration>) -> Run {
        let started = Instant::now();
        let linux = if session.kernel().is_some() {
            qmdb_linux::context(session, cmd).ok()
        } else {
            None
        };
        Run {
            started,
            deadline: timeout.map(|t| started + t),
            linux,
        }
    }

    fn layout(&self) -> Option<&qmdb_linux::LinuxLayout> {
        self.linux.as_ref().map(|c| &c.layout)
    }
}

/// Runs `first` (continue or a step), reports the stop, runs the callbacks of the events
/// hit and keeps going while they ask to. `timeout` (`-T`) halts the guest once it has
/// passed; that stop is reported and the command succeeds. An interrupt (Ctrl-C) halts the
/// guest, is reported, and ends the command with [`DcmdError::Interrupted`].
pub fn run(
    session: &mut Session,
    sink: &mut Sink<'_>,
    first: Resume,
    timeout: Option<Duration>,
    exec: Executor,
) -> Result<(), DcmdError> {
    let run = Run::new(session, "::cont", timeout);
    let mut op = first;
    for _ in 0..MAX_STOPS {
        let stopped = match op {
            Resume::Continue => resume_until(session, sink, &run, None)?,
            Resume::Step(k) => step(session, sink, &run, k)?,
        };
        let interrupted = stopped.why == StopWhy::Interrupted;
        let forced = matches!(
            stopped.why,
            StopWhy::Interrupted
                | StopWhy::Timeout(_)
                | StopWhy::Exited(_)
                | StopWhy::Terminated(_)
        );
        let next = finish_stop(session, sink, stopped, exec)?;
        if interrupted {
            return Err(DcmdError::Interrupted);
        }
        match next {
            Some(n) if !forced => op = n,
            _ => return Ok(()),
        }
    }
    sink.warn(&format!("stopped after {MAX_STOPS} stops in one command"));
    Ok(())
}

/// Halts a running guest (`::stop`) and reports where.
pub fn halt(session: &mut Session, sink: &mut Sink<'_>, exec: Executor) -> Result<(), DcmdError> {
    let reason = session.target_mut().interrupt()?;
    let run = Run::new(session, "::stop", None);
    let stopped = classify(session, &run, reason, Some(StopWhy::Halted), None)?;
    finish_stop(session, sink, stopped, exec).map(|_| ())
}

/// Waits for the running guest to stop, in slices, halting it on an interrupt or the
/// deadline.
fn wait(session: &mut Session, deadline: Option<Instant>) -> Result<Waited, DcmdError> {
    loop {
        if session.check_interrupt().is_err() {
            // The interrupt is spent on halting the guest: cleared, so that the stop can be
            // reported (its reads would fail otherwise); the command still ends interrupted.
            session
                .interrupt_flag()
                .store(false, std::sync::atomic::Ordering::Relaxed);
            return Ok(Waited::Interrupted(session.target_mut().interrupt()?));
        }
        let slice = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Waited::Timeout(session.target_mut().interrupt()?));
                }
                left.min(WAIT_SLICE)
            }
            None => WAIT_SLICE,
        };
        if let Some(r) = session.target_mut().wait_for_stop(slice)? {
            return Ok(Waited::Stop(r));
        }
    }
}

/// The address a watchpoint stop reports.
fn watch_addr(reason: &StopReason) -> Option<u64> {
    reason.watch().map(|(_, addr)| addr)
}

/// Turns a stop reply into a [`Stopped`]: which vCPU, where, which events match.
/// `forced` is the reason when qmdb itself stopped the guest. `Ok(None)` inside the
/// returned option never happens; a filtered hit is `why: None` for the caller to go on.
pub(super) fn classify(
    session: &mut Session,
    run: &Run,
    reason: StopReason,
    forced: Option<StopWhy>,
    goal: Option<&Goal>,
) -> Result<Stopped, DcmdError> {
    let (signal, thread) = match &reason {
        StopReason::Signal { signal, thread, .. } => (*signal, *thread),
        StopReason::Exited(c) => {
            return Ok(Stopped {
                why: StopWhy::Exited(*c),
                here: None,
            })
        }
        StopReason::Terminated(s) => {
            return Ok(Stopped {
                why: StopWhy::Terminated(*s),
                here: None,
            })
        }
    };
    session.clear_command_cache();
    let vcpu: VcpuId = thread.unwrap_or_else(|| session.target().selected_vcpu());
    session.events_mut().last_stop_vcpu = Some(vcpu);
    let h = here(session, vcpu, run.layout())?;
    if let Some(why) = forced {
        return Ok(Stopped { why, here: Some(h) });
    }
    let watch = watch_addr(&reason);
    let matching: Vec<_> = session
        .events()
        .events()
        .iter()
        .filter(|e| e.enabled && e.matches(h.pc, watch))
        .cloned()
        .collect();
    if !matching.is_empty() {
        let passing: Vec<_> = matching
            .iter()
            .filter(|e| {
                e.opts
                    .task
                    .as_ref()
                    .is_none_or(|f| h.task.as_ref().is_some_and(|t| f.matches(t.pid, &t.comm)))
            })
            .collect();
        let Some(first) = passing.first() else {
            return Ok(Stopped {
                why: StopWhy::Signal(FILTERED),
                here: Some(h),
            });
        };
        return Ok(Stopped {
            why: StopWhy::Event {
                ids: passing.iter().map(|e| e.id).collect(),
                kind: first.kind,
                what: first.what.clone(),
                hits: 0,
                watch: matches!(first.kind, EventKind::Watchpoint { .. })
                    .then_some(watch)
                    .flatten(),
            },
            here: Some(h),
        });
    }
    if let Some(g) = goal {
        if h.pc == g.addr {
            let why = if g.reached(&h) {
                StopWhy::Step(g.kind)
            } else {
                StopWhy::Signal(FILTERED)
            };
            return Ok(Stopped { why, here: Some(h) });
        }
    }
    Ok(Stopped {
        why: StopWhy::Signal(signal),
        here: Some(h),
    })
}

/// A stop qmdb goes on from silently (a `-p` event for another task, an internal
/// breakpoint reached by another task or a deeper frame). Not a real signal number.
pub(super) const FILTERED: u8 = 0xff;

/// Plants what the table says and the goal, resumes, and waits for a stop to report,
/// going on silently from filtered ones. The goal's breakpoint is always removed.
fn resume_until(
    session: &mut Session,
    sink: &mut Sink<'_>,
    run: &Run,
    goal: Option<&Goal>,
) -> Result<Stopped, DcmdError> {
    sync(session)?;
    let goal_planted = match goal {
        Some(g) => {
            session
                .target_mut()
                .insert_breakpoint(BreakKind::Software, VirtAddr(g.addr), 1)?;
            true
        }
        None => false,
    };
    let r = resume_loop(session, sink, run, goal);
    if goal_planted {
        if let Some(g) = goal {
            // The guest is stopped here, whatever happened (wait halts it on errors it
            // can still talk through).
            let removed =
                session
                    .target_mut()
                    .remove_breakpoint(BreakKind::Software, VirtAddr(g.addr), 1);
            if let (Ok(_), Err(e)) = (&r, removed) {
                return Err(e.into());
            }
        }
    }
    r
}

fn resume_loop(
    session: &mut Session,
    sink: &mut Sink<'_>,
    run: &Run,
    goal: Option<&Goal>,
) -> Result<Stopped, DcmdError> {
    let mut told = false;
    for _ in 0..MAX_STOPS {
        let waited = match step_off(session, goal.map(|g| g.addr))? {
            // The instruction under the breakpoint set off a watchpoint: that is the stop.
            Some(watched) => Waited::Stop(watched),
            None => {
                session.target_mut().resume()?;
                if !std::mem::replace(&mut told, true) {
                    sink.guest_resumed();
                }
                wait(session, run.deadline)?
            }
        };
        let (reason, forced) = waited.split(run);
        let s = classify(session, run, reason, forced, goal)?;
        if s.why != StopWhy::Signal(FILTERED) {
            return Ok(s);
        }
    }
    Err(DcmdError::Corrupt(format!(
        "gave up after {MAX_STOPS} filtered stops"
    )))
}

/// Plants and removes events as the table says.
pub(super) fn sync(session: &mut Session) -> Result<(), DcmdError> {
    let (table, target) = session.events_and_target();
    table.sync(target)
}

/// Tells the stub whether a step lets interrupts and timers in; without (QEMU's
/// NOIRQ|NOTIMER, the default), a step does not land in an unrelated handler.
fn step_interrupts(target: &mut dyn Target, allow: bool) -> Result<(), DcmdError> {
    // A stub without the control (the default: Unsupported) steps with its own flags
    // (NOIRQ|NOTIMER by default on QEMU 7.2); only a lost connection is an error.
    match target.set_step_interrupts(allow) {
        Err(e) if e.is_fatal() => Err(e.into()),
        _ => Ok(()),
    }
}

/// If the vCPU of the last stop sits on a planted breakpoint (or `extra`), steps it off
/// with those breakpoints removed, so that resuming does not hit it again at once. A
/// watchpoint stop of that one step is returned, to be reported instead of resuming.
pub(super) fn step_off(
    session: &mut Session,
    extra: Option<u64>,
) -> Result<Option<StopReason>, DcmdError> {
    let Some(vcpu) = session.events().last_stop_vcpu else {
        return Ok(None);
    };
    if session.target().selected_vcpu() != vcpu {
        session.target_mut().select_vcpu(vcpu)?;
    }
    let pc = session.target_mut().read_registers()?.get_u64("rip");
    let Some(pc) = pc else {
        return Ok(None);
    };
    let n_user = session
        .events()
        .events()
        .iter()
        .filter(|e| e.planted && e.kind == EventKind::Breakpoint && e.addr.0 == pc)
        .count();
    let n = n_user + usize::from(extra == Some(pc));
    if n == 0 {
        return Ok(None);
    }
    let t = session.target_mut();
    for _ in 0..n {
        t.remove_breakpoint(BreakKind::Software, VirtAddr(pc), 1)?;
    }
    let stepped = step_interrupts(t, false)
        .and_then(|()| t.step(vcpu).map_err(DcmdError::from))
        .and_then(
            |()| match wait(session, Some(Instant::now() + STEP_TIMEOUT))? {
                Waited::Interrupted(_) => Err(DcmdError::Interrupted),
                Waited::Stop(r) if watch_addr(&r).is_some() => Ok(Some(r)),
                Waited::Stop(_) | Waited::Timeout(_) => Ok(None),
            },
        );
    let t = session.target_mut();
    let mut replant = Ok(());
    for _ in 0..n {
        if let Err(e) = t.insert_breakpoint(BreakKind::Software, VirtAddr(pc), 1) {
            replant = Err(e);
        }
    }
    let watched = stepped?;
    replant?;
    Ok(watched)
}

/// `::step`: one instruction, over a call, or out to the caller.
fn step(
    session: &mut Session,
    sink: &mut Sink<'_>,
    run: &Run,
    kind: StepKind,
) -> Result<Stopped, DcmdError> {
    let vcpu = session.target().selected_vcpu();
    let h = here(session, vcpu, run.layout())?;
    let goal = match kind {
        StepKind::Into => None,
        StepKind::Over => over_goal(session, &h)?,
        StepKind::Out => Some(out_goal(session, run, &h)?),
    };
    if let Some(g) = goal {
        return resume_until(session, sink, run, Some(&g));
    }
    sync(session)?;
    session.events_mut().last_stop_vcpu = Some(vcpu);
    // `-i` is for the command's own step, not for steps its callbacks ask for.
    let allow = std::mem::take(&mut session.events_mut().step_interrupts);
    step_interrupts(session.target_mut(), allow)?;
    session.target_mut().step(vcpu)?;
    sink.guest_resumed();
    let deadline = match run.deadline {
        Some(d) => d.min(Instant::now() + STEP_TIMEOUT),
        None => Instant::now() + STEP_TIMEOUT,
    };
    let (reason, forced) = wait(session, Some(deadline))?.split(run);
    let watch = watch_addr(&reason);
    let mut s = classify(session, run, reason, forced, None)?;
    // Landing on a breakpoint's address by stepping is not a hit; a watchpoint the
    // instruction set off is.
    let is_watch = matches!(
        s.why,
        StopWhy::Event {
            kind: EventKind::Watchpoint { .. },
            ..
        }
    );
    let keep = (is_watch && watch.is_some())
        || matches!(s.why, StopWhy::Interrupted | StopWhy::Timeout(_));
    if !keep {
        s.why = StopWhy::Step(kind);
    }
    Ok(s)
}

/// The goal of stepping over the instruction at `h.pc`: after it, if it is a call.
fn over_goal(session: &mut Session, h: &Here) -> Result<Option<Goal>, DcmdError> {
    let lines = crate::dis::disassemble(session, VirtAddr(h.pc), 1, |_, _| true)?;
    let Some(line) = lines.first() else {
        return Ok(None);
    };
    if !line.text.starts_with("call") {
        return Ok(None);
    }
    Ok(Some(Goal {
        addr: line.next().0,
        task: h.task.as_ref().map(|t| t.addr),
        sp: h.sp,
        strict: false,
        kind: StepKind::Over,
    }))
}

/// The goal of stepping out: the return address of the current frame, from the unwinder.
fn out_goal(session: &mut Session, run: &Run, h: &Here) -> Result<Goal, DcmdError> {
    let cmd = "::step out";
    let ctx = match &run.linux {
        Some(c) => Arc::clone(c),
        None => qmdb_linux::context(session, cmd)?,
    };
    if h.user_mode {
        return Err(DcmdError::usage(
            cmd,
            "the vCPU is in user mode: qmdb unwinds kernel stacks only",
        ));
    }
    let task = h
        .task
        .clone()
        .ok_or_else(|| DcmdError::usage(cmd, "cannot tell which task the vCPU runs"))?;
    let (setup, _) = qmdb_linux::stack_setup(session, &ctx)?;
    let bt = setup.backtrace(session, &ctx.layout, &task)?;
    let frames: Vec<_> = crate::records::stack::kernel_frames(&bt).copied().collect();
    let caller = frames
        .get(1)
        .ok_or_else(|| DcmdError::usage(cmd, "the unwinder found no caller of this frame"))?;
    if caller.kind != qmdb_unwind::FrameKind::Call || !caller.reliable {
        return Err(DcmdError::usage(
            cmd,
            format!(
                "the frame above is not a call the unwinder is sure of (pc {:x}): it \
                 cannot be run to",
                caller.pc
            ),
        ));
    }
    Ok(Goal {
        addr: caller.pc,
        task: Some(task.addr),
        sp: h.sp,
        strict: true,
        kind: StepKind::Out,
    })
}

/// Counts the hit, reports the stop, applies `-t`/`-n`/`-d`/`-D`, runs the callbacks, and
/// says what they asked for: `Some` only when every event hit has a callback and each
/// asked to continue (mdb's rule).
pub(super) fn finish_stop(
    session: &mut Session,
    sink: &mut Sink<'_>,
    mut stopped: Stopped,
    exec: Executor,
) -> Result<Option<Resume>, DcmdError> {
    let mut callbacks = Vec::new();
    let mut actions = Vec::new();
    if let StopWhy::Event { ids, hits, .. } = &mut stopped.why {
        for (i, id) in ids.iter().enumerate() {
            if let Some(e) = session.events_mut().get_mut(*id) {
                e.hits += 1;
                if i == 0 {
                    *hits = e.hits;
                }
                actions.push((e.id, e.opts.action_at(e.hits)));
                callbacks.push((e.opts.commands.clone(), e.hits));
            }
        }
    }
    report(session, sink, &stopped.why, stopped.here.as_ref());
    let next = run_callbacks(session, sink, callbacks, stopped.here.as_ref(), exec);
    // After the callbacks, which may list the `-t` events.
    let mut problems = delete_temporaries(session);
    for (id, action) in actions {
        let (table, target) = session.events_and_target();
        let r = match action {
            LimitAction::Keep => Ok(()),
            LimitAction::Disable if table.get(id).is_some() => table.set_enabled(target, id, false),
            LimitAction::Delete if table.get(id).is_some() => table.delete(target, id).map(|_| ()),
            _ => Ok(()),
        };
        if let Err(e) = r {
            problems.push(e);
        }
    }
    for e in problems {
        if e.ends_command() {
            return Err(e);
        }
        sink.warn(&e.to_string());
    }
    next
}

/// `-t`: deletes the temporary events, as at any stop of the target, whatever stopped it.
/// Returns the failures.
pub(super) fn delete_temporaries(session: &mut Session) -> Vec<DcmdError> {
    let temporary: Vec<u32> = session
        .events()
        .events()
        .iter()
        .filter(|e| e.opts.temporary)
        .map(|e| e.id)
        .collect();
    let mut problems = Vec::new();
    for id in temporary {
        let (table, target) = session.events_and_target();
        if let Err(e) = table.delete(target, id) {
            problems.push(e);
        }
    }
    problems
}

/// Runs the callbacks of the events hit (`(commands, hits)` each); see [`finish_stop`].
fn run_callbacks(
    session: &mut Session,
    sink: &mut Sink<'_>,
    callbacks: Vec<(Option<String>, u64)>,
    here: Option<&Here>,
    exec: Executor,
) -> Result<Option<Resume>, DcmdError> {
    if callbacks.is_empty() {
        return Ok(None);
    }
    let pc = here.map_or(0, |h| h.pc);
    let mut all = Some(Resume::Continue);
    for (commands, hits) in callbacks {
        let Some(commands) = commands else {
            all = None;
            continue;
        };
        session.set_dot(VirtAddr(pc));
        session.set_variable("hits", hits)?;
        session.events_mut().set_in_callback(true);
        let task = here.and_then(|h| h.task.as_ref()).map(|t| t.addr.0);
        let outcome = {
            let mut out = CallbackOutput::new(sink);
            exec(session, &commands, &mut out, task)
        };
        session.events_mut().set_in_callback(false);
        let pending = session.events_mut().take_pending();
        if outcome.quit {
            session.request_quit();
            return Ok(None);
        }
        if outcome.fatal {
            return Err(DcmdError::Bridge(qmdb_bridge::BridgeError::Disconnected));
        }
        if outcome.interrupted {
            return Err(DcmdError::Interrupted);
        }
        all = match (all, pending) {
            (Some(a), Some(p)) => Some(if p.rank() > a.rank() { p } else { a }),
            _ => None,
        };
    }
    Ok(all)
}
