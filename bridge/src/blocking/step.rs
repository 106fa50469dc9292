//! Single steps of [`BlockingTarget`], and the retry of a step QEMU stalled (see
//! [`crate::stalled_step`]).

use super::BlockingTarget;
use crate::error::{BridgeError, Result};
use crate::stalled_step::StepInFlight;
use crate::target::{StopReason, VcpuId};

impl BlockingTarget {
    /// Steps `vcpu`, remembering the registers it starts from to tell a stalled step.
    pub(super) fn start_step(&mut self, vcpu: VcpuId) -> Result<()> {
        if !self.vcpus.is_empty() && !self.vcpus.contains(&vcpu) {
            return Err(BridgeError::Invalid(format!("no vCPU {vcpu}")));
        }
        // Without the registers it started from (a stub without a target description has
        // none), a stalled step cannot be told.
        let before = match self.registers_of(vcpu) {
            Ok(r) => Some(r).filter(|r| r.get_u64("rip").is_some()),
            Err(e) if e.is_fatal() => return Err(e),
            Err(_) => None,
        };
        self.invalidate();
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        rt.block_on(c.step(vcpu))?;
        self.step = before.map(|b| StepInFlight::new(vcpu, b));
        Ok(())
    }

    /// Whether `stop` ends a step QEMU stalled, which is then sent again. Only a lost
    /// connection is an error: a reply the check cannot use gives the stop as it is.
    pub(super) fn step_again_if_stalled(
        &mut self,
        mut step: StepInFlight,
        stop: &StopReason,
    ) -> Result<bool> {
        if !step.may_have_stalled(stop, self.selected) {
            return Ok(false);
        }
        let BlockingTarget {
            rt, client, layout, ..
        } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        // QEMU selects the vCPU that stopped: `g` reads the stepped one.
        let after = match rt.block_on(c.read_registers(layout)) {
            Ok(r) => r,
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => {
                tracing::debug!("no stalled-step check: {e}");
                return Ok(false);
            }
        };
        if !step.stalled(&after) {
            self.remember_registers(step.vcpu(), after);
            return Ok(false);
        }
        tracing::debug!(
            vcpu = %step.vcpu(),
            "the step left every register as it was; stepping again"
        );
        match rt.block_on(c.step(step.vcpu())) {
            Ok(()) => {
                self.step = Some(step);
                Ok(true)
            }
            Err(e) if e.is_fatal() => Err(e),
            Err(e) => {
                // Refused: the stalled stop is the stop.
                tracing::debug!("stepping again failed: {e}");
                Ok(false)
            }
        }
    }
}
