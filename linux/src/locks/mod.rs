//! Sleeping locks: which lock a blocked task waits for, and who holds it.
//!
//! The kernel does not record what a sleeping task waits on, except (7.x with
//! `CONFIG_DETECT_HUNG_TASK_BLOCKER`) in `task_struct.blocker`, which the hung-task
//! detector reads to print "blocked on a mutex likely owned by task ...". Where that member
//! exists and is set it is used ([`blocker`]). Otherwise the waiter record is found on the
//! task's own stack ([`waiter`]): `__mutex_lock`, `rwsem_down_*_slowpath`, `__down` and
//! `percpu_rwsem_wait` each put a waiter holding the task's address on the stack and link
//! it into the lock's wait list, so the list leads to the lock. The owner is then read from
//! the lock ([`owner`]).

pub mod blocker;
pub mod owner;
pub mod waiter;

use qmdb_bridge::VirtAddr;

pub use owner::{owner_of, Owner};

/// A kind of sleeping lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// `struct mutex`.
    Mutex,
    /// `struct rw_semaphore`, waited for to read.
    RwsemRead,
    /// `struct rw_semaphore`, waited for to write.
    RwsemWrite,
    /// `struct percpu_rw_semaphore` (e.g. a superblock's freeze protection).
    PercpuRwsem,
    /// `struct semaphore`.
    Semaphore,
    /// `struct rt_mutex_base`.
    RtMutex,
    /// A plain wait queue (`wait_queue_head`): not a lock, but what the task waits on.
    WaitQueue,
}

impl LockKind {
    /// The C type the address points at.
    pub fn type_name(self) -> &'static str {
        match self {
            LockKind::Mutex => "mutex",
            LockKind::RwsemRead | LockKind::RwsemWrite => "rw_semaphore",
            LockKind::PercpuRwsem => "percpu_rw_semaphore",
            LockKind::Semaphore => "semaphore",
            LockKind::RtMutex => "rt_mutex",
            LockKind::WaitQueue => "wait_queue_head",
        }
    }

    /// How the task waits, in a word or two (`mutex`, `rwsem (read)`).
    pub fn describe(self) -> &'static str {
        match self {
            LockKind::Mutex => "mutex",
            LockKind::RwsemRead => "rwsem (read)",
            LockKind::RwsemWrite => "rwsem (write)",
            LockKind::PercpuRwsem => "percpu_rwsem",
            LockKind::Semaphore => "semaphore",
            LockKind::RtMutex => "rt_mutex",
            LockKind::WaitQueue => "wait queue",
        }
    }
}

/// How the lock was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundBy {
    /// `task_struct.blocker`.
    Blocker,
    /// A waiter record on the task's stack, linked into the lock's wait list.
    StackWaiter,
}

/// The lock a task waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockedOn {
    pub kind: LockKind,
    /// The lock (for a wait queue, its `wait_queue_head`).
    pub lock: VirtAddr,
    pub found_by: FoundBy,
}
