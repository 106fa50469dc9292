//! A task's kernel stack: where its walk starts (saved registers of a sleeping task, or
//! the registers of the vCPU it runs on), which stacks the walk may use, and the walk.

use super::arch;
use super::layout::LinuxLayout;
use super::modules;
use super::percpu::PerCpu;
use super::task::Task;
use super::vcpus::{vcpu_states, VcpuState};
use crate::memory::{le_u64, GuestMemory};
use crate::Error;
use crate::Program;
use qmdb_bridge::{VcpuId, VirtAddr};
use qmdb_kernel::btf::Btf;
use qmdb_kernel::symtab::SymbolTable;
use qmdb_unwind::{
    self, Backtrace, ModuleOrcs, PtRegs, StackMemory, StackReadError, StackRegion, UnwindContext,
    UnwindOptions, UnwindStart,
};
use std::ops::Range;
use std::sync::Arc;

pub use crate::arch::{pt_regs_of, IRQ_STACK_SIZE};

/// What one `::findstack` or `::stacks` run needs once: the unwind data (the kernel's and
/// each loaded module's), every CPU's interrupt and exception stacks, and what each vCPU
/// runs.
pub struct StackSetup {
    orc: Option<Arc<qmdb_unwind::OrcTable>>,
    /// Loaded modules' text and ORC tables.
    pub modules: ModuleOrcs,
    symbols: Arc<SymbolTable>,
    slide: u64,
    /// Per CPU: its IRQ and exception stacks.
    cpu_stacks: Vec<(u32, Vec<StackRegion>)>,
    /// What each vCPU runs, read once for the command.
    pub vcpus: Vec<VcpuState>,
    /// `[__sched_text_start, __sched_text_end)` at runtime: functions `/proc/PID/stack`
    /// leaves out.
    pub sched_text: Option<Range<u64>>,
    /// `[__lock_text_start, __lock_text_end)`: left out of `/proc/PID/stack` too.
    pub lock_text: Option<Range<u64>>,
    /// What could not be found (printed once as a warning).
    pub problems: Vec<String>,
    /// How the unwinder walks (bounds, what it trusts).
    pub options: UnwindOptions,
}

/// Where a task's walk started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackOrigin {
    /// A task that is not running: from its saved `thread.sp`.
    Saved,
    /// Running in the kernel on a vCPU: from that vCPU's registers.
    OnVcpu { vcpu: VcpuId, cpu: Option<u32> },
    /// Running in user mode on a vCPU: its kernel stack is empty.
    UserMode {
        vcpu: VcpuId,
        cpu: Option<u32>,
        pc: u64,
        sp: u64,
    },
}

/// A task's stack.
#[derive(Debug, Clone)]
pub struct TaskBacktrace {
    /// Where the walk started.
    pub origin: StackOrigin,
    /// The stack pointer the walk started from (`thread.sp` or the vCPU's `rsp`).
    pub sp: u64,
    /// `None` when there is nothing to walk (user mode) or the start could not be read.
    pub backtrace: Option<Backtrace>,
    /// Why there is no backtrace, or a remark on the start.
    pub note: Option<String>,
}

/// Reads guest memory for the unwinder (whose sans-IO `StackMemory` has its own error)
/// through the one [`GuestMemory`]. A fatal error (connection lost, interrupted) is kept,
/// and the caller returns it once the walk has ended.
struct GuestStack<'m> {
    mem: &'m mut dyn GuestMemory,
    fatal: Option<Error>,
}

impl<'m> GuestStack<'m> {
    fn new(mem: &'m mut dyn GuestMemory) -> Self {
        GuestStack { mem, fatal: None }
    }
}

impl StackMemory for GuestStack<'_> {
    fn read_u64(&mut self, addr: u64) -> Result<u64, StackReadError> {
        let mut w = [0u64];
        self.read_words(addr, &mut w)?;
        let [v] = w;
        Ok(v)
    }

    fn read_words(&mut self, addr: u64, out: &mut [u64]) -> Result<(), StackReadError> {
        let len = out.len() * 8;
        let fail = |reason: String| StackReadError {
            addr,
            len: len as u64,
            reason,
        };
        if self.fatal.is_some() {
            return Err(fail("the session has stopped".into()));
        }
        match self.mem.read_bytes(VirtAddr(addr), len, None) {
            Ok(bytes) => {
                for (w, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                    *w = le_u64(chunk).unwrap_or(0);
                }
                Ok(())
            }
            Err(e) => {
                // The cause alone: the error's address and size are the StackReadError's.
                let reason = match &e {
                    Error::Read { cause, .. } => cause.to_string(),
                    e => e.to_string(),
                };
                if e.ends_command() {
                    self.fatal = Some(e);
                }
                Err(fail(reason))
            }
        }
    }
}

/// The `struct pt_regs` at `addr`, or `None` if it cannot be read; `Err` only for what ends
/// the command (connection lost, interrupted).
pub fn read_pt_regs(program: &mut Program, addr: u64) -> Result<Option<PtRegs>, Error> {
    let mut mem = GuestStack::new(program);
    let regs = PtRegs::read(&mut mem, addr).ok();
    match mem.fatal {
        Some(e) => Err(e),
        None => Ok(regs),
    }
}

impl StackSetup {
    /// Reads the per-CPU stacks and the vCPUs' state.
    pub fn new(
        program: &mut Program,
        layout: &LinuxLayout,
        btf: &Btf,
    ) -> Result<StackSetup, Error> {
        let kernel = program.require_kernel()?;
        let orc = kernel.orc.clone();
        let symbols = Arc::clone(&kernel.symbols);
        let slide = kernel.slide;
        let mut problems = Vec::new();
        let percpu = match PerCpu::read(program) {
            Ok(p) => p,
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => {
                problems.push(format!(
                    "per-CPU data unreadable ({e}): running tasks are shown from their saved \
                     stack pointers, without IRQ stacks"
                ));
                PerCpu::from_offsets(Vec::new())
            }
        };
        let vcpus = vcpu_states(program, layout, &percpu)?;
        let mut cpu_stacks = Vec::new();
        for cpu in percpu.cpus() {
            let (regions, mut p) = arch::cpu_stacks(program, layout, btf, &percpu, cpu)?;
            problems.append(&mut p);
            cpu_stacks.push((cpu, regions));
        }
        let format = orc.as_ref().map(|o| o.format());
        let modules = match module_code(program, format) {
            Ok((m, mut p)) => {
                problems.append(&mut p);
                m
            }
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => {
                problems.push(format!(
                    "modules unreadable ({e}): frames in module code are not unwound"
                ));
                ModuleOrcs::default()
            }
        };
        let sym = |name: &str| program.symbols().lookup_name(name).map(|a| a.0);
        let range = |start: &str, end: &str| match (sym(start), sym(end)) {
            (Some(a), Some(b)) if a < b => Some(a..b),
            _ => None,
        };
        let sched_text = range("__sched_text_start", "__sched_text_end");
        let lock_text = range("__lock_text_start", "__lock_text_end");
        Ok(StackSetup {
            orc,
            modules,
            symbols,
            slide,
            cpu_stacks,
            vcpus,
            sched_text,
            lock_text,
            problems,
            options: UnwindOptions::default(),
        })
    }

    /// Whether `addr` (runtime) is kernel or module text.
    pub fn is_text(&self, addr: u64) -> bool {
        if self.modules.is_text(addr) {
            return true;
        }
        self.symbols
            .lookup_addr(addr.wrapping_sub(self.slide))
            .is_some_and(|(s, _)| s.is_text())
    }

    /// The vCPU running `task`, if any.
    pub fn vcpu_of(&self, task: &Task) -> Option<&VcpuState> {
        self.vcpus.iter().find(|v| v.current == Some(task.addr))
    }

    /// The per-CPU stack (IRQ or exception) holding `addr`, and its CPU.
    pub fn cpu_stack_at(&self, addr: u64) -> Option<(u32, &StackRegion)> {
        self.cpu_stacks.iter().find_map(|(cpu, regions)| {
            regions
                .iter()
                .find(|r| r.range.contains(&addr))
                .map(|r| (*cpu, r))
        })
    }

    /// Whether `/proc/PID/stack` leaves a frame at `pc` out: the kernel's
    /// `in_sched_functions()`, scheduler and lock text.
    pub fn in_sched_functions(&self, pc: u64) -> bool {
        [&self.sched_text, &self.lock_text]
            .iter()
            .any(|r| r.as_ref().is_some_and(|r| r.contains(&pc)))
    }

    /// Walks `task`'s kernel stack. An `Err` is fatal to the command (connection lost,
    /// interrupted); everything else about a bad task is in the result.
    pub fn backtrace(
        &self,
        program: &mut Program,
        layout: &LinuxLayout,
        task: &Task,
    ) -> Result<TaskBacktrace, Error> {
        let vcpu = self.vcpu_of(task);
        let cpu = vcpu.and_then(|v| v.cpu).or(task.cpu);
        let mut regions = vec![StackRegion::task(task.stack, arch::THREAD_SIZE)];
        if let Some((_, extra)) = self.cpu_stacks.iter().find(|(c, _)| Some(*c) == cpu) {
            regions.extend(extra.iter().cloned());
        }
        // A vCPU stopped in the first instructions of an entry from user mode may run on a
        // stack of its CPU's own (x86_64: the entry stack in the cpu_entry_area).
        if let Some(v) = vcpu.filter(|v| !v.user_mode) {
            let sp = v.sp();
            if !regions.iter().any(|r| r.range.contains(&sp)) {
                regions.extend(arch::entry_stack(sp));
            }
        }
        let text = |a: u64| self.is_text(a);
        let ctx = UnwindContext {
            orc: self.orc.as_deref(),
            slide: self.slide,
            regions: &regions,
            text: &text,
            options: self.options,
        };
        let mut mem = GuestStack::new(program);
        let result = match vcpu {
            Some(v) if v.user_mode => TaskBacktrace {
                origin: StackOrigin::UserMode {
                    vcpu: v.vcpu,
                    cpu: v.cpu,
                    pc: v.pc(),
                    sp: v.sp(),
                },
                sp: v.sp(),
                backtrace: None,
                note: Some(format!(
                    "running in user mode on vCPU {}: its kernel stack is empty",
                    v.vcpu.cpu_index()
                )),
            },
            Some(v) => {
                let start = UnwindStart::from_regs(pt_regs_of(&v.regs));
                TaskBacktrace {
                    origin: StackOrigin::OnVcpu {
                        vcpu: v.vcpu,
                        cpu: v.cpu,
                    },
                    sp: v.sp(),
                    backtrace: Some(qmdb_unwind::unwind_with_modules(
                        &ctx,
                        &self.modules,
                        &mut mem,
                        &start,
                    )),
                    note: None,
                }
            }
            None => self.saved(&ctx, &mut mem, layout, task),
        };
        match mem.fatal {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    /// A task that is not running: from `thread.sp`, which points at the
    /// `inactive_task_frame` `__switch_to_asm` pushed.
    fn saved(
        &self,
        ctx: &UnwindContext<'_>,
        mem: &mut GuestStack<'_>,
        layout: &LinuxLayout,
        task: &Task,
    ) -> TaskBacktrace {
        let sp = task.saved_sp;
        let fail = |note: String| TaskBacktrace {
            origin: StackOrigin::Saved,
            sp,
            backtrace: None,
            note: Some(note),
        };
        let range = task.stack_range();
        // Checked: a corrupt sp near the top of the address space must not wrap around.
        let frame_end = sp.checked_add(layout.switch_frame.ret_addr + 8);
        let Some(frame_end) = frame_end.filter(|&e| range.contains(&sp) && e <= range.end) else {
            return fail(format!(
                "saved stack pointer {sp:x} is outside the task's stack {:x}-{:x}",
                range.start, range.end
            ));
        };
        let unreadable = |e: StackReadError| {
            fail(format!(
                "cannot read the saved frame at {sp:x} (stack not mapped?): {e}"
            ))
        };
        let ret = match mem.read_u64(sp.wrapping_add(layout.switch_frame.ret_addr)) {
            Ok(v) => v,
            Err(e) => return unreadable(e),
        };
        let bp = match mem.read_u64(sp.wrapping_add(layout.switch_frame.bp)) {
            Ok(v) => v,
            Err(e) => return unreadable(e),
        };
        let mut start = UnwindStart::sleeping(ret, frame_end, bp);
        // A task that never ran starts in ret_from_fork, which is looked up exactly.
        let fork = self
            .symbols
            .lookup_addr(ret.wrapping_sub(self.slide))
            .is_some_and(|(s, off)| off == 0 && s.name.starts_with("ret_from_fork"));
        start.signal = fork;
        TaskBacktrace {
            origin: StackOrigin::Saved,
            sp,
            backtrace: Some(qmdb_unwind::unwind_with_modules(
                ctx,
                &self.modules,
                mem,
                &start,
            )),
            note: None,
        }
    }
}

/// Every loaded module's text and ORC table (entries in `format`, the kernel's); the
/// program's module symbols are read again when the modules changed since they were.
/// A kernel without a `modules` list has none.
fn module_code(
    program: &mut Program,
    format: Option<qmdb_unwind::OrcFormat>,
) -> Result<(ModuleOrcs, Vec<String>), Error> {
    if program.symbols().lookup_name("modules").is_none() {
        return Ok((ModuleOrcs::default(), Vec::new()));
    }
    let (layout, list) = modules::session_modules(program, "::findstack")?;
    let mut problems = list.problems.clone();
    problems.append(&mut modules::fresh_symbols(program, &layout, &list)?.1);
    let (orcs, mut p) = modules::load_orcs(program, &list, format)?;
    problems.append(&mut p);
    Ok((orcs, problems))
}
