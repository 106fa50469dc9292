//! Linux awareness: tasks, CPUs and per-CPU data, read from guest memory with offsets
//! from the kernel's BTF.
//!
//! - [`layout`]: the offsets, looked up by member name;
//! - [`task`] and [`state`]: one task decoded, its `ps` state letter;
//! - [`tasks`]: walking every task (process list, thread lists, idle tasks);
//! - [`percpu`]: the possible CPUs (online or not) and per-CPU variables;
//! - [`vcpus`]: each vCPU's CPU number, mode and current task.

pub mod backtrace;
pub mod layout;
pub mod modules;
pub mod percpu;
pub mod printk;
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

use crate::error::DcmdError;
use crate::session::Session;

/// The layout of the session's kernel, or an error saying why there is none.
pub fn layout(session: &Session, cmd: &str) -> Result<LinuxLayout, DcmdError> {
    let btf = crate::cmds::print::kernel_types(session, cmd)?;
    LinuxLayout::from_btf(&btf).map_err(|e| DcmdError::usage(cmd, e.to_string()))
}

/// What the Linux dcmds of one command share: the layout and the stack setup, computed
/// once per command (every stage of `::walk thread | ::findstack` uses the same).
pub struct LinuxContext {
    pub layout: LinuxLayout,
    pub btf: std::sync::Arc<crate::kernel::Btf>,
}

/// The command's [`LinuxContext`], made on first use.
pub fn context(
    session: &mut Session,
    cmd: &str,
) -> Result<std::sync::Arc<LinuxContext>, DcmdError> {
    if let Some(c) = session.command_cached::<LinuxContext>() {
        return Ok(c);
    }
    let btf = crate::cmds::print::kernel_types(session, cmd)?;
    let layout = LinuxLayout::from_btf(&btf).map_err(|e| DcmdError::usage(cmd, e.to_string()))?;
    let c = std::sync::Arc::new(LinuxContext { layout, btf });
    session.cache_for_command(std::sync::Arc::clone(&c));
    Ok(c)
}

/// The command's [`backtrace::StackSetup`], made on first use; its problems are returned
/// the first time only, for the caller to print once.
pub fn stack_setup(
    session: &mut Session,
    ctx: &LinuxContext,
) -> Result<(std::sync::Arc<backtrace::StackSetup>, Vec<String>), DcmdError> {
    if let Some(s) = session.command_cached::<backtrace::StackSetup>() {
        return Ok((s, Vec::new()));
    }
    let setup = backtrace::StackSetup::new(session, &ctx.layout, &ctx.btf)?;
    let problems = setup.problems.clone();
    let s = std::sync::Arc::new(setup);
    session.cache_for_command(std::sync::Arc::clone(&s));
    Ok((s, problems))
}
