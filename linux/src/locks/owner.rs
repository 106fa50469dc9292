//! Who holds a lock, as far as the lock records it.
//!
//! - `mutex.owner`: the owning task, flags in the low 3 bits (`MUTEX_FLAGS`).
//! - `rw_semaphore.owner`: a writer task, or, with `RWSEM_READER_OWNED` (bit 0), the last
//!   reader to take it: a hint, as the kernel says, since readers do not clear it.
//! - `rt_mutex_base.owner`: the owner, bit 0 `RT_MUTEX_HAS_WAITERS`.
//! - `semaphore`: no owner; 7.x with the hung-task blocker keeps `last_holder`.
//! - `percpu_rw_semaphore`: no owner; `block` says a writer holds or takes it (a frozen
//!   superblock's freeze protection is held so with no task at all).

use super::{BlockedOn, LockKind};
use crate::error::Error;
use crate::memory::GuestMemory;
use crate::object::{has_member, StructView};
use crate::task::TaskRef;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;

/// Who holds a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The task holding it.
    Task(TaskRef),
    /// Held for reading; `last` is the last reader recorded (a hint, possibly stale).
    Readers { last: Option<TaskRef> },
    /// A semaphore's last holder (7.x `last_holder`), which may still hold it.
    LastHolder(TaskRef),
    /// Held (or being taken) for writing with no task recorded: a percpu rwsem with
    /// `block` set, e.g. a frozen superblock.
    WriteHeld,
    /// The lock records no holder (free, or a kind that never records one).
    None,
}

impl Owner {
    /// The task to follow in a lock chain, if the lock names one.
    pub fn task(self) -> Option<TaskRef> {
        match self {
            Owner::Task(t) | Owner::LastHolder(t) => Some(t),
            Owner::Readers { last } => last,
            Owner::WriteHeld | Owner::None => None,
        }
    }
}

fn task_ref(v: u64) -> Option<TaskRef> {
    (v != 0).then_some(TaskRef(VirtAddr(v)))
}

/// Reads the holder of the lock `on` names.
pub fn owner_of(mem: &mut dyn GuestMemory, btf: &Btf, on: &BlockedOn) -> Result<Owner, Error> {
    let name = on.kind.type_name();
    Ok(match on.kind {
        LockKind::Mutex => {
            let v = StructView::read(mem, btf, name, on.lock)?;
            task_ref(v.uint(btf, "owner")? & !0x7).map_or(Owner::None, Owner::Task)
        }
        LockKind::RwsemRead | LockKind::RwsemWrite => {
            let v = StructView::read(mem, btf, name, on.lock)?;
            let owner = v.uint(btf, "owner")?;
            let t = task_ref(owner & !0x7);
            if owner & 1 != 0 {
                Owner::Readers { last: t }
            } else {
                t.map_or(Owner::None, Owner::Task)
            }
        }
        LockKind::RtMutex => {
            let v = StructView::read(mem, btf, "rt_mutex_base", on.lock)?;
            task_ref(v.uint(btf, "owner")? & !0x1).map_or(Owner::None, Owner::Task)
        }
        LockKind::Semaphore => {
            if has_member(btf, name, "last_holder") {
                let v = StructView::read(mem, btf, name, on.lock)?;
                task_ref(v.uint(btf, "last_holder")?).map_or(Owner::None, Owner::LastHolder)
            } else {
                Owner::None
            }
        }
        LockKind::PercpuRwsem => {
            let v = StructView::read(mem, btf, name, on.lock)?;
            if v.uint(btf, "block")? != 0 {
                Owner::WriteHeld
            } else {
                Owner::None
            }
        }
        LockKind::WaitQueue => Owner::None,
    })
}
