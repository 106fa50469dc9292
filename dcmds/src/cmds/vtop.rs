//! `addr::vtop`: the page-table walk of a virtual address.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::{PageLevel, Translation};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::paging::WalkEntry;
use qmdb_bridge::paging::{Level, PHYS_ADDR_MASK};
use qmdb_bridge::{VirtAddr, WalkFault};

pub const VTOP: DcmdDef = DcmdDef {
    name: "vtop",
    aliases: &[],
    usage: ":",
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
With --json, one object: {\"va\",\"pa\",\"page_size\",\"pgd\",\"pti_kernel_pgd\",
\"levels\":[{\"level\",\"entry_addr\",\"value\"}],\"writable\",\"user\",\"nx\"}.",
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

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    if !inv.args.is_empty() {
        return Err(inv.usage_error("takes no arguments"));
    }
    let va = inv.addr;
    let cr3 = session.register("cr3").ok();
    let t = match session.target_mut().translate(va)? {
        Ok(t) => t,
        Err(f) => {
            let msg = match &f {
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
            return Err(DcmdError::usage(cmd, msg));
        }
    };
    let five = t.root.five_level;
    let pti = cr3.is_some_and(|c| c & PHYS_ADDR_MASK != t.root.pgd_phys);
    sink.record(Translation {
        va: va.0,
        pa: t.phys,
        page_size: t.page_size,
        pgd: t.root.pgd_phys,
        pti_kernel_pgd: pti,
        levels: t.levels.iter().map(|e| page_level(e, va, five)).collect(),
        writable: t.writable,
        user: t.user,
        nx: t.nx,
        five_level: five,
    });
    Ok(())
}
