//! [`OrcTable::to_bytes`] / [`OrcTable::from_bytes`]: a compact, versioned, checksummed
//! form of a normalized ORC table, for an on-disk cache keyed by the image's build id.
//!
//! Layout (little-endian):
//!
//! | offset | size      | field                                                         |
//! |--------|-----------|---------------------------------------------------------------|
//! | 0      | 8         | magic `QMDBORC\0`                                             |
//! | 8      | 4         | version ([`ORC_CACHE_VERSION`])                               |
//! | 12     | 1         | format the table was read in: 0 legacy, 1 current, 2 renumbered |
//! | 13     | 1         | header length `h` (`0xff`: the image had no `.orc_header`)    |
//! | 14     | 2         | zero                                                          |
//! | 16     | 4         | entry count `n`                                               |
//! | 20     | 8         | the first ip (0 when `n` is 0)                                |
//! | 28     | `h`       | the `.orc_header` bytes                                       |
//! |        | varies    | `n` ULEB128 deltas from the previous ip (the first from itself) |
//! |        | `6n`      | entries: sp_offset, bp_offset (i16), regs (sp \| bp << 4, classic numbers), kind \| signal << 7 |
//! |        | 8         | FNV-1a 64 of everything before                                |

use super::{OrcEntry, OrcError, OrcFormat, OrcTable, MAX_ORC_ENTRIES};

/// Bumped whenever the serialized layout or the normalization changes.
/// 2: the [`OrcFormat::Renumbered`] format code and `OrcReg::Ax`; a version-1 cache of a
/// 7.x kernel holds entries decoded with the wrong register numbers.
pub const ORC_CACHE_VERSION: u32 = 2;

const MAGIC: &[u8; 8] = b"QMDBORC\0";
const FIXED: usize = 28;
const NO_HEADER: u8 = 0xff;
const MAX_HEADER: usize = 64;

fn err(offset: usize, what: impl Into<String>) -> OrcError {
    OrcError::Cache {
        offset,
        what: what.into(),
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl OrcTable {
    /// The compact serialization (about 7–8 bytes per entry).
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.ips.len().min(self.entries.len());
        let header = self.header.as_deref().filter(|h| h.len() <= MAX_HEADER);
        let mut out = Vec::with_capacity(FIXED + 8 * n + 8 + header.map_or(0, <[u8]>::len));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&ORC_CACHE_VERSION.to_le_bytes());
        out.push(match self.format {
            OrcFormat::Legacy => 0,
            OrcFormat::Current => 1,
            OrcFormat::Renumbered => 2,
        });
        out.push(header.map_or(NO_HEADER, |h| h.len() as u8));
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(n as u32).to_le_bytes());
        let first = self.ips.first().copied().unwrap_or(0);
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(header.unwrap_or_default());
        let mut prev = first;
        for &ip in self.ips.iter().take(n) {
            let mut delta = ip.wrapping_sub(prev);
            prev = ip;
            loop {
                let byte = (delta & 0x7f) as u8;
                delta >>= 7;
                if delta == 0 {
                    out.push(byte);
                    break;
                }
                out.push(byte | 0x80);
            }
        }
        for e in self.entries.iter().take(n) {
            out.extend_from_slice(&e.pack());
        }
        let sum = fnv1a(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Loads [`OrcTable::to_bytes`] output, checking the magic, version, checksum, every
    /// field, that the ips are sorted without overflow, and that nothing trails.
    pub fn from_bytes(data: &[u8]) -> Result<OrcTable, OrcError> {
        if data.get(..8) != Some(MAGIC.as_slice()) {
            return Err(err(0, "not a qmdb ORC cache (bad magic)"));
        }
        let fixed: &[u8; FIXED] = data
            .first_chunk()
            .ok_or_else(|| err(data.len(), "truncated header"))?;
        let version = u32::from_le_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
        if version != ORC_CACHE_VERSION {
            return Err(err(
                8,
                format!("version {version}, expected {ORC_CACHE_VERSION}"),
            ));
        }
        let body_len = data
            .len()
            .checked_sub(8)
            .filter(|&l| l >= FIXED)
            .ok_or_else(|| err(data.len(), "truncated: no checksum"))?;
        let (body, tail) = data
            .split_last_chunk::<8>()
            .ok_or_else(|| err(data.len(), "truncated: no checksum"))?;
        let (stored, computed) = (u64::from_le_bytes(*tail), fnv1a(body));
        if stored != computed {
            return Err(err(
                body_len,
                format!("checksum {stored:#x}, computed {computed:#x}"),
            ));
        }
        let format = match fixed[12] {
            0 => OrcFormat::Legacy,
            1 => OrcFormat::Current,
            2 => OrcFormat::Renumbered,
            f => return Err(err(12, format!("unknown format code {f}"))),
        };
        if [fixed[14], fixed[15]] != [0, 0] {
            return Err(err(14, "reserved bytes are not zero"));
        }
        let n = u32::from_le_bytes([fixed[16], fixed[17], fixed[18], fixed[19]]) as usize;
        // Each entry takes at least 7 bytes (a one-byte delta and 6 entry bytes).
        if n > MAX_ORC_ENTRIES || n > body.len() / 7 {
            return Err(err(16, format!("entry count {n} does not fit the data")));
        }
        let mut ip = u64::from_le_bytes([
            fixed[20], fixed[21], fixed[22], fixed[23], fixed[24], fixed[25], fixed[26], fixed[27],
        ]);
        let mut pos = FIXED;
        let header = match fixed[13] {
            NO_HEADER => None,
            h if usize::from(h) > MAX_HEADER => {
                return Err(err(13, format!("header length {h} over {MAX_HEADER}")))
            }
            h => {
                let end = pos + usize::from(h);
                let bytes = body
                    .get(pos..end)
                    .ok_or_else(|| err(pos, "truncated header bytes"))?;
                pos = end;
                Some(bytes.to_vec())
            }
        };
        let mut ips = Vec::with_capacity(n);
        for i in 0..n {
            let at = pos;
            let mut delta = 0u64;
            let mut shift = 0u32;
            loop {
                let b = *body
                    .get(pos)
                    .ok_or_else(|| err(pos, "truncated ip deltas"))?;
                pos += 1;
                if shift == 63 && b > 1 || shift > 63 {
                    return Err(err(at, format!("ip delta {i} overflows")));
                }
                delta |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    break;
                }
                shift += 7;
            }
            ip = ip
                .checked_add(delta)
                .ok_or_else(|| err(at, format!("ip {i} overflows")))?;
            ips.push(ip);
        }
        let entries_len = 6 * n;
        let raw = body
            .get(pos..pos + entries_len)
            .ok_or_else(|| err(pos, "truncated entries"))?;
        let mut entries = Vec::with_capacity(n);
        // `raw` is 6n bytes: no remainder.
        for (i, &c) in raw.as_chunks::<6>().0.iter().enumerate() {
            let e = OrcEntry::unpack(c)
                .ok_or_else(|| err(pos + 6 * i, format!("entry {i} has an unknown kind")))?;
            entries.push(e);
        }
        if pos + entries_len != body.len() {
            return Err(err(pos + entries_len, "trailing bytes"));
        }
        Ok(OrcTable {
            format,
            header,
            ips,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orc::{OrcKind, OrcReg};

    fn sample() -> OrcTable {
        let regs = OrcEntry {
            sp_reg: OrcReg::Sp,
            bp_reg: OrcReg::Undefined,
            sp_offset: 0,
            bp_offset: 0,
            kind: OrcKind::Regs,
            signal: true,
        };
        let mut t = OrcTable::from_entries(
            OrcFormat::Current,
            vec![
                (0xffff_ffff_8100_0000, OrcEntry::call(8)),
                (0xffff_ffff_8100_0001, OrcEntry::call(16)),
                (0xffff_ffff_8100_0001, regs),
                (0xffff_ffff_8300_0000, OrcEntry::call(8)),
            ],
        );
        t.header = Some(vec![0xfe; 20]);
        t
    }

    #[test]
    fn round_trip() {
        let t = sample();
        let bytes = t.to_bytes();
        assert_eq!(OrcTable::from_bytes(&bytes), Ok(t));
        let empty = OrcTable::from_entries(OrcFormat::Legacy, Vec::new());
        assert_eq!(OrcTable::from_bytes(&empty.to_bytes()), Ok(empty));
    }

    #[test]
    fn rejects_damage() {
        let bytes = sample().to_bytes();
        for cut in 0..bytes.len() {
            assert!(OrcTable::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(OrcTable::from_bytes(&b).is_err(), "flip at {i}");
        }
        let mut v = bytes.clone();
        v[8] = 9;
        assert!(matches!(
            OrcTable::from_bytes(&v),
            Err(OrcError::Cache { offset: 8, .. })
        ));
    }
}
