//! The kernel's ORC table: `.orc_unwind_ip` and `.orc_unwind` of an image, and lookup.
//!
//! `.orc_unwind_ip` is an array of s32 self-relative offsets: entry `i` covers code from
//! `section_addr + 4*i + value` up to the next entry's ip. The array is sorted at build time
//! (scripts/sorttable); where two entries share an ip the later one wins (the earlier is a
//! "weak" section terminator). `.orc_unwind` holds one 6-byte entry per ip
//! ([`entry`]).
//!
//! Addresses in an [`OrcTable`] are link-time. [`OrcTable::lookup`] takes a runtime pc and
//! the KASLR slide (runtime = link + slide).

pub mod bytes;
pub mod entry;

use crate::KernelImage;

pub use entry::{OrcEntry, OrcFormat, OrcKind, OrcReg};

/// Entries qmdb accepts in one table (the 6.12 cloud kernel has ~434 000).
pub const MAX_ORC_ENTRIES: usize = 1 << 24;

/// Why ORC tables could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OrcError {
    #[error("the image has {present} but not {missing}")]
    MissingSection {
        present: &'static str,
        missing: &'static str,
    },
    #[error("{section} is {len} bytes, not a multiple of its {unit}-byte entries")]
    BadSectionSize {
        section: &'static str,
        len: usize,
        unit: usize,
    },
    #[error(".orc_unwind_ip has {ips} entries but .orc_unwind has {entries}")]
    CountMismatch { ips: usize, entries: usize },
    #[error("{count} ORC entries is more than qmdb accepts ({max})")]
    TooManyEntries { count: usize, max: usize },
    #[error(".orc_unwind_ip is not sorted: entry {index} (offset {offset:#x}) is ip {ip:#x}, below the previous {prev:#x}")]
    Unsorted {
        index: usize,
        offset: usize,
        ip: u64,
        prev: u64,
    },
    #[error("ORC cache: {what} at offset {offset:#x}")]
    Cache { offset: usize, what: String },
}

/// A kernel's ORC table: sorted link-time ips and their entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrcTable {
    pub(crate) format: OrcFormat,
    pub(crate) header: Option<Vec<u8>>,
    pub(crate) ips: Vec<u64>,
    pub(crate) entries: Vec<OrcEntry>,
}

impl OrcTable {
    /// Reads the table of a kernel image: `Ok(None)` when it has no ORC sections (a
    /// frame-pointer kernel). The format is [`OrcFormat::of_kernel`]'s.
    pub fn from_image(image: &KernelImage) -> Result<Option<OrcTable>, OrcError> {
        let section = |name| image.section(name).map(|s| (s.addr, s.data));
        let ip = section(".orc_unwind_ip");
        let unwind = section(".orc_unwind");
        let ((ip_addr, ip_data), (_, unwind_data)) = match (ip, unwind) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(OrcError::MissingSection {
                    present: ".orc_unwind_ip",
                    missing: ".orc_unwind",
                })
            }
            (None, Some(_)) => {
                return Err(OrcError::MissingSection {
                    present: ".orc_unwind",
                    missing: ".orc_unwind_ip",
                })
            }
            (Some(a), Some(b)) => (a, b),
        };
        let header = section(".orc_header").map(|(_, d)| d.to_vec());
        let format = OrcFormat::of_kernel(header.is_some(), unwind_data);
        let mut table = OrcTable::from_sections(ip_addr, ip_data, unwind_data, format)?;
        table.header = header;
        Ok(Some(table))
    }

    /// Parses raw `.orc_unwind_ip` (at link address `ip_addr`) and `.orc_unwind` bytes.
    pub fn from_sections(
        ip_addr: u64,
        ip_data: &[u8],
        unwind_data: &[u8],
        format: OrcFormat,
    ) -> Result<OrcTable, OrcError> {
        if !ip_data.len().is_multiple_of(4) {
            return Err(OrcError::BadSectionSize {
                section: ".orc_unwind_ip",
                len: ip_data.len(),
                unit: 4,
            });
        }
        if !unwind_data.len().is_multiple_of(6) {
            return Err(OrcError::BadSectionSize {
                section: ".orc_unwind",
                len: unwind_data.len(),
                unit: 6,
            });
        }
        let count = ip_data.len() / 4;
        if count != unwind_data.len() / 6 {
            return Err(OrcError::CountMismatch {
                ips: count,
                entries: unwind_data.len() / 6,
            });
        }
        if count > MAX_ORC_ENTRIES {
            return Err(OrcError::TooManyEntries {
                count,
                max: MAX_ORC_ENTRIES,
            });
        }
        let mut ips = Vec::with_capacity(count);
        // The lengths were checked above: the remainders are empty.
        for (i, &c) in ip_data.as_chunks::<4>().0.iter().enumerate() {
            let rel = i32::from_le_bytes(c);
            let ip = ip_addr
                .wrapping_add(4 * i as u64)
                .wrapping_add(i64::from(rel) as u64);
            if let Some(&prev) = ips.last() {
                if ip < prev {
                    return Err(OrcError::Unsorted {
                        index: i,
                        offset: 4 * i,
                        ip,
                        prev,
                    });
                }
            }
            ips.push(ip);
        }
        let entries = unwind_data
            .as_chunks::<6>()
            .0
            .iter()
            .map(|&c| OrcEntry::decode(c, format))
            .collect();
        Ok(OrcTable {
            format,
            header: None,
            ips,
            entries,
        })
    }

    /// A table from link-time `(ip, entry)` pairs, sorted here (stable, so that for equal
    /// ips the later pair wins, as in the kernel). For tests and synthetic tables.
    pub fn from_entries(format: OrcFormat, mut pairs: Vec<(u64, OrcEntry)>) -> OrcTable {
        pairs.truncate(MAX_ORC_ENTRIES);
        pairs.sort_by_key(|&(ip, _)| ip);
        let (ips, entries) = pairs.into_iter().unzip();
        OrcTable {
            format,
            header: None,
            ips,
            entries,
        }
    }

    /// Guesses the format from the entries ([`OrcFormat::guess`]).
    pub fn guess_format(unwind_data: &[u8]) -> Option<OrcFormat> {
        OrcFormat::guess(unwind_data)
    }

    /// The bit layout the table was read in.
    pub fn format(&self) -> OrcFormat {
        self.format
    }

    /// Attaches the `.orc_header` bytes the table was read with (kept for the cache).
    pub fn set_header(&mut self, header: Option<Vec<u8>>) {
        self.header = header;
    }

    /// The `.orc_header` bytes (6.4+: a hash identifying the format), if the image had one.
    pub fn header(&self) -> Option<&[u8]> {
        self.header.as_deref()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ips.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty()
    }

    /// The link-time ip and entry at index `i`.
    pub fn get(&self, i: usize) -> Option<(u64, OrcEntry)> {
        Some((*self.ips.get(i)?, *self.entries.get(i)?))
    }

    /// All `(link-time ip, entry)` pairs, in ip order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, OrcEntry)> + '_ {
        self.ips.iter().copied().zip(self.entries.iter().copied())
    }

    /// The link-time range the table covers: first ip to last ip, inclusive.
    pub fn coverage(&self) -> Option<std::ops::RangeInclusive<u64>> {
        Some(*self.ips.first()?..=*self.ips.last()?)
    }

    /// The entry for runtime address `pc` under KASLR `slide`: the one with the greatest
    /// ip ≤ `pc - slide` (the last of equal ips). `None` outside the table's coverage.
    pub fn lookup(&self, pc: u64, slide: u64) -> Option<OrcEntry> {
        self.lookup_link(pc.wrapping_sub(slide)).map(|(_, e)| e)
    }

    /// The entry for link-time address `ip`, with the ip it starts at.
    pub fn lookup_link(&self, ip: u64) -> Option<(u64, OrcEntry)> {
        if ip > *self.ips.last()? {
            return None;
        }
        let i = self.ips.partition_point(|&x| x <= ip).checked_sub(1)?;
        self.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: OrcKind, signal: bool) -> OrcEntry {
        OrcEntry {
            sp_reg: OrcReg::Sp,
            bp_reg: OrcReg::PrevSp,
            sp_offset: 16,
            bp_offset: -16,
            kind,
            signal,
        }
    }

    #[test]
    fn sections_and_lookup() {
        // Three entries at 0x1000, 0x1010, 0x1010 (the later duplicate wins), 0x1020.
        let base = 0xffff_ffff_8200_0000u64;
        let ips = [0x1000u64, 0x1010, 0x1010, 0x1020];
        let mut ip_data = Vec::new();
        for (i, ip) in ips.iter().enumerate() {
            let rel = (base + ip).wrapping_sub(base + 4 * i as u64) as i64;
            ip_data.extend_from_slice(&(rel as i32).to_le_bytes());
        }
        let entries = [
            OrcEntry::call(8),
            OrcEntry::call(99),
            OrcEntry::call(16),
            entry(OrcKind::Undefined, false),
        ];
        let mut unwind = Vec::new();
        for e in &entries {
            unwind.extend_from_slice(&e.encode(OrcFormat::Current));
        }
        let t = OrcTable::from_sections(base, &ip_data, &unwind, OrcFormat::Current).unwrap();
        assert_eq!(t.len(), 4);
        let slide = 0x2000_0000;
        assert_eq!(t.lookup(base + slide + 0xfff, slide), None);
        assert_eq!(
            t.lookup(base + slide + 0x1000, slide),
            Some(OrcEntry::call(8))
        );
        assert_eq!(
            t.lookup(base + slide + 0x100f, slide),
            Some(OrcEntry::call(8))
        );
        assert_eq!(
            t.lookup(base + slide + 0x1010, slide),
            Some(OrcEntry::call(16))
        );
        assert_eq!(
            t.lookup(base + slide + 0x1020, slide).map(|e| e.kind),
            Some(OrcKind::Undefined)
        );
        assert_eq!(t.lookup(base + slide + 0x1021, slide), None);

        let mut bad = ip_data.clone();
        bad[12..16].copy_from_slice(&(-0x100i32).to_le_bytes());
        assert!(matches!(
            OrcTable::from_sections(base, &bad, &unwind, OrcFormat::Current),
            Err(OrcError::Unsorted {
                index: 3,
                offset: 12,
                ..
            })
        ));
        assert_eq!(
            OrcTable::from_sections(base, &ip_data[..15], &unwind, OrcFormat::Current),
            Err(OrcError::BadSectionSize {
                section: ".orc_unwind_ip",
                len: 15,
                unit: 4
            })
        );
        assert_eq!(
            OrcTable::from_sections(base, &ip_data[..12], &unwind, OrcFormat::Current),
            Err(OrcError::CountMismatch { ips: 3, entries: 4 })
        );
    }
}
