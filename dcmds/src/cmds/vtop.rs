//! `addr::vtop`: the page-table walk of a virtual address.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::paging::{Level, PHYS_ADDR_MASK};
use qmdb_bridge::WalkFault;
use serde_json::json;

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

fn size_name(size: u64) -> String {
    match size {
        s if s >= 1 << 30 => format!("{}G", s >> 30),
        s if s >= 1 << 20 => format!("{}M", s >> 20),
        s => format!("{}K", s >> 10),
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
                        sink.line(&format!(
                            "  {:<3} [{:3}] entry at {:#x}: {:#018x}",
                            linux_name(e.level, five),
                            e.level.index(va),
                            e.entry_addr,
                            e.value
                        ));
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
    let pgd_note = if pti { " (PTI kernel PGD)" } else { "" };
    sink.line(&format!(
        "virtual {va} -> physical {:#x}, {} page, {}-level, pgd {:#x}{pgd_note}",
        t.phys,
        size_name(t.page_size),
        if five { 5 } else { 4 },
        t.root.pgd_phys
    ));
    for e in &t.levels {
        sink.line(&format!(
            "  {:<3} [{:3}] entry at {:#x}: {:#018x}",
            linux_name(e.level, five),
            e.level.index(va),
            e.entry_addr,
            e.value
        ));
    }
    sink.line(&format!(
        "  {}{}{}",
        if t.writable { "writable" } else { "read-only" },
        if t.user { ", user" } else { ", kernel" },
        if t.nx { ", nx" } else { ", exec" },
    ));
    sink.data(json!({
        "va": format!("{:#x}", va.0),
        "pa": format!("{:#x}", t.phys),
        "page_size": t.page_size,
        "pgd": format!("{:#x}", t.root.pgd_phys),
        "pti_kernel_pgd": pti,
        "levels": t.levels.iter().map(|e| json!({
            "level": linux_name(e.level, five),
            "entry_addr": format!("{:#x}", e.entry_addr),
            "value": format!("{:#x}", e.value),
        })).collect::<Vec<_>>(),
        "writable": t.writable,
        "user": t.user,
        "nx": t.nx,
    }));
    Ok(())
}
