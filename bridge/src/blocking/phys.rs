//! Physical-memory reads and page-table walks over the live connection.

use super::BlockingTarget;
use crate::cache::{ChunkReplies, PageCache};
use crate::client::Client;
use crate::error::{BridgeError, ChunkError, Result};
use crate::paging::{self, PageTableRoot, Translation, WalkError, WalkFault};
use crate::target::{RunState, Target};
use crate::VirtAddr;
use tokio::runtime::Runtime;

impl BlockingTarget {
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
}

/// The connection, borrowed for one operation.
pub(crate) struct Io<'a> {
    pub(crate) rt: &'a Runtime,
    pub(crate) client: &'a mut Client,
}

impl Io<'_> {
    /// Physical reads (each at most a packet), through `tables` if given.
    pub(crate) fn phys(
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
pub(crate) fn phys_exact(
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
pub(crate) fn walk(
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
