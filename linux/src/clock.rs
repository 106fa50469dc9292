//! The guest's "now" as the scheduler sees it.
//!
//! Each CPU's run queue keeps `rq->clock`, in ns since boot on the scheduler's clock (the
//! one printk timestamps use), updated at that CPU's ticks and schedules. An idle CPU's
//! lags (no tick), so "now" is the largest over all CPUs: the busiest CPU's, the closest
//! to the moment the guest stopped.

use crate::error::Error;
use crate::memory::recoverable;
use crate::object::offset_of;
use crate::{PerCpu, Program};
use qmdb_kernel::Btf;

/// The largest `rq->clock` over the possible CPUs; `None` without `runqueues`.
pub fn now_ns(program: &mut Program, btf: &Btf) -> Result<Option<u64>, Error> {
    let Some(runqueues) = program.symbols().lookup_name("runqueues") else {
        return Ok(None);
    };
    let clock = offset_of(btf, "rq", "clock")?;
    let percpu = PerCpu::read(program)?;
    let mut now = None;
    for cpu in percpu.cpus().collect::<Vec<_>>() {
        let Some(rq) = percpu.ptr(cpu, runqueues) else {
            continue;
        };
        if let Some(c) = recoverable(program.read_u64(rq.add(clock), Some("rq->clock")))? {
            now = now.max(Some(c));
        }
    }
    Ok(now)
}
