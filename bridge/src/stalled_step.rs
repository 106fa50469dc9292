//! QEMU 7.2 (TCG) now and then answers a single step (`vCont;s`) with a stop before the vCPU
//! ran the instruction: every register is as it was, and the next step runs it. The bridge
//! keeps the registers a step started from and, when the stop shows nothing changed, sends
//! the step again, a bounded number of times. Nothing else leaves every register, `rip`
//! included, unchanged but a jump to itself, which is reported after the last retry. Without
//! registers to compare (no `rip`: a stub without a target description) nothing is checked.

use crate::regs::RegValues;
use crate::target::{StopReason, VcpuId};

/// The signal of a step's stop.
const SIGTRAP: u8 = 5;

/// How many more times a step that changed nothing is sent.
pub const STALLED_STEP_RETRIES: usize = 3;

/// A single step in flight: the vCPU, its registers before the step, the retries so far.
#[derive(Debug)]
pub(crate) struct StepInFlight {
    vcpu: VcpuId,
    before: RegValues,
    retries: usize,
}

impl StepInFlight {
    pub(crate) fn new(vcpu: VcpuId, before: RegValues) -> StepInFlight {
        StepInFlight {
            vcpu,
            before,
            retries: 0,
        }
    }

    pub(crate) fn vcpu(&self) -> VcpuId {
        self.vcpu
    }

    /// Whether `stop` may be this step having stalled, so that the registers must decide:
    /// a SIGTRAP of the stepped vCPU (no watchpoint), with retries left. Any other signal is
    /// a stop someone asked for (a monitor `stop`, Ctrl-C) and is never stepped past. A stop
    /// naming no vCPU counts only if the stepped one is `selected`, whose registers `g` then
    /// reads.
    pub(crate) fn may_have_stalled(&self, stop: &StopReason, selected: VcpuId) -> bool {
        let ours = match stop {
            StopReason::Signal {
                signal: SIGTRAP,
                thread,
                ..
            } => thread.unwrap_or(selected) == self.vcpu,
            StopReason::Signal { .. } | StopReason::Exited(_) | StopReason::Terminated(_) => false,
        };
        ours && stop.watch().is_none() && self.retries < STALLED_STEP_RETRIES
    }

    /// Whether the registers at the stop are those the step started from; a stall counts
    /// as a retry.
    pub(crate) fn stalled(&mut self, after: &RegValues) -> bool {
        let same = *after == self.before;
        if same {
            self.retries += 1;
        }
        same
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regs::RegDesc;

    const CPU0: VcpuId = VcpuId { pid: 1, tid: 1 };
    const CPU1: VcpuId = VcpuId { pid: 1, tid: 2 };

    fn regs(rip: u64) -> RegValues {
        RegValues {
            values: vec![(
                RegDesc {
                    name: "rip".into(),
                    bits: 64,
                    regnum: 16,
                    ty: "code_ptr".into(),
                    group: None,
                },
                rip.to_le_bytes().to_vec(),
            )],
        }
    }

    fn trap(thread: Option<VcpuId>, info: Vec<(String, String)>) -> StopReason {
        StopReason::Signal {
            signal: 5,
            thread,
            info,
        }
    }

    #[test]
    fn only_a_sigtrap_of_the_stepped_vcpu_is_checked() {
        let s = StepInFlight::new(CPU0, regs(1));
        assert!(s.may_have_stalled(&trap(Some(CPU0), vec![]), CPU1));
        assert!(s.may_have_stalled(&trap(None, vec![]), CPU0));
        assert!(!s.may_have_stalled(&trap(None, vec![]), CPU1));
        assert!(!s.may_have_stalled(&trap(Some(CPU1), vec![]), CPU0));
        let watch = vec![("watch".to_string(), "1000".to_string())];
        assert!(!s.may_have_stalled(&trap(Some(CPU0), watch), CPU0));
        let paused = StopReason::Signal {
            signal: 2,
            thread: Some(CPU0),
            info: Vec::new(),
        };
        assert!(!s.may_have_stalled(&paused, CPU0));
        assert!(!s.may_have_stalled(&StopReason::Exited(0), CPU0));
    }

    #[test]
    fn unchanged_registers_are_a_stall_and_retries_are_bounded() {
        let mut s = StepInFlight::new(CPU0, regs(1));
        assert!(!s.stalled(&regs(2)));
        for _ in 0..STALLED_STEP_RETRIES {
            assert!(s.may_have_stalled(&trap(Some(CPU0), vec![]), CPU0));
            assert!(s.stalled(&regs(1)));
        }
        assert!(!s.may_have_stalled(&trap(Some(CPU0), vec![]), CPU0));
    }
}
