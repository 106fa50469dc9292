//! `::cpus` lists the vCPUs; `::cpu` shows or selects the one whose registers and page
//! tables are used.

use crate::args::number;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::{SelectedVcpu, VcpuEntry};
use crate::session::Session;
use crate::sink::Sink;

pub const CPUS: DcmdDef = DcmdDef {
    name: "cpus",
    aliases: &[],
    usage: "",
    description: "list the vCPUs; * marks the selected one",
    help: "Lists the guest's vCPUs: the CPU index, the stub's thread id for it, and
what the stub says about it (QEMU: \"CPU#0 [halted ]\"). The selected vCPU,
marked *, supplies the registers of ::regs and <reg, and the page tables
through which addresses are read. Select another with ::cpu.",
    run: cpus,
};

pub const CPU: DcmdDef = DcmdDef {
    name: "cpu",
    aliases: &[],
    usage: "?[index]",
    description: "show the selected vCPU, or select vCPU index",
    help: "  ::cpu          print the selected vCPU
  N::cpu         select vCPU N
  ::cpu N        select vCPU N

N is the CPU index ::cpus shows. Like every number in qmdb it is read as
hexadecimal unless prefixed: vCPU 10 is 0t10 or a. Selecting a vCPU
changes the registers <reg reads and the page tables that translate
addresses. mdb has no such dcmd; this one is qmdb's.",
    run: cpu,
};

fn cpus(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    if !inv.args.is_empty() {
        return Err(inv.usage_error("takes no arguments"));
    }
    let selected = session.target().selected_vcpu();
    let vcpus = session.target_mut().vcpus()?;
    if inv.flags.header() {
        sink.line(&VcpuEntry::header());
    }
    for v in &vcpus {
        sink.record(VcpuEntry {
            cpu: v.id.cpu_index(),
            thread: format!("p{:x}.{:x}", v.id.pid, v.id.tid),
            info: v.extra.clone(),
            selected: v.id == selected,
        });
    }
    Ok(())
}

fn cpu(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let wanted = match (inv.flags.addrspec, inv.args) {
        (false, []) => None,
        (true, []) => Some(inv.addr.0),
        (false, [one]) => Some(number(&inv.display_name(), &one.text)?),
        _ => return Err(inv.usage_error("give the vCPU once, as address or argument")),
    };
    let vcpus = session.target_mut().vcpus()?;
    let Some(index) = wanted else {
        let id = session.target().selected_vcpu();
        sink.record(SelectedVcpu {
            cpu: id.cpu_index(),
            thread: Some(id.to_rsp()),
        });
        return Ok(());
    };
    let Some(v) = vcpus.iter().find(|v| u64::from(v.id.cpu_index()) == index) else {
        return Err(DcmdError::usage(
            inv.display_name(),
            format!(
                "no vCPU {index} (0t{index}); the guest has {} (see ::cpus)",
                vcpus.len()
            ),
        ));
    };
    session.target_mut().select_vcpu(v.id)?;
    sink.record(SelectedVcpu {
        cpu: v.id.cpu_index(),
        thread: None,
    });
    Ok(())
}
