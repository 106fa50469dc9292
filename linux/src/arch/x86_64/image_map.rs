//! Where the kernel image is mapped, read from the page tables.
//!
//! x86_64 Linux maps its image in the 1 GiB at `__START_KERNEL_map` (`0xffffffff80000000`),
//! one PDPT entry whose page directory is `level2_kernel_pgt`. At boot (`__startup_64`) and
//! again in `cleanup_highmap`, the kernel clears every entry of that directory below `_text`
//! and past `_end`, so the first present page there is `_text` — with KASLR, its runtime
//! address. Later, `mark_rodata_ro` makes text read-only and executable, `.rodata` read-only
//! and no-execute and data writable: the runs of equal protection then say where text,
//! `.rodata` and data are without any symbol.
//!
//! Sans-IO: tables are read through a callback, so the walk is tested on synthetic memory.

use qmdb_bridge::paging::{
    parse_table, PageTableRoot, ENTRIES_PER_TABLE, PAGE_SIZE_2M, PAGE_SIZE_4K, PHYS_ADDR_MASK,
    PTE_NX, PTE_PRESENT, PTE_PS, PTE_WRITABLE,
};
use std::ops::Range;

pub use super::{KERNEL_IMAGE_REGION, START_KERNEL_MAP};

/// A run of pages mapped with the same protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedRun {
    /// The virtual addresses, `[start, end)`.
    pub range: Range<u64>,
    /// Writable at every level of the tables.
    pub writable: bool,
    /// Executable (no NX bit at any level).
    pub exec: bool,
}

/// The kernel image's mappings, by address, adjacent runs of equal protection merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageMap {
    /// The runs, by address.
    pub runs: Vec<MappedRun>,
    /// Page-table pages read to build it.
    pub tables_read: usize,
}

/// Why the image's mappings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MapError<E: std::error::Error + 'static> {
    /// The page-table page at `addr` could not be read.
    #[error("cannot read the page table at physical {addr:#x}: {cause}")]
    Read { addr: u64, cause: E },
    /// The page-table page at `addr` came back shorter than 4 KiB.
    #[error("the page table at physical {addr:#x} is not a whole 4 KiB page")]
    Short { addr: u64 },
}

impl ImageMap {
    /// The runtime address of `_text`: the first mapped page.
    pub fn text_base(&self) -> Option<u64> {
        self.runs.first().map(|r| r.range.start)
    }

    /// The end of the last mapped page.
    pub fn end(&self) -> Option<u64> {
        self.runs.last().map(|r| r.range.end)
    }

    /// `.rodata` and what follows it read-only: the largest read-only, no-execute run after
    /// executable text (a few small read-only pieces can sit between text and `.rodata`).
    /// `None` before `mark_rodata_ro` (everything writable and executable).
    pub fn rodata(&self) -> Option<Range<u64>> {
        let first_exec = self.runs.iter().position(|r| r.exec)?;
        self.runs
            .get(first_exec..)?
            .iter()
            .filter(|r| !r.exec && !r.writable)
            .max_by_key(|r| r.range.end - r.range.start)
            .map(|r| r.range.clone())
    }

    /// Whether protections are already split (text executable, the rest not).
    pub fn protections_split(&self) -> bool {
        self.runs.iter().any(|r| r.exec) && self.runs.iter().any(|r| !r.exec)
    }
}

/// Walks the tables at `root` over the kernel image region. `read_table(phys)` returns the
/// 4 KiB page-table page at `phys`. At most 2 + 512 + 1 tables are read (fewer with 2 MiB
/// pages).
pub fn walk_image<E: std::error::Error + 'static>(
    read_table: &mut dyn FnMut(u64) -> Result<Vec<u8>, E>,
    root: PageTableRoot,
) -> Result<ImageMap, MapError<E>> {
    let mut map = ImageMap::default();
    let mut table = |phys: u64, map: &mut ImageMap| -> Result<Vec<u64>, MapError<E>> {
        let bytes = read_table(phys).map_err(|cause| MapError::Read { addr: phys, cause })?;
        let entries = parse_table(&bytes);
        if entries.len() != ENTRIES_PER_TABLE {
            return Err(MapError::Short { addr: phys });
        }
        map.tables_read += 1;
        Ok(entries)
    };
    let index = |shift: u32| ((START_KERNEL_MAP >> shift) & 511) as usize;
    let mut phys = root.pgd_phys;
    let mut writable = true;
    let mut nx = false;
    let mut shifts: Vec<u32> = Vec::new();
    if root.five_level {
        shifts.push(48);
    }
    shifts.extend([39, 30]);
    for shift in shifts {
        let entries = table(phys, &mut map)?;
        let Some(&e) = entries.get(index(shift)) else {
            return Ok(map);
        };
        if e & PTE_PRESENT == 0 {
            return Ok(map);
        }
        writable &= e & PTE_WRITABLE != 0;
        nx |= e & PTE_NX != 0;
        if shift == 30 && e & PTE_PS != 0 {
            push(
                &mut map,
                START_KERNEL_MAP,
                KERNEL_IMAGE_REGION,
                e,
                writable,
                nx,
            );
            return Ok(map);
        }
        phys = e & PHYS_ADDR_MASK;
    }
    let pd = table(phys, &mut map)?;
    for (i, &pde) in pd.iter().enumerate() {
        if pde & PTE_PRESENT == 0 {
            continue;
        }
        let va = START_KERNEL_MAP + i as u64 * PAGE_SIZE_2M;
        if pde & PTE_PS != 0 {
            push(&mut map, va, PAGE_SIZE_2M, pde, writable, nx);
            continue;
        }
        let w = writable && pde & PTE_WRITABLE != 0;
        let x = nx || pde & PTE_NX != 0;
        let pt = table(pde & PHYS_ADDR_MASK, &mut map)?;
        for (j, &pte) in pt.iter().enumerate() {
            if pte & PTE_PRESENT != 0 {
                push(
                    &mut map,
                    va + j as u64 * PAGE_SIZE_4K,
                    PAGE_SIZE_4K,
                    pte,
                    w,
                    x,
                );
            }
        }
    }
    Ok(map)
}

fn push(map: &mut ImageMap, va: u64, size: u64, entry: u64, writable: bool, nx: bool) {
    let run = MappedRun {
        range: va..va + size,
        writable: writable && entry & PTE_WRITABLE != 0,
        exec: !(nx || entry & PTE_NX != 0),
    };
    if let Some(last) = map.runs.last_mut() {
        if last.range.end == run.range.start
            && last.writable == run.writable
            && last.exec == run.exec
        {
            last.range.end = run.range.end;
            return;
        }
    }
    map.runs.push(run);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Debug, thiserror::Error)]
    #[error("no such page")]
    struct NoPage;

    /// Physical memory of page-table pages only.
    #[derive(Default)]
    struct Tables(HashMap<u64, Vec<u64>>);

    impl Tables {
        fn set(&mut self, table: u64, index: usize, value: u64) {
            self.0.entry(table).or_insert_with(|| vec![0; 512])[index] = value;
        }
        fn reader(&self) -> impl FnMut(u64) -> Result<Vec<u8>, NoPage> + '_ {
            |phys| {
                let t = self.0.get(&phys).ok_or(NoPage)?;
                Ok(t.iter().flat_map(|e| e.to_le_bytes()).collect())
            }
        }
    }

    const P: u64 = PTE_PRESENT;
    const W: u64 = PTE_WRITABLE;

    /// PGD 0x1000 → PDPT 0x2000 → PD 0x3000; a PT at 0x4000 for PD entry `split`.
    fn kernel_tables(text_pd: usize) -> Tables {
        let mut t = Tables::default();
        t.set(0x1000, 511, 0x2000 | P | W);
        t.set(0x2000, 510, 0x3000 | P | W);
        // Text: two 2 MiB pages, read-only executable.
        t.set(0x3000, text_pd, 0x100_0000 | P | PTE_PS);
        t.set(0x3000, text_pd + 1, 0x120_0000 | P | PTE_PS);
        // Then a split page: a 4 KiB read-only piece, a 12 KiB hole, then rodata (RO, NX),
        // then data (RW, NX).
        t.set(0x3000, text_pd + 2, 0x4000 | P | W);
        t.set(0x4000, 0, 0x140_0000 | P | PTE_NX);
        for j in 4..512 {
            let flags = if j < 300 { P | PTE_NX } else { P | W | PTE_NX };
            t.set(0x4000, j, (0x140_0000 + j as u64 * 4096) | flags);
        }
        t
    }

    #[test]
    fn finds_text_rodata_and_data() {
        let t = kernel_tables(0x73);
        let root = PageTableRoot {
            pgd_phys: 0x1000,
            five_level: false,
        };
        let map = walk_image(&mut t.reader(), root).unwrap();
        let text = START_KERNEL_MAP + 0x73 * PAGE_SIZE_2M;
        assert_eq!(map.text_base(), Some(text));
        assert_eq!(map.runs.len(), 4, "{map:?}");
        assert!(map.runs[0].exec && !map.runs[0].writable);
        assert_eq!(map.runs[0].range, text..text + 2 * PAGE_SIZE_2M);
        let ro = text + 2 * PAGE_SIZE_2M;
        assert_eq!(map.rodata(), Some(ro + 4 * 4096..ro + 300 * 4096));
        assert_eq!(map.end(), Some(ro + PAGE_SIZE_2M));
        assert!(map.protections_split());
        assert_eq!(map.tables_read, 4);
    }

    #[test]
    fn five_level_and_nothing_mapped() {
        let mut t = kernel_tables(0x10);
        t.set(0x9000, 511, 0x1000 | P | W);
        let root = PageTableRoot {
            pgd_phys: 0x9000,
            five_level: true,
        };
        let map = walk_image(&mut t.reader(), root).unwrap();
        assert_eq!(
            map.text_base(),
            Some(START_KERNEL_MAP + 0x10 * PAGE_SIZE_2M)
        );

        let mut empty = Tables::default();
        empty.set(0x1000, 0, 0x2000 | P);
        let root = PageTableRoot {
            pgd_phys: 0x1000,
            five_level: false,
        };
        let map = walk_image(&mut empty.reader(), root).unwrap();
        assert!(map.runs.is_empty());
        assert_eq!(map.rodata(), None);
    }

    #[test]
    fn early_boot_is_all_writable_and_executable() {
        let mut t = Tables::default();
        t.set(0x1000, 511, 0x2000 | P | W);
        t.set(0x2000, 510, 0x3000 | P | W);
        for i in 8..30 {
            t.set(0x3000, i, (i as u64) << 21 | P | W | PTE_PS);
        }
        let root = PageTableRoot {
            pgd_phys: 0x1000,
            five_level: false,
        };
        let map = walk_image(&mut t.reader(), root).unwrap();
        assert_eq!(map.runs.len(), 1);
        assert_eq!(map.rodata(), None);
        assert!(!map.protections_split());
    }

    #[test]
    fn unreadable_table_names_its_address() {
        let mut t = Tables::default();
        t.set(0x1000, 511, 0x2000 | P | W);
        let root = PageTableRoot {
            pgd_phys: 0x1000,
            five_level: false,
        };
        let e = walk_image(&mut t.reader(), root).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read the page table at physical 0x2000: no such page"
        );
    }
}
