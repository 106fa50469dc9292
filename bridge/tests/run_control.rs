//! Run control through `BlockingTarget` against the fake stub: breakpoints, watchpoints,
//! single steps, continue and interrupt, and the stops they give.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use qmdb_bridge::blocking::{BlockingTarget, ConnectOptions};
use qmdb_bridge::{BreakKind, BridgeError, RunState, StopReason, Target, VcpuId, VirtAddr};
use qmdb_fakestub::{FakeConfig, FakeStub};

const CPU0: VcpuId = VcpuId { pid: 1, tid: 1 };
const CPU1: VcpuId = VcpuId { pid: 1, tid: 2 };
const BP: u64 = 0xffff_ffff_8123_4560;

fn stop_on(signal: u8, vcpu: VcpuId) -> StopReason {
    StopReason::Signal {
        signal,
        thread: Some(vcpu),
        info: vec![],
    }
}

fn start(delay_ms: u64) -> (FakeStub, BlockingTarget) {
    let cfg = FakeConfig {
        breakpoint_vcpu: 1,
        breakpoint_delay: Duration::from_millis(delay_ms),
        ..FakeConfig::default()
    };
    let stub = FakeStub::start(cfg).unwrap();
    let t = BlockingTarget::connect(&stub.addr().to_string(), ConnectOptions::default()).unwrap();
    (stub, t)
}

#[test]
fn a_breakpoint_is_reached_and_reported_on_its_vcpu() {
    let (stub, mut t) = start(200);
    t.insert_breakpoint(BreakKind::Software, VirtAddr(BP), 1)
        .unwrap();
    assert_eq!(stub.breakpoints(), [(0, BP, 1)]);
    t.resume().unwrap();
    // Not yet: the fake runs 200 ms first, and short waits say so.
    assert_eq!(t.wait_for_stop(Duration::from_millis(20)).unwrap(), None);
    assert_eq!(t.status().unwrap().state, RunState::Running);
    let stop = (0..100)
        .find_map(|_| t.wait_for_stop(Duration::from_millis(50)).unwrap())
        .expect("the breakpoint is reached");
    assert_eq!(stop, stop_on(5, CPU1));
    t.select_vcpu(CPU1).unwrap();
    assert_eq!(t.read_registers().unwrap().get_u64("rip"), Some(BP));
    t.remove_breakpoint(BreakKind::Software, VirtAddr(BP), 1)
        .unwrap();
    // Removing it twice is the stub's error.
    match t.remove_breakpoint(BreakKind::Software, VirtAddr(BP), 1) {
        Err(BridgeError::Remote { errno: 0x22, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(stub.stats().breakpoint_hits, 1);
    drop(t);
    assert_eq!(stub.stats().kills, 0);
}

#[test]
fn steps_watchpoints_and_interrupts() {
    let (stub, mut t) = start(0);
    // A step stops at once, on the stepped vCPU only.
    for vcpu in [CPU1, CPU0] {
        t.step(vcpu).unwrap();
        let stop = t.wait_for_stop(Duration::from_secs(5)).unwrap();
        assert_eq!(stop, Some(stop_on(5, vcpu)));
    }
    assert_eq!(stub.stats().steps, 2);
    assert!(matches!(
        t.step(VcpuId { pid: 1, tid: 9 }),
        Err(BridgeError::Invalid(_))
    ));
    // Watchpoints are planted and removed by address and length.
    let data = VirtAddr(0xffff_8880_0000_1000);
    for kind in [BreakKind::Write, BreakKind::Read, BreakKind::Access] {
        t.insert_breakpoint(kind, data, 8).unwrap();
    }
    assert_eq!(stub.breakpoints().len(), 3);
    assert!(t.remove_breakpoint(BreakKind::Write, data, 4).is_err());
    for kind in [BreakKind::Write, BreakKind::Read, BreakKind::Access] {
        t.remove_breakpoint(kind, data, 8).unwrap();
    }
    // With no breakpoint the VM runs until interrupted.
    t.resume().unwrap();
    assert_eq!(t.wait_for_stop(Duration::from_millis(100)).unwrap(), None);
    assert!(stub.vm_running());
    let stop = t.interrupt().unwrap();
    assert!(
        matches!(stop, StopReason::Signal { signal: 2, .. }),
        "{stop:?}"
    );
    assert!(!stub.vm_running());
    // Requests while running are refused; a step too.
    t.resume().unwrap();
    assert!(matches!(t.step(CPU0), Err(BridgeError::Running)));
    t.interrupt().unwrap();
    drop(t);
    assert_eq!(stub.stats().kills, 0);
}
