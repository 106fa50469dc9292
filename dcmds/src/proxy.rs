//! The gdb proxy's view of a qmdb session ([`SessionBackend`]): the kernel's tasks as gdb
//! threads, the registers a sleeping task saved, and dcmd pipelines as `monitor` commands.
//!
//! The proxy server itself (`qmdb_bridge::proxy`) speaks gdb's protocol and forwards
//! everything else to QEMU; it knows nothing of Linux, and asks this backend.
//!
//! - Threads: with the kernel's types (the BTF of the kernel found in guest memory or
//!   given with `--kernel`), one gdb thread per task of `::walk thread`, named by its
//!   `task_struct` address; the task current on each vCPU is marked with that vCPU (its
//!   registers are the vCPU's). A vCPU whose current task is not found is a thread of its
//!   own. Without kernel types, or with [`ThreadView::Vcpus`], the threads are QEMU's
//!   vCPUs.
//! - Saved registers of a task that is not running: from the `struct inactive_task_frame`
//!   `__switch_to_asm` pushed at `thread.sp` (offsets from BTF): `rip` is its `ret_addr`
//!   (in `__schedule`), `rsp` is `thread.sp` plus the frame's size (where the stack pointer
//!   is once `__switch_to_asm` has returned into `__schedule`), `rbp`, `rbx`, `r12`–`r15`
//!   from the frame, and the kernel's `cs` and `ss`. The other registers are not saved.
//! - Where the kernel lies ([`SessionBackend::placement`], for gdb's `qOffsets`): the
//!   KASLR slide of the session's kernel and the link-time address of `_text`.
//! - `monitor`: `help`, `qemu CMD` (QEMU's monitor), or any dcmd line but `:c`, `::step`
//!   and `::stop`: gdb runs the guest here. gdb sends no Ctrl-C while it waits for a
//!   `monitor` reply, so a `monitor :c` could not be interrupted, and gdb would keep the
//!   registers and threads of before it. Events set with `monitor ::bp`/`::wp` are honoured
//!   by gdb's `continue` ([`crate::events::front_end`]): hits counted, `-p` filtered, the stop
//!   report and `-c` callbacks printed on gdb's console, going on unseen by gdb when the
//!   callbacks end with `:c`; they are deleted when gdb detaches.

use crate::cmds::help::dcmd_lines;
use crate::cmds::monitor::is_read_only;
use crate::error::DcmdError;
use crate::events::front_end::{self, Verdict};
use crate::output::Output;
use crate::records::{CpuRow, TaskRow};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::proxy::backend::{
    ImagePlacement, ProxyBackend, ProxyThread, SavedRegisters, StopAction, ThreadKey,
};
use qmdb_bridge::{StopReason, Target, VcpuId, VirtAddr};
use qmdb_kernel::btf::Btf;
use qmdb_linux::tasks::read_task;
use qmdb_linux::{LinuxLayout, TaskRef};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Why run-control dcmds are refused in `monitor` (see the module docs).
const GDB_RUNS: &str = "gdb runs the guest in proxy mode: use gdb's continue, stepi and \
     finish (events set with `monitor ::bp` and gdb's own breakpoints stop it)";

/// The kernel's code segment selector (`__KERNEL_CS`) on x86_64.
pub const KERNEL_CS: u64 = 0x10;
/// The kernel's stack segment selector (`__KERNEL_DS`) on x86_64.
pub const KERNEL_SS: u64 = 0x18;

/// What gdb's threads are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThreadView {
    /// Every kernel task (`--threads tasks`, the default); the vCPUs when the kernel's
    /// types are not known.
    #[default]
    Tasks,
    /// QEMU's vCPUs, as gdb sees them when attached to QEMU directly (`--threads vcpus`).
    Vcpus,
}

/// The members of `struct inactive_task_frame` that hold registers, by gdb's names.
const FRAME_REGS: &[(&str, &str)] = &[
    ("r15", "r15"),
    ("r14", "r14"),
    ("r13", "r13"),
    ("r12", "r12"),
    ("bx", "rbx"),
    ("bp", "rbp"),
];

/// Where `struct inactive_task_frame` keeps each saved register.
#[derive(Debug, Clone)]
struct FrameLayout {
    /// `sizeof(struct inactive_task_frame)`.
    size: u64,
    /// `ret_addr`'s offset.
    ret_addr: u64,
    /// gdb register name and offset of each saved register the kernel's frame has.
    regs: Vec<(&'static str, u64)>,
}

/// Why the backend cannot give gdb the kernel's tasks or a task's registers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    #[error("no kernel: {0}")]
    NoKernel(String),
    #[error("the kernel image has no type information (BTF)")]
    NoTypes,
    /// The kernel's types lack what the task layout needs.
    #[error("{0}")]
    Layout(String),
    #[error("the kernel's BTF has no struct inactive_task_frame")]
    NoSwitchFrame,
    #[error("struct inactive_task_frame: {0}")]
    SwitchFrame(String),
    #[error("struct inactive_task_frame: ret_addr at {ret_addr:#x} is past its size {size:#x}")]
    RetAddrPastFrame { ret_addr: u64, size: u64 },
    #[error("task {addr:x}: no saved registers without kernel types: {cause}")]
    NoKernelView { addr: u64, cause: Box<BackendError> },
    /// The task (or its saved frame) could not be read.
    #[error("task {addr:x}: {cause}")]
    Task { addr: u64, cause: String },
    #[error("{who}: saved stack pointer {sp:x} is outside its stack {start:x}-{end:x}")]
    SpOutsideStack {
        who: String,
        sp: u64,
        start: u64,
        end: u64,
    },
    #[error("{who}: offset {offset:#x} is outside the saved frame")]
    OutsideFrame { who: String, offset: u64 },
    #[error("vCPU {0} has no saved registers: its registers are the vCPU's")]
    VcpuRegisters(u32),
    #[error("cannot list the vCPUs: {0}")]
    Vcpus(String),
    #[error("cannot list the kernel's tasks: {0}")]
    Tasks(String),
}

impl FrameLayout {
    fn from_btf(btf: &Btf, layout: &LinuxLayout) -> Result<FrameLayout, BackendError> {
        let id = btf
            .find("struct inactive_task_frame")
            .ok()
            .and_then(|c| c.plain())
            .ok_or(BackendError::NoSwitchFrame)?;
        let size = btf
            .size_of(id)
            .map_err(|e| BackendError::SwitchFrame(e.to_string()))?;
        let regs = FRAME_REGS
            .iter()
            .filter_map(|&(member, reg)| {
                let m = btf.member(id, member).ok()?;
                Some((reg, m.byte_offset()))
            })
            .filter(|&(_, off)| off.checked_add(8).is_some_and(|end| end <= size))
            .collect();
        let ret_addr = layout.switch_frame.ret_addr;
        if ret_addr.checked_add(8).is_none_or(|end| end > size) {
            return Err(BackendError::RetAddrPastFrame { ret_addr, size });
        }
        Ok(FrameLayout {
            size,
            ret_addr,
            regs,
        })
    }
}

/// What the backend needs of the kernel: the task layout and the switch frame's.
#[derive(Debug, Clone)]
struct KernelView {
    layout: LinuxLayout,
    frame: FrameLayout,
}

/// A [`ProxyBackend`] over a qmdb [`Session`].
pub struct SessionBackend {
    session: Session,
    view: ThreadView,
    /// The kernel's layouts once looked up, or why there are none (decided once: neither
    /// changes while attached).
    kernel: Option<Result<KernelView, BackendError>>,
}

impl SessionBackend {
    /// A backend showing the kernel's tasks as threads (when the session has a kernel).
    pub fn new(session: Session) -> SessionBackend {
        SessionBackend::with_view(session, ThreadView::Tasks)
    }

    /// A backend showing `view` as threads.
    pub fn with_view(session: Session, view: ThreadView) -> SessionBackend {
        let mut session = session;
        session.set_run_control_elsewhere(GDB_RUNS);
        // `monitor` reaches the proxy from whoever can connect to it, possibly another
        // machine (`--listen`): no shell commands from there.
        session.set_shell_allowed(false);
        SessionBackend {
            session,
            view,
            kernel: None,
        }
    }

    /// The session (for its interrupt flag, its kernel...).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, mutably.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Gives the session back; dropping it detaches.
    pub fn into_session(self) -> Session {
        self.session
    }

    /// Where the kernel image lies, as gdb's `qOffsets` tells it: the KASLR slide of the
    /// attached kernel, and the link-time address of `_text` (where the first loadable
    /// segment of an x86_64 vmlinux starts). `None` without a kernel, and with
    /// [`ThreadView::Vcpus`] (gdb then sees QEMU as it is, and QEMU does not answer
    /// `qOffsets`).
    pub fn placement(&self) -> Option<ImagePlacement> {
        if self.view == ThreadView::Vcpus {
            return None;
        }
        let kernel = self.session.kernel()?;
        Some(ImagePlacement {
            slide: kernel.slide,
            first_segment: kernel.symbols.lookup_name("_text").map(|s| s.addr),
        })
    }

    /// The thread view asked for.
    pub fn view(&self) -> ThreadView {
        self.view
    }

    /// Why tasks cannot be gdb's threads, when [`ThreadView::Tasks`] was asked for but
    /// the kernel's types are missing (the threads are then the vCPUs); `None` when they
    /// can, or when [`ThreadView::Vcpus`] was asked for.
    pub fn tasks_unavailable(&mut self) -> Option<BackendError> {
        if self.view == ThreadView::Vcpus {
            return None;
        }
        self.kernel_view().err()
    }

    /// The kernel's layouts, looked up on first use.
    fn kernel_view(&mut self) -> Result<KernelView, BackendError> {
        if self.kernel.is_none() {
            self.kernel = Some(self.look_up_kernel());
        }
        match &self.kernel {
            Some(k) => k.clone(),
            None => Err(BackendError::NoKernel(
                self.session.kernel_missing().to_string(),
            )),
        }
    }

    fn look_up_kernel(&self) -> Result<KernelView, BackendError> {
        let kernel = self
            .session
            .kernel()
            .ok_or_else(|| BackendError::NoKernel(self.session.kernel_missing().to_string()))?;
        let btf = kernel.types.clone().ok_or(BackendError::NoTypes)?;
        let layout =
            LinuxLayout::from_btf(&btf).map_err(|e| BackendError::Layout(e.to_string()))?;
        let frame = FrameLayout::from_btf(&btf, &layout)?;
        Ok(KernelView { layout, frame })
    }

    /// QEMU's vCPUs as threads.
    fn vcpu_threads(&mut self) -> Result<Vec<ProxyThread>, BackendError> {
        let vcpus = self
            .session
            .target_mut()
            .vcpus()
            .map_err(|e| BackendError::Vcpus(e.to_string()))?;
        Ok(vcpus
            .into_iter()
            .map(|v| ProxyThread {
                key: ThreadKey::Vcpu(v.id),
                extra: if v.extra.is_empty() {
                    format!("vCPU {}", v.id.cpu_index())
                } else {
                    v.extra
                },
                vcpu: Some(v.id),
            })
            .collect())
    }

    /// Every task as a thread, each vCPU's current task marked: `::ps -t` and `::cpuinfo`
    /// through the call API.
    fn task_threads(&mut self) -> Result<Vec<ProxyThread>, DcmdError> {
        let session = &mut self.session;
        let mut ps = session.call("ps", None, &["-t"])?;
        for p in &ps.warnings {
            tracing::warn!("proxy: ::ps -t: {p}");
        }
        let tasks = ps.take::<TaskRow>();
        let cpus = match session.call("cpuinfo", None, &[]) {
            Ok(mut c) => c.take::<CpuRow>(),
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => {
                tracing::warn!("proxy: ::cpuinfo failed ({e}): no task is on a vCPU");
                session
                    .target_mut()
                    .vcpus()?
                    .into_iter()
                    .map(|v| CpuRow {
                        vcpu: v.id.cpu_index(),
                        vcpu_id: v.id,
                        cpu: None,
                        online: None,
                        thread: None,
                        pid: None,
                        comm: None,
                        mode: "kernel",
                        pc: 0,
                        symbol: None,
                    })
                    .collect()
            }
        };
        // Each task's vCPU, the first vCPU claiming it winning.
        let known: HashSet<u64> = tasks.iter().map(|t| t.thread).collect();
        let mut on_vcpu: HashMap<u64, (VcpuId, bool)> = HashMap::new();
        let mut orphans = Vec::new();
        for c in &cpus {
            match c.thread.filter(|t| known.contains(t)) {
                Some(t) if !on_vcpu.contains_key(&t) => {
                    on_vcpu.insert(t, (c.vcpu_id, c.mode == "user"));
                }
                _ => orphans.push(c),
            }
        }
        let mut threads: Vec<ProxyThread> = tasks
            .iter()
            .map(|t| {
                let vcpu = on_vcpu.get(&t.thread).copied();
                ProxyThread {
                    key: ThreadKey::Task(t.thread),
                    extra: task_extra(t, vcpu),
                    vcpu: vcpu.map(|(v, _)| v),
                }
            })
            .collect();
        // A vCPU whose task is unknown is still a thread: stops there must be reported.
        threads.extend(orphans.into_iter().map(|c| ProxyThread {
            key: ThreadKey::Vcpu(c.vcpu_id),
            extra: format!(
                "vCPU {}, current task unknown{}",
                c.vcpu,
                if c.mode == "user" { " (user mode)" } else { "" }
            ),
            vcpu: Some(c.vcpu_id),
        }));
        Ok(threads)
    }

    /// The registers task `addr` saved when it last left a CPU.
    fn task_registers(&mut self, addr: u64) -> Result<SavedRegisters, BackendError> {
        let kv = self.kernel_view().map_err(|e| BackendError::NoKernelView {
            addr,
            cause: Box::new(e),
        })?;
        let task =
            read_task(&mut self.session, &kv.layout, TaskRef(VirtAddr(addr))).map_err(|e| {
                BackendError::Task {
                    addr,
                    cause: e.to_string(),
                }
            })?;
        let who = format!("task {addr:x} (pid {} {})", task.pid, task.comm);
        let sp = task.saved_sp;
        let range = task.stack_range();
        let frame = &kv.frame;
        let end = sp.checked_add(frame.size);
        if !range.contains(&sp) || end.is_none_or(|e| e > range.end) {
            return Err(BackendError::SpOutsideStack {
                who,
                sp,
                start: range.start,
                end: range.end,
            });
        }
        let len = usize::try_from(frame.size).map_err(|_| BackendError::OutsideFrame {
            who: who.clone(),
            offset: frame.size,
        })?;
        let bytes = self
            .session
            .read_bytes(VirtAddr(sp), len, Some("inactive_task_frame"))
            .map_err(|e| BackendError::Task {
                addr,
                cause: e.to_string(),
            })?;
        let word = |off: u64| -> Result<u64, BackendError> {
            usize::try_from(off)
                .ok()
                .and_then(|o| bytes.get(o..o.checked_add(8)?))
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or_else(|| BackendError::OutsideFrame {
                    who: who.clone(),
                    offset: off,
                })
        };
        let mut regs: SavedRegisters = vec![
            ("rip", word(frame.ret_addr)?),
            // `end` is Some: checked above.
            ("rsp", end.unwrap_or(sp)),
        ];
        for &(name, off) in &frame.regs {
            regs.push((name, word(off)?));
        }
        regs.push(("cs", KERNEL_CS));
        regs.push(("ss", KERNEL_SS));
        Ok(regs)
    }

    fn help(&self, out: &mut dyn FnMut(&str)) {
        let rw = if self.session.writable() {
            "any command (qmdb proxy -w)"
        } else {
            "read-only commands only, unless started with -w"
        };
        for l in [
            "qmdb proxy: `monitor` runs qmdb's mdb commands on the stopped guest:".to_string(),
            "  monitor ::walk thread | ::findstack -v".to_string(),
            "  monitor ::ps".to_string(),
            "  monitor qemu CMD   QEMU's own monitor (HMP), e.g. monitor qemu info status".into(),
            format!("                     ({rw})"),
            "  monitor help       this list".to_string(),
            "More: monitor ::help NAME, monitor ::walkers, monitor ::formats.".to_string(),
            String::new(),
            "dcmds:".to_string(),
        ] {
            out(&l);
        }
        for l in dcmd_lines() {
            out(&l);
        }
    }

    fn qemu(&mut self, cmd: &str, out: &mut dyn FnMut(&str)) -> bool {
        let cmd = cmd.trim();
        if cmd.is_empty() {
            out("qmdb: qemu: missing monitor command (monitor qemu info status)");
            return false;
        }
        if !self.session.writable() && !is_read_only(cmd) {
            let first = cmd.split_whitespace().next().unwrap_or("");
            out(&format!(
                "qmdb: refused: monitor command '{first}' may change the VM, and qmdb is \
                 read-only (start qmdb proxy with -w to allow it)"
            ));
            return false;
        }
        match self.session.target_mut().monitor(cmd) {
            Ok(text) => {
                for l in text.lines() {
                    out(l.trim_end_matches('\r'));
                }
                true
            }
            Err(e) => {
                out(&format!("qmdb: qemu {cmd}: {e}"));
                false
            }
        }
    }
}

/// `pid 42 comm S`, and ` on vCPU n` for the task running on one.
fn task_extra(t: &TaskRow, vcpu: Option<(VcpuId, bool)>) -> String {
    let mut s = format!("pid {} {} {}", t.pid, t.comm, t.state);
    if let Some((v, user)) = vcpu {
        s.push_str(&format!(" on vCPU {}", v.cpu_index()));
        if user {
            s.push_str(" (user mode)");
        }
    }
    s
}

impl ProxyBackend for SessionBackend {
    fn target(&mut self) -> &mut dyn Target {
        self.session.target_mut()
    }

    fn threads(&mut self) -> Result<Vec<ProxyThread>, qmdb_bridge::proxy::BackendError> {
        if self.view == ThreadView::Vcpus || self.kernel_view().is_err() {
            return Ok(self.vcpu_threads()?);
        }
        match self.task_threads() {
            Ok(t) => Ok(t),
            Err(e) if e.ends_command() => Err(BackendError::Tasks(e.to_string()).into()),
            Err(e) => {
                tracing::warn!("proxy: cannot list the kernel's tasks ({e}); showing the vCPUs");
                Ok(self.vcpu_threads()?)
            }
        }
    }

    fn saved_registers(
        &mut self,
        thread: ThreadKey,
    ) -> Result<SavedRegisters, qmdb_bridge::proxy::BackendError> {
        match thread {
            ThreadKey::Task(addr) => Ok(self.task_registers(addr)?),
            ThreadKey::Vcpu(v) => Err(BackendError::VcpuRegisters(v.cpu_index()).into()),
        }
    }

    fn image_placement(&mut self) -> Option<ImagePlacement> {
        self.placement()
    }

    fn has_points(&self) -> bool {
        self.session.events().events().iter().any(|e| e.planted)
    }

    fn before_resume(
        &mut self,
        stepping: bool,
        last_stop: Option<VcpuId>,
        out: &mut dyn FnMut(&str),
    ) -> Option<StopReason> {
        front_end::before_resume(&mut self.session, stepping, last_stop).unwrap_or_else(|e| {
            out(&format!("qmdb: {e}"));
            None
        })
    }

    fn on_stop(
        &mut self,
        reason: &StopReason,
        gdbs: bool,
        out: &mut dyn FnMut(&str),
    ) -> StopAction {
        let mut stream = StreamOutput { out };
        let verdict = {
            let mut sink = Sink::new(&mut stream, None);
            front_end::at_stop(
                &mut self.session,
                &mut sink,
                reason.clone(),
                gdbs,
                crate::exec::execute_with,
            )
        };
        match verdict {
            Ok(Verdict::GoOn) => StopAction::Resume,
            Ok(Verdict::Report) => StopAction::Report,
            Err(e) => {
                (stream.out)(&format!("qmdb: {e}"));
                StopAction::Report
            }
        }
    }

    fn on_detach(&mut self) {
        if let Err(e) = front_end::clear(&mut self.session) {
            tracing::warn!("removing qmdb's events when gdb left: {e}");
        }
    }

    fn monitor(&mut self, line: &str, out: &mut dyn FnMut(&str)) -> bool {
        let line = line.trim();
        if line.is_empty() || line == "help" {
            self.help(out);
            return true;
        }
        if line == "qemu" {
            return self.qemu("", out);
        }
        if let Some(cmd) = line.strip_prefix("qemu ") {
            return self.qemu(cmd, out);
        }
        let mut sink = StreamOutput { out };
        let outcome = self.session.execute(line, &mut sink);
        if outcome.quit {
            (sink.out)(
                "qmdb: ::quit does nothing in proxy mode: use gdb's `detach` (the VM runs on) \
                 or stop qmdb proxy",
            );
        }
        outcome.all_ok
    }
}

/// Streams a command's output to gdb line by line, warnings and errors as text mode
/// prints them (`qmdb: message`).
struct StreamOutput<'a> {
    out: &'a mut dyn FnMut(&str),
}

impl Output for StreamOutput<'_> {
    fn begin(&mut self, _command: &str) {}

    fn line(&mut self, text: &str) {
        (self.out)(text);
    }

    fn warning(&mut self, message: &str) {
        (self.out)(&format!("qmdb: {message}"));
    }

    fn error(&mut self, message: &str) {
        (self.out)(&format!("qmdb: {message}"));
    }

    fn data(&mut self, _value: Value) {}

    fn end(&mut self) {}
}
