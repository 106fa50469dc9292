//! One task (a Linux thread) as read from its `task_struct`.

use super::layout::{Field, LinuxLayout, ThreadLinks};
use super::state::state_letter;
use qmdb_bridge::VirtAddr;
use std::fmt;

/// The address of a `task_struct`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskRef(pub VirtAddr);

impl fmt::Display for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0 .0)
    }
}

pub use crate::arch::THREAD_SIZE;

/// What qmdb knows of a task, decoded from the first bytes of its `task_struct`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The `task_struct`.
    pub addr: TaskRef,
    /// The thread id (`task_struct.pid`).
    pub pid: i32,
    /// The process id (`tgid`).
    pub tgid: i32,
    /// The command name, up to 15 bytes.
    pub comm: String,
    /// `__state` (or `state`): running, sleeping...
    pub state: u32,
    /// `exit_state`: zombie or dead.
    pub exit_state: u32,
    /// `flags` (`PF_*`).
    pub flags: u32,
    /// The CPU it runs or last ran on.
    pub cpu: Option<u32>,
    /// `on_cpu`: whether it runs (or is being switched) on a CPU.
    pub on_cpu: bool,
    /// The base of its kernel stack.
    pub stack: u64,
    /// The saved stack pointer (`thread.sp`), meaningful while it is not running.
    pub saved_sp: u64,
    /// The parent `task_struct`.
    pub real_parent: u64,
    /// `mm`: 0 for kernel threads.
    pub mm: Option<u64>,
    /// The `next` of its `tasks` node.
    pub(crate) tasks_next: u64,
    /// The `next` of its thread node (`thread_node` or `thread_group`).
    pub(crate) thread_next: u64,
    /// `signal`, when threads hang off `signal->thread_head`.
    pub(crate) signal: u64,
}

/// `PF_KTHREAD`: a kernel thread.
pub const PF_KTHREAD: u32 = 0x0020_0000;
/// `PF_IDLE`: a CPU's idle task.
pub const PF_IDLE: u32 = 0x2;

fn uint(bytes: &[u8], f: Field) -> u64 {
    let start = f.offset as usize;
    let len = (f.size as usize).min(8);
    bytes.get(start..start.saturating_add(len)).map_or(0, |b| {
        b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x))
    })
}

fn word(bytes: &[u8], offset: u64) -> u64 {
    uint(bytes, Field { offset, size: 8 })
}

fn int32(bytes: &[u8], offset: u64) -> i32 {
    uint(bytes, Field { offset, size: 4 }) as u32 as i32
}

impl Task {
    /// Decodes a task from `bytes`, the first [`LinuxLayout::task_prefix`] bytes of the
    /// `task_struct` at `addr` (fields past the end of a short buffer read as 0).
    pub fn decode(addr: TaskRef, bytes: &[u8], layout: &LinuxLayout) -> Task {
        let t = &layout.task;
        let comm_bytes = bytes
            .get(t.comm.offset as usize..(t.comm.offset + t.comm.size) as usize)
            .unwrap_or_default();
        let comm_end = comm_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(comm_bytes.len());
        let comm =
            String::from_utf8_lossy(comm_bytes.get(..comm_end).unwrap_or_default()).into_owned();
        let (thread_next, signal) = match t.threads {
            ThreadLinks::SignalHead {
                signal,
                thread_node,
                ..
            } => (word(bytes, thread_node), word(bytes, signal)),
            ThreadLinks::Ring { thread_group } => (word(bytes, thread_group), 0),
        };
        Task {
            addr,
            pid: int32(bytes, t.pid),
            tgid: int32(bytes, t.tgid),
            comm,
            state: uint(bytes, t.state) as u32,
            exit_state: t.exit_state.map_or(0, |f| uint(bytes, f) as u32),
            flags: uint(bytes, t.flags) as u32,
            cpu: t.cpu.map(|f| uint(bytes, f) as u32),
            on_cpu: t.on_cpu.is_some_and(|f| uint(bytes, f) != 0),
            stack: word(bytes, t.stack),
            saved_sp: word(bytes, t.thread_sp),
            real_parent: word(bytes, t.real_parent),
            mm: t.mm.map(|o| word(bytes, o)),
            tasks_next: word(bytes, t.tasks),
            thread_next,
            signal,
        }
    }

    /// The `ps` state letter.
    pub fn state_letter(&self) -> char {
        state_letter(self.state, self.exit_state)
    }

    /// Whether it is a kernel thread (`PF_KTHREAD`).
    pub fn is_kthread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }

    /// Whether it is a CPU's idle task (`PF_IDLE`).
    pub fn is_idle(&self) -> bool {
        self.flags & PF_IDLE != 0
    }

    /// Its kernel stack, `[stack, stack + THREAD_SIZE)`.
    pub fn stack_range(&self) -> std::ops::Range<u64> {
        self.stack..self.stack.saturating_add(THREAD_SIZE)
    }
}
