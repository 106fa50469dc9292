//! A page-granular cache of guest memory, valid while the target stays stopped.
//!
//! Whole pages are fetched (pipelined, in stub-sized pieces) and kept; a page that cannot be
//! read whole is remembered as such, and requests touching it go to the stub as asked, so the
//! fault-recovery of [`crate::memory::read_partial`] sees exactly what the stub says.

use crate::error::{ChunkError, Result};
use crate::VirtAddr;
use std::collections::{HashMap, HashSet};

/// Pages kept before the cache is emptied (64 MiB of 4 KiB pages).
const MAX_PAGES: usize = 16 * 1024;

/// Cached pages of one stopped state of the target.
#[derive(Debug)]
pub struct PageCache {
    page_size: u64,
    pages: HashMap<u64, Box<[u8]>>,
    partial: HashSet<u64>,
    hits: u64,
    misses: u64,
}

/// One reply per request, as [`crate::TargetMemory::read_chunks`] returns them.
pub type ChunkReplies = Vec<std::result::Result<Vec<u8>, ChunkError>>;

impl PageCache {
    pub fn new(page_size: u64) -> PageCache {
        PageCache {
            page_size: page_size.max(1),
            pages: HashMap::new(),
            partial: HashSet::new(),
            hits: 0,
            misses: 0,
        }
    }

    /// Forgets everything: the target ran, stepped or was written to.
    pub fn clear(&mut self) {
        self.pages.clear();
        self.partial.clear();
    }

    /// `(hits, misses)` counted per request.
    pub fn counters(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    fn pages_of(&self, addr: VirtAddr, len: usize) -> impl Iterator<Item = u64> {
        let ps = self.page_size;
        let first = addr.0 / ps;
        let last = addr.0.saturating_add(len.max(1) as u64 - 1) / ps;
        first..=last
    }

    fn serve(&self, addr: VirtAddr, len: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        let mut cur = addr.0;
        let end = addr.0.checked_add(len as u64)?;
        while cur < end {
            let page = cur / self.page_size;
            let data = self.pages.get(&page)?;
            let off = (cur - page * self.page_size) as usize;
            let take = ((end - cur) as usize).min(data.len().saturating_sub(off));
            out.extend_from_slice(data.get(off..off + take)?);
            if take == 0 {
                return None;
            }
            cur += take as u64;
        }
        Some(out)
    }

    /// Serves `reqs` from the cache, fetching missing pages through `fetch` (all-or-nothing
    /// requests of at most `max` bytes, pipelined) and asking the stub directly for requests
    /// that touch a page that could not be read whole.
    pub fn read(
        &mut self,
        reqs: &[(VirtAddr, usize)],
        max: usize,
        mut fetch: impl FnMut(&[(VirtAddr, usize)]) -> Result<ChunkReplies>,
    ) -> Result<ChunkReplies> {
        let max = max.max(1) as u64;
        let mut missing: Vec<u64> = Vec::new();
        for &(addr, len) in reqs {
            for p in self.pages_of(addr, len) {
                if !self.pages.contains_key(&p)
                    && !self.partial.contains(&p)
                    && !missing.contains(&p)
                {
                    missing.push(p);
                }
            }
        }
        if !missing.is_empty() {
            if self.pages.len() + missing.len() > MAX_PAGES {
                self.pages.clear();
            }
            let mut pieces = Vec::new();
            for &p in &missing {
                let start = p.saturating_mul(self.page_size);
                let mut off = 0;
                while off < self.page_size {
                    let n = max.min(self.page_size - off);
                    pieces.push((p, VirtAddr(start.wrapping_add(off)), n as usize));
                    off += n;
                }
            }
            let wire: Vec<(VirtAddr, usize)> = pieces.iter().map(|&(_, a, n)| (a, n)).collect();
            let replies = fetch(&wire)?;
            let mut assembled: HashMap<u64, Option<Vec<u8>>> = HashMap::new();
            for (&(p, _, n), r) in pieces.iter().zip(replies) {
                let slot = assembled.entry(p).or_insert_with(|| Some(Vec::new()));
                match (slot.as_mut(), r) {
                    (Some(buf), Ok(bytes)) if bytes.len() == n => buf.extend_from_slice(&bytes),
                    _ => *slot = None,
                }
            }
            for (p, data) in assembled {
                match data {
                    Some(d) if d.len() as u64 == self.page_size => {
                        self.pages.insert(p, d.into_boxed_slice());
                    }
                    _ => {
                        self.partial.insert(p);
                    }
                }
            }
        }

        let mut out: Vec<Option<std::result::Result<Vec<u8>, ChunkError>>> = Vec::new();
        let mut direct = Vec::new();
        for &(addr, len) in reqs {
            match self.serve(addr, len) {
                Some(d) => {
                    self.hits += 1;
                    out.push(Some(Ok(d)));
                }
                None => {
                    self.misses += 1;
                    direct.push((out.len(), (addr, len)));
                    out.push(None);
                }
            }
        }
        if !direct.is_empty() {
            let wire: Vec<(VirtAddr, usize)> = direct.iter().map(|&(_, r)| r).collect();
            let replies = fetch(&wire)?;
            for ((i, _), r) in direct.into_iter().zip(replies) {
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(r);
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or(Err(ChunkError::NoMapping)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory mapped at [0x1000, 0x2800): page 1 whole, page 2 half.
    fn stub(reqs: &[(VirtAddr, usize)], log: &mut Vec<(u64, usize)>) -> Result<ChunkReplies> {
        Ok(reqs
            .iter()
            .map(|&(a, n)| {
                log.push((a.0, n));
                if a.0 >= 0x1000 && a.0 + n as u64 <= 0x2800 {
                    Ok((0..n).map(|i| (a.0 as usize + i) as u8).collect())
                } else {
                    Err(ChunkError::NoMapping)
                }
            })
            .collect())
    }

    #[test]
    fn whole_pages_are_fetched_once() {
        let mut c = PageCache::new(0x1000);
        let mut log = Vec::new();
        let r = c
            .read(&[(VirtAddr(0x1010), 8)], 0x800, |q| stub(q, &mut log))
            .unwrap();
        assert_eq!(r[0].as_ref().unwrap(), &(0x10..0x18).collect::<Vec<u8>>());
        assert_eq!(log, vec![(0x1000, 0x800), (0x1800, 0x800)]);
        let r = c
            .read(&[(VirtAddr(0x1ff8), 8)], 0x800, |q| stub(q, &mut log))
            .unwrap();
        assert!(r[0].is_ok());
        assert_eq!(log.len(), 2, "second read served from the cache");
        c.clear();
        c.read(&[(VirtAddr(0x1010), 8)], 0x800, |q| stub(q, &mut log))
            .unwrap();
        assert_eq!(log.len(), 4, "cleared cache fetches again");
    }

    #[test]
    fn partial_pages_go_to_the_stub_as_asked() {
        let mut c = PageCache::new(0x1000);
        let mut log = Vec::new();
        let r = c
            .read(
                &[(VirtAddr(0x2000), 16), (VirtAddr(0x27f8), 16)],
                0x800,
                |q| stub(q, &mut log),
            )
            .unwrap();
        assert!(r[0].is_ok());
        assert_eq!(r[1], Err(ChunkError::NoMapping));
        // Two page pieces, then both requests directly.
        assert_eq!(
            log,
            vec![(0x2000, 0x800), (0x2800, 0x800), (0x2000, 16), (0x27f8, 16)]
        );
        log.clear();
        c.read(&[(VirtAddr(0x2000), 16)], 0x800, |q| stub(q, &mut log))
            .unwrap();
        assert_eq!(
            log,
            vec![(0x2000, 16)],
            "a known partial page is not fetched again"
        );
    }

    #[test]
    fn requests_spanning_pages_are_assembled() {
        let mut c = PageCache::new(0x1000);
        let mut log = Vec::new();
        let r = c
            .read(&[(VirtAddr(0x1ff0), 0x20)], 0x800, |q| stub(q, &mut log))
            .unwrap();
        assert_eq!(r[0].as_ref().unwrap().len(), 0x20);
        assert_eq!(r[0].as_ref().unwrap()[0], 0xf0);
        assert_eq!(r[0].as_ref().unwrap()[0x1f], 0x0f);
    }
}
