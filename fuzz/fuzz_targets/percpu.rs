//! Per-CPU matching: `PerCpu::from_raw` on a fuzz-made `__per_cpu_offset` array and
//! possible/online masks (each may be missing), then every query a vCPU makes of it.
//! Whatever the guest's data, a matched CPU is a possible one, its offset is the base that
//! matched, and nothing panics.
//!
//! Input: byte 0: which masks are present (bits 0, 1) and the vCPU's mode (bit 2); byte 1:
//! the masks' length; then the masks, then two u64 bases, then the offsets array.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_bridge::VirtAddr;
use qmdb_linux::PerCpu;

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

fuzz_target!(|data: &[u8]| {
    let [flags, mask_len, rest @ ..] = data else {
        return;
    };
    let mask_len = usize::from(*mask_len % 64);
    let (possible, rest) = rest.split_at(mask_len.min(rest.len()));
    let (online, rest) = rest.split_at(mask_len.min(rest.len()));
    let gs = u64_at(rest, 0);
    let kgs = u64_at(rest, 8);
    let offsets = rest.get(16..).unwrap_or_default();
    let p = PerCpu::from_raw(
        offsets,
        (flags & 1 != 0).then_some(possible),
        (flags & 2 != 0).then_some(online),
    );
    let cpus: Vec<u32> = p.cpus().collect();
    assert!(cpus.len() <= offsets.len() / 8);
    assert!(cpus.windows(2).all(|w| w[0] < w[1]));
    if let Some(cpu) = p.cpu_of_vcpu(flags & 4 != 0, gs, kgs) {
        assert!(cpus.contains(&cpu));
        assert!(p.is_online(cpu).is_some());
        let base = p.ptr(cpu, VirtAddr(0)).map(|a| a.0);
        assert!(base.is_some() && (base == gs || base == kgs));
    }
    for &cpu in cpus.iter().take(64) {
        assert!(p.is_online(cpu).is_some());
        let _ = p.ptr(cpu, VirtAddr(u64::MAX));
    }
});
