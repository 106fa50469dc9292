//! Fault-aware memory reads over all-or-nothing stub requests.
//!
//! QEMU answers a memory request either whole or with `E14`, so a read that crosses into
//! unmapped memory must be split to recover the readable part. This is kmdb's `kmt_rw()`
//! with the property its setjmp-clobbered loop lost: every retry strictly shrinks the piece
//! being tried or moves past it, so a read always terminates.

use crate::error::{BridgeError, ChunkError, Result};
use crate::VirtAddr;

/// Memory as a stub serves it: all-or-nothing requests, several in flight.
pub trait TargetMemory {
    /// The largest request, in bytes, the stub answers in one packet.
    fn max_request(&self) -> usize;

    /// The granularity at which mappings change (a page); faulting pieces are first split here.
    fn page_size(&self) -> u64 {
        4096
    }

    /// Issues the requests (each at most [`Self::max_request`] bytes), pipelined, and returns one
    /// result per request, in order. The outer error means the connection failed.
    fn read_chunks(
        &mut self,
        reqs: &[(VirtAddr, usize)],
    ) -> Result<Vec<std::result::Result<Vec<u8>, ChunkError>>>;
}

/// The outcome of a fault-aware read: every readable byte before the first unreadable one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialRead {
    /// Bytes read from the start address onwards.
    pub data: Vec<u8>,
    /// Where and why the read stopped early; `None` if all was read.
    pub fault: Option<(VirtAddr, ChunkError)>,
}

/// How many requests are kept in flight per round trip while recovering from a fault.
const RECOVERY_BATCH: usize = 64;

/// How many requests are kept in flight for the first, full-size pass.
const READ_BATCH: usize = 64;

/// Reads `len` bytes at `addr`, returning every readable byte before the first unreadable one.
///
/// The range is requested in stub-sized chunks (pipelined). When a chunk faults, that chunk alone
/// is retried split at page boundaries, then the faulting page in 4-byte pieces, then the faulting
/// piece in single bytes. Each level works on a strictly smaller piece than the one before, so at
/// most `len / max_request + max_request / page + page / 4 + 4` requests (plus one batch of
/// look-ahead per level) are sent, whatever the stub answers.
///
/// Only a transport failure is an `Err`; a fault is reported in [`PartialRead::fault`].
pub fn read_partial<M: TargetMemory + ?Sized>(
    mem: &mut M,
    addr: VirtAddr,
    len: usize,
) -> Result<PartialRead> {
    let max = mem.max_request().max(1) as u128;
    let page = u128::from(mem.page_size().max(1));
    let mut levels: Vec<u128> = vec![max];
    for g in [page, 4, 1] {
        if levels.last().is_some_and(|&last| g < last) {
            levels.push(g);
        }
    }

    let mut data = Vec::with_capacity(len);
    let mut start = u128::from(addr.0);
    // Clamp at the top of the address space rather than wrapping around it.
    let full_end = (start + len as u128).min(1u128 << 64);
    let mut end = full_end;
    let mut level = 0usize;
    loop {
        let gran = levels.get(level).copied().unwrap_or(1);
        let batch = if level == 0 {
            READ_BATCH
        } else {
            RECOVERY_BATCH
        };
        let mut failed = None;
        let mut cur = start;
        'level: while cur < end {
            let mut reqs = Vec::with_capacity(batch);
            while cur < end && reqs.len() < batch {
                let next = ((cur / gran + 1) * gran).min(end);
                reqs.push((VirtAddr(cur as u64), (next - cur) as usize));
                cur = next;
            }
            let replies = mem.read_chunks(&reqs)?;
            if replies.len() != reqs.len() {
                return Err(BridgeError::Protocol(format!(
                    "{} replies to {} memory requests",
                    replies.len(),
                    reqs.len()
                )));
            }
            for (&(a, n), reply) in reqs.iter().zip(replies) {
                match reply {
                    Ok(bytes) if bytes.len() == n => data.extend_from_slice(&bytes),
                    Ok(bytes) => {
                        return Err(BridgeError::Protocol(format!(
                            "asked for {n} bytes at {a}, got {}",
                            bytes.len()
                        )))
                    }
                    Err(e) => {
                        failed = Some((u128::from(a.0), u128::from(a.0) + n as u128, e));
                        break 'level;
                    }
                }
            }
        }
        match failed {
            // A finer level read the whole piece that failed at a coarser one (for example
            // after an E22): go on with the rest of the range. `start` only moves forward.
            None if end < full_end => {
                start = end;
                end = full_end;
                level = 0;
            }
            None => {
                // A range running past the top of the address space stops there.
                let fault = (data.len() < len).then(|| {
                    (
                        VirtAddr(addr.0.wrapping_add(data.len() as u64)),
                        ChunkError::NoMapping,
                    )
                });
                return Ok(PartialRead { data, fault });
            }
            Some((a, b, e)) => {
                if level + 1 >= levels.len() || b - a <= 1 {
                    return Ok(PartialRead {
                        data,
                        fault: Some((VirtAddr(a as u64), e)),
                    });
                }
                start = a;
                end = b;
                level += 1;
            }
        }
    }
}

/// Reads exactly `len` bytes at `addr`, or fails naming the address.
pub fn read_exact<M: TargetMemory + ?Sized>(
    mem: &mut M,
    addr: VirtAddr,
    len: usize,
) -> Result<Vec<u8>> {
    let r = read_partial(mem, addr, len)?;
    match r.fault {
        None => Ok(r.data),
        Some((_, cause)) => Err(BridgeError::Fault { addr, len, cause }),
    }
}

/// Typed little-endian reads on any [`TargetMemory`].
pub trait MemoryExt: TargetMemory {
    /// Reads exactly `N` bytes.
    fn read_array<const N: usize>(&mut self, addr: VirtAddr) -> Result<[u8; N]> {
        let v = read_exact(self, addr, N)?;
        v.try_into()
            .map_err(|_| BridgeError::Protocol(format!("short read at {addr}")))
    }
    fn read_u8(&mut self, addr: VirtAddr) -> Result<u8> {
        Ok(u8::from_le_bytes(self.read_array(addr)?))
    }
    fn read_u16(&mut self, addr: VirtAddr) -> Result<u16> {
        Ok(u16::from_le_bytes(self.read_array(addr)?))
    }
    fn read_u32(&mut self, addr: VirtAddr) -> Result<u32> {
        Ok(u32::from_le_bytes(self.read_array(addr)?))
    }
    fn read_u64(&mut self, addr: VirtAddr) -> Result<u64> {
        Ok(u64::from_le_bytes(self.read_array(addr)?))
    }
    /// Reads a pointer-sized (8-byte) value as an address.
    fn read_ptr(&mut self, addr: VirtAddr) -> Result<VirtAddr> {
        self.read_u64(addr).map(VirtAddr)
    }
}

impl<T: TargetMemory + ?Sized> MemoryExt for T {}
