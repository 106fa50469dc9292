//! The `gdbstub` target: QEMU's behaviour, one instance per connection.

use std::net::TcpStream;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gdbstub::common::{Signal, Tid};
use gdbstub::stub::run_blocking::{BlockingEventLoop, Event, WaitForStopReasonError};
use gdbstub::stub::MultiThreadStopReason;
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::single_register_access::{
    SingleRegisterAccess, SingleRegisterAccessOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::ext::target_description_xml_override::{
    TargetDescriptionXmlOverride, TargetDescriptionXmlOverrideOps,
};
use gdbstub::target::ext::thread_extra_info::{ThreadExtraInfo, ThreadExtraInfoOps};
use gdbstub::target::{Target, TargetError, TargetResult};

use crate::conn::{Conn, Patch, ReplyPatch};
use crate::memory::Memory;
use crate::regs::{QemuRegId, QemuX86_64, QemuX86_64Regs, I386_64BIT_XML, TARGET_XML};
use crate::stats::Counters;
use crate::{Vcpu, WriteRecord};

/// `TargetError::Errno` values chosen so that gdbstub's wire text (`E` + the number in hex)
/// reads exactly like QEMU's decimal-looking `E14` / `E22` / `E00`.
pub(crate) const E14: u8 = 0x14;
pub(crate) const E22: u8 = 0x22;
pub(crate) const E00: u8 = 0x00;

/// QEMU's run state as `info status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    /// Stopped by the debugger connecting or by an interrupt: `VM status: paused`.
    Paused,
    /// Stopped after a single step: `VM status: paused (debug)`.
    Debug,
    /// Running (between a continue and the interrupt, or after a detach).
    Running,
}

/// Everything that outlives a connection.
pub(crate) struct Machine {
    /// What `m`/`M` see normally (virtual addresses).
    pub memory: Memory,
    /// What `m`/`M` see after `Qqemu.PhyMemMode:1`.
    pub phys: Memory,
    /// QEMU's `PhyMemMode`: global, survives reconnects.
    pub phys_mem_mode: bool,
    /// QEMU's single-step flags (`qqemu.sstep`), 0x7 at start; global, survives reconnects.
    pub sstep_flags: u64,
    /// `sstep_flags` when the last single step was acted on.
    pub last_step_flags: Option<u64>,
    pub vcpus: Vec<Vcpu>,
    /// [`crate::FakeConfig::pti_hidden`].
    pub pti_hidden: Vec<std::ops::Range<u64>>,
    pub state: RunState,
    /// Breakpoints and watchpoints planted this session: (type 0-4, address, kind/length).
    /// QEMU drops them all when a debugger connects (`?`) or detaches.
    pub breakpoints: Vec<(u8, u64, u64)>,
    /// `breakpoints` as the last session left them, before a `D` dropped them.
    pub left_planted: Option<Vec<(u8, u64, u64)>>,
    /// [`crate::FakeConfig::breakpoint_vcpu`].
    pub breakpoint_vcpu: usize,
    /// [`crate::FakeConfig::breakpoint_delay`].
    pub breakpoint_delay: std::time::Duration,
    /// [`crate::FakeConfig::stalled_steps`] not yet taken.
    pub stalled_steps: usize,
}

impl Machine {
    /// The first planted software or hardware breakpoint, which a continue "reaches".
    fn first_breakpoint(&self) -> Option<u64> {
        self.breakpoints
            .iter()
            .find(|&&(t, _, _)| t <= 1)
            .map(|&(_, addr, _)| addr)
    }
}

impl Machine {
    /// Whether a virtual read of `len` bytes at `start` by vCPU `index` touches memory that
    /// PTI hides from a vCPU in user mode.
    fn pti_hides(&self, index: Option<usize>, start: u64, len: usize) -> bool {
        let user_mode = index
            .and_then(|i| self.vcpus.get(i))
            .is_some_and(|v| v.regs.seg[0] & 3 != 0);
        let end = start as u128 + len as u128;
        user_mode
            && len > 0
            && self
                .pti_hidden
                .iter()
                .any(|r| (r.start as u128) < end && start < r.end)
    }
}

/// State shared by the handle and the server thread.
pub(crate) struct Shared {
    pub counters: Arc<Counters>,
    pub machine: Mutex<Machine>,
    pub writes: Mutex<Vec<WriteRecord>>,
    pub monitor_log: Mutex<Vec<String>>,
    pub last_error: Mutex<Option<String>>,
    pub stop: AtomicBool,
    /// A clone of the connected socket, so that stopping can shut it down.
    pub current: Mutex<Option<TcpStream>>,
    pub packet_size: usize,
    pub rle: bool,
    pub version: String,
    pub monitor_extra: std::collections::BTreeMap<String, String>,
    pub phys_mem_mode_supported: bool,
    pub sstep_supported: bool,
}

/// Lock, ignoring poisoning (a panicking test must not wedge the others).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Continue,
    Step,
}

/// The per-connection gdbstub target.
pub(crate) struct FakeTarget {
    shared: Arc<Shared>,
    patch: ReplyPatch,
    /// The fake VM is "running": a continue was acted on and no stop reported yet.
    running: bool,
    /// A stop to report once gdbstub waits for one and the instant has come (a single step
    /// at once, a breakpoint after `breakpoint_delay`).
    pending_stop: Option<(MultiThreadStopReason<u64>, Instant)>,
    actions: Vec<(Tid, Action)>,
}

impl FakeTarget {
    pub(crate) fn new(shared: Arc<Shared>, patch: ReplyPatch) -> Self {
        FakeTarget {
            shared,
            patch,
            running: false,
            pending_stop: None,
            actions: Vec::new(),
        }
    }

    fn machine(&self) -> MutexGuard<'_, Machine> {
        lock(&self.shared.machine)
    }

    fn vcpu_index(&self, tid: Tid) -> Option<usize> {
        let i = tid.get() - 1;
        (i < self.machine().vcpus.len()).then_some(i)
    }

    /// Run `f` on the vCPU `tid` names, under the machine lock; `E22` when there is none.
    fn with_vcpu<R>(&self, tid: Tid, f: impl FnOnce(&mut Vcpu) -> R) -> TargetResult<R, Self> {
        let mut m = self.machine();
        let v = m
            .vcpus
            .get_mut(tid.get() - 1)
            .ok_or(TargetError::Errno(E22))?;
        Ok(f(v))
    }

    fn first_tid(&self) -> Tid {
        self.actions
            .first()
            .map(|a| a.0)
            .unwrap_or(NonZeroUsize::MIN)
    }

    fn patch_next_reply(&self, p: Patch) {
        *lock(&self.patch) = Some(p);
    }

    fn set_state(&self, s: RunState) {
        self.machine().state = s;
    }
}

impl Target for FakeTarget {
    type Arch = QemuX86_64;
    type Error = &'static str;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    // QEMU 7.2 answers QStartNoAckMode with an empty reply and keeps acking.
    fn use_no_ack_mode(&self) -> bool {
        false
    }

    // QEMU 7.2 reports none of these.
    fn use_fork_stop_reason(&self) -> bool {
        false
    }

    fn use_vfork_stop_reason(&self) -> bool {
        false
    }

    fn use_vforkdone_stop_reason(&self) -> bool {
        false
    }

    // QEMU 7.2 has no `X` (binary write) packet.
    fn use_x_upcase_packet(&self) -> bool {
        false
    }

    // QEMU never run-length encodes its replies.
    fn use_rle(&self) -> bool {
        self.shared.rle
    }

    // No LLDB qRegisterInfo in QEMU.
    fn use_lldb_register_info(&self) -> bool {
        false
    }

    // Breakpoints (`Z`/`z`) are answered by the connection layer, as QEMU does, so that
    // gdbstub does not add `swbreak+;hwbreak+` to `qSupported`. Without breakpoint support
    // gdbstub refuses to run unless told that the client may plant breakpoints itself.
    fn guard_rail_implicit_sw_breakpoints(&self) -> bool {
        true
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    fn support_target_description_xml_override(
        &mut self,
    ) -> Option<TargetDescriptionXmlOverrideOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadBase for FakeTarget {
    fn read_registers(&mut self, regs: &mut QemuX86_64Regs, tid: Tid) -> TargetResult<(), Self> {
        *regs = self.with_vcpu(tid, |v| v.regs.clone())?;
        Ok(())
    }

    fn write_registers(&mut self, regs: &QemuX86_64Regs, tid: Tid) -> TargetResult<(), Self> {
        self.with_vcpu(tid, |v| v.regs = regs.clone())
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, Tid, Self>> {
        Some(self)
    }

    /// gdbstub calls this once per chunk of the packet buffer that is left after the `m`
    /// command (about `packet_size - 10` bytes). Any request longer than `packet_size / 2`
    /// gets `E22` on its first call, before anything is written, so every request that is
    /// answered with data was read in exactly one call: counting calls counts requests.
    fn read_addrs(&mut self, start: u64, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        let c = &self.shared.counters;
        if data.len() > self.shared.packet_size / 2 {
            c.mem_reads_e22.fetch_add(1, Relaxed);
            return Err(TargetError::Errno(E22));
        }
        let index = self.vcpu_index(tid);
        let ok = {
            let m = self.machine();
            if m.phys_mem_mode {
                m.phys.read(start, data)
            } else {
                !m.pti_hides(index, start, data.len()) && m.memory.read(start, data)
            }
        };
        if !ok {
            c.mem_reads_e14.fetch_add(1, Relaxed);
            return Err(TargetError::Errno(E14));
        }
        c.mem_reads_ok.fetch_add(1, Relaxed);
        c.mem_read_bytes.fetch_add(data.len() as u64, Relaxed);
        Ok(data.len())
    }

    fn write_addrs(&mut self, start: u64, data: &[u8], _tid: Tid) -> TargetResult<(), Self> {
        let (ok, phys) = {
            let mut m = self.machine();
            let phys = m.phys_mem_mode;
            let mem = if phys { &mut m.phys } else { &mut m.memory };
            (mem.write(start, data), phys)
        };
        lock(&self.shared.writes).push(WriteRecord {
            addr: start,
            data: data.to_vec(),
            ok,
            phys,
        });
        if ok {
            Ok(())
        } else {
            Err(TargetError::Errno(E14))
        }
    }

    fn list_active_threads(&mut self, f: &mut dyn FnMut(Tid)) -> Result<(), Self::Error> {
        let n = self.machine().vcpus.len();
        for tid in (1..=n).filter_map(NonZeroUsize::new) {
            f(tid);
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }

    fn support_thread_extra_info(&mut self) -> Option<ThreadExtraInfoOps<'_, Self>> {
        Some(self)
    }
}

impl SingleRegisterAccess<Tid> for FakeTarget {
    fn read_register(
        &mut self,
        tid: Tid,
        reg: QemuRegId,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let bytes = self
            .with_vcpu(tid, |v| v.regs.reg_bytes(reg.0))?
            .ok_or(TargetError::Errno(E14))?;
        let dst = buf.get_mut(..bytes.len()).ok_or(TargetError::Errno(E14))?;
        dst.copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    fn write_register(&mut self, tid: Tid, reg: QemuRegId, val: &[u8]) -> TargetResult<(), Self> {
        if self.with_vcpu(tid, |v| v.regs.set_reg_bytes(reg.0, val))? {
            Ok(())
        } else {
            Err(TargetError::Errno(E14))
        }
    }
}

impl MultiThreadResume for FakeTarget {
    fn resume(&mut self) -> Result<(), Self::Error> {
        self.shared.counters.resumes.fetch_add(1, Relaxed);
        if let Some(&(tid, _)) = self.actions.iter().find(|a| matches!(a.1, Action::Step)) {
            // A step "executes" instantly.
            self.shared.counters.steps.fetch_add(1, Relaxed);
            {
                let index = self.vcpu_index(tid);
                let mut m = lock(&self.shared.machine);
                m.last_step_flags = Some(m.sstep_flags);
                if m.stalled_steps > 0 {
                    m.stalled_steps -= 1;
                } else if let Some(v) = index.and_then(|i| m.vcpus.get_mut(i)) {
                    v.regs.rip = v.regs.rip.wrapping_add(1);
                }
            }
            self.pending_stop = Some((
                MultiThreadStopReason::SignalWithThread {
                    tid,
                    signal: Signal::SIGTRAP,
                },
                Instant::now(),
            ));
            self.set_state(RunState::Debug);
            return Ok(());
        }
        self.running = true;
        let mut m = self.machine();
        m.state = RunState::Running;
        // A continue reaches the first planted breakpoint, on the configured vCPU.
        if let Some(addr) = m.first_breakpoint() {
            let index = m.breakpoint_vcpu.min(m.vcpus.len().saturating_sub(1));
            let delay = m.breakpoint_delay;
            if let Some(v) = m.vcpus.get_mut(index) {
                v.regs.rip = addr;
            }
            drop(m);
            let tid = NonZeroUsize::new(index + 1).ok_or("no vCPU")?;
            self.pending_stop = Some((
                MultiThreadStopReason::SignalWithThread {
                    tid,
                    signal: Signal::SIGTRAP,
                },
                Instant::now() + delay,
            ));
        }
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), Self::Error> {
        self.actions.clear();
        Ok(())
    }

    fn set_resume_action_continue(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
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

/// gdbstub asks for this whenever a resume names only some threads (e.g. a plain `c` after
/// `Hc` chose one vCPU). QEMU resumes every vCPU on `c`; the fake does not run anything, so
/// there is nothing to lock.
impl MultiThreadSchedulerLocking for FakeTarget {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl MultiThreadSingleStep for FakeTarget {
    fn set_resume_action_step(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        self.actions.push((tid, Action::Step));
        Ok(())
    }
}

impl ThreadExtraInfo for FakeTarget {
    /// QEMU: `CPU#<index> [running]` or `CPU#<index> [halted ]`.
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let i = tid.get() - 1;
        let text = match self.machine().vcpus.get(i) {
            Some(v) if v.halted => format!("CPU#{i} [halted ]"),
            Some(_) => format!("CPU#{i} [running]"),
            None => return Ok(0),
        };
        let n = buf
            .iter_mut()
            .zip(text.bytes())
            .map(|(dst, src)| *dst = src)
            .count();
        Ok(n)
    }
}

impl TargetDescriptionXmlOverride for FakeTarget {
    /// `target.xml` and `i386-64bit.xml` by name; any other annex is `E00` (as QEMU).
    /// QEMU caps each chunk at `(PacketSize - 5) / 2` bytes whatever length is asked for,
    /// and marks the chunk that reaches the end `l<data>`.
    fn target_description_xml(
        &self,
        annex: &[u8],
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let xml = match annex {
            b"target.xml" => TARGET_XML,
            b"i386-64bit.xml" => I386_64BIT_XML,
            _ => return Err(TargetError::Errno(E00)),
        }
        .as_bytes();
        let start = (offset.min(xml.len() as u64)) as usize;
        let cap = self.shared.packet_size.saturating_sub(5) / 2;
        let rest = xml.get(start..).unwrap_or_default();
        let n = buf
            .iter_mut()
            .zip(rest.iter().take(length.min(cap)))
            .map(|(dst, &src)| *dst = src)
            .count();
        if n > 0 && start + n == xml.len() {
            self.patch_next_reply(Patch::FinalChunk);
        }
        Ok(n)
    }
}

impl MonitorCmd for FakeTarget {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), Self::Error> {
        if cmd.is_empty() {
            // QEMU cannot parse an empty `qRcmd,` and answers E22.
            self.patch_next_reply(Patch::Body(b"E22"));
            return Ok(());
        }
        let line = String::from_utf8_lossy(cmd).into_owned();
        self.shared.counters.monitor_cmds.fetch_add(1, Relaxed);
        lock(&self.shared.monitor_log).push(line.clone());
        let state = self.machine().state;
        for chunk in monitor_output(
            &line,
            &self.shared.version,
            state,
            &self.shared.monitor_extra,
        ) {
            // One `O` packet per line, like QEMU.
            out.write_raw(chunk.as_bytes());
            out.flush();
        }
        Ok(())
    }
}

/// What QEMU's HMP prints for `line`, one string per output line (each ending in `\r\n`).
pub(crate) fn monitor_output(
    line: &str,
    version: &str,
    state: RunState,
    extra: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    if let Some(out) = extra.get(line.trim()) {
        return vec![out.clone()];
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some(&cmd) = words.first() else {
        return Vec::new();
    };
    if cmd != "info" {
        return vec![format!("unknown command: '{cmd}'\r\n")];
    }
    let Some(&sub) = words.get(1) else {
        return vec![
            "info status  -- show the current VM status (running|paused)\r\n".into(),
            "info version  -- show the version of QEMU\r\n".into(),
        ];
    };
    if sub != "version" && sub != "status" {
        return vec![format!("unknown command: 'info {sub}'\r\n")];
    }
    if words.len() > 2 {
        return vec![
            format!("{sub}: extraneous characters at the end of line\r\n"),
            format!("Try \"help info {sub}\" for more information\r\n"),
        ];
    }
    if sub == "version" {
        return vec![format!("{version}\r\n")];
    }
    let status = match state {
        RunState::Paused => "paused",
        RunState::Debug => "paused (debug)",
        RunState::Running => "running",
    };
    vec![format!("VM status: {status}\r\n")]
}

/// The blocking event loop: a continue lasts until the client sends `\x03`, or until the
/// first planted breakpoint is "reached" (after `breakpoint_delay`).
pub(crate) enum EventLoop {}

impl BlockingEventLoop for EventLoop {
    type Target = FakeTarget;
    type Connection = Conn;
    type StopReason = MultiThreadStopReason<u64>;

    fn wait_for_stop_reason(
        target: &mut FakeTarget,
        conn: &mut Conn,
    ) -> Result<Event<Self::StopReason>, WaitForStopReasonError<&'static str, std::io::Error>> {
        use gdbstub::conn::ConnectionExt;
        loop {
            if let Some((stop, due)) = target.pending_stop.take() {
                let now = Instant::now();
                if due <= now {
                    if target.running {
                        // A breakpoint was reached (a step is already `Debug`).
                        target.shared.counters.breakpoint_hits.fetch_add(1, Relaxed);
                        target.set_state(RunState::Debug);
                    }
                    target.running = false;
                    return Ok(Event::TargetStopped(stop));
                }
                target.pending_stop = Some((stop, due));
                if conn
                    .peek()
                    .map_err(WaitForStopReasonError::Connection)?
                    .is_some()
                {
                    break;
                }
                std::thread::sleep((due - now).min(Duration::from_millis(5)));
                continue;
            }
            break;
        }
        let byte = conn.read().map_err(WaitForStopReasonError::Connection)?;
        Ok(Event::IncomingData(byte))
    }

    /// QEMU answers `\x03` with `T02thread:...;` only when the VM runs; while it is stopped
    /// the interrupt is ignored (no reply, nothing deferred).
    fn on_interrupt(target: &mut FakeTarget) -> Result<Option<Self::StopReason>, &'static str> {
        if !target.running {
            return Ok(None);
        }
        target.running = false;
        // Stopped before reaching the breakpoint.
        target.pending_stop = None;
        target.set_state(RunState::Paused);
        Ok(Some(MultiThreadStopReason::SignalWithThread {
            tid: target.first_tid(),
            signal: Signal::SIGINT,
        }))
    }
}
