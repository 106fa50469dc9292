//! `::cpuinfo`: what each vCPU is running.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::CpuRow;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_linux::{self, PerCpu};

pub const CPUINFO: DcmdDef = DcmdDef {
    name: "cpuinfo",
    aliases: &[],
    usage: "[-v]",
    description: "each vCPU's CPU, current task, mode and pc",
    help: "For each vCPU: the kernel's CPU number (matched through the vCPU's per-CPU
base), the task current on that CPU (its task_struct, pid and comm), whether
the vCPU stopped in user or kernel mode, and its pc as symbol+offset:
VCPU CPU           THREAD    PID COMM             MODE   PC
   0   0 ffffffffba61aa40      0 swapper/0        kernel native_safe_halt+0xb
A CPU missing from cpu_online_mask is still matched (every possible CPU is):
after a panic the other CPUs are stopped and marked offline, and the line
ends in (CPU offline).

  -v   then each possible CPU's run queue, as ::runq prints it

In a pipeline, emits the current tasks' addresses.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = crate::args::getopts(&cmd, inv.args, "v")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument '{extra}'")));
    }
    let layout = qmdb_linux::layout(session, &cmd)?;
    let percpu = PerCpu::read(session)?;
    let states = qmdb_linux::vcpu_states(session, &layout, &percpu)?;
    if inv.flags.header() && !sink.pipe_out() {
        sink.line(&CpuRow::header());
    }
    for s in &states {
        if sink.pipe_out() {
            if let Some(t) = s.current {
                sink.addr(t.0);
            }
            continue;
        }
        let task = match s.current {
            Some(t) => qmdb_linux::tasks::read_task(session, &layout, t).ok(),
            None => None,
        };
        let pc = s.pc();
        sink.record(CpuRow {
            vcpu: s.vcpu.cpu_index(),
            vcpu_id: s.vcpu,
            cpu: s.cpu,
            online: s.online,
            thread: s.current.map(|t| t.0 .0),
            pid: task.as_ref().map(|t| t.pid),
            comm: task.map(|t| t.comm),
            mode: if s.user_mode { "user" } else { "kernel" },
            pc,
            symbol: (!s.user_mode).then(|| session.symbolize(VirtAddr(pc))),
        });
    }
    if opts.flag('v') && !sink.pipe_out() {
        crate::cmds::runq::runqueues(session, &cmd, None, sink)?;
    }
    Ok(())
}
