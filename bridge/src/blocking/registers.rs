//! The register side of [`BlockingTarget`]: registers are read once per stop (with the page
//! cache on), and the register layout comes from the stub's target description.

use super::BlockingTarget;
use crate::client::Client;
use crate::error::{BridgeError, Result};
use crate::regs::{build_layout, includes, parse_description, RegLayout, RegValues, MAX_INCLUDES};
use crate::target::{RunState, VcpuId};

/// An include of the target description that was not among the files read over qXfer.
#[derive(Debug, thiserror::Error)]
#[error("not among the files read over qXfer")]
struct NotFetched;

impl BlockingTarget {
    /// Keeps `regs`, read at this stop, for the next [`crate::Target::read_registers`] of `vcpu`
    /// when it is the selected one and the cache is on. Resuming or writing drops them.
    pub(super) fn remember_registers(&mut self, vcpu: VcpuId, regs: RegValues) {
        if vcpu == self.selected && self.cache.is_some() {
            self.regs = Some((vcpu, regs));
        }
    }

    /// The registers of `vcpu`, leaving the selection as it was.
    pub(super) fn registers_of(&mut self, vcpu: VcpuId) -> Result<RegValues> {
        if vcpu == self.selected {
            return self.selected_registers();
        }
        let BlockingTarget {
            rt,
            client,
            layout,
            selected,
            ..
        } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        rt.block_on(async {
            let regs = match c.select_thread(vcpu).await {
                Ok(()) => c.read_registers(layout).await,
                Err(e) => Err(e),
            };
            let back = c.select_thread(*selected).await;
            let regs = regs?;
            back?;
            Ok(regs)
        })
    }

    /// The selected vCPU's registers: those read at this stop, else read now (and kept).
    pub(super) fn selected_registers(&mut self) -> Result<RegValues> {
        if let Some((vcpu, regs)) = &self.regs {
            if *vcpu == self.selected {
                return Ok(regs.clone());
            }
        }
        let BlockingTarget {
            rt, client, layout, ..
        } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        let regs = rt.block_on(c.read_registers(layout))?;
        if !matches!(c.state(), RunState::Running) {
            self.remember_registers(self.selected, regs.clone());
        }
        Ok(regs)
    }
}

/// The register layout and the description's files (`target.xml` first) as served.
pub(super) async fn read_layout(client: &mut Client) -> Result<(RegLayout, Vec<(String, String)>)> {
    let root = client.xfer_read("features", "target.xml").await?;
    let root = String::from_utf8_lossy(&root).into_owned();
    // build_layout is synchronous; fetch the includes first, then build.
    let mut files = Vec::new();
    let items = parse_description(&root)?;
    let mut queue: Vec<String> = includes(&items).map(str::to_string).collect();
    while let Some(href) = queue.pop() {
        if files.len() >= MAX_INCLUDES {
            break;
        }
        if files.iter().any(|(h, _)| h == &href) {
            continue;
        }
        let text = client.xfer_read("features", &href).await?;
        let text = String::from_utf8_lossy(&text).into_owned();
        if let Ok(items) = parse_description(&text) {
            queue.extend(includes(&items).map(str::to_string));
        }
        files.push((href, text));
    }
    let layout = build_layout(&root, |href| {
        files
            .iter()
            .find(|(h, _)| h == href)
            .map(|(_, t)| t.clone())
            .ok_or(NotFetched)
    })?;
    files.insert(0, ("target.xml".to_string(), root));
    Ok((layout, files))
}
