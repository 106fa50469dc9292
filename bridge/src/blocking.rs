//! [`BlockingTarget`]: the synchronous [`Target`] over the async [`Client`].
//!
//! The mdb layer is plain synchronous code, like mdb's own; this adapter owns a single-threaded
//! tokio runtime and the page cache, and leaves the VM as it found it when dropped.

use crate::cache::PageCache;
use crate::client::{Client, ClientOptions, ClientStats};
use crate::error::{BridgeError, ChunkError, Result};
use crate::regs::{build_layout, includes, parse_description, RegLayout, RegValues, MAX_INCLUDES};
use crate::target::{RunState, StopReason, Target, TargetStatus, VcpuId, VcpuInfo};
use crate::{TargetMemory, VirtAddr};
use std::time::Duration;
use tokio::runtime::Runtime;

/// How to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub client: ClientOptions,
    /// Serve repeated reads from a page cache while the target is stopped.
    pub cache: bool,
    /// Whether the user allowed writes (`-w`).
    pub writable: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            client: ClientOptions::default(),
            cache: true,
            writable: false,
        }
    }
}

/// A live target behind a gdbstub.
pub struct BlockingTarget {
    rt: Runtime,
    client: Option<Client>,
    layout: RegLayout,
    vcpus: Vec<VcpuId>,
    selected: VcpuId,
    cache: Option<PageCache>,
    was_running_at_attach: bool,
    qemu_version: Option<String>,
    writable: bool,
}

impl BlockingTarget {
    /// Connects to `target` (`host:port`), learns the vCPUs and the register layout.
    pub fn connect(target: &str, opts: ConnectOptions) -> Result<BlockingTarget> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| BridgeError::Transport {
                target: target.to_string(),
                what: "could not start its runtime",
                source,
            })?;
        let mut client = rt.block_on(Client::connect(target, opts.client))?;
        let (layout, vcpus, version) = rt.block_on(async {
            let layout = if client.features().has("qXfer:features:read") {
                read_layout(&mut client).await?
            } else {
                RegLayout::default()
            };
            let vcpus = client.threads().await?;
            // A stub without a monitor is fine; a connection that died asking is not.
            let version = optional(client.monitor("info version").await)?;
            Ok::<_, BridgeError>((layout, vcpus, version))
        })?;
        let selected = match client.state() {
            RunState::Stopped(StopReason::Signal {
                thread: Some(t), ..
            }) => *t,
            _ => vcpus.first().copied().unwrap_or(VcpuId { pid: 1, tid: 1 }),
        };
        let was_running_at_attach = client.stopped_on_attach();
        tracing::debug!(was_running_at_attach, "attached");
        let mut t = BlockingTarget {
            rt,
            client: Some(client),
            layout,
            vcpus,
            selected,
            cache: opts.cache.then(|| PageCache::new(4096)),
            was_running_at_attach,
            qemu_version: version
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty()),
            writable: opts.writable,
        };
        t.select_vcpu(selected)?;
        Ok(t)
    }

    fn invalidate(&mut self) {
        if let Some(c) = self.cache.as_mut() {
            c.clear();
        }
    }

    /// Traffic counters of the connection.
    pub fn stats(&self) -> ClientStats {
        self.client.as_ref().map(Client::stats).unwrap_or_default()
    }

    /// Page-cache `(hits, misses)`.
    pub fn cache_counters(&self) -> (u64, u64) {
        self.cache
            .as_ref()
            .map(PageCache::counters)
            .unwrap_or_default()
    }

    /// Waits up to `timeout` for a running target to stop.
    pub fn wait_for_stop(&mut self, timeout: Duration) -> Result<Option<StopReason>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        rt.block_on(c.wait_for_stop(deadline))
    }

    /// Ends the session, leaving the VM as it was found: resumed if it was running when qmdb
    /// attached, stopped otherwise (stopping it first if it was resumed since).
    pub fn detach(&mut self) -> Result<()> {
        let resume = self.was_running_at_attach;
        if !resume && self.client.as_ref().map(Client::state) == Some(&RunState::Running) {
            self.interrupt()?;
        }
        self.close(resume)
    }

    /// Ends the session, resuming the VM or leaving it stopped.
    pub fn close(&mut self, resume: bool) -> Result<()> {
        match self.client.take() {
            Some(c) => self.rt.block_on(c.close(resume)),
            None => Ok(()),
        }
    }
}

impl Drop for BlockingTarget {
    fn drop(&mut self) {
        if let Err(e) = self.detach() {
            tracing::warn!("detach failed: {e}");
        }
    }
}

/// `Ok(None)` for a non-fatal error: the information is optional.
fn optional<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_fatal() => Err(e),
        Err(e) => {
            tracing::debug!("optional request failed: {e}");
            Ok(None)
        }
    }
}

async fn read_layout(client: &mut Client) -> Result<RegLayout> {
    let root = client.xfer_read("features", "target.xml").await?;
    let root = String::from_utf8_lossy(&root).into_owned();
    // build_layout is synchronous; fetch the includes first, then build.
    let mut files = Vec::new();
    let items = parse_description(&root).map_err(BridgeError::Protocol)?;
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
    build_layout(&root, |href| {
        files
            .iter()
            .find(|(h, _)| h == href)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| format!("{href} could not be read"))
    })
    .map_err(BridgeError::Protocol)
}

impl TargetMemory for BlockingTarget {
    fn max_request(&self) -> usize {
        self.client.as_ref().map(Client::max_read).unwrap_or(1)
    }

    fn read_chunks(
        &mut self,
        reqs: &[(VirtAddr, usize)],
    ) -> Result<Vec<std::result::Result<Vec<u8>, ChunkError>>> {
        let max = self.max_request();
        let BlockingTarget {
            rt, client, cache, ..
        } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        // Memory of a running guest changes under us: never cache it.
        let running = c.state() == &RunState::Running;
        match cache {
            Some(cache) if !running => {
                cache.read(reqs, max, |wire| rt.block_on(c.read_memory(wire)))
            }
            _ => rt.block_on(c.read_memory(reqs)),
        }
    }
}

impl Target for BlockingTarget {
    fn status(&mut self) -> Result<TargetStatus> {
        let c = self.client.as_ref().ok_or(BridgeError::Disconnected)?;
        Ok(TargetStatus {
            target: c.target().to_string(),
            state: c.state().clone(),
            was_running_at_attach: self.was_running_at_attach,
            vcpus: self.vcpus.len(),
            selected: self.selected,
            packet_size: c.packet_size(),
            qemu_version: self.qemu_version.clone(),
            writable: self.writable,
        })
    }

    fn vcpus(&mut self) -> Result<Vec<VcpuInfo>> {
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        let (ids, extra) = rt.block_on(async {
            let ids = c.threads().await?;
            let extra = c.thread_extra_info(&ids).await?;
            Ok::<_, BridgeError>((ids, extra))
        })?;
        self.vcpus = ids.clone();
        Ok(ids
            .into_iter()
            .zip(extra)
            .map(|(id, extra)| VcpuInfo { id, extra })
            .collect())
    }

    fn selected_vcpu(&self) -> VcpuId {
        self.selected
    }

    fn select_vcpu(&mut self, id: VcpuId) -> Result<()> {
        if !self.vcpus.is_empty() && !self.vcpus.contains(&id) {
            return Err(BridgeError::Invalid(format!("no vCPU {id}")));
        }
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        rt.block_on(c.select_thread(id))?;
        if self.selected != id {
            // Another vCPU may translate addresses through other page tables.
            self.invalidate();
        }
        self.selected = id;
        Ok(())
    }

    fn register_layout(&self) -> &RegLayout {
        &self.layout
    }

    fn read_registers(&mut self) -> Result<RegValues> {
        let BlockingTarget {
            rt, client, layout, ..
        } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        rt.block_on(c.read_registers(layout))
    }

    fn monitor(&mut self, cmd: &str) -> Result<String> {
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        let out = rt.block_on(c.monitor(cmd))?;
        // A monitor command can change anything (memory, run state).
        self.invalidate();
        Ok(out)
    }

    fn interrupt(&mut self) -> Result<StopReason> {
        self.invalidate();
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        rt.block_on(c.interrupt())
    }

    fn resume(&mut self) -> Result<()> {
        self.invalidate();
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        rt.block_on(c.resume())
    }
}
