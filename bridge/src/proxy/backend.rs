//! What the gdb proxy needs from the layers above the bridge: the kernel's tasks as gdb
//! threads, the registers a sleeping task saved, and dcmds for `monitor`. The bridge does not
//! know the kernel; `qmdb-dcmds` implements this trait over a session.

use crate::target::{StopReason, Target, VcpuId};

/// A stable name for one gdb thread across stops: a kernel task's `task_struct` address, or
/// a vCPU in `--threads=vcpus` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ThreadKey {
    Task(u64),
    Vcpu(VcpuId),
}

/// One thread as gdb will list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyThread {
    pub key: ThreadKey,
    /// What `info threads` shows after the id (`qThreadExtraInfo`): pid, comm, state, and the
    /// vCPU it runs on.
    pub extra: String,
    /// The vCPU it runs on: its registers are that vCPU's, and a stop there is reported
    /// against it.
    pub vcpu: Option<VcpuId>,
}

/// Registers of a thread that is not on a vCPU, by gdb's x86_64 names (`rip`, `rsp`, `rbp`,
/// `rbx`, `r12`…`r15`, `cs`, `ss`, `eflags`); those not listed are unknown and read as 0.
pub type SavedRegisters = Vec<(&'static str, u64)>;

/// Where the kernel image was loaded, relative to the addresses its file was linked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePlacement {
    /// How far the whole image was moved (the KASLR slide): text, data and bss alike.
    pub slide: u64,
    /// The link-time address of the image's first loadable segment (`_text` on x86_64),
    /// when known. With it gdb is told where that segment now starts (`TextSeg=`), and
    /// moves every section of the file by the slide; without it, only `.text`, `.data`
    /// and `.bss` are named (`Text=;Data=;Bss=`), and gdb leaves `.rodata`, `.init.text`
    /// and the rest where the file put them.
    pub first_segment: Option<u64>,
}

/// What the proxy does with a stop of a continue gdb asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAction {
    /// Report it to gdb.
    Report,
    /// Resume the target without telling gdb (the backend's own event went on).
    Resume,
}

/// Why the backend could not answer: its own typed error, which the proxy only logs (gdb
/// then gets the vCPUs, or an errno).
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// The proxy's view of the session above it.
pub trait ProxyBackend {
    /// The connection to the stub (QEMU), for everything forwarded as is.
    fn target(&mut self) -> &mut dyn Target;

    /// The threads gdb sees now (the target is stopped), in the order to number them.
    /// Called again after every stop.
    fn threads(&mut self) -> Result<Vec<ProxyThread>, BackendError>;

    /// The registers saved by a thread that is not running on a vCPU.
    fn saved_registers(&mut self, thread: ThreadKey) -> Result<SavedRegisters, BackendError>;

    /// Runs a `monitor` command line (dcmds, or `qemu CMD` for QEMU's monitor, or `help`),
    /// giving each output line to `out` as it is produced. Returns whether it succeeded.
    fn monitor(&mut self, line: &str, out: &mut dyn FnMut(&str)) -> bool;

    /// Where the kernel image lies, for gdb's `qOffsets`: gdb then moves the symbol file
    /// it loaded before `target remote` there. `None` when unknown, or when gdb must not
    /// be told (the threads are the vCPUs, as QEMU shows them): gdb gets the empty reply,
    /// as from QEMU.
    fn image_placement(&mut self) -> Option<ImagePlacement> {
        None
    }

    /// Whether the backend has breakpoints or watchpoints of its own (set with `monitor`).
    fn has_points(&self) -> bool {
        false
    }

    /// gdb is about to resume the stopped target (`stepping`: one vCPU, one instruction):
    /// the backend plants its own points and may step `last_stop` (the vCPU of the last
    /// stop gdb got) off one. A stop that step ran into is returned, to be handled instead
    /// of resuming. Lines for gdb's console go to `out`.
    fn before_resume(
        &mut self,
        _stepping: bool,
        _last_stop: Option<VcpuId>,
        _out: &mut dyn FnMut(&str),
    ) -> Option<StopReason> {
        None
    }

    /// The target stopped during a continue gdb asked for (the stopping vCPU selected):
    /// report it, or resume silently (the backend's own event went on). `gdbs`: one of
    /// gdb's points explains the stop, so it must be reported.
    fn on_stop(
        &mut self,
        _reason: &StopReason,
        _gdbs: bool,
        _out: &mut dyn FnMut(&str),
    ) -> StopAction {
        StopAction::Report
    }

    /// gdb is leaving (it reads nothing more), the target is stopped: the backend removes
    /// its own points, so that the VM runs on with none.
    fn on_detach(&mut self) {}
}
