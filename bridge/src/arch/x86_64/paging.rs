//! x86_64 page-table walks, sans-IO.
//!
//! [`translate`] walks 4- or 5-level page tables the way the MMU does, reading each entry
//! through a caller-supplied physical-read callback, and returns the physical address with
//! every entry it read (for a `::vtop`-style printout). It never touches the connection itself,
//! so it is tested on a synthetic physical memory.
//!
//! Under Linux's page-table isolation (PTI) a vCPU in user mode runs on a *user* PGD that maps
//! almost no kernel memory; the kernel PGD is its 8 KiB-aligned twin ([`PageTableRoot::pti_kernel`],
//! checked with [`pti_pair_plausible`]).

use crate::VirtAddr;
use std::fmt;

/// A 4 KiB page.
pub const PAGE_SIZE_4K: u64 = 1 << 12;
/// A 2 MiB page (PS bit set in a PD entry).
pub const PAGE_SIZE_2M: u64 = 1 << 21;
/// A 1 GiB page (PS bit set in a PDPT entry).
pub const PAGE_SIZE_1G: u64 = 1 << 30;

/// Bits 12..51 of a page-table entry or of CR3: the physical frame. Everything else (flags,
/// PCID, the no-flush bit 63, NX, software bits, protection keys) is masked off.
pub const PHYS_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// CR4.LA57: 5-level paging.
pub const CR4_LA57: u64 = 1 << 12;

/// Linux's `PTI_USER_PGTABLE_BIT` as a mask: the user PGD is the kernel PGD with this bit set
/// (`1 << PAGE_SHIFT`), the two pages allocated as one 8 KiB-aligned pair.
pub const PTI_USER_PGTABLE_MASK: u64 = 1 << 12;

/// Entry bit: present.
pub const PTE_PRESENT: u64 = 1 << 0;
/// Entry bit: writable.
pub const PTE_WRITABLE: u64 = 1 << 1;
/// Entry bit: user-accessible.
pub const PTE_USER: u64 = 1 << 2;
/// Entry bit: accessed (set by the MMU).
pub const PTE_ACCESSED: u64 = 1 << 5;
/// Entry bit: dirty (set by the MMU).
pub const PTE_DIRTY: u64 = 1 << 6;
/// Entry bit: page size (a 1 GiB page in a PDPT entry, 2 MiB in a PD entry).
pub const PTE_PS: u64 = 1 << 7;
/// Entry bit: no-execute.
pub const PTE_NX: u64 = 1 << 63;

/// Entries in one page-table page.
pub const ENTRIES_PER_TABLE: usize = 512;

/// Whether `va` lies in the kernel (upper) half of the address space: bit 63 set.
pub fn is_kernel_half(va: VirtAddr) -> bool {
    va.0 >> 63 == 1
}

/// Where a walk starts: the top-level table and the paging mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageTableRoot {
    /// Physical address of the top-level table (PML4, or PML5 with `five_level`).
    pub pgd_phys: u64,
    /// 5-level paging (CR4.LA57).
    pub five_level: bool,
}

impl PageTableRoot {
    /// The root a vCPU uses: its CR3 with the PCID/flag bits and bit 63 masked off, and the
    /// paging mode from CR4.LA57.
    pub fn from_cr3(cr3: u64, cr4: u64) -> PageTableRoot {
        PageTableRoot {
            pgd_phys: cr3 & PHYS_ADDR_MASK,
            five_level: cr4 & CR4_LA57 != 0,
        }
    }

    /// Whether this PGD has Linux's PTI user bit set, as the user PGD of a PTI pair has.
    /// (Without PTI a PGD can sit at any page, so this alone proves nothing.)
    pub fn has_pti_user_bit(self) -> bool {
        self.pgd_phys & PTI_USER_PGTABLE_MASK != 0
    }

    /// The kernel PGD of the PTI pair this PGD belongs to: `pgd & !(1 << 12)`. Identity for a
    /// kernel PGD.
    pub fn pti_kernel(self) -> PageTableRoot {
        PageTableRoot {
            pgd_phys: self.pgd_phys & !PTI_USER_PGTABLE_MASK,
            five_level: self.five_level,
        }
    }
}

/// The kernel page tables of a vCPU under PTI, from its CR3 and CR4:
/// `cr3 & PHYS_ADDR_MASK & !(1 << 12)`.
pub fn kernel_root_from_cr3(cr3: u64, cr4: u64) -> PageTableRoot {
    PageTableRoot::from_cr3(cr3, cr4).pti_kernel()
}

/// A paging structure level, top down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// PML5 (Linux: pgd with 5-level paging).
    Pml5,
    /// PML4 (Linux: pgd, or p4d with 5-level paging).
    Pml4,
    /// Page-directory-pointer table (Linux: pud); may map a 1 GiB page.
    Pdpt,
    /// Page directory (Linux: pmd); may map a 2 MiB page.
    Pd,
    /// Page table (Linux: pte); maps a 4 KiB page.
    Pt,
}

impl Level {
    /// Intel's name: `PML5`, `PML4`, `PDPT`, `PD`, `PT`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Pml5 => "PML5",
            Level::Pml4 => "PML4",
            Level::Pdpt => "PDPT",
            Level::Pd => "PD",
            Level::Pt => "PT",
        }
    }

    /// The lowest virtual-address bit this level indexes with (9 bits from there).
    pub fn shift(self) -> u32 {
        match self {
            Level::Pml5 => 48,
            Level::Pml4 => 39,
            Level::Pdpt => 30,
            Level::Pd => 21,
            Level::Pt => 12,
        }
    }

    /// The index of `va`'s entry in a table of this level.
    pub fn index(self, va: VirtAddr) -> u64 {
        (va.0 >> self.shift()) & 0x1ff
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One entry read during a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkEntry {
    /// The table level the entry belongs to.
    pub level: Level,
    /// The entry's physical address.
    pub entry_addr: u64,
    /// The entry's value.
    pub value: u64,
}

/// A successful walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The address translated.
    pub va: VirtAddr,
    /// The tables walked.
    pub root: PageTableRoot,
    /// The physical address `va` maps to.
    pub phys: u64,
    /// The size of the page mapping it: [`PAGE_SIZE_4K`], [`PAGE_SIZE_2M`] or [`PAGE_SIZE_1G`].
    pub page_size: u64,
    /// Writable at every level.
    pub writable: bool,
    /// User-accessible at every level.
    pub user: bool,
    /// No-execute at some level.
    pub nx: bool,
    /// Every entry read, top level first; the last one maps the page.
    pub levels: Vec<WalkEntry>,
}

impl Translation {
    /// The physical address of the start of the mapping page.
    pub fn page_base(&self) -> u64 {
        self.phys & !(self.page_size - 1)
    }
}

/// Why an address has no translation (the MMU would fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalkFault {
    /// The address is not canonical for the paging mode (bits above 47, or 56, are not copies
    /// of that bit).
    NonCanonical {
        /// The address.
        va: VirtAddr,
        /// The paging mode.
        five_level: bool,
    },
    /// An entry on the way is not present.
    NotPresent {
        /// The address.
        va: VirtAddr,
        /// The level of the entry.
        level: Level,
        /// The entry's physical address.
        entry_addr: u64,
        /// The entry's value.
        entry: u64,
        /// The entries read, the non-present one last.
        walk: Vec<WalkEntry>,
    },
    /// A PML5 or PML4 entry has the PS bit, which is reserved there.
    Reserved {
        /// The address.
        va: VirtAddr,
        /// The level of the entry.
        level: Level,
        /// The entry's physical address.
        entry_addr: u64,
        /// The entry's value.
        entry: u64,
    },
}

impl fmt::Display for WalkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkFault::NonCanonical { va, five_level } => write!(
                f,
                "{va} is not a canonical {}-level address",
                if *five_level { 5 } else { 4 }
            ),
            WalkFault::NotPresent {
                va,
                level,
                entry_addr,
                entry,
                ..
            } => write!(
                f,
                "no mapping for {va}: {level} entry at physical {entry_addr:#x} is not present \
                 ({entry:#x})"
            ),
            WalkFault::Reserved {
                va,
                level,
                entry_addr,
                entry,
            } => write!(
                f,
                "no mapping for {va}: {level} entry at physical {entry_addr:#x} has the \
                 reserved PS bit set ({entry:#x})"
            ),
        }
    }
}

impl std::error::Error for WalkFault {}

/// A walk that did not produce a translation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalkError<E> {
    /// The address has no translation.
    Fault(WalkFault),
    /// Reading an entry failed.
    Read {
        /// The level of the entry.
        level: Level,
        /// The entry's physical address.
        entry_addr: u64,
        /// What the callback returned.
        error: E,
    },
}

impl<E: fmt::Display> fmt::Display for WalkError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::Fault(fault) => fault.fmt(f),
            WalkError::Read {
                level,
                entry_addr,
                error,
            } => write!(
                f,
                "failed to read the {level} entry at physical {entry_addr:#x}: {error}"
            ),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for WalkError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WalkError::Fault(_) => None,
            WalkError::Read { error, .. } => Some(error),
        }
    }
}

/// Whether `va` is canonical: the bits above the top translated bit (47, or 56 with 5-level
/// paging) are copies of it.
pub fn is_canonical(va: VirtAddr, five_level: bool) -> bool {
    let unused = if five_level { 64 - 57 } else { 64 - 48 };
    (((va.0 as i64) << unused) >> unused) as u64 == va.0
}

/// Translates `va` through the page tables at `root`, reading each 8-byte entry with
/// `read_phys_u64(physical address)` (at most 5 calls).
///
/// Follows the MMU: 4 or 5 levels, 1 GiB pages at the PDPT level and 2 MiB pages at the PD
/// level (PS bit), frame addresses from bits 12..51 (bits 12..29 / 12..20 of a large-page
/// entry hold PAT and reserved bits and are ignored). Access rights are combined over the
/// levels: writable and user only if every level allows it, NX if any level sets it (whether
/// EFER.NXE is on is not checked).
pub fn translate<E>(
    read_phys_u64: &mut dyn FnMut(u64) -> Result<u64, E>,
    root: PageTableRoot,
    va: VirtAddr,
) -> Result<Translation, WalkError<E>> {
    if !is_canonical(va, root.five_level) {
        return Err(WalkError::Fault(WalkFault::NonCanonical {
            va,
            five_level: root.five_level,
        }));
    }
    const FOUR: [Level; 4] = [Level::Pml4, Level::Pdpt, Level::Pd, Level::Pt];
    const FIVE: [Level; 5] = [Level::Pml5, Level::Pml4, Level::Pdpt, Level::Pd, Level::Pt];
    let levels: &[Level] = if root.five_level { &FIVE } else { &FOUR };
    let mut table = root.pgd_phys & PHYS_ADDR_MASK;
    let mut walk = Vec::with_capacity(levels.len());
    let (mut writable, mut user, mut nx) = (true, true, false);
    for &level in levels {
        let entry_addr = table + level.index(va) * 8;
        let value = read_phys_u64(entry_addr).map_err(|error| WalkError::Read {
            level,
            entry_addr,
            error,
        })?;
        walk.push(WalkEntry {
            level,
            entry_addr,
            value,
        });
        if value & PTE_PRESENT == 0 {
            return Err(WalkError::Fault(WalkFault::NotPresent {
                va,
                level,
                entry_addr,
                entry: value,
                walk,
            }));
        }
        writable &= value & PTE_WRITABLE != 0;
        user &= value & PTE_USER != 0;
        nx |= value & PTE_NX != 0;
        let page_size = match level {
            Level::Pml5 | Level::Pml4 if value & PTE_PS != 0 => {
                return Err(WalkError::Fault(WalkFault::Reserved {
                    va,
                    level,
                    entry_addr,
                    entry: value,
                }))
            }
            Level::Pdpt if value & PTE_PS != 0 => PAGE_SIZE_1G,
            Level::Pd if value & PTE_PS != 0 => PAGE_SIZE_2M,
            Level::Pt => PAGE_SIZE_4K,
            _ => {
                table = value & PHYS_ADDR_MASK;
                continue;
            }
        };
        let base = value & PHYS_ADDR_MASK & !(page_size - 1);
        return Ok(Translation {
            va,
            root,
            phys: base | (va.0 & (page_size - 1)),
            page_size,
            writable,
            user,
            nx,
            levels: walk,
        });
    }
    // The last level always returns above; this is only reached if `levels` were empty.
    Err(WalkError::Fault(WalkFault::NonCanonical {
        va,
        five_level: root.five_level,
    }))
}

/// Bits that may legitimately differ between the two copies of a user-half PGD entry: the
/// MMU sets accessed/dirty in whichever copy it walks, and Linux adds NX to the kernel copy.
const PTI_COPY_DIFF: u64 = PTE_ACCESSED | PTE_DIRTY | PTE_NX;

/// Whether `kernel` and `user` (the 512 entries of each PGD page) look like a Linux PTI pair.
///
/// Linux writes every user-half PGD entry into both copies (`__pti_set_user_pgtbl`), so the
/// lower 256 entries must agree (up to accessed/dirty and the NX bit Linux adds to the kernel
/// copy), the user half must map something, and the kernel copy's upper half must map
/// something. This guards against taking the page next to a non-PTI kernel's PGD for a kernel
/// PGD, which would make reads return unrelated memory.
pub fn pti_pair_plausible(kernel: &[u64], user: &[u64]) -> bool {
    let half = ENTRIES_PER_TABLE / 2;
    let (Some(k_low), Some(u_low), Some(k_high)) = (
        kernel.get(..half),
        user.get(..half),
        kernel.get(half..ENTRIES_PER_TABLE),
    ) else {
        return false;
    };
    let same = k_low
        .iter()
        .zip(u_low)
        .all(|(k, u)| k & !PTI_COPY_DIFF == u & !PTI_COPY_DIFF);
    let user_maps = u_low.iter().any(|e| e & PTE_PRESENT != 0);
    let kernel_maps = k_high.iter().any(|e| e & PTE_PRESENT != 0);
    same && user_maps && kernel_maps
}

/// The little-endian entries of a page-table page (a trailing partial entry is dropped).
pub fn parse_table(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Sparse physical memory of 8-byte entries; anything unset reads as 0 (not present),
    /// except addresses listed in `holes`, which fail.
    #[derive(Default)]
    struct Phys {
        words: HashMap<u64, u64>,
        holes: Vec<u64>,
        reads: Vec<u64>,
    }

    const P: u64 = PTE_PRESENT | PTE_WRITABLE;

    impl Phys {
        fn set(&mut self, table: u64, index: u64, value: u64) {
            self.words.insert(table + index * 8, value);
        }

        fn walk(&mut self, root: PageTableRoot, va: u64) -> Result<Translation, WalkError<u64>> {
            let Phys {
                words,
                holes,
                reads,
            } = self;
            translate(
                &mut |a| {
                    reads.push(a);
                    if holes.contains(&a) {
                        Err(a)
                    } else {
                        Ok(words.get(&a).copied().unwrap_or(0))
                    }
                },
                root,
                VirtAddr(va),
            )
        }
    }

    fn idx(va: u64, level: Level) -> u64 {
        level.index(VirtAddr(va))
    }

    const VA: u64 = 0xffff_8880_0123_4567;

    /// 4-level tables mapping VA with a 4 KiB page at 0x7654_3000, plus a 2 MiB page and a
    /// 1 GiB page elsewhere.
    fn four_level() -> (Phys, PageTableRoot) {
        let mut m = Phys::default();
        let (pml4, pdpt, pd, pt) = (0x10_0000, 0x10_1000, 0x10_2000, 0x10_3000);
        m.set(pml4, idx(VA, Level::Pml4), pdpt | P | PTE_ACCESSED);
        m.set(pdpt, idx(VA, Level::Pdpt), pd | P);
        m.set(pd, idx(VA, Level::Pd), pt | P);
        // NX and software bits (52..62, 9..11) are not part of the address.
        m.set(
            pt,
            idx(VA, Level::Pt),
            0x7654_3000 | PTE_PRESENT | PTE_NX | (0x7ff << 52) | (7 << 9),
        );
        // A 2 MiB page for the next PD slot; bit 12 (PAT) must not leak into the address.
        m.set(
            pd,
            idx(VA, Level::Pd) + 1,
            0x4060_0000 | P | PTE_PS | (1 << 12),
        );
        // A 1 GiB page for the next PDPT slot, user-accessible at both levels.
        m.set(
            pdpt,
            idx(VA, Level::Pdpt) + 1,
            0x8_4000_0000 | P | PTE_PS | PTE_USER | (1 << 12),
        );
        (
            m,
            PageTableRoot {
                pgd_phys: pml4,
                five_level: false,
            },
        )
    }

    #[test]
    fn four_level_4k_page() {
        let (mut m, root) = four_level();
        let t = m.walk(root, VA).unwrap();
        assert_eq!(t.phys, 0x7654_3567);
        assert_eq!(t.page_size, PAGE_SIZE_4K);
        assert_eq!(t.page_base(), 0x7654_3000);
        assert!(!t.writable, "the PT entry is read-only");
        assert!(!t.user);
        assert!(t.nx);
        let lv: Vec<Level> = t.levels.iter().map(|e| e.level).collect();
        assert_eq!(lv, [Level::Pml4, Level::Pdpt, Level::Pd, Level::Pt]);
        assert_eq!(t.levels[0].entry_addr, 0x10_0000 + idx(VA, Level::Pml4) * 8);
        assert_eq!(t.levels[0].value, 0x10_1000 | P | PTE_ACCESSED);
        assert_eq!(m.reads.len(), 4);
    }

    #[test]
    fn large_pages() {
        let (mut m, root) = four_level();
        let va2m = (VA & !(PAGE_SIZE_2M - 1)) + PAGE_SIZE_2M + 0x1_2345;
        let t = m.walk(root, va2m).unwrap();
        assert_eq!(t.page_size, PAGE_SIZE_2M);
        assert_eq!(t.phys, 0x4060_0000 + 0x1_2345);
        assert_eq!(t.levels.len(), 3);
        assert!(t.writable);

        let va1g = (VA & !(PAGE_SIZE_1G - 1)) + PAGE_SIZE_1G + 0x2345_6789;
        let t = m.walk(root, va1g).unwrap();
        assert_eq!(t.page_size, PAGE_SIZE_1G);
        assert_eq!(t.phys, 0x8_4000_0000 + 0x2345_6789);
        assert_eq!(t.levels.len(), 2);
        assert!(!t.user, "the PML4 entry is supervisor-only");
    }

    #[test]
    fn not_present_at_each_level() {
        let (base, root) = four_level();
        for (n, level) in [Level::Pml4, Level::Pdpt, Level::Pd, Level::Pt]
            .into_iter()
            .enumerate()
        {
            let mut m = Phys {
                words: base.words.clone(),
                ..Phys::default()
            };
            // Clear the present bit of the entry at `level`.
            let entry_addr = if n == 0 {
                root.pgd_phys + idx(VA, level) * 8
            } else {
                let prev = m.walk(root, VA).unwrap().levels[n - 1].value;
                (prev & PHYS_ADDR_MASK) + idx(VA, level) * 8
            };
            let old = m.words[&entry_addr];
            m.words.insert(entry_addr, old & !PTE_PRESENT);
            match m.walk(root, VA) {
                Err(WalkError::Fault(WalkFault::NotPresent {
                    level: l,
                    entry_addr: a,
                    entry,
                    walk,
                    va,
                })) => {
                    assert_eq!(
                        (l, a, entry, va),
                        (level, entry_addr, old & !1, VirtAddr(VA))
                    );
                    assert_eq!(walk.len(), n + 1);
                    let msg = WalkFault::NotPresent {
                        va,
                        level: l,
                        entry_addr: a,
                        entry,
                        walk,
                    }
                    .to_string();
                    assert!(msg.contains(level.name()), "{msg}");
                    assert!(msg.contains(&format!("{entry_addr:#x}")), "{msg}");
                    assert!(msg.contains("ffff888001234567"), "{msg}");
                }
                other => panic!("{level}: {other:?}"),
            }
        }
    }

    #[test]
    fn empty_tables_fault_at_the_top() {
        let mut m = Phys::default();
        let root = PageTableRoot {
            pgd_phys: 0x5000,
            five_level: false,
        };
        let e = m.walk(root, VA).unwrap_err();
        assert!(matches!(
            e,
            WalkError::Fault(WalkFault::NotPresent {
                level: Level::Pml4,
                ..
            })
        ));
    }

    #[test]
    fn read_errors_name_the_entry() {
        let (mut m, root) = four_level();
        let pd_entry = m.walk(root, VA).unwrap().levels[2].entry_addr;
        m.holes.push(pd_entry);
        let e = m.walk(root, VA).unwrap_err();
        assert_eq!(
            e,
            WalkError::Read {
                level: Level::Pd,
                entry_addr: pd_entry,
                error: pd_entry
            }
        );
        assert!(e.to_string().contains("PD entry"), "{e}");
    }

    #[test]
    fn non_canonical() {
        let (mut m, root) = four_level();
        for va in [
            0x0000_8000_0000_0000u64,
            0xffff_7fff_ffff_ffff,
            0x0100_0000_0000_0000,
        ] {
            assert_eq!(
                m.walk(root, va).unwrap_err(),
                WalkError::Fault(WalkFault::NonCanonical {
                    va: VirtAddr(va),
                    five_level: false
                })
            );
        }
        assert!(
            m.reads.is_empty(),
            "nothing read for a non-canonical address"
        );
        assert!(is_canonical(VirtAddr(0x0000_7fff_ffff_ffff), false));
        assert!(is_canonical(VirtAddr(0xffff_8000_0000_0000), false));
        assert!(is_canonical(VirtAddr(0x00ff_ffff_ffff_ffff), true));
        assert!(is_canonical(VirtAddr(0xff00_0000_0000_0000), true));
        assert!(!is_canonical(VirtAddr(0x0100_0000_0000_0000), true));
        assert!(!is_canonical(VirtAddr(0xfeff_ffff_ffff_ffff), true));
    }

    #[test]
    fn five_level() {
        let mut m = Phys::default();
        // 0xff11_... is canonical only with 5-level paging.
        let va = 0xff11_2233_4455_6677u64;
        let (pml5, pml4, pdpt, pd, pt) = (0x20_0000, 0x20_1000, 0x20_2000, 0x20_3000, 0x20_4000);
        m.set(pml5, idx(va, Level::Pml5), pml4 | P);
        m.set(pml4, idx(va, Level::Pml4), pdpt | P);
        m.set(pdpt, idx(va, Level::Pdpt), pd | P);
        m.set(pd, idx(va, Level::Pd), pt | P);
        m.set(pt, idx(va, Level::Pt), 0xabc_d000 | P);
        let root = PageTableRoot::from_cr3(pml5 | 0x5 | (1 << 63), CR4_LA57);
        assert_eq!(root.pgd_phys, pml5);
        assert!(root.five_level);
        let t = m.walk(root, va).unwrap();
        assert_eq!(t.phys, 0xabc_d677);
        assert_eq!(t.levels.len(), 5);
        assert_eq!(t.levels[0].level, Level::Pml5);
        // The same address is not canonical with 4 levels.
        let four = PageTableRoot {
            five_level: false,
            ..root
        };
        assert!(matches!(
            m.walk(four, va),
            Err(WalkError::Fault(WalkFault::NonCanonical { .. }))
        ));
        // A PML5 entry with PS is reserved.
        m.set(pml5, idx(va, Level::Pml5), pml4 | P | PTE_PS);
        assert!(matches!(
            m.walk(root, va),
            Err(WalkError::Fault(WalkFault::Reserved {
                level: Level::Pml5,
                ..
            }))
        ));
        // 2 MiB page under 5 levels.
        m.set(pml5, idx(va, Level::Pml5), pml4 | P);
        m.set(pd, idx(va, Level::Pd), 0x60_0000 | P | PTE_PS);
        let t = m.walk(root, va).unwrap();
        assert_eq!(t.page_size, PAGE_SIZE_2M);
        assert_eq!(t.phys, 0x60_0000 | (va & (PAGE_SIZE_2M - 1)));
    }

    #[test]
    fn pti_roots_from_cr3() {
        // User CR3 under PTI: PCID in bits 0..11, the user bit 12, no-flush bit 63.
        let cr3 = (1u64 << 63) | 0x0000_0000_0a5c_3000 | 0x802;
        let user = PageTableRoot::from_cr3(cr3, 0x3706f0);
        assert_eq!(user.pgd_phys, 0x0a5c_3000);
        assert!(!user.five_level);
        assert!(user.has_pti_user_bit());
        let k = kernel_root_from_cr3(cr3, 0x3706f0);
        assert_eq!(k.pgd_phys, 0x0a5c_2000);
        assert!(!k.has_pti_user_bit());
        assert_eq!(k.pti_kernel(), k);
        assert!(kernel_root_from_cr3(cr3, CR4_LA57).five_level);
    }

    #[test]
    fn pti_pair_check() {
        let mut k = vec![0u64; 512];
        let mut u = vec![0u64; 512];
        k[0] = 0x1000 | P | PTE_USER | PTE_NX | PTE_ACCESSED;
        u[0] = 0x1000 | P | PTE_USER;
        k[511] = 0x2000 | P;
        u[511] = 0x3000 | P;
        assert!(pti_pair_plausible(&k, &u));
        // A user-half entry that differs in its address: not a pair.
        u[1] = 0x4000 | P;
        assert!(!pti_pair_plausible(&k, &u));
        u[1] = 0;
        // Nothing mapped in the user half: no evidence.
        let mut k2 = k.clone();
        let mut u2 = u.clone();
        k2[0] = 0;
        u2[0] = 0;
        assert!(!pti_pair_plausible(&k2, &u2));
        // A kernel copy mapping nothing in the kernel half.
        k[511] = 0;
        assert!(!pti_pair_plausible(&k, &u));
        assert!(!pti_pair_plausible(&k[..10], &u));
    }

    #[test]
    fn parse_table_entries() {
        let bytes: Vec<u8> = [1u64, 0xffff_0000_0000_0003]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .chain([9u8])
            .collect();
        assert_eq!(parse_table(&bytes), vec![1, 0xffff_0000_0000_0003]);
    }
}
