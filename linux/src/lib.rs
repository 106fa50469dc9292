//! The debugged Linux program: guest memory through [`Program`], the kernel found (from a
//! file or from guest memory alone) and slid, and the walkers over its data structures, with
//! offsets from the kernel's BTF.
//!
//! - [`program`]: the [`Program`] every walker reads through, and its [`Error`];
//! - [`memory`]: [`GuestMemory`], the one trait walkers read guest memory through
//!   (implemented by [`Program`] and by tests' in-memory maps);
//! - [`arch`]: what is x86_64-specific (registers, per-CPU base, image region, extra
//!   stacks, page tables), behind one seam for arm64;
//! - [`load`], [`discover`] and [`kaslr`]: the kernel from `--kernel`, or found in memory;
//! - [`layout`](mod@layout): the offsets, looked up by member name;
//! - [`task`] and [`state`]: one task decoded, its `ps` state letter;
//! - [`tasks`]: walking every task (process list, thread lists, idle tasks);
//! - [`percpu`]: the possible CPUs (online or not) and per-CPU variables;
//! - [`vcpus`]: each vCPU's CPU number, mode and current task;
//! - [`sched`]: each CPU's run queue (current and queued tasks by class) and when a task
//!   last ran;
//! - [`modules`], [`printk`], [`slab`] and [`backtrace`]: loaded modules, the log buffer,
//!   SLUB caches, and every task's stack through `qmdb-unwind`;
//! - [`fs`]: paths (`d_path`), a task's open files, a namespace's mounts.

pub mod arch;
pub mod backtrace;
pub mod clock;
pub mod containers;
pub mod discover;
pub mod error;
pub mod fs;
pub mod hung;
pub mod kaslr;
pub mod layout;
pub mod load;
pub mod locks;
pub mod memory;
pub mod mm;
#[cfg(any(test, feature = "mock"))]
pub mod mock;
pub mod modules;
pub mod object;
pub mod panic;
pub mod percpu;
pub mod printk;
pub mod program;
pub mod sched;
pub mod slab;
pub mod state;
pub mod task;
pub mod tasks;
pub mod vcpus;

pub use layout::LinuxLayout;
pub use percpu::PerCpu;
pub use task::{Task, TaskRef, THREAD_SIZE};
pub use tasks::{walk_tasks, Scope, TaskList};
pub use vcpus::{vcpu_states, VcpuState};

pub use error::{Error, ReadCause};
pub use memory::GuestMemory;
pub use object::StructView;
pub use program::{Program, DEFAULT_WALK_LIMIT};

/// The layout of the program's kernel, or an error saying why there is none.
pub fn layout(program: &Program, cmd: &str) -> Result<LinuxLayout, Error> {
    let btf = program.types()?;
    LinuxLayout::from_btf(&btf).map_err(|e| Error::layout(cmd, e))
}

/// What the Linux dcmds of one command share: the layout and the stack setup, computed
/// once per command (every stage of `::walk thread | ::findstack` uses the same).
pub struct LinuxContext {
    /// The offsets of the task, run-queue and switch-frame structures.
    pub layout: LinuxLayout,
    /// The kernel's types, for walkers that look up more.
    pub btf: std::sync::Arc<qmdb_kernel::Btf>,
}

/// The command's [`LinuxContext`], made on first use.
pub fn context(program: &mut Program, cmd: &str) -> Result<std::sync::Arc<LinuxContext>, Error> {
    if let Some(c) = program.command_cached::<LinuxContext>() {
        return Ok(c);
    }
    let btf = program.types()?;
    let layout = LinuxLayout::from_btf(&btf).map_err(|e| Error::layout(cmd, e))?;
    let c = std::sync::Arc::new(LinuxContext { layout, btf });
    program.cache_for_command(std::sync::Arc::clone(&c));
    Ok(c)
}

/// The command's [`backtrace::StackSetup`], made on first use; its problems are returned
/// the first time only, for the caller to print once.
pub fn stack_setup(
    program: &mut Program,
    ctx: &LinuxContext,
) -> Result<(std::sync::Arc<backtrace::StackSetup>, Vec<String>), Error> {
    if let Some(s) = program.command_cached::<backtrace::StackSetup>() {
        return Ok((s, Vec::new()));
    }
    let setup = backtrace::StackSetup::new(program, &ctx.layout, &ctx.btf)?;
    let problems = setup.problems.clone();
    let s = std::sync::Arc::new(setup);
    program.cache_for_command(std::sync::Arc::clone(&s));
    Ok((s, problems))
}
