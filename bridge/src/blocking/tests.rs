//! Against the fake stub: points planted through the target never outlive it, and single
//! steps use QEMU's step flags.

use super::*;
use qmdb_fakestub::{FakeConfig, FakeStub};

const CPU0: VcpuId = VcpuId { pid: 1, tid: 1 };
const BP: u64 = 0xffff_ffff_8123_4560;
const DATA: u64 = 0xffff_8880_0000_1000;

fn start(cfg: FakeConfig) -> (FakeStub, BlockingTarget) {
    let stub = FakeStub::start(cfg).unwrap();
    let t = BlockingTarget::connect(&stub.addr().to_string(), ConnectOptions::default()).unwrap();
    (stub, t)
}

/// A breakpoint the fake "reaches" only long after the test is over, and a watchpoint.
fn plant_two(t: &mut BlockingTarget) {
    t.insert_breakpoint(BreakKind::Software, VirtAddr(BP), 1)
        .unwrap();
    t.insert_breakpoint(BreakKind::Write, VirtAddr(DATA), 8)
        .unwrap();
    assert_eq!(
        t.planted(),
        [
            (BreakKind::Software, VirtAddr(BP), 1),
            (BreakKind::Write, VirtAddr(DATA), 8)
        ]
    );
}

fn far_breakpoint(running: bool) -> FakeConfig {
    FakeConfig {
        running,
        breakpoint_delay: Duration::from_secs(600),
        ..FakeConfig::default()
    }
}

#[test]
fn planted_points_are_remembered_until_removed() {
    let (stub, mut t) = start(FakeConfig::default());
    plant_two(&mut t);
    // The same breakpoint twice is two points, removed one at a time.
    t.insert_breakpoint(BreakKind::Software, VirtAddr(BP), 1)
        .unwrap();
    assert_eq!(stub.breakpoints().len(), 3);
    t.remove_breakpoint(BreakKind::Software, VirtAddr(BP), 1)
        .unwrap();
    t.remove_breakpoint(BreakKind::Write, VirtAddr(DATA), 8)
        .unwrap();
    assert_eq!(t.planted(), [(BreakKind::Software, VirtAddr(BP), 1)]);
    // A watchpoint of another length is not there: the stub says so, nothing changes.
    assert!(t
        .remove_breakpoint(BreakKind::Write, VirtAddr(DATA), 4)
        .is_err());
    assert_eq!(t.planted().len(), 1);
    t.remove_breakpoint(BreakKind::Software, VirtAddr(BP), 1)
        .unwrap();
    assert!(t.planted().is_empty());
    assert!(stub.breakpoints().is_empty());
    drop(t);
    // Nothing left to remove: no extra `z` at the end.
    assert_eq!(stub.stats().breakpoint_removals, 4);
    assert_eq!(stub.planted_at_session_end(), Some(vec![]));
}

#[test]
fn drop_removes_what_is_left_vm_stopped_at_attach() {
    // Left stopped: the connection just closes, and QEMU would keep the points.
    let (stub, mut t) = start(far_breakpoint(false));
    plant_two(&mut t);
    drop(t);
    let st = stub.stats();
    assert_eq!((st.detaches, st.breakpoint_removals), (0, 2));
    assert!(stub.breakpoints().is_empty(), "{:?}", stub.breakpoints());
    assert_eq!(stub.planted_at_session_end(), Some(vec![]));
    assert!(!stub.vm_running());
    assert_eq!((st.kills, st.session_errors), (0, 0));
}

#[test]
fn drop_removes_what_is_left_vm_running_at_attach() {
    let (stub, mut t) = start(far_breakpoint(true));
    plant_two(&mut t);
    drop(t);
    let st = stub.stats();
    assert_eq!((st.detaches, st.breakpoint_removals), (1, 2));
    assert_eq!(stub.planted_at_session_end(), Some(vec![]));
    assert!(stub.vm_running(), "detach resumes a VM found running");
    assert_eq!((st.kills, st.session_errors), (0, 0));
}

#[test]
fn drop_while_running_stops_removes_and_resumes() {
    for running_at_attach in [true, false] {
        let (stub, mut t) = start(far_breakpoint(running_at_attach));
        plant_two(&mut t);
        t.resume().unwrap();
        assert_eq!(t.wait_for_stop(Duration::from_millis(50)).unwrap(), None);
        assert!(stub.vm_running());
        drop(t);
        let st = stub.stats();
        // Stopped with `\x03` (no packet sent while running), then `z` twice.
        assert_eq!(st.interrupts, 1, "running at attach: {running_at_attach}");
        assert_eq!(st.breakpoint_removals, 2);
        assert_eq!(stub.planted_at_session_end(), Some(vec![]));
        assert_eq!(stub.vm_running(), running_at_attach);
        assert_eq!(st.detaches, u64::from(running_at_attach));
        assert_eq!((st.kills, st.session_errors), (0, 0));
        assert!(stub.last_error().is_none(), "{:?}", stub.last_error());
    }
}

#[test]
fn close_removes_what_is_left_even_if_one_removal_fails() {
    let (stub, mut t) = start(far_breakpoint(false));
    plant_two(&mut t);
    // Gone behind our back (as after a reconnect): its removal fails, the other goes on.
    t.planted.push((BreakKind::Access, VirtAddr(DATA), 4));
    let r = Target::close(&mut t, false);
    assert!(matches!(r, Err(BridgeError::Remote { .. })), "{r:?}");
    assert!(t.planted().is_empty());
    assert!(stub.breakpoints().is_empty());
    assert_eq!(stub.stats().breakpoint_removals, 3);
    // Later calls fail without sending anything.
    assert!(matches!(
        t.insert_breakpoint(BreakKind::Software, VirtAddr(BP), 1),
        Err(BridgeError::Disconnected)
    ));
    drop(t);
    assert_eq!(stub.stats().breakpoint_removals, 3);
}

fn step_once(t: &mut BlockingTarget) {
    step_vcpu(t, CPU0);
}

/// Steps `vcpu` and waits (5 s at most) for the stop.
fn step_vcpu(t: &mut BlockingTarget, vcpu: VcpuId) -> StopReason {
    t.step(vcpu).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(stop) = t.wait_for_stop(Duration::from_secs(1)).unwrap() {
            return stop;
        }
        assert!(std::time::Instant::now() < deadline, "no stop after a step");
    }
}

/// Registers are read once a stop: reading the same vCPU again costs no packet, another
/// vCPU has its own, and after a step they are those the step left.
#[test]
fn registers_are_read_once_per_stop() {
    let (_stub, mut t) = start(FakeConfig::default());
    let trips = |t: &BlockingTarget| t.stats().round_trips;
    let cpu0 = t.read_registers().unwrap();
    let n = trips(&t);
    assert_eq!(t.read_registers().unwrap(), cpu0);
    assert_eq!(trips(&t), n);
    t.select_vcpu(VcpuId { pid: 1, tid: 2 }).unwrap();
    let cpu1 = t.read_registers().unwrap();
    assert_ne!(cpu1.get_u64("rip"), cpu0.get_u64("rip"));
    t.select_vcpu(CPU0).unwrap();
    assert_eq!(t.read_registers().unwrap(), cpu0);
    step_once(&mut t);
    let after = t.read_registers().unwrap();
    assert_eq!(after.get_u64("rip"), cpu0.get_u64("rip").map(|r| r + 1));
    let n = trips(&t);
    assert_eq!(t.read_registers().unwrap(), after);
    assert_eq!(trips(&t), n);
}

/// The stop of a step QEMU stalled (every register as before) is not given: the step is
/// sent again, at most [`STALLED_STEP_RETRIES`] times; a vCPU other than the selected one
/// is checked too, and the selection stays.
#[test]
fn a_stalled_step_is_sent_again() {
    use crate::stalled_step::STALLED_STEP_RETRIES;
    let cpu1 = VcpuId { pid: 1, tid: 2 };
    let rip = |t: &mut BlockingTarget| t.read_registers().unwrap().get_u64("rip");
    let (stub, mut t) = start(FakeConfig {
        stalled_steps: 2,
        ..FakeConfig::default()
    });
    let start_rip = rip(&mut t).unwrap();
    t.select_vcpu(cpu1).unwrap();
    let cpu1_rip = rip(&mut t).unwrap();
    t.select_vcpu(CPU0).unwrap();
    // Another vCPU than the selected one: its registers are read while QEMU has it
    // selected after its stop, and the selection stays.
    let stop = step_vcpu(&mut t, cpu1);
    assert!(matches!(stop, StopReason::Signal { thread: Some(v), .. } if v == cpu1));
    assert_eq!(stub.stats().steps, 3);
    assert_eq!(t.selected_vcpu(), CPU0);
    assert_eq!(rip(&mut t), Some(start_rip));
    t.select_vcpu(cpu1).unwrap();
    assert_eq!(rip(&mut t), Some(cpu1_rip + 1));
    t.select_vcpu(CPU0).unwrap();
    step_once(&mut t);
    assert_eq!(stub.stats().steps, 4);
    assert_eq!(rip(&mut t), Some(start_rip + 1));
    drop(t);
    // A jump to itself never changes anything: given after the last retry.
    let (stub, mut t) = start(FakeConfig {
        stalled_steps: 100,
        ..FakeConfig::default()
    });
    step_once(&mut t);
    assert_eq!(stub.stats().steps, 1 + STALLED_STEP_RETRIES as u64);
    assert_eq!(rip(&mut t), Some(start_rip));
}

#[test]
fn steps_without_interrupts_unless_allowed() {
    let (stub, mut t) = start(FakeConfig::default());
    // A previous debugger left QEMU stepping with interrupts.
    stub.set_sstep_flags(1);
    step_once(&mut t);
    assert_eq!(stub.last_step_flags(), Some(7));
    assert_eq!(stub.stats().sstep_sets, 1);
    // Already set: nothing more is sent.
    step_once(&mut t);
    assert_eq!(stub.stats().sstep_sets, 1);
    t.set_step_interrupts(true).unwrap();
    assert_eq!(stub.stats().sstep_sets, 1, "applied lazily");
    step_once(&mut t);
    assert_eq!(stub.last_step_flags(), Some(1));
    t.set_step_interrupts(false).unwrap();
    step_once(&mut t);
    assert_eq!(stub.last_step_flags(), Some(7));
    assert_eq!(stub.stats().sstep_sets, 3);
    drop(t);
    // The flags are global to QEMU: restored as found.
    assert_eq!(stub.sstep_flags(), 1);
    assert_eq!(stub.stats().sstep_sets, 4);
}

#[test]
fn default_flags_need_no_packet_and_no_restore() {
    let (stub, mut t) = start(FakeConfig::default());
    step_once(&mut t);
    assert_eq!(stub.last_step_flags(), Some(7));
    drop(t);
    assert_eq!(stub.stats().sstep_sets, 0);
    assert_eq!(stub.sstep_flags(), 7);
}

#[test]
fn a_stub_without_step_flags_steps_anyway() {
    let cfg = FakeConfig {
        sstep_supported: false,
        ..FakeConfig::default()
    };
    let (stub, mut t) = start(cfg);
    step_once(&mut t);
    t.set_step_interrupts(true).unwrap();
    step_once(&mut t);
    drop(t);
    let st = stub.stats();
    assert_eq!((st.steps, st.sstep_sets, st.session_errors), (2, 0, 0));
}
