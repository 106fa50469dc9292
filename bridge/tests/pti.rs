//! Kernel reads on a vCPU stopped in user mode under Linux's page-table isolation (PTI).
//!
//! The fake hides the kernel's direct map from a vCPU whose `cs & 3 != 0`
//! (`FakeConfig::pti_hidden`), as QEMU does when it translates through a PTI user CR3. The
//! page tables and the data live in the fake's physical memory: the user PGD at CR3 (bit 12
//! set), the kernel PGD just below it. `BlockingTarget` must find the bytes through the kernel
//! page tables and physical reads, leave `PhyMemMode` off, count what it did, and still fail
//! cleanly, naming the address, where the kernel page tables map nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::Duration;

use qmdb_bridge::blocking::{BlockingTarget, ConnectOptions};
use qmdb_bridge::client::{Client, ClientOptions};
use qmdb_bridge::paging::{Level, PAGE_SIZE_2M, PAGE_SIZE_4K};
use qmdb_bridge::{
    read_exact, read_partial, BridgeError, ChunkError, Target, VcpuId, VirtAddr, WalkFault,
};
use qmdb_fakestub::{FakeConfig, FakeStub, Region};

const P_RW: u64 = 0x3;
const USER: u64 = 0x4;
const PS: u64 = 0x80;
const NX: u64 = 1 << 63;

/// The kernel PGD; the user PGD is its twin at `+ 0x1000` (Linux's 8 KiB pair).
const KERNEL_PGD: u64 = 0x0100_0000;
const USER_PGD: u64 = KERNEL_PGD | 0x1000;
/// CR3 in user mode: the user PGD with a PCID in the low bits.
const USER_CR3: u64 = USER_PGD | 0x801;
/// `cs` of a vCPU in user mode (`__USER_CS`) and in kernel mode (`__KERNEL_CS`).
const USER_CS: u32 = 0x33;
const KERNEL_CS: u32 = 0x10;

/// A "task struct" spread over three 4 KiB pages at scattered physical pages; the page after
/// them is not present in the kernel page tables.
const TASK: u64 = 0xffff_8880_0123_4000;
const TASK_PHYS: [u64; 3] = [0x0305_0000, 0x0301_0000, 0x0307_0000];
/// A 2 MiB kernel page; only `BIG_DATA` bytes at `BIG_OFF` into it are backed.
const BIG: u64 = 0xffff_8880_4000_0000;
const BIG_PHYS: u64 = 0x0400_0000;
const BIG_OFF: u64 = 0x1_2000;
const BIG_DATA: usize = 0x2000;
/// Kernel text: mapped for user mode too (PTI without PCID), read without any fallback.
const TEXT: u64 = 0xffff_ffff_8100_0000;
/// User memory of the stopped process.
const USER_VA: u64 = 0x40_0000;
const USER_PHYS: u64 = 0x0500_0000;
/// Kernel addresses no page table maps (an absent PML4 entry).
const UNMAPPED: u64 = 0xffff_c900_0000_0000;

/// Page tables under construction: table pages by physical address.
struct Tables {
    pages: BTreeMap<u64, Vec<u64>>,
    next: u64,
}

impl Tables {
    fn new() -> Tables {
        Tables {
            pages: BTreeMap::new(),
            next: 0x0200_0000,
        }
    }

    fn entry(&mut self, table: u64, index: u64) -> &mut u64 {
        let page = self.pages.entry(table).or_insert_with(|| vec![0; 512]);
        &mut page[index as usize]
    }

    /// Maps `va` to `pa` in the tables at `pgd` with a 4 KiB page, or a 2 MiB one if `big`.
    fn map(&mut self, pgd: u64, va: u64, pa: u64, flags: u64, big: bool) {
        let leaf_shift = if big { 21 } else { 12 };
        let mut table = pgd;
        for shift in [39u32, 30, 21, 12] {
            let index = (va >> shift) & 0x1ff;
            if shift == leaf_shift {
                *self.entry(table, index) = pa | flags | if big { PS } else { 0 };
                return;
            }
            let e = *self.entry(table, index);
            table = if e & 1 != 0 {
                e & 0x000f_ffff_ffff_f000
            } else {
                let t = self.next;
                self.next += 0x1000;
                *self.entry(table, index) = t | P_RW | (flags & USER);
                self.pages.entry(t).or_insert_with(|| vec![0; 512]);
                t
            };
        }
    }

    fn regions(&self) -> Vec<Region> {
        self.pages
            .iter()
            .map(|(&a, e)| Region::new(a, e.iter().flat_map(|v| v.to_le_bytes()).collect()))
            .collect()
    }
}

fn pattern(start: u64, len: usize) -> Vec<u8> {
    Region::with_pattern(start, len).data
}

/// The bytes the kernel sees at `TASK .. TASK + 3 pages`.
fn task_bytes() -> Vec<u8> {
    TASK_PHYS
        .iter()
        .flat_map(|&pa| pattern(pa, PAGE_SIZE_4K as usize))
        .collect()
}

/// A fake guest with one vCPU (or two: the second in kernel mode on the kernel PGD) stopped
/// in user mode on the PTI user PGD.
fn pti_config(vcpus: usize) -> FakeConfig {
    let mut t = Tables::new();
    for (i, &pa) in TASK_PHYS.iter().enumerate() {
        t.map(
            KERNEL_PGD,
            TASK + i as u64 * PAGE_SIZE_4K,
            pa,
            P_RW | NX,
            false,
        );
    }
    t.map(KERNEL_PGD, BIG, BIG_PHYS, P_RW | NX, true);
    t.map(KERNEL_PGD, TEXT, 0x0600_0000, 0x1, false);
    // The user half: Linux writes each user PGD entry into both copies (NX added to the
    // kernel's), so both PGDs share the tables below.
    t.map(USER_PGD, USER_VA, USER_PHYS, P_RW | USER, false);
    let shared = *t.entry(USER_PGD, 0);
    *t.entry(KERNEL_PGD, 0) = shared | NX;
    // The kernel half of the user PGD maps only the kernel text (no direct map).
    t.map(USER_PGD, TEXT, 0x0600_0000, 0x1, false);

    let mut cfg = FakeConfig::default().with_vcpus(vcpus);
    cfg.phys_regions = t.regions();
    for &pa in &TASK_PHYS {
        cfg.phys_regions
            .push(Region::with_pattern(pa, PAGE_SIZE_4K as usize));
    }
    cfg.phys_regions
        .push(Region::with_pattern(BIG_PHYS + BIG_OFF, BIG_DATA));
    cfg.phys_regions
        .push(Region::with_pattern(USER_PHYS, 0x100));
    // The virtual view (what a kernel-mode vCPU reads): the same bytes.
    cfg.regions.push(Region::new(TASK, task_bytes()));
    cfg.regions.push(Region::new(
        BIG + BIG_OFF,
        pattern(BIG_PHYS + BIG_OFF, BIG_DATA),
    ));
    cfg.regions.push(Region::new(TEXT, vec![0xcc; 0x100]));
    cfg.regions
        .push(Region::new(USER_VA, pattern(USER_PHYS, 0x100)));
    // PTI: the direct map and vmalloc space (stacks) are invisible in user mode.
    cfg.pti_hidden = vec![
        0xffff_8880_0000_0000..0xffff_c880_0000_0000,
        0xffff_c900_0000_0000..0xffff_e900_0000_0000,
    ];
    let cpu0 = cfg.vcpu_mut(0);
    cpu0.regs.seg[0] = USER_CS;
    cpu0.regs.cr3 = USER_CR3;
    cpu0.regs.cr4 = 0x3706f0; // LA57 (bit 12) clear: 4-level paging
    if vcpus > 1 {
        let cpu1 = cfg.vcpu_mut(1);
        cpu1.regs.seg[0] = KERNEL_CS;
        cpu1.regs.cr3 = KERNEL_PGD;
        cpu1.regs.cr4 = 0x3706f0;
    }
    cfg
}

fn connect(stub: &FakeStub, cache: bool) -> BlockingTarget {
    let opts = ConnectOptions {
        client: ClientOptions {
            timeout: Duration::from_secs(5),
        },
        cache,
        writable: false,
    };
    BlockingTarget::connect(&stub.addr().to_string(), opts).expect("connect to the fake")
}

fn vcpu(tid: u32) -> VcpuId {
    VcpuId { pid: 1, tid }
}

#[test]
fn kernel_reads_in_user_mode_go_through_the_kernel_page_tables() {
    for cache in [true, false] {
        let stub = FakeStub::start(pti_config(1)).unwrap();
        let mut t = connect(&stub, cache);

        // Across three scattered physical pages, starting and ending mid-page.
        let got = read_exact(&mut t, VirtAddr(TASK + 0x123), 0x2e00).unwrap();
        assert_eq!(got, task_bytes()[0x123..0x123 + 0x2e00], "cache {cache}");
        // Inside a 2 MiB page.
        let got = read_exact(&mut t, VirtAddr(BIG + BIG_OFF + 0x10), 0x40).unwrap();
        assert_eq!(got, pattern(BIG_PHYS + BIG_OFF + 0x10, 0x40));

        let s = t.stats();
        assert!(s.pti_fallback_reads > 0, "{s:?}");
        assert!(s.phys_reads > 0, "{s:?}");
        assert!(!stub.phys_mem_mode(), "PhyMemMode left on");
        let sets = stub.stats().phys_mode_sets;
        assert!(
            sets > 0 && sets.is_multiple_of(2),
            "switches come in pairs: {sets}"
        );

        // Kernel text is mapped for user mode: no fallback needed.
        let before = t.stats().pti_fallback_reads;
        assert_eq!(
            read_exact(&mut t, VirtAddr(TEXT), 0x10).unwrap(),
            vec![0xcc; 0x10]
        );
        assert_eq!(t.stats().pti_fallback_reads, before);
        drop(t);
        assert!(!stub.phys_mem_mode());
        assert_eq!(stub.stats().kills, 0);
    }
}

#[test]
fn faults_are_still_faults() {
    for cache in [true, false] {
        let stub = FakeStub::start(pti_config(1)).unwrap();
        let mut t = connect(&stub, cache);
        // The page after the task is not present in the kernel page tables: the read returns
        // every byte before it and names where it stopped.
        let end = TASK + 3 * PAGE_SIZE_4K;
        let r = read_partial(&mut t, VirtAddr(end - 0x100), 0x200).unwrap();
        assert_eq!(r.data, task_bytes()[3 * 4096 - 0x100..], "cache {cache}");
        assert_eq!(r.fault, Some((VirtAddr(end), ChunkError::NoMapping)));

        // Nothing maps this one at all.
        let before = stub.stats().mem_reads;
        match read_exact(&mut t, VirtAddr(UNMAPPED + 8), 8) {
            Err(e @ BridgeError::Fault { .. }) => {
                assert_eq!(
                    e.to_string(),
                    "failed to read 8 bytes at ffffc90000000008: no mapping"
                );
            }
            other => panic!("{other:?}"),
        }
        let sent = stub.stats().mem_reads - before;
        assert!(sent <= 16, "{sent} requests for one unmapped word");
        assert!(!stub.phys_mem_mode(), "PhyMemMode left on after a fault");
        let sets = stub.stats().phys_mode_sets;
        assert!(sets.is_multiple_of(2), "{sets}");
    }
}

#[test]
fn translate_and_read_physical() {
    let stub = FakeStub::start(pti_config(1)).unwrap();
    let mut t = connect(&stub, true);

    // A kernel address walks the kernel PGD of the pair.
    let tr = t
        .translate(VirtAddr(TASK + PAGE_SIZE_4K + 0x18))
        .unwrap()
        .unwrap();
    assert_eq!(tr.phys, TASK_PHYS[1] + 0x18);
    assert_eq!(tr.page_size, PAGE_SIZE_4K);
    assert_eq!(tr.root.pgd_phys, KERNEL_PGD);
    assert!(tr.writable && !tr.user && tr.nx);
    let levels: Vec<Level> = tr.levels.iter().map(|e| e.level).collect();
    assert_eq!(levels, [Level::Pml4, Level::Pdpt, Level::Pd, Level::Pt]);
    assert_eq!(
        tr.levels[0].entry_addr,
        KERNEL_PGD + ((TASK >> 39) & 0x1ff) * 8
    );

    let tr = t.translate(VirtAddr(BIG + 0x12345)).unwrap().unwrap();
    assert_eq!((tr.phys, tr.page_size), (BIG_PHYS + 0x12345, PAGE_SIZE_2M));

    // A user address walks CR3 as it is.
    let tr = t.translate(VirtAddr(USER_VA + 4)).unwrap().unwrap();
    assert_eq!(tr.phys, USER_PHYS + 4);
    assert_eq!(tr.root.pgd_phys, USER_PGD);
    assert!(tr.user);

    // No translation: the fault names the level and the entry.
    match t.translate(VirtAddr(UNMAPPED)).unwrap() {
        Err(WalkFault::NotPresent {
            level, entry_addr, ..
        }) => {
            assert_eq!(level, Level::Pml4);
            assert_eq!(entry_addr, KERNEL_PGD + ((UNMAPPED >> 39) & 0x1ff) * 8);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        t.translate(VirtAddr(0x8000_0000_0000)).unwrap(),
        Err(WalkFault::NonCanonical { .. })
    ));

    // Physical reads, longer than one packet.
    let got = t.read_physical(TASK_PHYS[0] + 0x10, 0xfe0).unwrap();
    assert_eq!(got, pattern(TASK_PHYS[0] + 0x10, 0xfe0));
    match t.read_physical(0x0900_0000, 4) {
        Err(e @ BridgeError::Remote { .. }) => {
            assert!(e.to_string().contains("physical 0x9000000"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!stub.phys_mem_mode());
}

#[test]
fn a_vcpu_in_kernel_mode_needs_no_fallback() {
    let stub = FakeStub::start(pti_config(2)).unwrap();
    let mut t = connect(&stub, true);
    t.select_vcpu(vcpu(2)).unwrap();
    let got = read_exact(&mut t, VirtAddr(TASK), 0x3000).unwrap();
    assert_eq!(got, task_bytes());
    assert_eq!(t.stats().pti_fallback_reads, 0);
    assert_eq!(stub.stats().phys_mode_sets, 0);
    // Back on the user-mode vCPU: the (dropped) cache is refilled through the fallback.
    t.select_vcpu(vcpu(1)).unwrap();
    let got = read_exact(&mut t, VirtAddr(TASK), 0x3000).unwrap();
    assert_eq!(got, task_bytes());
    assert!(t.stats().pti_fallback_reads > 0);
    assert!(!stub.phys_mem_mode());
}

#[test]
fn state_is_dropped_when_the_target_runs() {
    let stub = FakeStub::start(pti_config(1)).unwrap();
    let mut t = connect(&stub, true);
    assert_eq!(
        read_exact(&mut t, VirtAddr(TASK), 8).unwrap(),
        task_bytes()[..8]
    );
    let reads = stub.stats().mem_reads;
    assert_eq!(
        read_exact(&mut t, VirtAddr(TASK + 8), 8).unwrap(),
        task_bytes()[8..16]
    );
    assert_eq!(stub.stats().mem_reads, reads, "served from the cache");

    let pte = t.translate(VirtAddr(TASK)).unwrap().unwrap().levels[3].entry_addr;

    // While "running", the kernel moves the task's first page elsewhere.
    t.resume().unwrap();
    let new_page = 0x0308_0000;
    stub.map_phys_region(Region::with_pattern(new_page, 4096))
        .unwrap();
    let pt = pte & !0xfff;
    let mut entries = stub.unmap_phys_region(pt).expect("the PT page").data;
    let off = (pte - pt) as usize;
    entries[off..off + 8].copy_from_slice(&(new_page | P_RW | NX).to_le_bytes());
    stub.map_phys_region(Region::new(pt, entries)).unwrap();
    t.interrupt().unwrap();
    assert_eq!(
        read_exact(&mut t, VirtAddr(TASK), 8).unwrap(),
        pattern(new_page, 8)
    );
    assert!(!stub.phys_mem_mode());
}

#[test]
fn no_fallback_without_phys_mem_mode() {
    let mut cfg = pti_config(1);
    cfg.phys_mem_mode_supported = false;
    let stub = FakeStub::start(cfg).unwrap();
    let mut t = connect(&stub, true);
    let e = read_exact(&mut t, VirtAddr(TASK), 8).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("failed to read 8 bytes at {TASK:x}: no mapping")
    );
    assert!(matches!(
        t.read_physical(TASK_PHYS[0], 8),
        Err(BridgeError::Unsupported(_))
    ));
    assert_eq!(stub.stats().phys_mode_sets, 0, "PhyMemMode never attempted");
    assert_eq!(t.stats().pti_fallback_reads, 0);
}

#[test]
fn no_fallback_without_a_pti_pair() {
    // CR3 without the PTI bit: the kernel PGD itself (a user-mode vCPU on a non-PTI kernel).
    let mut cfg = pti_config(1);
    cfg.vcpu_mut(0).regs.cr3 = KERNEL_PGD;
    let stub = FakeStub::start(cfg).unwrap();
    let mut t = connect(&stub, true);
    assert!(read_exact(&mut t, VirtAddr(TASK), 8).is_err());
    assert_eq!(stub.stats().phys_mode_sets, 0);

    // CR3 has bit 12 but the page below is not its twin (the user halves differ): reading
    // through it would return unrelated memory, so the fault stands.
    let mut cfg = pti_config(1);
    let pgd = cfg
        .phys_regions
        .iter_mut()
        .find(|r| r.start == USER_PGD)
        .unwrap();
    pgd.data[..8].copy_from_slice(&(0x0700_0000u64 | P_RW | USER).to_le_bytes());
    let stub = FakeStub::start(cfg).unwrap();
    let mut t = connect(&stub, true);
    assert!(read_exact(&mut t, VirtAddr(TASK), 8).is_err());
    assert_eq!(t.stats().pti_fallback_reads, 0);
    assert!(!stub.phys_mem_mode());
}

/// The client alone: physical reads bracketed by mode switches, and the mode asked back.
#[test]
fn client_physical_reads_leave_the_mode_off() {
    let stub = FakeStub::start(pti_config(1)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = Client::connect(&stub.addr().to_string(), ClientOptions::default())
            .await
            .unwrap();
        assert!(c.supports_phys_mem().await.unwrap());
        let r = c
            .read_physical(&[(TASK_PHYS[2], 16), (0x0900_0000, 16), (USER_PHYS, 4)])
            .await
            .unwrap();
        assert_eq!(r[0].as_ref().unwrap(), &pattern(TASK_PHYS[2], 16));
        assert_eq!(r[1], Err(ChunkError::NoMapping));
        assert_eq!(r[2].as_ref().unwrap(), &pattern(USER_PHYS, 4));
        assert_eq!(c.request(b"qqemu.PhyMemMode").await.unwrap(), b"0");
        // Virtual reads are virtual again.
        let v = c.read_memory(&[(VirtAddr(USER_VA), 4)]).await.unwrap();
        assert_eq!(v[0].as_ref().unwrap(), &pattern(USER_PHYS, 4));
        let v = c.read_memory(&[(VirtAddr(USER_PHYS), 4)]).await.unwrap();
        assert_eq!(v[0], Err(ChunkError::NoMapping));
        assert_eq!(c.stats().phys_reads, 3);
        c.close(false).await.unwrap();
    });
    assert!(!stub.phys_mem_mode());
    assert_eq!(stub.stats().phys_mode_sets, 2);
}
