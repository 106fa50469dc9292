//! [`BlockingTarget`]: the synchronous [`Target`] over the async [`Client`].
//!
//! The mdb layer is plain synchronous code, like mdb's own; this adapter owns a single-threaded
//! tokio runtime and the page cache, and leaves the VM as it found it when dropped.
//!
//! # Kernel reads under page-table isolation
//!
//! QEMU translates `m` addresses through the selected vCPU's current page tables. With Linux's
//! PTI, a vCPU stopped in user mode (or in the kernel entry code before the CR3 switch) runs
//! on the *user* PGD, which maps almost no kernel memory, so reads of task structs and stacks
//! fail with `E14`. When a read of a kernel-half address faults, the selected vCPU's CR3 has
//! the PTI user bit (bit 12) and the PGD page pair passes [`paging::pti_pair_plausible`],
//! the faulting requests are retried by walking the kernel PGD (`CR3 & !(1 << 12)`) with
//! [`paging::translate`] and reading guest-physical memory (`Qqemu.PhyMemMode`, see
//! [`Client::read_physical`]). The decision, the page-table pages and the page translations
//! are kept for the current stop and dropped with the page cache (resume, interrupt, vCPU
//! switch, monitor command). [`ClientStats::pti_fallback_reads`] counts the requests served
//! this way.
//!
//! # Events never outlive the session
//!
//! Every breakpoint and watchpoint planted through [`Target::insert_breakpoint`] is remembered
//! until [`Target::remove_breakpoint`] removes it ([`Target::planted`] lists them). Ending the
//! session ([`BlockingTarget::detach`], [`BlockingTarget::close`], and so dropping the target,
//! whatever error led there) removes those left: a running VM is stopped first with `\x03`
//! (QEMU takes any other packet sent while it runs as a request to stop, and drops it), then
//! every point is removed with `z` (pipelined), then the VM is resumed or left stopped as the
//! session's end decides. QEMU would drop them itself on `D`, but not when the connection
//! merely closes (the VM left stopped), and a stale breakpoint would stop the guest after a
//! later `cont` from its monitor.

use crate::cache::{ChunkReplies, PageCache};
use crate::client::{Client, ClientOptions, ClientStats};
use crate::error::{BridgeError, ChunkError, Result};
use crate::paging::{self, is_kernel_half, PageTableRoot, Translation, WalkError, WalkFault};
use crate::regs::{build_layout, includes, parse_description, RegLayout, RegValues, MAX_INCLUDES};
use crate::stalled_step::StepInFlight;
use crate::target::{BreakKind, RunState, StopReason, Target, TargetStatus, VcpuId, VcpuInfo};
use crate::{TargetMemory, VirtAddr};
use std::collections::HashMap;
use std::time::Duration;
use tokio::runtime::Runtime;

/// Page translations kept per stop before starting over.
const MAX_TRANSLATIONS: usize = 1 << 16;

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
    /// The PTI fallback's per-stop state.
    kernel: KernelView,
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

    /// The page tables of the selected vCPU: its CR3 (PCID and flag bits masked) and CR4.LA57.
    pub fn page_table_root(&mut self) -> Result<PageTableRoot> {
        let regs = Target::read_registers(self)?;
        let cr3 = regs
            .get_u64("cr3")
            .ok_or_else(|| BridgeError::Unsupported("reading cr3".into()))?;
        Ok(PageTableRoot::from_cr3(
            cr3,
            regs.get_u64("cr4").unwrap_or(0),
        ))
    }

    /// The kernel page tables paired with the selected vCPU's PTI user PGD, if its CR3 holds
    /// one during this stop (see the module docs); `None` otherwise (no PTI, kernel CR3,
    /// running target, or no physical reads).
    pub fn pti_kernel_root(&mut self) -> Result<Option<PageTableRoot>> {
        let BlockingTarget {
            rt,
            client,
            layout,
            kernel,
            ..
        } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        if c.state() == &RunState::Running {
            return Ok(None);
        }
        let mut io = Io { rt, client: c };
        kernel.kernel_root(&mut io, layout)
    }

    /// Walks the page tables at `root` for `va`, reading entries from guest-physical memory.
    /// `Ok(Err(fault))` when `va` has no translation there.
    pub fn translate_with(
        &mut self,
        root: PageTableRoot,
        va: VirtAddr,
    ) -> Result<std::result::Result<Translation, WalkFault>> {
        let BlockingTarget {
            rt, client, kernel, ..
        } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        let running = c.state() == &RunState::Running;
        let mut io = Io { rt, client: c };
        let tables = if running {
            None
        } else {
            kernel.tables.as_mut()
        };
        match walk(&mut io, tables, root, va) {
            Ok(t) => Ok(Ok(t)),
            Err(WalkError::Fault(f)) => Ok(Err(f)),
            Err(WalkError::Read { error, .. }) => Err(error),
        }
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

    /// Whether `stop` ends a step QEMU stalled, which is then sent again. Only a lost
    /// connection is an error: a reply the check cannot use gives the stop as it is.
    fn step_again_if_stalled(&mut self, mut step: StepInFlight, stop: &StopReason) -> Result<bool> {
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

    /// Keeps `regs`, read at this stop, for the next [`Target::read_registers`] of `vcpu`
    /// when it is the selected one and the cache is on. Resuming or writing drops them.
    fn remember_registers(&mut self, vcpu: VcpuId, regs: RegValues) {
        if vcpu == self.selected && self.cache.is_some() {
            self.regs = Some((vcpu, regs));
        }
    }

    /// The registers of `vcpu`, leaving the selection as it was.
    fn registers_of(&mut self, vcpu: VcpuId) -> Result<RegValues> {
        if vcpu == self.selected {
            return self.read_registers();
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

    /// Removes every point still planted, stopping a running VM first. The points are
    /// forgotten whatever happens (a second attempt could only fail the same way); each
    /// failure is logged and the first one returned.
    fn remove_all_planted(&mut self) -> Result<()> {
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

/// The register layout and the description's files (`target.xml` first) as served.
async fn read_layout(client: &mut Client) -> Result<(RegLayout, Vec<(String, String)>)> {
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
    let layout = build_layout(&root, |href| {
        files
            .iter()
            .find(|(h, _)| h == href)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| format!("{href} could not be read"))
    })
    .map_err(BridgeError::Protocol)?;
    files.insert(0, ("target.xml".to_string(), root));
    Ok((layout, files))
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

    fn remove_breakpoint(&mut self, kind: BreakKind, addr: VirtAddr, len: u64) -> Result<()> {
        let BlockingTarget { rt, client, .. } = self;
        let c = client.as_mut().ok_or(BridgeError::Disconnected)?;
        let r = rt.block_on(c.remove_breakpoint(kind, addr, len));
        // Removed, or the stub says it has no such point: either way it is not planted.
        if matches!(r, Ok(()) | Err(BridgeError::Remote { .. })) {
            self.forget(kind, addr, len);
        }
        r
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

/// The connection, borrowed for one operation.
struct Io<'a> {
    rt: &'a Runtime,
    client: &'a mut Client,
}

impl Io<'_> {
    /// Physical reads (each at most a packet), through `tables` if given.
    fn phys(
        &mut self,
        tables: Option<&mut PageCache>,
        reqs: &[(u64, usize)],
    ) -> Result<ChunkReplies> {
        let Io { rt, client } = self;
        match tables {
            Some(cache) => {
                let wire: Vec<(VirtAddr, usize)> =
                    reqs.iter().map(|&(a, n)| (VirtAddr(a), n)).collect();
                let max = client.max_read();
                cache.read(&wire, max, |w| {
                    let w: Vec<(u64, usize)> = w.iter().map(|&(a, n)| (a.0, n)).collect();
                    rt.block_on(client.read_physical(&w))
                })
            }
            None => rt.block_on(client.read_physical(reqs)),
        }
    }
}

/// What an `E NN` reply carried, for error messages.
fn errno_of(e: ChunkError) -> u8 {
    match e {
        ChunkError::NoMapping => 0x14,
        ChunkError::TooLarge => 0x22,
        ChunkError::Errno(n) => n,
    }
}

/// Reads exactly `len` bytes of physical memory at `addr` (in packet-sized pieces, pipelined),
/// or fails naming the first piece that could not be read.
fn phys_exact(
    io: &mut Io<'_>,
    tables: Option<&mut PageCache>,
    addr: u64,
    len: usize,
) -> Result<Vec<u8>> {
    let max = io.client.max_read().max(1);
    let mut reqs = Vec::with_capacity(len / max + 1);
    let mut off = 0usize;
    while off < len {
        let n = max.min(len - off);
        let a = addr.checked_add(off as u64).ok_or_else(|| {
            BridgeError::Invalid(format!(
                "{len} bytes at physical {addr:#x} run past the end of the address space"
            ))
        })?;
        reqs.push((a, n));
        off += n;
    }
    let replies = io.phys(tables, &reqs)?;
    let mut out = Vec::with_capacity(len);
    for (&(a, n), r) in reqs.iter().zip(replies) {
        match r {
            Ok(b) if b.len() == n => out.extend_from_slice(&b),
            Ok(b) => {
                return Err(BridgeError::Protocol(format!(
                    "asked for {n} bytes at physical {a:#x}, got {}",
                    b.len()
                )))
            }
            Err(e) => {
                return Err(BridgeError::Remote {
                    what: format!("reading {n} bytes at physical {a:#x}"),
                    errno: errno_of(e),
                })
            }
        }
    }
    Ok(out)
}

/// Walks `root` for `va`, reading entries from physical memory through `tables` if given.
fn walk(
    io: &mut Io<'_>,
    mut tables: Option<&mut PageCache>,
    root: PageTableRoot,
    va: VirtAddr,
) -> std::result::Result<Translation, WalkError<BridgeError>> {
    paging::translate(
        &mut |pa| {
            let b = phys_exact(io, tables.as_deref_mut(), pa, 8)?;
            let b: [u8; 8] = b.try_into().map_err(|_| {
                BridgeError::Protocol(format!("short read of a page-table entry at {pa:#x}"))
            })?;
            Ok(u64::from_le_bytes(b))
        },
        root,
        va,
    )
}

/// Whether this stop's kernel reads can use the kernel page tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KernelRoot {
    /// Not looked at yet during this stop.
    Unknown,
    /// Not applicable during this stop.
    Unavailable,
    /// The selected vCPU's CR3 holds a PTI user PGD; its kernel twin is `kernel`.
    Pti { kernel: PageTableRoot },
}

/// The PTI fallback's state for the current stop (see the module docs).
struct KernelView {
    root: KernelRoot,
    /// 4 KiB-aligned kernel virtual address → physical page, or `None` if unmapped.
    translations: HashMap<u64, Option<u64>>,
    /// Page-table pages by physical address, when caching is on.
    tables: Option<PageCache>,
    /// Whether translations are kept (caching is on).
    keep: bool,
    /// Requests served through the kernel page tables, over the whole session.
    served: u64,
}

impl KernelView {
    fn new(cache: bool) -> KernelView {
        KernelView {
            root: KernelRoot::Unknown,
            translations: HashMap::new(),
            tables: cache.then(|| PageCache::new(paging::PAGE_SIZE_4K)),
            keep: cache,
            served: 0,
        }
    }

    /// Forgets this stop.
    fn clear(&mut self) {
        self.root = KernelRoot::Unknown;
        self.translations.clear();
        if let Some(t) = self.tables.as_mut() {
            t.clear();
        }
    }

    /// The kernel root for this stop, deciding it on first use.
    fn kernel_root(
        &mut self,
        io: &mut Io<'_>,
        layout: &RegLayout,
    ) -> Result<Option<PageTableRoot>> {
        if self.root == KernelRoot::Unknown {
            self.root = match self.decide(io, layout) {
                Ok(r) => r,
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    tracing::debug!("no PTI fallback during this stop: {e}");
                    KernelRoot::Unavailable
                }
            };
        }
        Ok(match self.root {
            KernelRoot::Pti { kernel, .. } => Some(kernel),
            _ => None,
        })
    }

    fn decide(&mut self, io: &mut Io<'_>, layout: &RegLayout) -> Result<KernelRoot> {
        let regs = io.rt.block_on(io.client.read_registers(layout))?;
        let (Some(cr3), Some(cs)) = (regs.get_u64("cr3"), regs.get_u64("cs")) else {
            tracing::debug!("no PTI fallback: the stub gives no cr3/cs");
            return Ok(KernelRoot::Unavailable);
        };
        let user = PageTableRoot::from_cr3(cr3, regs.get_u64("cr4").unwrap_or(0));
        if !user.has_pti_user_bit() {
            tracing::debug!(
                cr3 = format_args!("{cr3:#x}"),
                cs = format_args!("{cs:#x}"),
                "no PTI fallback: CR3 is not a PTI user PGD"
            );
            return Ok(KernelRoot::Unavailable);
        }
        if !io.rt.block_on(io.client.supports_phys_mem())? {
            tracing::debug!("no PTI fallback: the stub cannot read physical memory");
            return Ok(KernelRoot::Unavailable);
        }
        let kernel = user.pti_kernel();
        let size = paging::ENTRIES_PER_TABLE * 8;
        let k = phys_exact(io, self.tables.as_mut(), kernel.pgd_phys, size)?;
        let u = phys_exact(io, self.tables.as_mut(), user.pgd_phys, size)?;
        if !paging::pti_pair_plausible(&paging::parse_table(&k), &paging::parse_table(&u)) {
            tracing::debug!(
                cr3 = format_args!("{cr3:#x}"),
                "no PTI fallback: the PGD at CR3 and its twin do not look like a PTI pair"
            );
            return Ok(KernelRoot::Unavailable);
        }
        tracing::debug!(
            cr3 = format_args!("{cr3:#x}"),
            cs = format_args!("{cs:#x}"),
            user_mode = cs & 3 != 0,
            kernel_pgd = format_args!("{:#x}", kernel.pgd_phys),
            "the selected vCPU runs on a PTI user PGD: kernel reads that fault will use the kernel page tables"
        );
        Ok(KernelRoot::Pti { kernel })
    }

    /// The physical page of the 4 KiB-aligned kernel address `page`, or `None` if the kernel
    /// page tables do not map it.
    fn translate_page(
        &mut self,
        io: &mut Io<'_>,
        root: PageTableRoot,
        page: u64,
    ) -> Result<Option<u64>> {
        if let Some(&t) = self.translations.get(&page) {
            return Ok(t);
        }
        let t = match walk(io, self.tables.as_mut(), root, VirtAddr(page)) {
            Ok(t) => Some(t.phys),
            Err(WalkError::Fault(f)) => {
                tracing::trace!("kernel page tables: {f}");
                None
            }
            Err(WalkError::Read { error, .. }) if error.is_fatal() => return Err(error),
            Err(e) => {
                tracing::debug!("kernel page tables: {e}");
                None
            }
        };
        if self.keep {
            if self.translations.len() >= MAX_TRANSLATIONS {
                self.translations.clear();
            }
            self.translations.insert(page, t);
        }
        Ok(t)
    }

    /// Retries through the kernel page tables the requests in `reqs` that faulted in
    /// `replies` at kernel addresses, replacing their replies with what was read. A request
    /// stays a fault unless every byte of it is mapped there (requests are all-or-nothing).
    fn recover(
        &mut self,
        io: &mut Io<'_>,
        layout: &RegLayout,
        reqs: &[(VirtAddr, usize)],
        replies: &mut ChunkReplies,
    ) -> Result<()> {
        let failed: Vec<usize> = reqs
            .iter()
            .zip(replies.iter())
            .enumerate()
            .filter(|(_, (&(a, n), r))| {
                n > 0 && is_kernel_half(a) && *r == &Err(ChunkError::NoMapping)
            })
            .map(|(i, _)| i)
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        let Some(root) = self.kernel_root(io, layout)? else {
            return Ok(());
        };
        let max = io.client.max_read().max(1) as u128;
        let page = u128::from(paging::PAGE_SIZE_4K);
        // Each request as physical pieces (split at pages and at the packet size).
        let mut plan: Vec<(usize, Vec<(u64, usize)>)> = Vec::new();
        'req: for i in failed {
            let Some(&(a, n)) = reqs.get(i) else {
                continue;
            };
            let mut pieces = Vec::new();
            let mut cur = u128::from(a.0);
            let end = (cur + n as u128).min(1 << 64);
            while cur < end {
                let page_start = cur / page * page;
                let next = (page_start + page).min(end).min(cur + max);
                let Some(pa) = self.translate_page(io, root, page_start as u64)? else {
                    continue 'req;
                };
                pieces.push((pa + (cur - page_start) as u64, (next - cur) as usize));
                cur = next;
            }
            plan.push((i, pieces));
        }
        let wire: Vec<(u64, usize)> = plan.iter().flat_map(|(_, p)| p.iter().copied()).collect();
        if wire.is_empty() {
            return Ok(());
        }
        let mut data = io.phys(None, &wire)?.into_iter();
        let mut served = 0u64;
        let mut first = None;
        for (i, pieces) in plan {
            let mut buf = Vec::new();
            let mut ok = true;
            for &(_, n) in &pieces {
                match data.next() {
                    Some(Ok(b)) if b.len() == n => buf.extend_from_slice(&b),
                    _ => ok = false,
                }
            }
            if let (true, Some(slot)) = (ok, replies.get_mut(i)) {
                *slot = Ok(buf);
                served += 1;
                first = first.or(reqs.get(i).map(|r| r.0));
            }
        }
        if served > 0 {
            self.served += served;
            tracing::debug!(
                served,
                first = %first.unwrap_or_default(),
                "kernel reads that faulted through the user page tables (PTI) were served through the kernel page tables"
            );
        }
        Ok(())
    }
}

/// Against the fake stub: points planted through the target never outlive it, and single
/// steps use QEMU's step flags.
#[cfg(test)]
mod tests {
    use super::*;
    use qmdb_fakestub::{FakeConfig, FakeStub};

    const CPU0: VcpuId = VcpuId { pid: 1, tid: 1 };
    const BP: u64 = 0xffff_ffff_8123_4560;
    const DATA: u64 = 0xffff_8880_0000_1000;

    fn start(cfg: FakeConfig) -> (FakeStub, BlockingTarget) {
        let stub = FakeStub::start(cfg).unwrap();
        let t =
            BlockingTarget::connect(&stub.addr().to_string(), ConnectOptions::default()).unwrap();
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
}
