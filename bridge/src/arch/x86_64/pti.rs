//! Kernel reads under page-table isolation (Linux PTI).
//!
//! QEMU translates `m` addresses through the selected vCPU's current page tables. With Linux's
//! PTI, a vCPU stopped in user mode (or in the kernel entry code before the CR3 switch) runs
//! on the *user* PGD, which maps almost no kernel memory, so reads of task structs and stacks
//! fail with `E14`. When a read of a kernel-half address faults, the selected vCPU's CR3 has
//! the PTI user bit (bit 12) and the PGD page pair passes [`crate::paging::pti_pair_plausible`],
//! the faulting requests are retried by walking the kernel PGD (`CR3 & !(1 << 12)`) with
//! [`crate::paging::translate`] and reading guest-physical memory (`Qqemu.PhyMemMode`, see
//! [`crate::client::Client::read_physical`]). The decision, the page-table pages and the page translations
//! are kept for the current stop and dropped with the page cache (resume, interrupt, vCPU
//! switch, monitor command). [`crate::client::ClientStats::pti_fallback_reads`] counts the requests served
//! this way.

use crate::blocking::phys::{phys_exact, walk, Io};
use crate::blocking::BlockingTarget;
use crate::cache::{ChunkReplies, PageCache};
use crate::error::{BridgeError, ChunkError, Result};
use crate::paging::{self, is_kernel_half, PageTableRoot, WalkError};
use crate::regs::RegLayout;
use crate::target::RunState;
use crate::VirtAddr;
use std::collections::HashMap;

/// Page translations kept per stop before starting over.
const MAX_TRANSLATIONS: usize = 1 << 16;

impl BlockingTarget {
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
pub(crate) struct KernelView {
    root: KernelRoot,
    /// 4 KiB-aligned kernel virtual address → physical page, or `None` if unmapped.
    translations: HashMap<u64, Option<u64>>,
    /// Page-table pages by physical address, when caching is on.
    pub(crate) tables: Option<PageCache>,
    /// Whether translations are kept (caching is on).
    keep: bool,
    /// Requests served through the kernel page tables, over the whole session.
    pub(crate) served: u64,
}

impl KernelView {
    pub(crate) fn new(cache: bool) -> KernelView {
        KernelView {
            root: KernelRoot::Unknown,
            translations: HashMap::new(),
            tables: cache.then(|| PageCache::new(paging::PAGE_SIZE_4K)),
            keep: cache,
            served: 0,
        }
    }

    /// Forgets this stop.
    pub(crate) fn clear(&mut self) {
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
    pub(crate) fn recover(
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
