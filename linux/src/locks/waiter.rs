//! The lock a sleeping task waits for, found from the waiter record on its own stack.
//!
//! `__mutex_lock_common` (`struct mutex_waiter`), `rwsem_down_*_slowpath`
//! (`struct rwsem_waiter`) and `__down_common` (`struct semaphore_waiter`) keep a
//! `{ list_head list; task_struct *task; }` on the waiting task's stack, linked into the
//! lock's `wait_list`; `percpu_rwsem_wait` keeps a `wait_queue_entry` whose `private` is the
//! task and whose `func` is `percpu_rwsem_wake_function`, linked into the semaphore's
//! `waiters`; `rt_mutex_slowlock` keeps a `struct rt_mutex_waiter` with a `lock` pointer.
//! The scan looks for the task's own address in its stack, checks that the words around it
//! form such a record (a list whose neighbours point back), and walks the list to the one
//! node that is on no task's stack: the lock's list head. Which record to look for is told
//! by the functions on the stack, so nothing is guessed from a stray word.

use super::{BlockedOn, FoundBy, LockKind};
use crate::error::Error;
use crate::memory::{u64_at, GuestMemory};
use crate::object::{has_member, offset_of};
use crate::task::{Task, THREAD_SIZE};
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;

/// What a waiter scan needs besides memory.
pub struct ScanContext<'a> {
    pub btf: &'a Btf,
    /// `percpu_rwsem_wake_function`, the `func` of a percpu rwsem's waiters.
    pub percpu_wake: Option<VirtAddr>,
    /// Whether an address is on some task's kernel stack (list nodes there are waiters;
    /// the one that is not is the lock's list head).
    pub on_a_stack: &'a dyn Fn(u64) -> bool,
    /// The bound on list nodes visited.
    pub limit: u64,
}

/// The kind of lock the functions on a stack (innermost first) say the task waits for.
pub fn kind_from_frames<S: AsRef<str>>(functions: &[S]) -> Option<LockKind> {
    functions.iter().find_map(|f| {
        let f = f.as_ref();
        if f.contains("rt_mutex") || f.starts_with("rtlock") {
            Some(LockKind::RtMutex)
        } else if f.starts_with("percpu_rwsem_wait") || f.starts_with("__percpu_down") {
            Some(LockKind::PercpuRwsem)
        } else if f.starts_with("rwsem_down_read") {
            Some(LockKind::RwsemRead)
        } else if f.starts_with("rwsem_down_write") {
            Some(LockKind::RwsemWrite)
        } else if f.starts_with("__mutex_lock") || f.starts_with("mutex_lock") {
            Some(LockKind::Mutex)
        } else if f.starts_with("__down") {
            Some(LockKind::Semaphore)
        } else {
            None
        }
    })
}

/// The waiter record's layout for `kind`: (waiter struct, lock struct, the lock's list
/// member).
fn list_waiter(kind: LockKind) -> Option<(&'static str, &'static str, &'static str)> {
    match kind {
        LockKind::Mutex => Some(("mutex_waiter", "mutex", "wait_list")),
        LockKind::RwsemRead | LockKind::RwsemWrite => {
            Some(("rwsem_waiter", "rw_semaphore", "wait_list"))
        }
        LockKind::Semaphore => Some(("semaphore_waiter", "semaphore", "wait_list")),
        _ => None,
    }
}

/// Finds the lock of `kind` that `task` waits for from its stack; `Ok(None)` when no waiter
/// record is found (or this kernel's lock has no list head to lead back to it, as 7.x's
/// `mutex.first_waiter`).
pub fn find(
    mem: &mut dyn GuestMemory,
    cx: &ScanContext<'_>,
    task: &Task,
    kind: LockKind,
) -> Result<Option<BlockedOn>, Error> {
    let top = task.stack.saturating_add(THREAD_SIZE);
    let from = if (task.stack..top).contains(&task.saved_sp) {
        task.saved_sp & !7
    } else {
        task.stack
    };
    let len = (top - from) as usize;
    let stack = mem.read_some(VirtAddr(from), len)?;
    let me = task.addr.0 .0;
    let slots = stack
        .chunks_exact(8)
        .enumerate()
        .filter(|(_, w)| u64_at(w, 0) == me)
        .map(|(i, _)| from + 8 * i as u64);
    let found = |lock: u64| BlockedOn {
        kind,
        lock: VirtAddr(lock),
        found_by: FoundBy::StackWaiter,
    };
    if let Some((waiter, lock_struct, list)) = list_waiter(kind) {
        if !has_member(cx.btf, lock_struct, list) {
            return Ok(None);
        }
        let task_off = offset_of(cx.btf, waiter, "task")?;
        let list_off = offset_of(cx.btf, waiter, "list")?;
        let head_off = offset_of(cx.btf, lock_struct, list)?;
        for slot in slots.collect::<Vec<_>>() {
            let node = slot.wrapping_sub(task_off).wrapping_add(list_off);
            if let Some(head) = list_head_of(mem, cx, node)? {
                return Ok(Some(found(head.wrapping_sub(head_off))));
            }
        }
        return Ok(None);
    }
    match kind {
        LockKind::PercpuRwsem => {
            let Some(wake) = cx.percpu_wake else {
                return Ok(None);
            };
            let private = offset_of(cx.btf, "wait_queue_entry", "private")?;
            let func = offset_of(cx.btf, "wait_queue_entry", "func")?;
            let entry = offset_of(cx.btf, "wait_queue_entry", "entry")?;
            let head_off = offset_of(cx.btf, "percpu_rw_semaphore", "waiters.head")?;
            for slot in slots.collect::<Vec<_>>() {
                let base = slot.wrapping_sub(private);
                let f = word_at(mem, &stack, from, base.wrapping_add(func))?;
                if f != Some(wake.0) {
                    continue;
                }
                if let Some(head) = list_head_of(mem, cx, base.wrapping_add(entry))? {
                    return Ok(Some(found(head.wrapping_sub(head_off))));
                }
            }
            Ok(None)
        }
        LockKind::RtMutex => {
            let task_off = offset_of(cx.btf, "rt_mutex_waiter", "task")?;
            let lock_off = offset_of(cx.btf, "rt_mutex_waiter", "lock")?;
            for slot in slots.collect::<Vec<_>>() {
                let base = slot.wrapping_sub(task_off);
                match word_at(mem, &stack, from, base.wrapping_add(lock_off))? {
                    Some(lock) if is_kernel_pointer(lock) => return Ok(Some(found(lock))),
                    _ => {}
                }
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Whether `v` looks like a kernel address (upper half, 8-byte aligned).
fn is_kernel_pointer(v: u64) -> bool {
    v >= 0xffff_8000_0000_0000 && v & 7 == 0
}

/// The word at `addr`: from the stack bytes already read when it lies there, else read.
fn word_at(
    mem: &mut dyn GuestMemory,
    stack: &[u8],
    from: u64,
    addr: u64,
) -> Result<Option<u64>, Error> {
    if let Some(off) = addr.checked_sub(from) {
        if off.saturating_add(8) <= stack.len() as u64 {
            return Ok(Some(u64_at(stack, off)));
        }
    }
    crate::memory::recoverable(mem.read_u64(VirtAddr(addr), Some("list pointer")))
}

/// If `node` is a `list_head` in a consistent ring (its neighbours point back at it), the
/// one node of the ring not on any task's stack: the list head of the lock.
fn list_head_of(
    mem: &mut dyn GuestMemory,
    cx: &ScanContext<'_>,
    node: u64,
) -> Result<Option<u64>, Error> {
    let read = |mem: &mut dyn GuestMemory, a: u64| {
        crate::memory::recoverable(mem.read_u64(VirtAddr(a), Some("list pointer")))
    };
    let (Some(next), Some(prev)) = (read(mem, node)?, read(mem, node.wrapping_add(8))?) else {
        return Ok(None);
    };
    if !is_kernel_pointer(next) || !is_kernel_pointer(prev) || next == node {
        return Ok(None);
    }
    if read(mem, next.wrapping_add(8))? != Some(node) || read(mem, prev)? != Some(node) {
        return Ok(None);
    }
    let mut cur = next;
    let mut head = None;
    for _ in 0..cx.limit {
        if cur == node {
            return Ok(head);
        }
        if !(cx.on_a_stack)(cur) {
            if head.is_some() {
                return Ok(None); // two nodes off the stacks: not a wait list
            }
            head = Some(cur);
        }
        match read(mem, cur)? {
            Some(n) if is_kernel_pointer(n) => cur = n,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;
    use crate::task::TaskRef;
    use qmdb_kernel::btf::builder::BtfBuilder;

    const STACK: u64 = 0xffff_c900_0001_0000;
    const TASK: u64 = 0xffff_8880_0300_0000;
    const LOCK: u64 = 0xffff_8880_0200_0000;
    const WAITER: u64 = STACK + 0x3100;

    /// `struct mutex { long owner; int wait_lock; struct list_head wait_list; }` and
    /// `struct mutex_waiter { struct list_head list; struct task_struct *task; }`.
    fn btf() -> Btf {
        let mut b = BtfBuilder::new();
        let long = b.int("long", 8, 64, 1);
        let int = b.int("int", 4, 32, 1);
        let lh_ptr = b.next_id() + 1;
        let lh = b.struct_(
            "list_head",
            16,
            &[("next", lh_ptr, 0), ("prev", lh_ptr, 64)],
        );
        b.ptr(lh);
        let void_ptr = b.ptr(0);
        b.struct_(
            "mutex",
            32,
            &[
                ("owner", long, 0),
                ("wait_lock", int, 64),
                ("wait_list", lh, 128),
            ],
        );
        b.struct_(
            "mutex_waiter",
            24,
            &[("list", lh, 0), ("task", void_ptr, 128)],
        );
        Btf::parse(&b.build()).unwrap()
    }

    fn sleeper() -> Task {
        Task {
            addr: TaskRef(VirtAddr(TASK)),
            pid: 7,
            tgid: 7,
            comm: "w".into(),
            state: 2,
            exit_state: 0,
            flags: 0,
            cpu: Some(0),
            on_cpu: false,
            stack: STACK,
            saved_sp: STACK + 0x3000,
            real_parent: 0,
            mm: None,
            tasks_next: 0,
            thread_next: 0,
            signal: 0,
        }
    }

    fn scan(mem: &mut SparseMemory, btf: &Btf) -> Option<BlockedOn> {
        let on_a_stack = |a: u64| (STACK..STACK + THREAD_SIZE).contains(&a);
        let cx = ScanContext {
            btf,
            percpu_wake: None,
            on_a_stack: &on_a_stack,
            limit: 1000,
        };
        find(mem, &cx, &sleeper(), LockKind::Mutex).unwrap()
    }

    #[test]
    fn a_mutex_waiter_on_the_stack_leads_to_the_mutex() {
        let btf = btf();
        let mut mem = SparseMemory::default();
        mem.put(STACK, &vec![0u8; THREAD_SIZE as usize]);
        mem.put_u64(STACK + 0x3008, TASK); // a stray copy of the task pointer: no waiter
        mem.put_u64(WAITER, LOCK + 0x10);
        mem.put_u64(WAITER + 8, LOCK + 0x10);
        mem.put_u64(WAITER + 0x10, TASK);
        mem.put_u64(LOCK, 0xffff_8880_0400_0001);
        mem.put_u64(LOCK + 0x10, WAITER);
        mem.put_u64(LOCK + 0x18, WAITER);
        let on = scan(&mut mem, &btf).unwrap();
        assert_eq!(on.lock, VirtAddr(LOCK));
        assert_eq!(on.found_by, FoundBy::StackWaiter);
    }

    #[test]
    fn a_broken_or_endless_wait_list_finds_nothing() {
        let btf = btf();
        let mut mem = SparseMemory::default();
        mem.put(STACK, &vec![0u8; THREAD_SIZE as usize]);
        let (a, b) = (LOCK + 0x10, LOCK + 0x100);
        mem.put_u64(WAITER, a);
        mem.put_u64(WAITER + 8, b);
        mem.put_u64(WAITER + 0x10, TASK);
        mem.put_u64(a + 8, WAITER);
        mem.put_u64(b, WAITER);
        // `a` points at itself: the ring never comes back (bounded by the limit).
        mem.put_u64(a, a);
        assert_eq!(scan(&mut mem, &btf), None);
        // A wild neighbour: unreadable.
        mem.put_u64(WAITER, 0xffff_dead_0000_0000);
        assert_eq!(scan(&mut mem, &btf), None);
    }

    #[test]
    fn the_innermost_lock_function_names_the_kind() {
        let k = |f: &[&str]| kind_from_frames(f);
        assert_eq!(
            k(&["__mutex_lock.constprop.0", "pipe_write", "vfs_write"]),
            Some(LockKind::Mutex)
        );
        assert_eq!(
            k(&["percpu_rwsem_wait", "__percpu_down_read", "mnt_want_write"]),
            Some(LockKind::PercpuRwsem)
        );
        assert_eq!(
            k(&["rwsem_down_write_slowpath", "down_write"]),
            Some(LockKind::RwsemWrite)
        );
        assert_eq!(k(&["rwsem_down_read_slowpath"]), Some(LockKind::RwsemRead));
        assert_eq!(k(&["__down_common", "down"]), Some(LockKind::Semaphore));
        assert_eq!(k(&["rt_mutex_slowlock_block"]), Some(LockKind::RtMutex));
        assert_eq!(k(&["hrtimer_nanosleep", "do_nanosleep"]), None);
    }
}
