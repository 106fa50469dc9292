//! The x86_64 kernel's address space: which region an address is in (direct map, vmalloc,
//! vmemmap, cpu_entry_area, fixmap, kernel image, modules, user space), and what the
//! regions with a structure say (the page frame, the per-CPU variable, the fixmap slot).

use super::members::member_at;
use crate::error::DcmdError;
use crate::records::whatis::{CpuEntryAreaAt, CpuEntryAreaSlot, MatchKind, WhatisMatch as Match};
use crate::session::Session;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::Btf;
use qmdb_linux::percpu::PerCpu;
use qmdb_linux::slab::DirectMap;
use std::ops::Range;

const TB: u64 = 1 << 40;
/// `__START_KERNEL_map` and the 1 GiB the image may occupy under KASLR.
const KERNEL_IMAGE: Range<u64> = 0xffff_ffff_8000_0000..0xffff_ffff_c000_0000;
const MODULES: Range<u64> = 0xffff_ffff_c000_0000..0xffff_ffff_ff00_0000;
/// `CPU_ENTRY_AREA_BASE`, one P4D (512 GiB).
const CPU_ENTRY_AREA: Range<u64> = 0xffff_fe00_0000_0000..0xffff_fe80_0000_0000;
const ESPFIX: Range<u64> = 0xffff_ff00_0000_0000..0xffff_ff80_0000_0000;
const EFI: Range<u64> = 0xffff_ffef_0000_0000..0xffff_ffff_0000_0000;
/// `FIXADDR_TOP`: fixmap slot `i` is the page at `FIXADDR_TOP - i * 4096`.
const FIXADDR_TOP: u64 = 0xffff_ffff_ff7f_f000;

/// The bases KASLR chose and the sizes the paging mode implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub five_level: bool,
    pub map: DirectMap,
    pub vmalloc: u64,
}

/// A region of the address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    User,
    NonCanonical,
    DirectMap,
    Vmalloc,
    Vmemmap,
    CpuEntryArea,
    Espfix,
    Efi,
    KernelImage,
    Modules,
    Fixmap,
    /// Kernel space outside every known region.
    Kernel,
}

impl Space {
    /// Reads `page_offset_base`, `vmalloc_base`, `vmemmap_base` (the defaults without
    /// KASLR), `max_pfn` and the paging mode.
    pub fn read(session: &mut Session) -> Space {
        let mut var = |name: &str, default: u64| -> u64 {
            match session.symbols().lookup_name(name) {
                Some(a) => session.read_u64(a, Some(name)).unwrap_or(default),
                None => default,
            }
        };
        let five_level = var("__pgtable_l5_enabled", 0) & 0xffff_ffff != 0;
        let (po, vm, vmemmap) = if five_level {
            (
                0xff11_0000_0000_0000,
                0xffa0_0000_0000_0000,
                0xffd4_0000_0000_0000,
            )
        } else {
            (
                0xffff_8880_0000_0000,
                0xffff_c900_0000_0000,
                0xffff_ea00_0000_0000,
            )
        };
        let page_offset = var("page_offset_base", po);
        let vmalloc = var("vmalloc_base", vm);
        let vmemmap = var("vmemmap_base", vmemmap);
        let max_pfn = var("max_pfn", 0).min(max_phys(five_level) >> 12);
        Space {
            five_level,
            map: DirectMap {
                page_offset,
                vmemmap,
                max_pfn,
            },
            vmalloc,
        }
    }

    fn vmalloc_size(&self) -> u64 {
        if self.five_level {
            12800 * TB
        } else {
            32 * TB
        }
    }

    fn vmemmap_size(&self) -> u64 {
        if self.five_level {
            1 << 49
        } else {
            TB
        }
    }

    /// The region `addr` is in.
    pub fn region(&self, addr: u64) -> Region {
        let (user_end, kernel_start) = if self.five_level {
            (1u64 << 56, 0xff00_0000_0000_0000)
        } else {
            (1u64 << 47, 0xffff_8000_0000_0000)
        };
        let within = |base: u64, size: u64| addr >= base && addr - base < size;
        match addr {
            a if a < user_end => Region::User,
            a if a < kernel_start => Region::NonCanonical,
            _ if within(self.map.page_offset, max_phys(self.five_level)) => Region::DirectMap,
            _ if within(self.vmalloc, self.vmalloc_size()) => Region::Vmalloc,
            _ if within(self.map.vmemmap, self.vmemmap_size()) => Region::Vmemmap,
            a if CPU_ENTRY_AREA.contains(&a) => Region::CpuEntryArea,
            a if ESPFIX.contains(&a) => Region::Espfix,
            a if EFI.contains(&a) => Region::Efi,
            a if KERNEL_IMAGE.contains(&a) => Region::KernelImage,
            a if MODULES.contains(&a) => Region::Modules,
            a if a >= MODULES.end => Region::Fixmap,
            _ => Region::Kernel,
        }
    }
}

/// The direct map's size: `MAX_PHYSMEM_BITS`.
fn max_phys(five_level: bool) -> u64 {
    if five_level {
        1 << 52
    } else {
        1 << 46
    }
}

/// The region's own description: the page frame, the vmemmap's `struct page`, the
/// fixmap slot...; nothing for regions described elsewhere (the kernel image).
pub fn describe(
    session: &mut Session,
    btf: Option<&Btf>,
    space: &Space,
    addr: u64,
    out: &mut Vec<Match>,
) -> Result<(), DcmdError> {
    let region = space.region(addr);
    match region {
        Region::User => out.push(Match::new(MatchKind::User, "a user-space address".into())),
        Region::NonCanonical => out.push(Match::new(
            MatchKind::Noncanonical,
            "not a canonical address (in the hole between user and kernel space)".into(),
        )),
        Region::DirectMap => {
            percpu(session, addr, out)?;
            let pa = addr - space.map.page_offset;
            let pfn = pa >> 12;
            let beyond = if pfn >= space.map.max_pfn {
                " (beyond max_pfn: no memory there)"
            } else {
                ""
            };
            out.push(Match::new(
                MatchKind::DirectMap { pa, pfn },
                format!("in the direct map: physical address {pa:#x}, page frame {pfn:#x}{beyond}"),
            ));
        }
        Region::Vmalloc => {
            let off = addr - space.vmalloc;
            out.push(Match::new(
                MatchKind::Vmalloc { offset: off },
                format!("in the vmalloc area (vmalloc_base+{off:#x})"),
            ));
        }
        Region::Vmemmap => {
            let psize = btf
                .and_then(|b| page_struct(b).map(|(_, s)| s))
                .unwrap_or(64);
            let d = addr - space.map.vmemmap;
            let (pfn, off) = (d / psize, d % psize);
            let page = addr - off;
            let member = btf
                .and_then(|b| page_struct(b).and_then(|(id, _)| member_at(b, id, off)))
                .map(|m| format!(", member {}", super::plus(&m.path, m.offset)))
                .unwrap_or_default();
            out.push(Match::new(
                MatchKind::Vmemmap {
                    page,
                    offset: off,
                    pfn,
                },
                format!(
                    "in the vmemmap: struct page {} of page frame {pfn:#x} \
                     (physical {:#x}){member}",
                    super::plus(&format!("{page:x}"), off),
                    pfn << 12
                ),
            ));
        }
        Region::CpuEntryArea => cpu_entry_area(session, btf, addr, out)?,
        Region::Espfix => out.push(Match::new(MatchKind::Espfix, "in the ESPfix stacks".into())),
        Region::Efi => out.push(Match::new(
            MatchKind::Efi,
            "in the EFI runtime services mapping".into(),
        )),
        Region::Fixmap => fixmap(btf, addr, out),
        Region::KernelImage | Region::Modules | Region::Kernel => {}
    }
    Ok(())
}

fn page_struct(btf: &Btf) -> Option<(u32, u64)> {
    let id = btf.find("struct page").ok()?.plain()?;
    Some((id, btf.size_of(id).ok().filter(|&s| s > 0)?))
}

/// The per-CPU area of a CPU, and the static variable in it.
fn percpu(session: &mut Session, addr: u64, out: &mut Vec<Match>) -> Result<(), DcmdError> {
    let (Some(start), Some(end)) = (
        session.symbols().lookup_name("__per_cpu_start"),
        session.symbols().lookup_name("__per_cpu_end"),
    ) else {
        return Ok(());
    };
    let percpu = match PerCpu::read(session) {
        Ok(p) => p,
        Err(e) if e.ends_command() => return Err(e.into()),
        Err(_) => return Ok(()),
    };
    let unit = match session.symbols().lookup_name("pcpu_unit_size") {
        Some(a) => session
            .read_bytes(a, 4, Some("pcpu_unit_size"))
            .ok()
            .and_then(|b| b.get(..4).and_then(|b| b.try_into().ok()))
            .map_or(0, |b: [u8; 4]| u64::from(u32::from_le_bytes(b))),
        None => 0,
    };
    let static_size = end.0.saturating_sub(start.0);
    let size = unit.max(static_size);
    for cpu in percpu.cpus().collect::<Vec<_>>() {
        let Some(base) = percpu.ptr(cpu, start) else {
            continue;
        };
        let Some(off) = addr.checked_sub(base.0).filter(|&o| o < size) else {
            continue;
        };
        let var = (off < static_size)
            .then(|| percpu_var(session, start.0 + off))
            .flatten();
        let (text, name) = match &var {
            Some(v) => (format!(": {v}"), Some(v.clone())),
            None => (" (dynamic part)".to_string(), None),
        };
        out.push(Match::new(
            MatchKind::Percpu {
                cpu,
                offset: off,
                variable: name,
            },
            format!("in CPU {cpu}'s per-CPU area (+{off:#x}){text}"),
        ));
        break;
    }
    Ok(())
}

/// `var+0x10` for the per-CPU variable at `value` (an offset on kernels whose per-CPU
/// symbols are absolute, an address otherwise).
fn percpu_var(session: &Session, value: u64) -> Option<String> {
    let kernel = session.kernel()?;
    let absolute = kernel
        .symbols
        .lookup_name("__per_cpu_start")
        .is_some_and(|s| s.is_absolute());
    let (name, off) = if absolute {
        let (s, off) = kernel.symbols.lookup_absolute(value)?;
        (s.name.clone(), off)
    } else {
        let hit = session.symbols().lookup_addr(VirtAddr(value))?;
        (hit.name, hit.offset)
    };
    Some(if off == 0 {
        name
    } else {
        format!("{name}+{off:#x}")
    })
}

/// A CPU's `struct cpu_entry_area` (at a randomised slot on kernels with `_cea_offset`).
fn cpu_entry_area(
    session: &mut Session,
    btf: Option<&Btf>,
    addr: u64,
    out: &mut Vec<Match>,
) -> Result<(), DcmdError> {
    let per_cpu_base = CPU_ENTRY_AREA.start + 0x1000;
    let found = btf.and_then(|b| {
        let id = b.find("struct cpu_entry_area").ok()?.plain()?;
        Some((id, b.size_of(id).ok().filter(|&s| s > 0)?))
    });
    let mut text = "in the cpu_entry_area".to_string();
    let mut at = CpuEntryAreaAt { slot: None };
    if let (Some(b), Some((id, size))) = (btf, found) {
        if addr >= per_cpu_base {
            let slot = (addr - per_cpu_base) / size;
            let off = (addr - per_cpu_base) % size;
            let cpu = cea_cpu(session, slot)?;
            let member = member_at(b, id, off)
                .map(|m| format!(", member {}", super::plus(&m.path, m.offset)))
                .unwrap_or_default();
            text = match cpu {
                Some(c) => format!("in CPU {c}'s cpu_entry_area (+{off:#x}){member}"),
                None => format!("in the cpu_entry_area, slot {slot} of no CPU (+{off:#x}){member}"),
            };
            at.slot = Some(CpuEntryAreaSlot {
                cpu,
                slot,
                offset: off,
            });
        } else {
            text = "in the cpu_entry_area's read-only IDT page".into();
        }
    }
    out.push(Match::new(MatchKind::CpuEntryArea(at), text));
    Ok(())
}

/// The CPU whose cpu_entry_area is at `slot`: `per_cpu(_cea_offset, cpu)`, or the CPU
/// number itself on kernels without the randomisation.
fn cea_cpu(session: &mut Session, slot: u64) -> Result<Option<u32>, DcmdError> {
    let percpu = match PerCpu::read(session) {
        Ok(p) => p,
        Err(e) if e.ends_command() => return Err(e.into()),
        Err(_) => return Ok(None),
    };
    let Some(var) = session.symbols().lookup_name("_cea_offset") else {
        return Ok(percpu.cpus().find(|&c| u64::from(c) == slot));
    };
    for cpu in percpu.cpus().collect::<Vec<_>>() {
        let Some(p) = percpu.ptr(cpu, var) else {
            continue;
        };
        match session.read_bytes(p, 4, Some("_cea_offset")) {
            Ok(b) => {
                let v = b
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map_or(u32::MAX, u32::from_le_bytes);
                if u64::from(v) == slot {
                    return Ok(Some(cpu));
                }
            }
            Err(e) if e.ends_command() => return Err(e.into()),
            Err(_) => {}
        }
    }
    Ok(None)
}

/// The fixmap slot: `enum fixed_addresses`, the enumerator at or below the slot.
fn fixmap(btf: Option<&Btf>, addr: u64, out: &mut Vec<Match>) {
    let page = addr & !0xfff;
    let slot = FIXADDR_TOP.checked_sub(page).map(|d| d >> 12);
    let named = btf.zip(slot).and_then(|(b, slot)| {
        let id = b.find("enum fixed_addresses").ok()?.plain()?;
        let ty = b.resolved(id).ok()?;
        let end = b
            .enumerators(ty)
            .find(|e| e.name == "__end_of_fixed_addresses")?
            .value;
        if slot >= end {
            return None;
        }
        let e = b
            .enumerators(ty)
            .filter(|e| e.value <= slot && !e.name.starts_with("__"))
            .max_by_key(|e| e.value)?;
        let name = if e.value == slot {
            e.name.to_string()
        } else {
            format!("{}+{}", e.name, slot - e.value)
        };
        Some(name)
    });
    let text = match (&named, slot) {
        (Some(n), Some(s)) => format!("in the fixmap: slot {s} ({n})"),
        _ => "in the fixmap / vsyscall area".to_string(),
    };
    out.push(Match::new(MatchKind::Fixmap { slot, name: named }, text));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_4_level() {
        let s = Space {
            five_level: false,
            map: DirectMap {
                page_offset: 0xffff_89ea_4000_0000,
                vmemmap: 0xffff_f3a3_0000_0000,
                max_pfn: 0x20000,
            },
            vmalloc: 0xffff_d19a_8000_0000,
        };
        assert_eq!(s.region(0x7ffe_e445_5678), Region::User);
        assert_eq!(s.region(0x8000_0000_0000), Region::NonCanonical);
        assert_eq!(s.region(0xffff_89ea_413a_3000), Region::DirectMap);
        assert_eq!(s.region(0xffff_d19a_803e_bd40), Region::Vmalloc);
        assert_eq!(s.region(0xffff_f3a3_0004_e8c0), Region::Vmemmap);
        assert_eq!(s.region(0xffff_fe00_0000_2000), Region::CpuEntryArea);
        assert_eq!(s.region(0xffff_ffff_b521_0e3d), Region::KernelImage);
        assert_eq!(s.region(0xffff_ffff_c0a0_0000), Region::Modules);
        assert_eq!(s.region(0xffff_ffff_ff60_0000), Region::Fixmap);
        assert_eq!(s.region(0xffff_8000_0000_0000), Region::Kernel);
    }
}
