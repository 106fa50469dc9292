//! [`BlockingTarget`]: the synchronous [`Target`] over the async [`Client`].
//!
//! The mdb layer is plain synchronous code, like mdb's own; this adapter owns a single-threaded
//! tokio runtime and the page cache, and leaves the VM as it found it when dropped. Its jobs
//! are split by concept: `registers` (the per-stop register cache and the register layout),
//! `breakpoints` (the ledger of points planted, removed at the end of the session), `step`
//! (the stalled-step retry), `phys` (physical reads and page walks) and `pti` (kernel reads
//! under page-table isolation).

mod breakpoints;
pub(crate) mod phys;
mod registers;
mod step;
#[cfg(test)]
mod tests;

use crate::arch::x86_64::pti::KernelView;
use crate::cache::PageCache;
use crate::client::{Client, ClientOptions, ClientStats};
use crate::error::{BridgeError, ChunkError, Result};
use crate::paging::{is_kernel_half, Translation, WalkFault};
use crate::regs::{RegLayout, RegValues};
use crate::stalled_step::StepInFlight;
use crate::target::{BreakKind, RunState, StopReason, Target, TargetStatus, VcpuId, VcpuInfo};
use crate::{TargetMemory, VirtAddr};
use phys::{phys_exact, Io};
use registers::read_layout;
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
    pub(crate) rt: Runtime,
    pub(crate) client: Option<Client>,
    pub(crate) layout: RegLayout,
    vcpus: Vec<VcpuId>,
    selected: VcpuId,
    cache: Option<PageCache>,
    /// The PTI fallback's per-stop state.
    pub(crate) kernel: KernelView,
    was_running_at_attach: bool,
    qemu_version: Option<String>,
    writable: bool,
    /// The stub's target description as served: `(annex, text)`, `target.xml` first.
    description: Vec<(String, String)>,
    /// Breakpoints and watchpoints planted and not removed, in planting order (the same one
    /// may be planted twice, and is then removed twice).
    planted: Vec<(BreakKind, VirtAddr, u64)>,
    /// The registers of one vCPU as read since the last stop (with the page cache on).
    regs: Option<(VcpuId, RegValues)>,
    /// The single step in flight, to send again if QEMU stalls it.
    step: Option<StepInFlight>,
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
        let (layout, description, vcpus, version) = rt.block_on(async {
            let (layout, description) = if client.features().has("qXfer:features:read") {
                read_layout(&mut client).await?
            } else {
                (RegLayout::default(), Vec::new())
            };
            let vcpus = client.threads().await?;
            // A stub without a monitor is fine; a connection that died asking is not.
            let version = optional(client.monitor("info version").await)?;
            Ok::<_, BridgeError>((layout, description, vcpus, version))
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
            kernel: KernelView::new(opts.cache),
            was_running_at_attach,
            qemu_version: version
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty()),
            writable: opts.writable,
            description,
            planted: Vec::new(),
            regs: None,
            step: None,
        };
        t.select_vcpu(selected)?;
        Ok(t)
    }

    fn invalidate(&mut self) {
        if let Some(c) = self.cache.as_mut() {
            c.clear();
        }
        self.regs = None;
        self.step = None;
        self.kernel.clear();
    }

    /// Traffic counters of the connection, with the PTI fallback's count.
    pub fn stats(&self) -> ClientStats {
        let mut s = self.client.as_ref().map(Client::stats).unwrap_or_default();
        s.pti_fallback_reads = self.kernel.served;
        s
    }

    /// Page-cache `(hits, misses)`.
    pub fn cache_counters(&self) -> (u64, u64) {
        self.cache
            .as_ref()
            .map(PageCache::counters)
            .unwrap_or_default()
    }

    /// Waits up to `timeout` for a running target to stop. A single step QEMU stalled (see
    /// [`crate::stalled_step`]) is sent again and is not a stop yet.
    pub fn wait_for_stop(&mut self, timeout: Duration) -> Result<Option<StopReason>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        let Some(stop) = rt.block_on(c.wait_for_stop(deadline))? else {
            return Ok(None);
        };
        if let Some(step) = self.step.take() {
            if self.step_again_if_stalled(step, &stop)? {
                return Ok(None);
            }
        }
        self.reselect_after(&stop)?;
        Ok(Some(stop))
    }

    /// QEMU makes the vCPU that stopped its selected one (`Hg`): select ours again, so that
    /// registers and memory stay those of [`Target::selected_vcpu`].
    fn reselect_after(&mut self, stop: &StopReason) -> Result<()> {
        if let StopReason::Signal {
            thread: Some(t), ..
        } = stop
        {
            if *t == self.selected {
                return Ok(());
            }
        }
        if !matches!(stop, StopReason::Signal { .. }) {
            return Ok(());
        }
        let BlockingTarget {
            rt,
            client,
            selected,
            ..
        } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        rt.block_on(c.select_thread(*selected))
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

    /// Ends the session, resuming the VM or leaving it stopped, after removing every
    /// breakpoint and watchpoint still planted (stopping a running VM to do so).
    pub fn close(&mut self, resume: bool) -> Result<()> {
        self.invalidate();
        let removed = self.remove_all_planted();
        let closed = match self.client.take() {
            Some(c) => self.rt.block_on(c.close(resume)),
            None => Ok(()),
        };
        removed.and(closed)
    }
}

impl Drop for BlockingTarget {
    fn drop(&mut self) {
        let st = self.stats();
        tracing::debug!(
            packets_sent = st.packets_sent,
            packets_received = st.packets_received,
            bytes_sent = st.bytes_sent,
            bytes_received = st.bytes_received,
            round_trips = st.round_trips,
            phys_reads = st.phys_reads,
            pti_fallback_reads = st.pti_fallback_reads,
            "session stats"
        );
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
            rt,
            client,
            cache,
            layout,
            kernel,
            ..
        } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        // Memory of a running guest changes under us: never cache it.
        let running = c.state() == &RunState::Running;
        let mut io = Io { rt, client: c };
        let mut fetch = |wire: &[(VirtAddr, usize)]| {
            let mut replies = io.rt.block_on(io.client.read_memory(wire))?;
            if !running {
                kernel.recover(&mut io, layout, wire, &mut replies)?;
            }
            Ok(replies)
        };
        match cache {
            Some(cache) if !running => cache.read(reqs, max, fetch),
            _ => fetch(reqs),
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
        self.selected_registers()
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
        let was_running = c.state() == &RunState::Running;
        let stop = rt.block_on(c.interrupt())?;
        if was_running {
            self.reselect_after(&stop)?;
        }
        Ok(stop)
    }

    fn resume(&mut self) -> Result<()> {
        self.invalidate();
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        rt.block_on(c.resume())
    }

    fn wait_for_stop(&mut self, timeout: Duration) -> Result<Option<StopReason>> {
        BlockingTarget::wait_for_stop(self, timeout)
    }

    fn close(&mut self, resume: bool) -> Result<()> {
        self.invalidate();
        BlockingTarget::close(self, resume)
    }

    fn insert_breakpoint(&mut self, kind: BreakKind, addr: VirtAddr, len: u64) -> Result<()> {
        self.plant(kind, addr, len)
    }

    fn remove_breakpoint(&mut self, kind: BreakKind, addr: VirtAddr, len: u64) -> Result<()> {
        self.unplant(kind, addr, len)
    }

    fn planted(&self) -> Vec<(BreakKind, VirtAddr, u64)> {
        self.planted.clone()
    }

    fn set_step_interrupts(&mut self, allow: bool) -> Result<()> {
        let c = self.client.as_mut().ok_or(BridgeError::Disconnected)?;
        c.set_step_interrupts(allow);
        Ok(())
    }

    fn step(&mut self, vcpu: VcpuId) -> Result<()> {
        self.start_step(vcpu)
    }

    fn write_memory(&mut self, addr: VirtAddr, data: &[u8]) -> Result<()> {
        if !self.writable {
            return Err(BridgeError::Refused(format!(
                "writing {} bytes at {addr}: the session is read-only (use -w)",
                data.len()
            )));
        }
        // Whatever was cached may be what is being overwritten; page tables too.
        self.invalidate();
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        rt.block_on(c.write_memory(addr, data))
    }

    fn write_register(&mut self, regnum: u32, value: &[u8]) -> Result<()> {
        let name = self
            .layout
            .regs
            .iter()
            .find(|r| r.regnum == regnum)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| format!("#{regnum}"));
        if !self.writable {
            return Err(BridgeError::Refused(format!(
                "writing register {name}: the session is read-only (use -w)"
            )));
        }
        // CR3 and friends change how addresses translate.
        self.invalidate();
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        rt.block_on(c.write_register(regnum, value))
    }

    fn target_description(&mut self, annex: &str) -> Result<String> {
        if self.description.is_empty() {
            return Err(BridgeError::Unsupported("target descriptions".into()));
        }
        self.description
            .iter()
            .find(|(a, _)| a == annex)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| BridgeError::Invalid(format!("no target description file {annex:?}")))
    }

    fn read_physical(&mut self, addr: u64, len: usize) -> Result<Vec<u8>> {
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        let mut io = Io { rt, client: c };
        phys_exact(&mut io, None, addr, len)
    }

    fn translate(&mut self, va: VirtAddr) -> Result<std::result::Result<Translation, WalkFault>> {
        let root = match self.pti_kernel_root()? {
            Some(k) if is_kernel_half(va) => k,
            _ => self.page_table_root()?,
        };
        self.translate_with(root, va)
    }
}
