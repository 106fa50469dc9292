//! Run control of a gdb session: resume and step, breakpoints and watchpoints, and turning
//! QEMU's stops into stops of gdb's threads.

use super::backend::StopAction;
use super::target::{Action, Fault, ProxyTarget};
use crate::error::BridgeError;
use crate::target::{BreakKind, RunState, StopReason, VcpuId};
use crate::VirtAddr;
use gdbstub::common::{Signal, Tid};
use gdbstub::stub::MultiThreadStopReason;
use gdbstub::target::ext::base::multithread::{
    MultiThreadResume, MultiThreadSchedulerLocking, MultiThreadSchedulerLockingOps,
    MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::breakpoints::{
    Breakpoints, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint,
    SwBreakpointOps, WatchKind,
};
use gdbstub::target::TargetResult;
use std::time::Duration;

/// A stop as gdbstub reports it.
pub(crate) type Stop = MultiThreadStopReason<u64>;

impl ProxyTarget<'_> {
    /// Starts the session: stops the VM as QEMU does when a debugger connects, and lists
    /// the threads with the stopping vCPU's first.
    pub(crate) fn attach(&mut self) -> Result<(), BridgeError> {
        let state = self.t().status()?.state;
        let reason = match state {
            RunState::Stopped(r) => r,
            RunState::Running => self.t().interrupt()?,
        };
        let vcpu = stop_vcpu(&reason).unwrap_or_else(|| self.t().selected_vcpu());
        self.select(vcpu)?;
        self.home = Some(vcpu);
        self.running = false;
        self.threads.refresh(&mut *self.backend)?;
        self.threads.on_vcpu(vcpu);
        Ok(())
    }

    /// Ends the session as a detach does: removes this gdb's breakpoints and lets the VM
    /// run. Failures are logged; a lost target is recorded.
    pub(crate) fn finish(&mut self) {
        if self.lost.is_some() {
            return;
        }
        let r = (|| {
            let running = self.t().status()?.state == RunState::Running;
            if running && (!self.planted.is_empty() || self.backend.has_points()) {
                self.t().interrupt()?;
            }
            self.backend.on_detach();
            self.pending_stop = None;
            self.pending_console.clear();
            for (kind, addr, len) in std::mem::take(&mut self.planted) {
                if let Err(e) = self.t().remove_breakpoint(kind, VirtAddr(addr), len) {
                    if e.is_fatal() {
                        return Err(e);
                    }
                    tracing::warn!("removing gdb's {kind} at {addr:#x}: {e}");
                }
            }
            if self.t().status()?.state != RunState::Running {
                self.t().resume()?;
            }
            Ok(())
        })();
        self.running = true;
        self.threads.invalidate();
        if let Err(e) = r {
            if e.is_fatal() {
                self.lose(e);
            } else {
                tracing::warn!("leaving the VM running after gdb: {e}");
            }
        }
    }

    /// Waits up to `timeout` for the running target to stop; the stop as gdb gets it. A
    /// stop the backend's own events go on from resumes the target, unseen by gdb.
    pub(crate) fn poll_stop(&mut self, timeout: Duration) -> Option<Stop> {
        for l in std::mem::take(&mut self.pending_console) {
            self.conn.console(&l);
        }
        let reason = match self.pending_stop.take() {
            Some(r) => r,
            None => match self.t().wait_for_stop(timeout) {
                Ok(Some(r)) => r,
                Ok(None) => return None,
                Err(e) => return Some(self.lost_while_running(e)),
            },
        };
        if self.stepping.is_none() && self.backend_resumes(&reason) {
            // Off the vCPU that just stopped (not the one of gdb's last stop).
            let vcpu = stop_vcpu(&reason).or(self.home);
            self.pending_stop = self.prepare_resume(false, vcpu);
            if self.pending_stop.is_none() {
                if let Err(e) = self.t().resume() {
                    return Some(self.lost_while_running(e));
                }
            }
            return None;
        }
        Some(self.stopped(reason))
    }

    /// Asks the backend about a stop of gdb's continue: whether its events go on from it.
    fn backend_resumes(&mut self, reason: &StopReason) -> bool {
        let StopReason::Signal { thread, .. } = reason else {
            return false;
        };
        if let Some(v) = thread {
            if self.select(*v).is_err() {
                return false;
            }
        }
        let gdbs = match reason.watch() {
            Some((_, addr)) => self.gdb_watches(addr),
            None => self.breakpoint_at_pc().is_some(),
        };
        let conn = &self.conn;
        let action = self
            .backend
            .on_stop(reason, gdbs, &mut |l| conn.console(&line(l)));
        action == StopAction::Resume
    }

    /// Lets the backend plant its points (and step `last_stop` off one) before the target
    /// resumes; a stop that caused is returned. Its console lines wait until gdb's resume is
    /// acked.
    fn prepare_resume(&mut self, stepping: bool, last_stop: Option<VcpuId>) -> Option<StopReason> {
        let pending = &mut self.pending_console;
        self.backend
            .before_resume(stepping, last_stop, &mut |l| pending.push(line(l)))
    }

    /// Whether one of gdb's watchpoints covers `addr`.
    fn gdb_watches(&self, addr: u64) -> bool {
        self.planted
            .iter()
            .any(|&(k, a, len)| k.is_watchpoint() && addr >= a && addr - a < len.max(1))
    }

    /// gdb's Ctrl-C. A stop already held (met while the backend prepared a resume) is
    /// the one gdb gets.
    pub(crate) fn interrupt(&mut self) -> Option<Stop> {
        if let Some(r) = self.pending_stop.take() {
            return Some(self.stopped(r));
        }
        match self.t().interrupt() {
            Ok(reason) => Some(self.stopped(reason)),
            Err(e) => Some(self.lost_while_running(e)),
        }
    }

    /// The target went away while gdb waited for a stop: gdb is told, then gets `X09`.
    fn lost_while_running(&mut self, e: BridgeError) -> Stop {
        let msg = self.lose(e);
        self.conn
            .console(&format!("qmdb: {msg}; ending this gdb session\n"));
        self.running = false;
        MultiThreadStopReason::Terminated(Signal::SIGKILL)
    }

    /// QEMU's stop as a stop of the thread now on the stopping vCPU.
    fn stopped(&mut self, reason: StopReason) -> Stop {
        self.running = false;
        let stepping = self.stepping.take();
        let watch = reason.watch();
        let (signal, thread) = match reason {
            StopReason::Exited(code) => {
                self.conn
                    .console(&format!("qmdb: the target exited (status {code})\n"));
                self.lose(BridgeError::Disconnected);
                return MultiThreadStopReason::Exited(code);
            }
            StopReason::Terminated(sig) => {
                self.conn
                    .console(&format!("qmdb: the target was terminated (signal {sig})\n"));
                self.lose(BridgeError::Disconnected);
                return MultiThreadStopReason::Terminated(Signal(sig));
            }
            StopReason::Signal { signal, thread, .. } => (signal, thread),
        };
        let vcpu = thread.unwrap_or_else(|| self.t().selected_vcpu());
        let tid = match self.thread_on(vcpu) {
            Ok(t) => t,
            Err(e) => return self.lost_while_running(e),
        };
        // A watchpoint of qmdb's own (set with `monitor ::wp`) is a plain SIGTRAP to gdb,
        // which never asked to watch that address.
        if let Some((kind, addr)) = watch.filter(|&(_, a)| self.gdb_watches(a)) {
            let kind = match kind {
                BreakKind::Read => WatchKind::Read,
                BreakKind::Access => WatchKind::ReadWrite,
                _ => WatchKind::Write,
            };
            return MultiThreadStopReason::Watch { tid, kind, addr };
        }
        if signal == Signal::SIGTRAP.0 && stepping != Some(vcpu) {
            if let Some(kind) = self.breakpoint_at_pc() {
                return match kind {
                    BreakKind::Hardware => MultiThreadStopReason::HwBreak(tid),
                    _ => MultiThreadStopReason::SwBreak(tid),
                };
            }
        }
        MultiThreadStopReason::SignalWithThread {
            tid,
            signal: Signal(signal),
        }
    }

    /// Selects `vcpu` (as QEMU does for the stopping vCPU), lists the threads and returns the
    /// one on it.
    fn thread_on(&mut self, vcpu: VcpuId) -> Result<Tid, BridgeError> {
        self.select(vcpu)?;
        self.home = Some(vcpu);
        self.threads.refresh(&mut *self.backend)?;
        Ok(self.threads.on_vcpu(vcpu))
    }

    /// The kind of the breakpoint this gdb planted at the selected vCPU's pc, if any.
    fn breakpoint_at_pc(&mut self) -> Option<BreakKind> {
        if !self.planted.iter().any(|(k, _, _)| !k.is_watchpoint()) {
            return None;
        }
        let pc = self.t().read_registers().ok()?.get_u64("rip")?;
        self.planted
            .iter()
            .find(|&&(k, a, _)| !k.is_watchpoint() && a == pc)
            .map(|&(k, _, _)| k)
    }

    fn plant(&mut self, kind: BreakKind, addr: u64, len: u64) -> TargetResult<bool, Self> {
        match self.t().insert_breakpoint(kind, VirtAddr(addr), len) {
            Ok(()) => {
                self.planted.push((kind, addr, len));
                Ok(true)
            }
            Err(BridgeError::Unsupported(_)) => Ok(false),
            Err(e) => Err(self.fail(&format!("planting a {kind} at {addr:#x}"), e)),
        }
    }

    fn unplant(&mut self, kind: BreakKind, addr: u64, len: u64) -> TargetResult<bool, Self> {
        match self.t().remove_breakpoint(kind, VirtAddr(addr), len) {
            Ok(()) => {
                let same = |&(k, a, l): &(BreakKind, u64, u64)| {
                    k == kind && a == addr && (!kind.is_watchpoint() || l == len)
                };
                if let Some(i) = self.planted.iter().position(same) {
                    self.planted.remove(i);
                }
                Ok(true)
            }
            Err(BridgeError::Unsupported(_)) => Ok(false),
            Err(e) => Err(self.fail(&format!("removing the {kind} at {addr:#x}"), e)),
        }
    }
}

impl MultiThreadResume for ProxyTarget<'_> {
    /// A step steps its thread's vCPU alone; anything else continues every vCPU.
    fn resume(&mut self) -> Result<(), Fault> {
        if let Some(e) = &self.lost {
            return Err(Fault::Lost(e.to_string()));
        }
        // gdb got every stop before resuming (a held one is given at its Ctrl-C or poll).
        self.pending_stop = None;
        let step = self
            .actions
            .iter()
            .find(|(_, a)| *a == Action::Step)
            .map(|&(t, _)| t);
        let r = match step {
            Some(tid) => {
                let Some(vcpu) = self.threads.get(tid).and_then(|t| t.vcpu) else {
                    return Err(Fault::Refused(format!(
                        "qmdb: {} is not running on a vCPU: only a thread on a vCPU can be \
                         single-stepped\n",
                        self.describe(tid)
                    )));
                };
                tracing::debug!("gdb steps {} on vCPU {vcpu}", self.describe(tid));
                self.stepping = Some(vcpu);
                // A step executes the instruction under a breakpoint: nothing to step off.
                self.prepare_resume(true, self.home);
                self.t().step(vcpu)
            }
            None => {
                tracing::debug!("gdb continues");
                self.stepping = None;
                // gdb resumes from its last stop, on `home`.
                self.pending_stop = self.prepare_resume(false, self.home);
                if self.pending_stop.is_some() {
                    Ok(())
                } else {
                    self.t().resume()
                }
            }
        };
        match r {
            Ok(()) => {
                self.running = true;
                self.threads.invalidate();
                Ok(())
            }
            Err(e) if e.is_fatal() => Err(Fault::Lost(self.lose(e))),
            Err(e) => Err(Fault::Refused(format!(
                "qmdb: the target cannot resume: {e}\n"
            ))),
        }
    }

    fn clear_resume_actions(&mut self) -> Result<(), Fault> {
        self.actions.clear();
        Ok(())
    }

    fn set_resume_action_continue(&mut self, tid: Tid, _: Option<Signal>) -> Result<(), Fault> {
        self.actions.push((tid, Action::Continue));
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadSingleStep for ProxyTarget<'_> {
    fn set_resume_action_step(&mut self, tid: Tid, _: Option<Signal>) -> Result<(), Fault> {
        self.actions.push((tid, Action::Step));
        Ok(())
    }
}

/// Scheduler locking has no QEMU equivalent here: a continue resumes every vCPU, a step only
/// the stepped one, locked or not.
impl MultiThreadSchedulerLocking for ProxyTarget<'_> {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Fault> {
        Ok(())
    }
}

impl Breakpoints for ProxyTarget<'_> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for ProxyTarget<'_> {
    fn add_sw_breakpoint(&mut self, addr: u64, kind: usize) -> TargetResult<bool, Self> {
        self.plant(BreakKind::Software, addr, kind as u64)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, kind: usize) -> TargetResult<bool, Self> {
        self.unplant(BreakKind::Software, addr, kind as u64)
    }
}

impl HwBreakpoint for ProxyTarget<'_> {
    fn add_hw_breakpoint(&mut self, addr: u64, kind: usize) -> TargetResult<bool, Self> {
        self.plant(BreakKind::Hardware, addr, kind as u64)
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, kind: usize) -> TargetResult<bool, Self> {
        self.unplant(BreakKind::Hardware, addr, kind as u64)
    }
}

impl HwWatchpoint for ProxyTarget<'_> {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        self.plant(watch_kind(kind), addr, len)
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        self.unplant(watch_kind(kind), addr, len)
    }
}

fn watch_kind(kind: WatchKind) -> BreakKind {
    match kind {
        WatchKind::Write => BreakKind::Write,
        WatchKind::Read => BreakKind::Read,
        WatchKind::ReadWrite => BreakKind::Access,
    }
}

/// A console line for gdb, newline-terminated.
fn line(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// The vCPU named in a stop reply, if any.
fn stop_vcpu(reason: &StopReason) -> Option<VcpuId> {
    match reason {
        StopReason::Signal { thread, .. } => *thread,
        _ => None,
    }
}
