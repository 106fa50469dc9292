//! The breakpoint ledger of [`BlockingTarget`].
//!
//! Every breakpoint and watchpoint planted through [`crate::Target::insert_breakpoint`] is remembered
//! until [`crate::Target::remove_breakpoint`] removes it ([`crate::Target::planted`] lists them). Ending the
//! session ([`BlockingTarget::detach`], [`BlockingTarget::close`], and so dropping the target,
//! whatever error led there) removes those left: a running VM is stopped first with `\x03`
//! (QEMU takes any other packet sent while it runs as a request to stop, and drops it), then
//! every point is removed with `z` (pipelined), then the VM is resumed or left stopped as the
//! session's end decides. QEMU would drop them itself on `D`, but not when the connection
//! merely closes (the VM left stopped), and a stale breakpoint would stop the guest after a
//! later `cont` from its monitor.

use super::BlockingTarget;
use crate::error::{BridgeError, Result};
use crate::target::{BreakKind, RunState};
use crate::VirtAddr;

impl BlockingTarget {
    /// Plants a point (`Z`) and records it unless the stub clearly refused it.
    pub(super) fn plant(&mut self, kind: BreakKind, addr: VirtAddr, len: u64) -> Result<()> {
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        let r = rt.block_on(c.insert_breakpoint(kind, addr, len));
        // A lost connection may have planted it (QEMU drops points when the next client
        // connects): only a clear answer says it is not there.
        if !matches!(
            r,
            Err(BridgeError::Remote { .. }
                | BridgeError::Unsupported(_)
                | BridgeError::Running
                | BridgeError::Refused(_)
                | BridgeError::Invalid(_))
        ) {
            self.planted.push((kind, addr, len));
        }
        r
    }

    /// Removes a point (`z`) and forgets it once it is surely gone.
    pub(super) fn unplant(&mut self, kind: BreakKind, addr: VirtAddr, len: u64) -> Result<()> {
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        let r = rt.block_on(c.remove_breakpoint(kind, addr, len));
        // Removed, or the stub says it has no such point: either way it is not planted.
        if matches!(r, Ok(()) | Err(BridgeError::Remote { .. })) {
            self.forget(kind, addr, len);
        }
        r
    }

    /// Removes every point still planted, stopping a running VM first. The points are
    /// forgotten whatever happens (a second attempt could only fail the same way); each
    /// failure is logged and the first one returned.
    pub(super) fn remove_all_planted(&mut self) -> Result<()> {
        let points = std::mem::take(&mut self.planted);
        if points.is_empty() {
            return Ok(());
        }
        let BlockingTarget { rt, client, .. } = self;
        let Some(c) = client.as_mut() else {
            return Ok(());
        };
        let res = rt.block_on(async {
            if c.state() == &RunState::Running {
                c.interrupt().await?;
            }
            c.remove_breakpoints(&points).await
        });
        let results = match res {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    points = points.len(),
                    "could not remove the breakpoints and watchpoints left: {e}"
                );
                return Err(e);
            }
        };
        let mut first = None;
        for ((kind, addr, len), r) in points.iter().zip(results) {
            match r {
                Ok(()) => tracing::debug!(%kind, %addr, len, "removed at the end of the session"),
                Err(e) => {
                    tracing::warn!("{e}");
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Forgets one planted point matching `(kind, addr, len)`: the exact one, else (for a
    /// breakpoint, which the stub matches by address) one at the same address.
    fn forget(&mut self, kind: BreakKind, addr: VirtAddr, len: u64) {
        let i = self
            .planted
            .iter()
            .position(|&p| p == (kind, addr, len))
            .or_else(|| {
                self.planted
                    .iter()
                    .position(|&(k, a, _)| !kind.is_watchpoint() && k == kind && a == addr)
            });
        if let Some(i) = i {
            self.planted.remove(i);
        }
    }
}
