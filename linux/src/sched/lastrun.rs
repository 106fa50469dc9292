//! When a task last ran, for crash's `ps -m`.
//!
//! `task->sched_info.last_arrival` (`CONFIG_SCHED_INFO`) is the run queue clock
//! (`rq->clock`, ns since boot) of the task's CPU when the task was last switched in. It is
//! compared with "now" as [`crate::clock::now_ns`] takes it: the largest `rq->clock` of the
//! possible CPUs. Each CPU updates its own clock only on scheduler events (ticks, wake-ups,
//! switches), so an idle CPU's clock stops when it goes idle (NOHZ) while a busy CPU's is at
//! most a tick old: the largest is the freshest, and no task arrived later than it.

use crate::error::Error;
use crate::memory::GuestMemory;
use crate::object::offset_of;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;

/// `task->sched_info.last_arrival` of the task at `task` (0: never switched in since
/// accounting began, as idle tasks).
pub fn last_arrival(mem: &mut dyn GuestMemory, btf: &Btf, task: VirtAddr) -> Result<u64, Error> {
    let off = offset_of(btf, "task_struct", "sched_info.last_arrival")?;
    mem.read_u64(task.add(off), Some("task_struct.sched_info.last_arrival"))
}

/// How long before `now` a task that last arrived at `arrival` ran: `None` for 0 (never),
/// 0 for an arrival after `now` (a CPU clock ahead of the one read).
pub fn ran_ago(now: u64, arrival: u64) -> Option<u64> {
    (arrival != 0).then(|| now.saturating_sub(arrival))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::testbtf::{btf, Guest, T_SCHED_INFO};

    #[test]
    fn last_arrival_by_name() {
        let btf = btf();
        let mut g = Guest::new();
        g.task(0xa000, 5, "t", 1);
        g.mem.put_u64(0xa000 + T_SCHED_INFO + 0x10, 123_456);
        assert_eq!(
            last_arrival(&mut g.mem, &btf, VirtAddr(0xa000)).unwrap(),
            123_456
        );
        let e = last_arrival(&mut g.mem, &btf, VirtAddr(0x1_0000)).unwrap_err();
        assert!(e.to_string().contains("last_arrival"), "{e}");
        assert_eq!(ran_ago(1000, 400), Some(600));
        assert_eq!(ran_ago(1000, 0), None);
        assert_eq!(ran_ago(1000, 2000), Some(0));
    }
}
