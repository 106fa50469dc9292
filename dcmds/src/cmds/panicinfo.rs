//! `::panicinfo`: why and where the kernel panicked, and where every CPU stopped.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::{CpuStop, PanicInfo};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_linux::panic::{panic_state, taint_letters};
use qmdb_linux::{printk, tasks, PerCpu};

pub const PANICINFO: DcmdDef = DcmdDef {
    name: "panicinfo",
    aliases: &[],
    usage: "",
    description: "why and where the kernel panicked",
    help: "Summarises a panicked kernel, as mdb's ::panicinfo does for a crash dump:
  panic:    \"sysrq triggered crash\" at 14.210
  cpu:      1 task ffff8e4cc1b0c000 pid 1 init
  tainted:  not tainted
  uptime:   14.262s
  VCPU CPU ONLINE PID    COMM             AT
     1   0     no 0      swapper/0        native_halt+0x9
     2   1    yes 1      init             panic+0x145  <- panicked
The message is the last \"Kernel panic - not syncing\" line of the log;
the CPU is panic_cpu; the taint letters are tainted_mask's, as the
kernel prints them (G, the \"not proprietary\" letter, left out); uptime
is the largest run-queue clock. A CPU stopped by panic() is offline.
On a kernel that has not panicked it says so, and still shows the rest.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    if let Some(extra) = inv.args.first() {
        return Err(inv.usage_error(format!("unexpected argument '{extra:?}'")));
    }
    let ctx = qmdb_linux::context(session, &cmd)?;
    let log = printk::read_log(session, &ctx.btf, &cmd)?;
    for p in &log.problems {
        sink.warn(p);
    }
    let state = panic_state(session, &log)?;
    let uptime_ns = qmdb_linux::clock::now_ns(session, &ctx.btf)?;
    let percpu = PerCpu::read(session)?;
    let vcpus = qmdb_linux::vcpu_states(session, &ctx.layout, &percpu)?;
    let mut cpus = Vec::new();
    for v in &vcpus {
        let task = match v.current {
            Some(t) => Some(tasks::read_task(session, &ctx.layout, t)?),
            None => None,
        };
        let at = if v.user_mode {
            "user".to_string()
        } else {
            session.symbolize(qmdb_bridge::VirtAddr(v.pc()))
        };
        cpus.push(CpuStop {
            vcpu: v.vcpu.tid,
            cpu: v.cpu,
            online: v.online,
            thread: task.as_ref().map(|t| t.addr.0 .0),
            pid: task.as_ref().map(|t| t.pid),
            comm: task.map(|t| t.comm),
            pc: v.pc(),
            at,
            panicking: state.cpu.is_some() && v.cpu == state.cpu,
        });
    }
    let panicker = cpus.iter().find(|c| c.panicking);
    let rec = PanicInfo {
        panicked: state.cpu.is_some(),
        message: state.message.as_ref().map(|(m, _)| m.clone()),
        panicked_at_ns: state.message.as_ref().map(|(_, t)| *t),
        cpu: state.cpu,
        thread: panicker.and_then(|c| c.thread),
        pid: panicker.and_then(|c| c.pid),
        comm: panicker.and_then(|c| c.comm.clone()),
        tainted_mask: state.tainted,
        taint: state.tainted.map(taint_letters),
        uptime_ns,
        cpus,
    };
    sink.record(rec);
    Ok(())
}
