//! Run control: the stop state (`?`, stop replies), interrupt, resume and single steps
//! (with QEMU's single-step flags).

use super::{expect_ok, Client};
use crate::error::{BridgeError, Result};
use crate::rsp::frame::encode;
use crate::rsp::{monitor, resume, sstep, stop};
use crate::target::{RunState, StopReason, VcpuId};
use tokio::time::Instant;

impl Client {
    /// `?`: why the target is stopped.
    pub(super) async fn query_stop(&mut self) -> Result<StopReason> {
        let reply = self
            .exchange(&[b"?".to_vec()], true)
            .await?
            .pop()
            .unwrap_or_default();
        stop::parse_stop(&reply).map_err(BridgeError::from)
    }

    /// Stops a running target (`\x03`) and waits for the stop reply. A stopped target is left
    /// alone: QEMU does not answer `\x03` when already stopped.
    pub async fn interrupt(&mut self) -> Result<StopReason> {
        self.check_usable()?;
        if let RunState::Stopped(r) = &self.state {
            return Ok(r.clone());
        }
        let mut buf = Vec::new();
        buf.extend(std::iter::repeat_n(
            b'+',
            std::mem::take(&mut self.owed_acks),
        ));
        buf.push(0x03);
        self.write_raw(&buf).await?;
        self.wait_for_stop(Instant::now() + self.opts.timeout)
            .await?
            .ok_or_else(|| BridgeError::Timeout {
                what: "interrupt".into(),
                after: self.opts.timeout,
            })
    }

    /// Lets the target run (`c`); returns at once.
    pub async fn resume(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.state == RunState::Running {
            return Ok(());
        }
        self.write_packets(vec![encode(resume::CONTINUE)]).await?;
        self.state = RunState::Running;
        self.resumed = true;
        Ok(())
    }

    /// Whether single steps may let interrupts and timers in (`allow`), or step with QEMU's
    /// `NOIRQ|NOTIMER` (the default, so that a step lands on the next instruction rather than
    /// in an interrupt handler). Nothing is sent now: the flags are set before the next step.
    pub fn set_step_interrupts(&mut self, allow: bool) {
        if allow != self.step_interrupts {
            self.step_interrupts = allow;
            self.sstep_applied = false;
        }
    }

    /// Makes the stub's single-step flags what [`Client::set_step_interrupts`] asked for:
    /// `qqemu.sstepbits` (once), `qqemu.sstep`, and `Qqemu.sstep=` if they differ. A stub
    /// without these packets needs nothing.
    async fn apply_step_flags(&mut self) -> Result<()> {
        if self.sstep_applied {
            return Ok(());
        }
        let bits = match self.sstep_bits {
            Some(b) => b,
            None => {
                let reply = self.request(sstep::BITS_QUERY).await?;
                let b = sstep::parse_bits(&reply).map_err(BridgeError::from)?;
                tracing::debug!(?b, "single-step flags the stub offers");
                self.sstep_bits = Some(b);
                b
            }
        };
        let Some(bits) = bits else {
            self.sstep_applied = true;
            return Ok(());
        };
        let reply = self.request(sstep::QUERY).await?;
        let current = sstep::parse_flags(&reply).map_err(BridgeError::from)?;
        let wanted = bits.wanted(self.step_interrupts);
        // Bits the stub did not list (none in QEMU) are kept as found.
        let wanted = current.map_or(wanted, |c| (c & !bits.all()) | wanted);
        if current != Some(wanted) {
            let reply = self.request(&sstep::set_request(wanted)).await?;
            expect_ok(
                &reply,
                &format!("setting QEMU's single-step flags to {wanted:#x} (Qqemu.sstep)"),
            )?;
            if self.sstep_restore.is_none() {
                self.sstep_restore = current;
            }
        }
        tracing::debug!(
            current = ?current,
            wanted = format_args!("{wanted:#x}"),
            interrupts = self.step_interrupts,
            "single-step flags"
        );
        self.sstep_applied = true;
        Ok(())
    }

    /// Single-steps `id` alone (`vCont;s:<id>`, or `Hc<id>` then `s` if the stub has no
    /// `vCont` step); returns at once: [`Client::wait_for_stop`] gives the stop. QEMU resumes
    /// only the vCPUs a `vCont` names, so the others stay stopped.
    pub async fn step(&mut self, id: VcpuId) -> Result<()> {
        self.check_usable()?;
        if self.state == RunState::Running {
            return Err(BridgeError::Running);
        }
        self.apply_step_flags().await?;
        let vcont = match self.vcont {
            Some(v) => v,
            None => {
                let v = resume::parse_vcont_query(&self.request(resume::VCONT_QUERY).await?);
                tracing::debug!(?v, "vCont support");
                self.vcont = Some(v);
                v
            }
        };
        let step = if vcont.step {
            resume::vcont_step_request(id)
        } else {
            let reply = self.request(&resume::select_step_request(id)).await?;
            expect_ok(&reply, &format!("selecting vCPU {id} to step"))?;
            resume::STEP.to_vec()
        };
        self.write_packets(vec![encode(&step)]).await?;
        self.state = RunState::Running;
        self.resumed = true;
        Ok(())
    }

    /// Waits until `deadline` for a running target to report a stop; `None` if it did not.
    pub async fn wait_for_stop(&mut self, deadline: Instant) -> Result<Option<StopReason>> {
        if let RunState::Stopped(r) = &self.state {
            return Ok(Some(r.clone()));
        }
        self.check_usable()?;
        loop {
            let body = match self.recv_packet("stop reply", true, true, deadline).await {
                Ok(b) => b,
                Err(BridgeError::Timeout { .. }) => {
                    // Nothing arrived: the stream is still in step.
                    self.broken = None;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            if monitor::console_output(&body).is_some() {
                continue;
            }
            let reason = stop::parse_stop(&body).map_err(BridgeError::from)?;
            self.state = RunState::Stopped(reason.clone());
            return Ok(Some(reason));
        }
    }
}
