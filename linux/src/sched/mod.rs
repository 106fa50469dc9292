//! The scheduler as the guest's data shows it: each CPU's run queue and the tasks queued on
//! it by class ([`runq`]), and when each task last ran ([`lastrun`]).
//!
//! Everything is read by member name from BTF (`struct rq`, `cfs_rq`, `rt_rq`, `dl_rq` and
//! the three kinds of scheduling entity); every queue walk is bounded and cycle-checked, and a
//! queue that cannot be walked to its end is a note, not an error.

pub mod lastrun;
pub mod runq;

pub use lastrun::{last_arrival, ran_ago};
pub use runq::{read_runqueue, runqueue_addr, EntityKind, Queued, RunQueue, SchedClass, TaskBrief};

#[cfg(test)]
pub(crate) mod testbtf;
