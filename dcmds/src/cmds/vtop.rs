//! `addr::vtop [-p pid]`: the page-table walk of a virtual address, through the selected
//! vCPU's page tables or a process's (`task->mm->pgd`).

use crate::args::{getopts, number};
use crate::cmds::pmap::{mm_of, task_at};
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::{PageLevel, Translation};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::paging::{self, is_kernel_half, pti_pair_plausible, WalkEntry, WalkError};
use qmdb_bridge::paging::{Level, PageTableRoot, CR4_LA57, PHYS_ADDR_MASK, PTI_USER_PGTABLE_MASK};
use qmdb_bridge::{VirtAddr, WalkFault};
use qmdb_linux::object::offset_of;

pub const VTOP: DcmdDef = DcmdDef {
    name: "vtop",
    aliases: &[],
    usage: ":[-p pid]",
    description: "translate a virtual address through the page tables",
    help: "Walks the selected vCPU's page tables (4- or 5-level) for the address,
reading each entry from guest-physical memory, and prints every level's
entry (its physical address and value), the page size and the physical
address:
  init_task::vtop
  ::cpu 1; <rsp::vtop
For a kernel address while the vCPU runs on a PTI user PGD, the paired
kernel PGD is walked, and the output says so. An address with no mapping
is an error naming the level whose entry is not present.

  -p pid   walk that process's page tables (its mm->pgd) instead: pid
           in decimal as ::ps prints it (0t and 0x numbers are read as
           mdb reads them; a number from 0x400000 up is a task_struct).
           A user address under PTI is walked through the process's user
           PGD, as the CPU walks it in user mode:
             0x4db0c0::vtop -p 104

With --json, one object: {\"va\",\"pa\",\"page_size\",\"pgd\",\"pti_kernel_pgd\",
\"levels\":[{\"level\",\"entry_addr\",\"value\"}],\"writable\",\"user\",\"nx\"}; with
-p also \"pid\" and \"pti_user_pgd\".",
    run,
};

/// Linux's name of a level: pgd, p4d, pud, pmd, pte.
fn linux_name(level: Level, five_level: bool) -> &'static str {
    match level {
        Level::Pml5 => "PGD",
        Level::Pml4 if five_level => "P4D",
        Level::Pml4 => "PGD",
        Level::Pdpt => "PUD",
        Level::Pd => "PMD",
        Level::Pt => "PTE",
    }
}

/// The record of one entry read by a walk of `va`.
fn page_level(e: &WalkEntry, va: VirtAddr, five_level: bool) -> PageLevel {
    PageLevel {
        level: linux_name(e.level, five_level),
        entry_addr: e.entry_addr,
        value: e.value,
        index: e.level.index(va),
    }
}

/// The error of a walk that found no mapping, after printing the entries it read.
fn fault_error(cmd: &str, va: VirtAddr, f: &WalkFault, sink: &mut Sink<'_>) -> DcmdError {
    let msg = match f {
        WalkFault::NotPresent {
            level,
            walk,
            entry_addr,
            entry,
            ..
        } => {
            let five = walk.first().is_some_and(|e| e.level == Level::Pml5);
            for e in walk {
                sink.line(&page_level(e, va, five).line());
            }
            format!(
                "no mapping for {va}: the {} entry ({level}) at physical \
                 {entry_addr:#x} is not present ({entry:#x})",
                linux_name(*level, five)
            )
        }
        _ => f.to_string(),
    };
    DcmdError::usage(cmd, msg)
}

/// The record of a translation.
fn record(t: &qmdb_bridge::Translation, va: VirtAddr) -> Translation {
    let five = t.root.five_level;
    Translation {
        va: va.0,
        pa: t.phys,
        page_size: t.page_size,
        pgd: t.root.pgd_phys,
        pti_kernel_pgd: false,
        pid: None,
        pti_user_pgd: false,
        levels: t.levels.iter().map(|e| page_level(e, va, five)).collect(),
        writable: t.writable,
        user: t.user,
        nx: t.nx,
        five_level: five,
    }
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "p:")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument '{extra}'")));
    }
    let va = inv.addr;
    if let Some(p) = opts.value('p') {
        return run_process(session, &cmd, va, p, sink);
    }
    let cr3 = session.register("cr3").ok();
    let t = match session.target_mut().translate(va)? {
        Ok(t) => t,
        Err(f) => return Err(fault_error(&cmd, va, &f, sink)),
    };
    let mut rec = record(&t, va);
    rec.pti_kernel_pgd = cr3.is_some_and(|c| c & PHYS_ADDR_MASK != t.root.pgd_phys);
    sink.record(rec);
    Ok(())
}

/// The task `-p` names: decimal digits are a pid (as `::bp -p` takes one), anything else a
/// number as mdb reads it (a pid when small, else a `task_struct`).
fn process_arg(cmd: &str, text: &str) -> Result<VirtAddr, DcmdError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let pid: u64 = text
            .parse()
            .map_err(|_| DcmdError::usage(cmd, format!("bad pid '{text}'")))?;
        return Ok(VirtAddr(pid));
    }
    Ok(VirtAddr(number(cmd, text)?))
}

/// `PAGE_OFFSET`: `page_offset_base`, or its default without KASLR.
fn page_offset(session: &mut Session, five_level: bool) -> Result<u64, DcmdError> {
    match session.symbols().lookup_name("page_offset_base") {
        Some(a) => Ok(session.read_u64(a, Some("page_offset_base"))?),
        None if five_level => Ok(0xff11_0000_0000_0000),
        None => Ok(0xffff_8880_0000_0000),
    }
}

/// `va::vtop -p PID`: the walk through the process's page tables, its `mm->pgd` (a
/// direct-map address) made physical. For a user address, when the PGD and the page after
/// it are a PTI pair, the user PGD is walked, as the CPU walks it in user mode.
fn run_process(
    session: &mut Session,
    cmd: &str,
    va: VirtAddr,
    arg: &str,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    let task = task_at(session, cmd, process_arg(cmd, arg)?, sink)?;
    let mm = mm_of(cmd, &task)?;
    let btf = qmdb_linux::context(session, cmd)?.btf.clone();
    let pgd = session.read_u64(
        mm.add(offset_of(&btf, "mm_struct", "pgd")?),
        Some("mm_struct.pgd"),
    )?;
    let five_level = session.register("cr4").is_ok_and(|c| c & CR4_LA57 != 0);
    let base = page_offset(session, five_level)?;
    let pgd_phys = pgd
        .checked_sub(base)
        .filter(|p| p & !PHYS_ADDR_MASK == 0)
        .ok_or_else(|| {
            DcmdError::usage(
                cmd,
                format!(
                    "pid {}'s mm {mm} has pgd {pgd:#x}: not a page of the direct map at {base:#x}",
                    task.pid
                ),
            )
        })?;
    let mut root = PageTableRoot {
        pgd_phys,
        five_level,
    };
    let mut pti_user = false;
    if !is_kernel_half(va) {
        // The page after a non-PTI PGD may be anything, even past the end of memory.
        let pair = match session.target_mut().read_physical(pgd_phys, 8192) {
            Ok(b) => b,
            Err(e) if e.is_fatal() => return Err(e.into()),
            Err(_) => Vec::new(),
        };
        let table = paging::parse_table(&pair);
        if let (Some(k), Some(u)) = (table.get(..512), table.get(512..)) {
            if pti_pair_plausible(k, u) {
                root.pgd_phys |= PTI_USER_PGTABLE_MASK;
                pti_user = true;
            }
        }
    }
    let target = session.target_mut();
    let walked = paging::translate(
        &mut |pa| -> Result<u64, qmdb_bridge::BridgeError> {
            let b = target.read_physical(pa, 8)?;
            let b: [u8; 8] = b.try_into().map_err(|_| {
                qmdb_bridge::BridgeError::Protocol(format!(
                    "short read of a page-table entry at {pa:#x}"
                ))
            })?;
            Ok(u64::from_le_bytes(b))
        },
        root,
        va,
    );
    let t = match walked {
        Ok(t) => t,
        Err(WalkError::Fault(f)) => return Err(fault_error(cmd, va, &f, sink)),
        Err(WalkError::Read { error, .. }) => return Err(error.into()),
    };
    let mut rec = record(&t, va);
    rec.pid = Some(task.pid);
    rec.pti_user_pgd = pti_user;
    sink.record(rec);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_p_takes_a_decimal_pid_or_an_mdb_number() {
        assert_eq!(process_arg("::vtop", "104").unwrap(), VirtAddr(104));
        assert_eq!(process_arg("::vtop", "0t104").unwrap(), VirtAddr(104));
        assert_eq!(process_arg("::vtop", "0x68").unwrap(), VirtAddr(0x68));
        assert_eq!(
            process_arg("::vtop", "ffff8880041c2e40").unwrap(),
            VirtAddr(0xffff_8880_041c_2e40)
        );
        assert!(process_arg("::vtop", "qmdb-napper").is_err());
    }
}
