//! Memory: virtual reads (`m`), physical reads (QEMU's `Qqemu.PhyMemMode`) and writes (`M`).

use super::{expect_ok, Client};
use crate::error::{BridgeError, ChunkError, Result};
use crate::rsp::memory;
use crate::rsp::reply::{classify, Reply};
use crate::VirtAddr;

/// How many physical reads share one `Qqemu.PhyMemMode:1` ... `:0` bracket (one write).
const PHYS_BATCH: usize = 64;

impl Client {
    /// QEMU's `Qqemu.PhyMemMode` is global and survives reconnects: if a previous session left
    /// it on, virtual reads would silently be physical. Turn it off and restore it at the end.
    pub(super) async fn ensure_virtual_mode(&mut self) -> Result<()> {
        let reply = self.request(b"qqemu.PhyMemMode").await?;
        if reply == b"1" {
            let r = self.request(b"Qqemu.PhyMemMode:0").await?;
            if classify(&r) == Reply::Ok {
                self.phymem_restore = Some(true);
            }
        }
        Ok(())
    }

    /// Reads each `(addr, len)` with one all-or-nothing `m` request, pipelined.
    pub async fn read_memory(
        &mut self,
        reqs: &[(VirtAddr, usize)],
    ) -> Result<Vec<std::result::Result<Vec<u8>, ChunkError>>> {
        let bodies: Vec<Vec<u8>> = reqs
            .iter()
            .map(|&(a, n)| memory::read_request(a, n))
            .collect();
        let replies = self.request_many(&bodies).await?;
        reqs.iter()
            .zip(replies)
            .map(|(&(addr, len), r)| read_reply(&r, len, &addr.to_string()))
            .collect()
    }

    /// Whether the stub can read guest-physical memory: `qqemu.Supported` lists `PhyMemMode`
    /// (QEMU does since 5.0). Asked once per connection.
    pub async fn supports_phys_mem(&mut self) -> Result<bool> {
        if let Some(s) = self.phymem_supported {
            return Ok(s);
        }
        let reply = self.request(b"qqemu.Supported").await?;
        let s = match classify(&reply) {
            Reply::Data(d) => d.split(|&b| b == b';').any(|f| f == b"PhyMemMode"),
            _ => false,
        };
        tracing::debug!(supported = s, "physical memory mode");
        self.phymem_supported = Some(s);
        Ok(s)
    }

    /// Reads each `(physical addr, len)` with one all-or-nothing `m` request in QEMU's
    /// physical mode, pipelined.
    ///
    /// Each batch is one write: `Qqemu.PhyMemMode:1`, the reads, `Qqemu.PhyMemMode:0`. The stub
    /// handles packets in order, so the mode is switched back even if a read fails, and even
    /// if this client stops reading replies (the stub has the whole batch). If a reply cannot
    /// be trusted, `Qqemu.PhyMemMode:0` is sent again on its own; if the stub cannot be
    /// switched back, the connection is marked unusable rather than letting later virtual reads
    /// silently read physical memory. (If the connection dies, the next one switches the mode
    /// off at connect.) Never sent to a stub without `PhyMemMode`: that is
    /// [`BridgeError::Unsupported`].
    pub async fn read_physical(
        &mut self,
        reqs: &[(u64, usize)],
    ) -> Result<Vec<std::result::Result<Vec<u8>, ChunkError>>> {
        if !self.supports_phys_mem().await? {
            return Err(BridgeError::Unsupported(
                "physical memory reads (Qqemu.PhyMemMode)".into(),
            ));
        }
        let mut out = Vec::with_capacity(reqs.len());
        for batch in reqs.chunks(PHYS_BATCH) {
            out.extend(self.read_physical_batch(batch).await?);
        }
        Ok(out)
    }

    async fn read_physical_batch(
        &mut self,
        reqs: &[(u64, usize)],
    ) -> Result<Vec<std::result::Result<Vec<u8>, ChunkError>>> {
        let mut bodies = Vec::with_capacity(reqs.len() + 2);
        bodies.push(b"Qqemu.PhyMemMode:1".to_vec());
        bodies.extend(
            reqs.iter()
                .map(|&(a, n)| memory::read_request(VirtAddr(a), n)),
        );
        bodies.push(b"Qqemu.PhyMemMode:0".to_vec());
        self.stats.phys_reads += reqs.len() as u64;
        let replies = match self.request_many(&bodies).await {
            Ok(r) => r,
            Err(e) => {
                if !e.is_fatal() {
                    // Every reply was read, but we cannot tell whether `:0` was accepted.
                    self.force_virtual_mode().await?;
                }
                return Err(e);
            }
        };
        let on = replies.first().map(|r| classify(r));
        let off = replies.last().map(|r| classify(r));
        if off != Some(Reply::Ok) {
            self.force_virtual_mode().await?;
        }
        if on != Some(Reply::Ok) || replies.len() != reqs.len() + 2 {
            // The reads, if any were answered, were virtual: discard them.
            return Err(BridgeError::Protocol(format!(
                "the stub did not switch to physical memory mode (reply {:?})",
                replies
                    .first()
                    .map(|r| String::from_utf8_lossy(r).into_owned())
                    .unwrap_or_default()
            )));
        }
        reqs.iter()
            .zip(replies.iter().skip(1))
            .map(|(&(addr, len), r)| read_reply(r, len, &format!("physical {addr:#x}")))
            .collect()
    }

    /// Sends `Qqemu.PhyMemMode:0` alone; if the stub does not accept it, no request on this
    /// connection can be trusted to be virtual any more, so the connection becomes unusable.
    async fn force_virtual_mode(&mut self) -> Result<()> {
        match self.request(b"Qqemu.PhyMemMode:0").await {
            Ok(r) if classify(&r) == Reply::Ok => Ok(()),
            Err(e) if e.is_fatal() => Err(e),
            other => {
                let why = "the stub could not be switched back from physical memory mode";
                tracing::warn!(reply = ?other.as_ref().map(|r| String::from_utf8_lossy(r).into_owned()), "{why}");
                self.broken = Some(why.into());
                Err(BridgeError::Unusable(why.into()))
            }
        }
    }

    /// Writes `data` at `addr` with `M` requests (each within the packet size, pipelined).
    /// The first failure is returned, naming its address; pieces before it were written.
    pub async fn write_memory(&mut self, addr: VirtAddr, data: &[u8]) -> Result<()> {
        let max = memory::max_write(self.packet_size());
        let mut pieces = Vec::with_capacity(data.len() / max + 1);
        for (i, chunk) in data.chunks(max).enumerate() {
            let a = addr.0.checked_add((i * max) as u64).ok_or_else(|| {
                BridgeError::Invalid(format!(
                    "{} bytes at {addr} run past the end of the address space",
                    data.len()
                ))
            })?;
            pieces.push((VirtAddr(a), chunk));
        }
        let bodies: Vec<Vec<u8>> = pieces
            .iter()
            .map(|&(a, chunk)| memory::write_request(a, chunk))
            .collect();
        let replies = self.request_many(&bodies).await?;
        for ((a, chunk), r) in pieces.iter().zip(&replies) {
            expect_ok(r, &format!("writing {} bytes at {a}", chunk.len()))?;
        }
        Ok(())
    }
}

/// One `m` reply: data, or the chunk error the stub gave; `what` names the address.
fn read_reply(
    r: &[u8],
    len: usize,
    what: &str,
) -> Result<std::result::Result<Vec<u8>, ChunkError>> {
    match classify(r) {
        Reply::Error(0x14) => Ok(Err(ChunkError::NoMapping)),
        Reply::Error(0x22) => Ok(Err(ChunkError::TooLarge)),
        Reply::Error(n) => Ok(Err(ChunkError::Errno(n))),
        Reply::Unsupported => Err(BridgeError::Unsupported("memory reads".into())),
        Reply::Ok => Err(BridgeError::Protocol(format!(
            "OK in reply to a read of {len} bytes at {what}"
        ))),
        Reply::Data(d) => memory::parse_data(d)
            .map(Ok)
            .map_err(|e| BridgeError::Protocol(format!("reply to a read at {what}: {e}"))),
    }
}
