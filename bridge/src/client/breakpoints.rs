//! Breakpoints and watchpoints: `Z` and `z`.

use super::{expect_ok, Client};
use crate::error::{BridgeError, Result};
use crate::rsp::breakpoints;
use crate::target::BreakKind;
use crate::VirtAddr;

impl Client {
    /// Plants a breakpoint or watchpoint (`Z`).
    pub async fn insert_breakpoint(
        &mut self,
        kind: BreakKind,
        addr: VirtAddr,
        len: u64,
    ) -> Result<()> {
        let reply = self
            .request(&breakpoints::insert_request(kind, addr, len))
            .await?;
        expect_ok(&reply, &format!("planting a {kind} at {addr}"))
    }

    /// Removes a breakpoint or watchpoint (`z`), given as it was planted.
    pub async fn remove_breakpoint(
        &mut self,
        kind: BreakKind,
        addr: VirtAddr,
        len: u64,
    ) -> Result<()> {
        let reply = self
            .request(&breakpoints::remove_request(kind, addr, len))
            .await?;
        expect_ok(&reply, &format!("removing the {kind} at {addr}"))
    }

    /// Removes each `(kind, addr, len)` (`z`), pipelined; one result per point. Fails as a
    /// whole only if the connection does (or the target runs).
    pub async fn remove_breakpoints(
        &mut self,
        points: &[(BreakKind, VirtAddr, u64)],
    ) -> Result<Vec<Result<()>>> {
        if points.is_empty() {
            return Ok(Vec::new());
        }
        let bodies: Vec<Vec<u8>> = points
            .iter()
            .map(|&(k, a, n)| breakpoints::remove_request(k, a, n))
            .collect();
        let replies = match self.request_many(&bodies).await {
            Ok(r) => r,
            Err(e) if e.is_fatal() || matches!(e, BridgeError::Running) => return Err(e),
            // A corrupt reply somewhere: every reply was read; ask again one by one.
            Err(_) => {
                let mut out = Vec::with_capacity(points.len());
                for &(k, a, n) in points {
                    out.push(match self.remove_breakpoint(k, a, n).await {
                        Err(e) if e.is_fatal() => return Err(e),
                        r => r,
                    });
                }
                return Ok(out);
            }
        };
        Ok(points
            .iter()
            .zip(replies)
            .map(|(&(k, a, _), r)| expect_ok(&r, &format!("removing the {k} at {a}")))
            .collect())
    }
}
