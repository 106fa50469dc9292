//! A task's kernel stack: where its walk starts (saved registers of a sleeping task, or
//! the registers of the vCPU it runs on), which stacks the walk may use, and the walk.

use super::layout::LinuxLayout;
use super::modules;
use super::percpu::PerCpu;
use super::task::Task;
use super::vcpus::{vcpu_states, VcpuState};
use crate::Error;
use crate::Program;
use qmdb_bridge::regs::RegValues;
use qmdb_bridge::{VcpuId, VirtAddr};
use qmdb_kernel::btf::Btf;
use qmdb_kernel::symtab::SymbolTable;
use qmdb_unwind::{
    self, Backtrace, ModuleOrcs, PtRegs, Reg, StackKind, StackMemory, StackReadError, StackRegion,
    UnwindContext, UnwindOptions, UnwindStart,
};
use std::ops::Range;
use std::sync::Arc;

/// Where x86_64 maps each CPU's `cpu_entry_area` (entry stack, exception stacks, TSS).
const CPU_ENTRY_AREA: Range<u64> = 0xffff_fe00_0000_0000..0xffff_ff00_0000_0000;

/// The size of a hard IRQ stack on x86_64 (`IRQ_STACK_SIZE`, 16 KiB without KASAN).
pub const IRQ_STACK_SIZE: u64 = 0x4000;

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
    pub vcpus: Vec<VcpuState>,
    /// `[__sched_text_start, __sched_text_end)` at runtime: functions `/proc/PID/stack`
    /// leaves out.
    pub sched_text: Option<Range<u64>>,
    /// What could not be found (printed once as a warning).
    pub problems: Vec<String>,
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
    pub origin: StackOrigin,
    /// The stack pointer the walk started from (`thread.sp` or the vCPU's `rsp`).
    pub sp: u64,
    /// `None` when there is nothing to walk (user mode) or the start could not be read.
    pub backtrace: Option<Backtrace>,
    /// Why there is no backtrace, or a remark on the start.
    pub note: Option<String>,
}

/// Reads guest memory for the unwinder through the program. A fatal error (connection
/// lost, interrupted) is kept, and the caller returns it once the walk has ended.
struct SessionStack<'s> {
    program: &'s mut Program,
    fatal: Option<Error>,
}

impl StackMemory for SessionStack<'_> {
    fn read_u64(&mut self, addr: u64) -> Result<u64, StackReadError> {
        let mut w = [0u64];
        self.read_words(addr, &mut w)?;
        Ok(w[0])
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
        match self.program.read_bytes(VirtAddr(addr), len, None) {
            Ok(bytes) => {
                for (w, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(chunk);
                    *w = u64::from_le_bytes(b);
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
    let mut mem = SessionStack {
        program,
        fatal: None,
    };
    let regs = PtRegs::read(&mut mem, addr).ok();
    match mem.fatal {
        Some(e) => Err(e),
        None => Ok(regs),
    }
}

/// A vCPU's registers in `pt_regs` order.
pub fn pt_regs_of(regs: &RegValues) -> PtRegs {
    let mut p = PtRegs::default();
    let names = [
        (Reg::R15, "r15"),
        (Reg::R14, "r14"),
        (Reg::R13, "r13"),
        (Reg::R12, "r12"),
        (Reg::Bp, "rbp"),
        (Reg::Bx, "rbx"),
        (Reg::R11, "r11"),
        (Reg::R10, "r10"),
        (Reg::R9, "r9"),
        (Reg::R8, "r8"),
        (Reg::Ax, "rax"),
        (Reg::Cx, "rcx"),
        (Reg::Dx, "rdx"),
        (Reg::Si, "rsi"),
        (Reg::Di, "rdi"),
        (Reg::Ip, "rip"),
        (Reg::Cs, "cs"),
        (Reg::Flags, "eflags"),
        (Reg::Sp, "rsp"),
        (Reg::Ss, "ss"),
    ];
    for (reg, name) in names {
        p.set(reg, regs.get_u64(name).unwrap_or(0));
    }
    p
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
        for cpu in percpu.cpus().collect::<Vec<_>>() {
            let mut regions = Vec::new();
            match irq_stack(program, layout, &percpu, cpu) {
                Ok(Some(r)) => regions.push(r),
                Ok(None) => {}
                Err(e) if e.ends_command() => return Err(e),
                Err(e) => problems.push(format!("IRQ stack of CPU {cpu}: {e}")),
            }
            match exception_stacks(program, btf, &percpu, cpu) {
                Ok(mut r) => regions.append(&mut r),
                Err(e) if e.ends_command() => return Err(e),
                Err(e) => problems.push(format!("exception stacks of CPU {cpu}: {e}")),
            }
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
        let sched_text = match (sym("__sched_text_start"), sym("__sched_text_end")) {
            (Some(a), Some(b)) if a < b => Some(a..b),
            _ => None,
        };
        Ok(StackSetup {
            orc,
            modules,
            symbols,
            slide,
            cpu_stacks,
            vcpus,
            sched_text,
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
        let mut regions = vec![StackRegion::task(task.stack, super::THREAD_SIZE)];
        if let Some((_, extra)) = self.cpu_stacks.iter().find(|(c, _)| Some(*c) == cpu) {
            regions.extend(extra.iter().cloned());
        }
        // A vCPU stopped in the first instructions of an entry from user mode runs on its
        // CPU's entry stack, one page in the cpu_entry_area.
        if let Some(v) = vcpu.filter(|v| !v.user_mode) {
            let sp = v.sp();
            if CPU_ENTRY_AREA.contains(&sp) && !regions.iter().any(|r| r.range.contains(&sp)) {
                let page = sp & !0xfff;
                regions.push(StackRegion {
                    range: page..page + 0x1000,
                    kind: StackKind::Exception("entry".into()),
                });
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
        let mut mem = SessionStack {
            program,
            fatal: None,
        };
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
        mem: &mut SessionStack<'_>,
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

/// CPU `cpu`'s hard IRQ stack: `hardirq_stack_ptr` (per-CPU, or in `pcpu_hot` on 6.2+)
/// points 8 bytes below its top.
fn irq_stack(
    program: &mut Program,
    layout: &LinuxLayout,
    percpu: &PerCpu,
    cpu: u32,
) -> Result<Option<StackRegion>, Error> {
    let var = match (
        program.symbols().lookup_name("hardirq_stack_ptr"),
        program.symbols().lookup_name("pcpu_hot"),
        layout.pcpu_hot_hardirq_stack,
    ) {
        (Some(a), _, _) => a,
        (None, Some(hot), Some(off)) => hot.add(off),
        _ => return Ok(None),
    };
    let Some(ptr) = percpu.ptr(cpu, var) else {
        return Ok(None);
    };
    let top = program.read_u64(ptr, Some("hardirq_stack_ptr"))?;
    if top == 0 {
        return Ok(None);
    }
    let end = top.wrapping_add(8);
    Ok(Some(StackRegion {
        range: end.wrapping_sub(IRQ_STACK_SIZE)..end,
        kind: StackKind::Irq,
    }))
}

/// CPU `cpu`'s exception (IST) stacks, from `struct cea_exception_stacks` at the per-CPU
/// `cea_exception_stacks` pointer: each `NAME_stack` member is one stack.
fn exception_stacks(
    program: &mut Program,
    btf: &Btf,
    percpu: &PerCpu,
    cpu: u32,
) -> Result<Vec<StackRegion>, Error> {
    let Some(var) = program.symbols().lookup_name("cea_exception_stacks") else {
        return Ok(Vec::new());
    };
    let Some(id) = btf
        .find("struct cea_exception_stacks")
        .ok()
        .and_then(|c| c.plain())
    else {
        return Ok(Vec::new());
    };
    let Some(ptr) = percpu.ptr(cpu, var) else {
        return Ok(Vec::new());
    };
    let base = program.read_u64(ptr, Some("cea_exception_stacks"))?;
    if base == 0 {
        return Ok(Vec::new());
    }
    let Some(t) = btf.type_by_id(id) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for m in btf.members(t) {
        let Some(name) = m.name.strip_suffix("_stack") else {
            continue;
        };
        let Ok(info) = btf.member_info(&m) else {
            continue;
        };
        let Ok(size) = btf.size_of(info.ty) else {
            continue;
        };
        let start = base.wrapping_add(info.byte_offset());
        out.push(StackRegion {
            range: start..start.wrapping_add(size),
            kind: StackKind::Exception(name.to_string()),
        });
    }
    Ok(out)
}
