//! Fault-aware reads (`read_partial`) over the live client against the fake gdbstub.
//!
//! The fake answers `m` all-or-nothing, like QEMU, over a sparse address space whose holes
//! start and end at any byte. These tests prove that a read returns exactly the readable
//! prefix, stops at the first unreadable byte, and sends a bounded number of packets,
//! whatever the hole map, page size and packet size, with the page cache on and off.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use proptest::prelude::*;
use qmdb_bridge::blocking::{BlockingTarget, ConnectOptions};
use qmdb_bridge::client::ClientOptions;
use qmdb_bridge::{read_exact, read_partial, BridgeError, ChunkError, PartialRead};
use qmdb_bridge::{TargetMemory, VirtAddr};
use qmdb_fakestub::{FakeConfig, FakeStub, Region, Stats};

/// The page size of `BlockingTarget`'s page cache (`PageCache::new(4096)` in blocking.rs).
const CACHE_PAGE: u128 = 4096;

/// Requests `read_partial` keeps in flight per round trip (`READ_BATCH`/`RECOVERY_BATCH`).
const BATCH: u128 = 64;

const TOP: u128 = 1 << 64;

fn connect(stub: &FakeStub, cache: bool) -> BlockingTarget {
    let opts = ConnectOptions {
        client: ClientOptions {
            timeout: Duration::from_secs(10),
        },
        cache,
        writable: false,
    };
    BlockingTarget::connect(&stub.addr().to_string(), opts).expect("connect to the fake")
}

/// A `BlockingTarget` seen with the page size the hole map was drawn with, so that
/// `read_partial`'s page level is exercised at 256, 1 KiB and 4 KiB (the target itself
/// always says 4096, x86's page). Requests still go through the target (and its cache).
struct Paged<'a> {
    t: &'a mut BlockingTarget,
    page: u64,
}

impl TargetMemory for Paged<'_> {
    fn max_request(&self) -> usize {
        self.t.max_request()
    }
    fn page_size(&self) -> u64 {
        self.page
    }
    fn read_chunks(
        &mut self,
        reqs: &[(VirtAddr, usize)],
    ) -> qmdb_bridge::error::Result<Vec<Result<Vec<u8>, ChunkError>>> {
        self.t.read_chunks(reqs)
    }
}

/// The split granularities `read_partial` goes through: the stub's limit, then the page,
/// 4 and 1 bytes, each kept only if smaller than the one before (as in memory.rs).
fn levels(max: u128, page: u128) -> Vec<u128> {
    let mut l = vec![max];
    for g in [page, 4, 1] {
        if g < *l.last().unwrap() {
            l.push(g);
        }
    }
    l
}

/// How many `gran`-aligned blocks `[a, b)` touches.
fn blocks(a: u128, b: u128, gran: u128) -> u128 {
    if b <= a {
        0
    } else {
        (b - 1) / gran - a / gran + 1
    }
}

/// The most `fine`-aligned blocks in a range lying inside one `coarse`-aligned block.
fn blocks_within(coarse: u128, fine: u128) -> u128 {
    if coarse.is_multiple_of(fine) {
        coarse / fine
    } else {
        (coarse - 1).div_ceil(fine) + 1
    }
}

/// The most `m` packets `read_partial` may send for `[start, end)` without a cache.
///
/// Level 0 splits the range at multiples of `max`: `blocks(start, end, max)` requests at
/// most (look-ahead included: the batch that holds the fault is sent whole, but it never
/// reaches past the range). Every piece of level k lies inside one `levels[k]`-aligned block,
/// so when one faults, level k+1 splits that piece alone into at most
/// `blocks_within(levels[k], levels[k+1])` requests (again, look-ahead stays inside the piece).
/// Each level is entered at most once, so the sum over levels bounds the whole read; it does
/// not depend on what the stub answers. With `max = 2048, page = 4096` this is
/// `len/2048 + 2 + 512 + 4`.
fn uncached_bound(start: u128, end: u128, max: u128, page: u128) -> u128 {
    let l = levels(max, page);
    let mut n = blocks(start, end, max);
    for w in l.windows(2) {
        n += blocks_within(w[0], w[1]);
    }
    n
}

/// The bound memory.rs documents: `len/max + max/page + page/4 + 4`, plus one look-ahead
/// batch per level. `uncached_bound` must never exceed it.
fn documented_bound(len: u128, max: u128, page: u128) -> u128 {
    len / max + max / page + page / 4 + 4 + BATCH * levels(max, page).len() as u128
}

/// With the cache on, the requests `read_partial` makes are the same (the cache is
/// transparent), but before serving a batch the cache fetches every 4 KiB page the batch
/// touches that it does not know yet, in `ceil(4096 / max)` pieces each, once per page
/// (a page that cannot be read whole is remembered as partial and never fetched again);
/// requests touching such a page are then sent to the stub as asked, at most one packet per
/// request. So: `pages * ceil(4096 / max) + uncached`.
fn cached_bound(start: u128, end: u128, max: u128, uncached: u128) -> u128 {
    blocks(start, end, CACHE_PAGE) * CACHE_PAGE.div_ceil(max) + uncached
}

/// The bytes of `[start, start + len)` the fake can read, stopping at the first unmapped
/// byte or at the top of the address space, from the hole map itself.
fn readable_prefix(mapped: &[(u128, u128)], start: u128, len: u128) -> u128 {
    let end = (start + len).min(TOP);
    let mut cur = start;
    // `mapped` is sorted, and adjacent regions touch: walk them in order.
    for &(a, b) in mapped {
        if a <= cur && cur < b {
            cur = b;
        }
    }
    cur.min(end).max(start) - start
}

fn m_packets(before: &Stats, after: &Stats) -> u128 {
    u128::from(after.mem_reads - before.mem_reads)
}

fn assert_nothing_harmful(stub: &FakeStub) {
    let s = stub.stats();
    assert_eq!(s.kills, 0, "the stub saw a kill request");
    assert_eq!(s.mem_writes, 0, "the stub saw a memory write");
    assert_eq!(s.reg_writes, 0, "the stub saw a register write");
    assert_eq!(
        s.mem_reads_e22, 0,
        "a request exceeded the stub's packet size"
    );
    assert_eq!(s.session_errors, 0, "{:?}", stub.last_error());
}

/// One generated scenario.
#[derive(Debug, Clone)]
struct Case {
    page: u64,
    packet: usize,
    /// Where the hole map starts; for `top`, it ends exactly at 2^64 instead.
    base: u64,
    top: bool,
    /// `(length, mapped)`, in address order; consecutive mapped pieces are adjacent regions.
    segs: Vec<(u64, bool)>,
    /// Read start relative to `base - 64` (may begin before the map and end past it).
    read_off: u64,
    read_len: usize,
}

impl Case {
    fn max(&self) -> u64 {
        (self.packet / 2) as u64
    }

    fn total(&self) -> u64 {
        self.segs.iter().map(|s| s.0).sum()
    }

    fn origin(&self) -> u64 {
        if self.top {
            (TOP - u128::from(self.total())) as u64
        } else {
            self.base
        }
    }

    fn regions(&self) -> Vec<Region> {
        let mut out = Vec::new();
        let mut a = self.origin();
        for &(len, mapped) in &self.segs {
            if mapped {
                out.push(Region::with_pattern(a, len as usize));
            }
            a = a.wrapping_add(len);
        }
        out
    }

    fn read_start(&self) -> u64 {
        self.origin()
            .saturating_sub(64)
            .saturating_add(self.read_off)
    }
}

fn seg_len(page: u64, max: u64) -> impl Strategy<Value = u64> {
    let big = 2 * page.max(max);
    prop_oneof![
        // A few bytes: holes and mappings that are not 4-byte aligned.
        1u64..=9,
        // About k pages, off by a few bytes either way.
        (1u64..=3, -3i64..=3).prop_map(move |(k, d)| (k * page).saturating_add_signed(d)),
        // Exactly k packet limits.
        (1u64..=2).prop_map(move |k| k * max),
        1u64..=big,
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let page = prop_oneof![Just(256u64), Just(1024), Just(4096)];
    let packet = prop_oneof![Just(64usize), Just(0x190), Just(4096), Just(0x20000)];
    (page, packet)
        .prop_flat_map(|(page, packet)| {
            let max = (packet / 2) as u64;
            let base = prop_oneof![
                (0u64..8192).prop_map(|o| 0x10_0000 + o),
                (0u64..0x10_0000).prop_map(|o| 0xffff_8880_0000_0000 + o),
            ];
            let segs = prop::collection::vec((seg_len(page, max), any::<bool>()), 1..8);
            let top = prop::bool::weighted(0.2);
            (
                Just(page),
                Just(packet),
                base,
                top,
                segs,
                any::<u64>(),
                0usize..=(4 * max as usize + 7),
            )
        })
        .prop_map(|(page, packet, base, top, mut segs, off, read_len)| {
            if top {
                // A region at the very top of the address space.
                segs.last_mut().unwrap().1 = true;
            }
            let mut c = Case {
                page,
                packet,
                base,
                top,
                segs,
                read_off: 0,
                read_len,
            };
            c.read_off = off % (c.total() + 128);
            c
        })
}

/// Reads the case's range through `read_partial` and checks data, fault and packet count.
/// Returns the number of `m` packets sent.
fn check_read(
    stub: &FakeStub,
    t: &mut BlockingTarget,
    c: &Case,
    mapped: &[(u128, u128)],
    bound: u128,
) -> Result<(u128, PartialRead), TestCaseError> {
    let start = c.read_start();
    let before = stub.stats();
    let r = read_partial(&mut Paged { t, page: c.page }, VirtAddr(start), c.read_len)
        .map_err(|e| TestCaseError::fail(format!("read failed: {e}")))?;
    let after = stub.stats();
    let sent = m_packets(&before, &after);

    let n = readable_prefix(mapped, u128::from(start), c.read_len as u128);
    // The fake agrees with the model about the prefix and the byte after it.
    let want = stub
        .peek_memory(start, n as usize)
        .expect("the model's prefix is readable");
    prop_assert_eq!(r.data.len() as u128, n, "length of the readable prefix");
    prop_assert!(r.data == want, "data differs from the fake's memory");
    let stop = u128::from(start) + n;
    if n < c.read_len as u128 && stop < TOP {
        prop_assert!(stub.peek_memory(stop as u64, 1).is_none());
        prop_assert_eq!(
            r.fault,
            Some((VirtAddr(stop as u64), ChunkError::NoMapping)),
            "the fault names the first unreadable byte"
        );
    } else if n == c.read_len as u128 {
        prop_assert_eq!(r.fault, None);
    }
    // (A read running past 2^64 is checked by `read_past_the_top_of_the_address_space_faults`.)
    prop_assert!(
        sent <= bound,
        "{} m packets for {} bytes at {:#x}, bound {}",
        sent,
        c.read_len,
        start,
        bound
    );
    if c.read_len == 0 {
        prop_assert_eq!(sent, 0);
    }
    Ok((sent, r))
}

proptest! {
    // Each case starts a fake and connects twice; 40 cases take about a second.
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn read_returns_exactly_the_readable_prefix(c in case()) {
        let mut cfg = FakeConfig::default().with_packet_size(c.packet);
        cfg.page_size = c.page;
        cfg.regions = c.regions();
        let stub = FakeStub::start(cfg).unwrap();
        let mut mapped: Vec<(u128, u128)> = stub_regions(&c);
        mapped.sort();

        let start = u128::from(c.read_start());
        let end = (start + c.read_len as u128).min(TOP);
        let max = u128::from(c.max());
        let page = u128::from(c.page);
        let bound = uncached_bound(start, end, max, page);
        prop_assert!(bound <= documented_bound(c.read_len as u128, max, page));

        // Cache off.
        let mut t = connect(&stub, false);
        prop_assert_eq!(t.max_request() as u64, c.max());
        let (uncached, first) = check_read(&stub, &mut t, &c, &mapped, bound)?;
        drop(t);

        // Cache on: the same answer, within the cache's bound; asked again, the same answer
        // with no page fetched again.
        let mut t = connect(&stub, true);
        let (_, cached) = check_read(&stub, &mut t, &c, &mapped, cached_bound(start, end, max, uncached))?;
        prop_assert_eq!(&cached, &first);
        let before = stub.stats();
        let r = read_partial(&mut Paged { t: &mut t, page: c.page }, VirtAddr(start as u64), c.read_len)
            .map_err(|e| TestCaseError::fail(format!("repeat failed: {e}")))?;
        let again = m_packets(&before, &stub.stats());
        prop_assert_eq!(&r, &first);
        prop_assert!(again <= uncached, "repeat sent {} m packets, first uncached read {}", again, uncached);
        // When every 4 KiB page the read touches is mapped whole, the cache serves it all.
        // (Not for a read ending exactly at 2^64: the cache cannot compute that end.)
        let whole_pages = (start / CACHE_PAGE..=(end.max(start + 1) - 1) / CACHE_PAGE)
            .all(|p| stub.peek_memory((p * CACHE_PAGE) as u64, CACHE_PAGE as usize).is_some());
        if whole_pages && end < TOP {
            prop_assert_eq!(again, 0, "a fully cached range went to the stub");
        }
        drop(t);
        assert_nothing_harmful(&stub);
    }
}

fn stub_regions(c: &Case) -> Vec<(u128, u128)> {
    c.regions()
        .iter()
        .map(|r| (u128::from(r.start), r.end()))
        .collect()
}

/// Runs `f` on a thread and fails the test if it has not finished within `secs`: a read that
/// never terminates must fail the test, not hang it.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("the read did not terminate")
}

/// The seed bug ("debugging the debugger"): kmdb's `kmt_rw()` retried a faulting chunk
/// without ever shrinking it (the chunk size lived in a register that `longjmp` restored),
/// so `::findstack` on a thread whose stack ran into an unmapped page spun forever.
/// Here every single read faults: the read must still end, at its first byte, after a
/// bounded number of packets, whatever the length.
#[test]
fn kmt_rw_never_shrinking_its_chunk_every_read_faults_yet_the_read_terminates() {
    for (packet, page, cache, len) in [
        (4096usize, 4096u64, false, 3 * 2048 + 100),
        (4096, 1024, false, 3 * 2048 + 100),
        (4096, 4096, true, 3 * 2048 + 100),
        (0x190, 256, false, 1000),
        (64, 256, true, 200),
        (4096, 4096, false, 1 << 20),
        (4096, 4096, true, 1 << 20),
    ] {
        let stub = FakeStub::start(FakeConfig::default().with_packet_size(packet)).unwrap();
        let addr = stub.addr();
        let start = 0xffff_c900_0000_3000u64; // 2048-aligned
        let (r, max) = within(20, move || {
            let opts = ConnectOptions {
                cache,
                ..ConnectOptions::default()
            };
            let mut t = BlockingTarget::connect(&addr.to_string(), opts).unwrap();
            let max = t.max_request() as u128;
            let r = read_partial(&mut Paged { t: &mut t, page }, VirtAddr(start), len).unwrap();
            (r, max)
        });
        let ctx = format!("packet {packet:#x}, page {page}, cache {cache}, len {len}");
        assert!(r.data.is_empty(), "{ctx}");
        assert_eq!(
            r.fault,
            Some((VirtAddr(start), ChunkError::NoMapping)),
            "{ctx}"
        );
        let m = u128::from(stub.stats().mem_reads);
        let (s, e) = (u128::from(start), u128::from(start) + len as u128);
        let page = u128::from(page);
        let mut bound = uncached_bound(s, e, max, page);
        assert!(bound <= documented_bound(len as u128, max, page), "{ctx}");
        if cache {
            bound = cached_bound(s, e, max, bound);
        }
        assert!(m <= bound, "{ctx}: {m} m packets, bound {bound}");
        // The first request of every level faults, so each level sends at most its first
        // batch: the cost does not grow with the length of the read.
        if !cache {
            let most = BATCH * levels(max, page).len() as u128;
            assert!(
                m <= most,
                "{ctx}: {m} m packets, more than a batch per level"
            );
        }
        assert_nothing_harmful(&stub);
    }
}

/// A read that runs one byte past the end of a mapping (which ends off any alignment)
/// returns every byte but the last and names the first unmapped address.
#[test]
fn read_straddling_a_mapping_end_by_one_byte_returns_all_but_the_last_byte() {
    let base = 0xffff_8880_0123_4000u64;
    let len = 3 * 4096 + 5;
    let stub = FakeStub::start(FakeConfig::default().with_region(Region::with_pattern(base, len)))
        .unwrap();
    let end = base + len as u64;
    for cache in [false, true] {
        let mut t = connect(&stub, cache);
        for start in [base, base + 1, end - 8, end - 1] {
            let want = (end - start) as usize;
            let r = read_partial(&mut t, VirtAddr(start), want + 1).unwrap();
            assert_eq!(r.data, stub.peek_memory(start, want).unwrap());
            assert_eq!(r.fault, Some((VirtAddr(end), ChunkError::NoMapping)));
            match read_exact(&mut t, VirtAddr(start), want + 1) {
                Err(BridgeError::Fault { addr, len, cause }) => {
                    assert_eq!(
                        (addr, len, cause),
                        (VirtAddr(start), want + 1, ChunkError::NoMapping)
                    );
                }
                other => panic!("read_exact past the mapping: {other:?}"),
            }
            // And exactly up to the end is fine.
            assert_eq!(
                read_exact(&mut t, VirtAddr(start), want).unwrap(),
                stub.peek_memory(start, want).unwrap()
            );
        }
    }
    assert_nothing_harmful(&stub);
}

/// A read that runs past 2^64 cannot return every byte asked for. It must say so: a
/// `PartialRead` shorter than asked with no fault looks like success, and `read_exact` then
/// hands back a short buffer.
#[test]
fn read_past_the_top_of_the_address_space_faults() {
    let top_region = Region::with_pattern(u64::MAX - 15, 16);
    let stub = FakeStub::start(FakeConfig::default().with_region(top_region)).unwrap();
    for cache in [false, true] {
        let mut t = connect(&stub, cache);
        // Up to the last byte exactly: fine.
        let r = read_partial(&mut t, VirtAddr(u64::MAX - 15), 16).unwrap();
        assert_eq!(r.data, stub.peek_memory(u64::MAX - 15, 16).unwrap());
        assert_eq!(r.fault, None);
        // One byte more: the readable 16, and a fault.
        let r = read_partial(&mut t, VirtAddr(u64::MAX - 15), 17).unwrap();
        assert_eq!(r.data, stub.peek_memory(u64::MAX - 15, 16).unwrap());
        assert!(
            r.fault.is_some(),
            "cache {cache}: {} of 17 bytes read and no fault reported",
            r.data.len()
        );
        let e = read_exact(&mut t, VirtAddr(u64::MAX - 7), 16);
        assert!(
            matches!(e, Err(BridgeError::Fault { .. })),
            "cache {cache}: read_exact of 16 bytes at 2^64-8 gave {e:?}"
        );
    }
    assert_nothing_harmful(&stub);
}

/// Holes of one to three bytes at every offset inside a 4-byte group: the 1-byte level finds
/// the exact first unmapped byte, and nothing after a hole is returned even if mapped.
#[test]
fn tiny_unaligned_holes_are_found_to_the_byte() {
    let base = 0x20_0000u64;
    for hole_at in 0..8u64 {
        for hole_len in 1..=3u64 {
            let cfg = FakeConfig::default()
                .with_region(Region::with_pattern(base, (hole_at + 4096) as usize))
                .with_region(Region::with_pattern(base + hole_at + 4096 + hole_len, 100));
            let stub = FakeStub::start(cfg).unwrap();
            let mut t = connect(&stub, false);
            let first_hole = base + 4096 + hole_at;
            let r = read_partial(&mut t, VirtAddr(base + 3), 4096 + 200).unwrap();
            assert_eq!(r.data.len() as u64, first_hole - base - 3);
            assert_eq!(r.data, stub.peek_memory(base + 3, r.data.len()).unwrap());
            assert_eq!(r.fault, Some((VirtAddr(first_hole), ChunkError::NoMapping)));
            drop(t);
            assert_nothing_harmful(&stub);
        }
    }
}
