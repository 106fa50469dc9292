//! Finding the kernel in guest memory: `VmcoreInfo::parse_note` and `gnu_build_id` on the
//! raw input, and `walk_image` over page-table pages made from it. Nothing may panic; what
//! parses must agree with the input; the walk ends within its table budget with sorted,
//! disjoint, merged runs inside the kernel image region.
//!
//! Page tables: bytes 0..8 are a little-endian header: bit 0 is `five_level`, bit 1 makes
//! missing pages read as zeros (else they fail), bits 4..12 cut the PGD page to that many
//! bytes when non-zero, bits 12..28 are the PGD's page number. The rest is 12-byte records
//! (`u16` page number, `u16` entry index mod 512, `u64` entry): page `n` is at physical
//! `n << 12`, all zero but for the entries its records set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_bridge::paging::PageTableRoot;
use qmdb_linux::discover::gnu_build_id;
use qmdb_linux::discover::image_map::{walk_image, KERNEL_IMAGE_REGION, START_KERNEL_MAP};
use qmdb_linux::discover::vmcoreinfo::VmcoreInfo;
use std::collections::BTreeMap;

/// `walk_image`'s bound: PML5, PML4, PDPT, the PD and its 512 PTs.
const MAX_TABLES: usize = 1 + 2 + 1 + 512;

#[derive(Debug)]
struct NoPage(u64);

impl std::fmt::Display for NoPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no page-table page at physical {:#x}", self.0)
    }
}

impl std::error::Error for NoPage {}

fn notes(data: &[u8]) {
    if let Ok(info) = VmcoreInfo::parse_note(data) {
        let _ = info.kernel_offset();
        let _ = info.build_id();
        let _ = info.get("OSRELEASE");
    }
    let _ = VmcoreInfo::parse_text(data);
    if let Some((at, id)) = gnu_build_id(data) {
        assert_eq!(at % 4, 0);
        assert_eq!(data.get(at..at + id.len()), Some(&id[..]));
    }
}

fn page_tables(data: &[u8]) {
    let Some((head, records)) = data.split_first_chunk::<8>() else {
        return;
    };
    let head = u64::from_le_bytes(*head);
    let root = PageTableRoot {
        pgd_phys: (head >> 12 & 0xffff) << 12,
        five_level: head & 1 != 0,
    };
    let zero_fill = head & 2 != 0;
    let pgd_len = (head >> 4 & 0xff) as usize;
    let mut pages: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for r in records.chunks_exact(12) {
        let page = u64::from(u16::from_le_bytes([r[0], r[1]])) << 12;
        let index = usize::from(u16::from_le_bytes([r[2], r[3]])) % 512;
        let value = u64::from_le_bytes(r[4..12].try_into().unwrap());
        pages.entry(page).or_insert_with(|| vec![0; 512])[index] = value;
    }
    let mut reads = 0usize;
    let mut read = |phys: u64| -> Result<Vec<u8>, NoPage> {
        reads += 1;
        let mut bytes: Vec<u8> = match pages.get(&phys) {
            Some(t) => t.iter().flat_map(|e| e.to_le_bytes()).collect(),
            None if zero_fill => vec![0; 4096],
            None => return Err(NoPage(phys)),
        };
        if phys == root.pgd_phys && pgd_len != 0 {
            bytes.truncate(pgd_len);
        }
        Ok(bytes)
    };
    let result = walk_image(&mut read, root);
    assert!(reads <= MAX_TABLES, "{reads} tables read");
    let Ok(map) = result else { return };
    assert!(map.tables_read <= reads);
    let region = START_KERNEL_MAP..=START_KERNEL_MAP + (KERNEL_IMAGE_REGION - 1);
    for run in &map.runs {
        assert!(run.range.start < run.range.end, "{map:?}");
        assert!(region.contains(&run.range.start), "{map:?}");
        assert!(region.contains(&(run.range.end - 1)), "{map:?}");
    }
    for w in map.runs.windows(2) {
        assert!(w[0].range.end <= w[1].range.start, "{map:?}");
        let merged = w[0].range.end == w[1].range.start
            && w[0].writable == w[1].writable
            && w[0].exec == w[1].exec;
        assert!(!merged, "unmerged runs: {map:?}");
    }
    assert_eq!(map.text_base(), map.runs.first().map(|r| r.range.start));
    assert_eq!(map.end(), map.runs.last().map(|r| r.range.end));
    if let Some(ro) = map.rodata() {
        assert!(map.protections_split());
        assert!(map
            .runs
            .iter()
            .any(|r| r.range == ro && !r.exec && !r.writable));
    }
}

fuzz_target!(|data: &[u8]| {
    notes(data);
    page_tables(data);
});
