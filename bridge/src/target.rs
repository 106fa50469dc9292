//! The synchronous view of a debug target that the mdb layer is written against.
//!
//! Implemented by [`crate::blocking::BlockingTarget`] over a live stub, and by test mocks.

use crate::error::{BridgeError, Result};
use crate::paging::{Translation, WalkFault};
use crate::regs::{RegLayout, RegValues};
use crate::{TargetMemory, VirtAddr};
use std::fmt;

/// A vCPU as the stub names it: RSP thread id `p<pid>.<tid>` (QEMU: `p01.01` is CPU 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VcpuId {
    pub pid: u32,
    pub tid: u32,
}

impl VcpuId {
    /// The RSP thread-id form, `p<pid>.<tid>` in hex, as sent in `Hg`.
    pub fn to_rsp(self) -> String {
        format!("p{:x}.{:x}", self.pid, self.tid)
    }

    /// The 0-based CPU index, as QEMU numbers thread ids from 1.
    pub fn cpu_index(self) -> u32 {
        self.tid.saturating_sub(1)
    }
}

impl fmt::Display for VcpuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cpu_index())
    }
}

/// One vCPU with what the stub says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcpuInfo {
    pub id: VcpuId,
    /// `qThreadExtraInfo`, for example `CPU#0 [halted ]`; empty if the stub has none.
    pub extra: String,
}

/// Why the target stopped, from a stop reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `S`/`T`: stopped with a signal (5 = SIGTRAP, 2 = SIGINT), on this vCPU if named.
    Signal {
        signal: u8,
        thread: Option<VcpuId>,
        /// Other `key:value` pairs of a `T` reply, such as `watch:addr`.
        info: Vec<(String, String)>,
    },
    /// `W`: the target exited with a status.
    Exited(u8),
    /// `X`: the target was terminated by a signal.
    Terminated(u8),
}

impl StopReason {
    /// A watchpoint stop's kind and the address the stub reports (`watch:`, `rwatch:` or
    /// `awatch:` in a `T` reply).
    pub fn watch(&self) -> Option<(BreakKind, u64)> {
        let StopReason::Signal { info, .. } = self else {
            return None;
        };
        info.iter().find_map(|(k, v)| {
            let kind = match k.as_str() {
                "watch" => BreakKind::Write,
                "rwatch" => BreakKind::Read,
                "awatch" => BreakKind::Access,
                _ => return None,
            };
            u64::from_str_radix(v, 16).ok().map(|a| (kind, a))
        })
    }
}

/// A breakpoint or watchpoint as the stub plants it (`Z`/`z`). QEMU implements all of them
/// itself: a software breakpoint writes nothing to guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakKind {
    /// `Z0`: a software breakpoint (its length is gdb's breakpoint kind, 1 on x86).
    Software,
    /// `Z1`: a hardware breakpoint.
    Hardware,
    /// `Z2`: stop after a write to the watched range.
    Write,
    /// `Z3`: stop after a read of the watched range.
    Read,
    /// `Z4`: stop after any access to the watched range.
    Access,
}

impl BreakKind {
    /// The type number in a `Z`/`z` packet.
    pub fn z_type(self) -> u8 {
        match self {
            BreakKind::Software => 0,
            BreakKind::Hardware => 1,
            BreakKind::Write => 2,
            BreakKind::Read => 3,
            BreakKind::Access => 4,
        }
    }

    /// Whether it is a watchpoint (matched by address and length; a breakpoint by address).
    pub fn is_watchpoint(self) -> bool {
        matches!(self, BreakKind::Write | BreakKind::Read | BreakKind::Access)
    }
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakKind::Software => "software breakpoint",
            BreakKind::Hardware => "hardware breakpoint",
            BreakKind::Write => "write watchpoint",
            BreakKind::Read => "read watchpoint",
            BreakKind::Access => "access watchpoint",
        })
    }
}

/// Whether the target is running or stopped, as far as this client knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    Stopped(StopReason),
    Running,
}

/// What `::status` reports about the target.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    /// `host:port` of the stub.
    pub target: String,
    pub state: RunState,
    /// Whether the VM was running when qmdb attached (so detaching resumes it).
    pub was_running_at_attach: bool,
    pub vcpus: usize,
    pub selected: VcpuId,
    /// The stub's largest packet, from `qSupported`'s `PacketSize`.
    pub packet_size: usize,
    /// QEMU's version (from its monitor), if known.
    pub qemu_version: Option<String>,
    /// Whether writes to the guest are allowed (`-w`).
    pub writable: bool,
}

/// A debug target: memory, vCPUs, registers, run control and the stub's monitor.
pub trait Target: TargetMemory {
    /// A snapshot of the connection's state.
    fn status(&mut self) -> Result<TargetStatus>;
    /// Every vCPU, in the stub's order.
    fn vcpus(&mut self) -> Result<Vec<VcpuInfo>>;
    /// The vCPU whose registers and address space are used.
    fn selected_vcpu(&self) -> VcpuId;
    /// Selects a vCPU (`Hg`). Memory is then translated through its page tables.
    fn select_vcpu(&mut self, id: VcpuId) -> Result<()>;
    /// The register layout parsed from the stub's `target.xml`.
    fn register_layout(&self) -> &RegLayout;
    /// All registers of the selected vCPU.
    fn read_registers(&mut self) -> Result<RegValues>;
    /// Runs a command in the stub's monitor (QEMU: HMP) and returns its output.
    fn monitor(&mut self, cmd: &str) -> Result<String>;
    /// Stops a running target and returns why it stopped; a stopped target is left as it is.
    fn interrupt(&mut self) -> Result<StopReason>;
    /// Lets the target run; returns without waiting for it to stop.
    fn resume(&mut self) -> Result<()>;

    /// Waits at most `timeout` for a running target to stop by itself (a breakpoint, a
    /// guest panic); `None` if it still runs, which may come early (a stalled single step
    /// sent again): callers poll until their own deadline. The default reports the known
    /// state without waiting.
    fn wait_for_stop(&mut self, timeout: std::time::Duration) -> Result<Option<StopReason>> {
        let _ = timeout;
        Ok(match self.status()?.state {
            RunState::Stopped(r) => Some(r),
            RunState::Running => None,
        })
    }

    /// Ends the session now, resuming the VM (`resume`) or leaving it stopped, whatever its
    /// state at attach; later calls fail. The default does nothing.
    fn close(&mut self, resume: bool) -> Result<()> {
        let _ = resume;
        Ok(())
    }

    /// Plants a breakpoint or watchpoint (`Z`): `len` is the watched length, or gdb's
    /// breakpoint kind (1 on x86) for a breakpoint. Planting one writes nothing to guest
    /// memory (QEMU keeps them itself), so it needs no `-w`.
    ///
    /// The default says the target cannot ([`BridgeError::Unsupported`]).
    fn insert_breakpoint(&mut self, kind: BreakKind, addr: VirtAddr, len: u64) -> Result<()> {
        let _ = (kind, addr, len);
        Err(BridgeError::Unsupported("breakpoints".into()))
    }

    /// Removes what [`Target::insert_breakpoint`] planted (`z`), with the same arguments.
    ///
    /// The default says the target cannot ([`BridgeError::Unsupported`]).
    fn remove_breakpoint(&mut self, kind: BreakKind, addr: VirtAddr, len: u64) -> Result<()> {
        let _ = (kind, addr, len);
        Err(BridgeError::Unsupported("breakpoints".into()))
    }

    /// The breakpoints and watchpoints planted through [`Target::insert_breakpoint`] and not
    /// removed yet, in planting order, as `(kind, addr, len)`. A live target removes them all
    /// when the session ends. The default has none.
    fn planted(&self) -> Vec<(BreakKind, VirtAddr, u64)> {
        Vec::new()
    }

    /// Whether single steps may let interrupts and timers in (`allow`) or not (the default
    /// of a live target: QEMU's `NOIRQ|NOTIMER` step flags, so that a step lands on the next
    /// instruction, not in an interrupt handler). Takes effect at the next
    /// [`Target::step`]; a stub without such flags steps as it can.
    ///
    /// The default says the target cannot ([`BridgeError::Unsupported`]).
    fn set_step_interrupts(&mut self, allow: bool) -> Result<()> {
        let _ = allow;
        Err(BridgeError::Unsupported(
            "single-step interrupt control".into(),
        ))
    }

    /// Single-steps one instruction on `vcpu` alone (the other vCPUs stay stopped) and
    /// returns without waiting: [`Target::wait_for_stop`] gives the stop.
    ///
    /// The default says the target cannot ([`BridgeError::Unsupported`]).
    fn step(&mut self, vcpu: VcpuId) -> Result<()> {
        let _ = vcpu;
        Err(BridgeError::Unsupported("single-stepping".into()))
    }

    /// Writes `data` to guest memory at `addr` (through the selected vCPU's page tables).
    /// Refused ([`BridgeError::Refused`]) unless the session is writable (`-w`).
    ///
    /// The default says the target cannot ([`BridgeError::Unsupported`]).
    fn write_memory(&mut self, addr: VirtAddr, data: &[u8]) -> Result<()> {
        let _ = (addr, data);
        Err(BridgeError::Unsupported("memory writes".into()))
    }

    /// Sets register `regnum` (a [`crate::regs::RegDesc::regnum`]) of the selected vCPU to
    /// `value` (little-endian, the register's size). Refused ([`BridgeError::Refused`]) unless
    /// the session is writable (`-w`).
    ///
    /// The default says the target cannot ([`BridgeError::Unsupported`]).
    fn write_register(&mut self, regnum: u32, value: &[u8]) -> Result<()> {
        let _ = (regnum, value);
        Err(BridgeError::Unsupported("register writes".into()))
    }

    /// One file of the stub's target description as the stub served it: `target.xml`, then
    /// the files it includes (QEMU: `i386-64bit.xml`).
    ///
    /// The default says the target has none ([`BridgeError::Unsupported`]).
    fn target_description(&mut self, annex: &str) -> Result<String> {
        let _ = annex;
        Err(BridgeError::Unsupported("target descriptions".into()))
    }

    /// Reads `len` bytes of guest-physical memory at `addr`, all or nothing.
    ///
    /// The default says the target cannot ([`BridgeError::Unsupported`]).
    fn read_physical(&mut self, addr: u64, len: usize) -> Result<Vec<u8>> {
        let _ = (addr, len);
        Err(BridgeError::Unsupported("physical memory reads".into()))
    }

    /// Walks the page tables for `va` as this target's memory reads resolve it: through the
    /// selected vCPU's CR3, or, for a kernel address while that CR3 is a Linux PTI user PGD,
    /// through the paired kernel PGD ([`Translation::root`] says which).
    ///
    /// `Ok(Err(fault))` when `va` has no translation (the fault names the level and entry);
    /// `Err` when the walk could not be done. The default says the target cannot
    /// ([`BridgeError::Unsupported`]).
    fn translate(&mut self, va: VirtAddr) -> Result<std::result::Result<Translation, WalkFault>> {
        let _ = va;
        Err(BridgeError::Unsupported("page-table walks".into()))
    }
}
