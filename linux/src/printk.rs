//! The kernel log from the lockless printk ring buffer (Linux 5.10+).
//!
//! `prb` points to a `struct printk_ringbuffer`: a descriptor ring (`descs`, `infos`, ids from
//! `tail_id` to `head_id`) and a text data ring of blocks `{unsigned long id; char data[]}`.
//! Every offset comes from BTF by member name; the descriptor state bits (the top two bits of
//! `state_var`) and the data-less lpos bit are the format's own definition.

use super::layout::{find_member, find_struct, struct_size, LayoutError};
use crate::Error;
use crate::Program;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::{Btf, TypeId};

/// More than any kernel's log (`CONFIG_LOG_BUF_SHIFT` is at most 25, plus per-CPU growth).
const MAX_RING_BYTES: u64 = 1 << 28;

/// `desc_committed` and `desc_finalized`: the states a reader may read.
const DESC_COMMITTED: u64 = 1;
const DESC_FINALIZED: u64 = 2;
const DESC_FLAGS_SHIFT: u32 = 62;
const DESC_ID_MASK: u64 = (1 << DESC_FLAGS_SHIFT) - 1;

/// One member's place: byte offset, size in bytes, and for a bitfield its bit offset and width.
#[derive(Debug, Clone, Copy)]
struct F {
    off: u64,
    size: u64,
    bit: u32,
    bits: u32,
}

/// The offsets the decoder needs.
#[derive(Debug, Clone)]
pub struct PrintkLayout {
    rb_size: u64,
    count_bits: F,
    descs: F,
    infos: F,
    head_id: F,
    tail_id: F,
    size_bits: F,
    data: F,
    desc_size: u64,
    state_var: F,
    lpos_begin: F,
    lpos_next: F,
    info_size: u64,
    seq: F,
    ts_nsec: F,
    text_len: F,
    facility: F,
    level: F,
    /// Offset of `data` in `struct prb_data_block` (the size of its `id`).
    block_data: u64,
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The record's sequence number.
    pub seq: u64,
    /// When it was logged, in nanoseconds since boot.
    pub ts_nsec: u64,
    /// Its log level (0 `KERN_EMERG` to 7 `KERN_DEBUG`).
    pub level: u8,
    /// Its syslog facility.
    pub facility: u8,
    /// The message, lossily UTF-8.
    pub text: String,
}

impl LogRecord {
    /// The record as busybox `dmesg` prints it: `[    0.000000] text`, each line of a
    /// multi-line record with the prefix.
    pub fn dmesg_lines(&self) -> Vec<String> {
        let prefix = format!(
            "[{:5}.{:06}] ",
            self.ts_nsec / 1_000_000_000,
            (self.ts_nsec % 1_000_000_000) / 1000
        );
        self.text
            .split('\n')
            .map(|l| format!("{prefix}{l}"))
            .collect()
    }
}

/// The records read, oldest first, and what was skipped.
#[derive(Debug, Default)]
pub struct Log {
    /// The readable records.
    pub records: Vec<LogRecord>,
    /// What was skipped and why, one line each.
    pub problems: Vec<String>,
}

fn struct_id(btf: &Btf, name: &str) -> Result<TypeId, LayoutError> {
    find_struct(btf, name).map_err(|e| LayoutError::OldPrintk(Box::new(e)))
}

fn field(btf: &Btf, id: TypeId, sname: &str, path: &str) -> Result<F, LayoutError> {
    find_member(btf, id, sname, path).map(|m| F {
        off: m.offset,
        size: m.size,
        bit: m.bit,
        bits: m.bits,
    })
}

impl PrintkLayout {
    /// Looks the ring buffer's offsets up in `btf`; the error names what is missing.
    pub fn from_btf(btf: &Btf) -> Result<PrintkLayout, LayoutError> {
        let rb = struct_id(btf, "printk_ringbuffer")?;
        let r = "printk_ringbuffer";
        let d = struct_id(btf, "prb_desc")?;
        let i = struct_id(btf, "printk_info")?;
        let block_data = struct_id(btf, "prb_data_block")
            .and_then(|b| field(btf, b, "prb_data_block", "data"))
            .map_or(8, |f| f.off);
        Ok(PrintkLayout {
            rb_size: struct_size(btf, rb, r)?,
            count_bits: field(btf, rb, r, "desc_ring.count_bits")?,
            descs: field(btf, rb, r, "desc_ring.descs")?,
            infos: field(btf, rb, r, "desc_ring.infos")?,
            head_id: field(btf, rb, r, "desc_ring.head_id")?,
            tail_id: field(btf, rb, r, "desc_ring.tail_id")?,
            size_bits: field(btf, rb, r, "text_data_ring.size_bits")?,
            data: field(btf, rb, r, "text_data_ring.data")?,
            desc_size: struct_size(btf, d, "prb_desc")?,
            state_var: field(btf, d, "prb_desc", "state_var")?,
            lpos_begin: field(btf, d, "prb_desc", "text_blk_lpos.begin")?,
            lpos_next: field(btf, d, "prb_desc", "text_blk_lpos.next")?,
            info_size: struct_size(btf, i, "printk_info")?,
            seq: field(btf, i, "printk_info", "seq")?,
            ts_nsec: field(btf, i, "printk_info", "ts_nsec")?,
            text_len: field(btf, i, "printk_info", "text_len")?,
            facility: field(btf, i, "printk_info", "facility")?,
            level: field(btf, i, "printk_info", "level")?,
            block_data,
        })
    }
}

/// The little-endian value of `f` in `buf` at `base`; `None` past the end.
fn get(buf: &[u8], base: u64, f: F) -> Option<u64> {
    let start = usize::try_from(base.checked_add(f.off)?).ok()?;
    let len = if f.bits > 0 {
        ((f.bit + f.bits).div_ceil(8)) as usize
    } else {
        f.size.min(8) as usize
    };
    let bytes = buf.get(start..start.checked_add(len)?)?;
    let mut v = 0u64;
    for (k, b) in bytes.iter().enumerate().take(8) {
        v |= u64::from(*b) << (8 * k);
    }
    if f.bits > 0 {
        v >>= f.bit;
        if f.bits < 64 {
            v &= (1 << f.bits) - 1;
        }
    }
    Some(v)
}

/// The ring's header values.
#[derive(Debug, Clone, Copy)]
pub struct RingHeader {
    pub count_bits: u32,
    pub descs: u64,
    pub infos: u64,
    pub head_id: u64,
    pub tail_id: u64,
    pub size_bits: u32,
    pub data: u64,
}

/// Why a record's text block was skipped: its data ring positions or block are corrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// `[begin, next)` is neither inside one wrap of the ring nor across one wrap.
    #[error("bad text lpos {begin:#x}..{next:#x}")]
    Lpos { begin: u64, next: u64 },
    /// The block is shorter than its id, or longer than the ring.
    #[error("bad text block length {len}")]
    Length { len: u64 },
    /// The block at ring offset `start` (`len` bytes) lies outside the ring as read.
    #[error("text block at {start:#x} ({len} bytes) outside the data ring")]
    Outside { start: u64, len: u64 },
    /// The block's id is not the descriptor's.
    #[error("text block id {bid:#x} is not the record's")]
    WrongId { bid: u64 },
}

/// The text of the data block `[begin, next)` for descriptor `id`, as `get_data()` finds it.
fn block_text<'a>(
    l: &PrintkLayout,
    data: &'a [u8],
    size_bits: u32,
    id: u64,
    begin: u64,
    next: u64,
) -> Result<&'a [u8], BlockError> {
    if begin & 1 != 0 && next & 1 != 0 {
        return Ok(&[]); // data-less record
    }
    let size = 1u64 << size_bits;
    let wraps = |lpos: u64| lpos >> size_bits;
    let (start, len) = if wraps(begin) == wraps(next) {
        (begin & (size - 1), next.wrapping_sub(begin))
    } else if wraps(begin.wrapping_add(size)) == wraps(next) {
        (0, next & (size - 1))
    } else {
        return Err(BlockError::Lpos { begin, next });
    };
    if len < l.block_data || start + len > size {
        return Err(BlockError::Length { len });
    }
    let outside = BlockError::Outside { start, len };
    let block = usize::try_from(start)
        .ok()
        .zip(usize::try_from(start + len).ok())
        .and_then(|(s, e)| data.get(s..e))
        .ok_or(outside)?;
    let bid = get(
        block,
        0,
        F {
            off: 0,
            size: l.block_data,
            bit: 0,
            bits: 0,
        },
    )
    .unwrap_or(u64::MAX);
    if bid & DESC_ID_MASK != id & DESC_ID_MASK {
        return Err(BlockError::WrongId { bid });
    }
    usize::try_from(l.block_data)
        .ok()
        .and_then(|d| block.get(d..))
        .ok_or(outside)
}

/// Decodes the records of a ring whose descriptor, info and data arrays were read whole.
pub fn decode(l: &PrintkLayout, h: &RingHeader, descs: &[u8], infos: &[u8], data: &[u8]) -> Log {
    let mut log = Log::default();
    let count = 1u64 << h.count_bits;
    let span = h.head_id.wrapping_sub(h.tail_id) & DESC_ID_MASK;
    if span >= count {
        log.problems.push(format!(
            "descriptor ids {:#x}..{:#x} span more than the ring's {count}",
            h.tail_id, h.head_id
        ));
        return log;
    }
    for k in 0..=span {
        let id = h.tail_id.wrapping_add(k) & DESC_ID_MASK;
        let idx = id & (count - 1);
        let dbase = idx * l.desc_size;
        let (Some(sv), Some(begin), Some(next)) = (
            get(descs, dbase, l.state_var),
            get(descs, dbase, l.lpos_begin),
            get(descs, dbase, l.lpos_next),
        ) else {
            log.problems.push(format!("descriptor {id:#x} unreadable"));
            continue;
        };
        let state = sv >> DESC_FLAGS_SHIFT;
        if sv & DESC_ID_MASK != id || (state != DESC_COMMITTED && state != DESC_FINALIZED) {
            continue; // reserved, reusable or recycled: not a readable record
        }
        let ibase = idx * l.info_size;
        let info = (
            get(infos, ibase, l.seq),
            get(infos, ibase, l.ts_nsec),
            get(infos, ibase, l.text_len),
            get(infos, ibase, l.facility),
            get(infos, ibase, l.level),
        );
        let (Some(seq), Some(ts_nsec), Some(text_len), Some(facility), Some(level)) = info else {
            log.problems
                .push(format!("record {id:#x}: info unreadable"));
            continue;
        };
        let text = match block_text(l, data, h.size_bits, id, begin, next) {
            Ok(t) => t,
            Err(e) => {
                log.problems
                    .push(format!("record seq {seq} skipped (corrupt): {e}"));
                continue;
            }
        };
        let text = text.get(..text_len as usize).unwrap_or(text);
        log.records.push(LogRecord {
            seq,
            ts_nsec,
            level: level as u8,
            facility: facility as u8,
            text: String::from_utf8_lossy(text).into_owned(),
        });
    }
    log
}

fn bounded(cmd: &str, what: &str, bits: u64, unit: u64) -> Result<u64, Error> {
    let n = 1u64
        .checked_shl(bits as u32)
        .and_then(|c| c.checked_mul(unit))
        .filter(|&b| bits < 40 && b <= MAX_RING_BYTES)
        .ok_or_else(|| Error::Corrupt(format!("{cmd}: implausible {what} ({bits} bits)")))?;
    Ok(n)
}

/// Reads the whole log through `prb`.
pub fn read_log(program: &mut Program, btf: &Btf, cmd: &str) -> Result<Log, Error> {
    let l = PrintkLayout::from_btf(btf).map_err(|e| Error::layout(cmd, e))?;
    let prb_sym = program
        .symbols()
        .lookup_name("prb")
        .ok_or_else(|| Error::missing(cmd, "no symbol prb (printk ring buffer, Linux 5.10+)"))?;
    let prb = program.read_u64(prb_sym, Some("prb"))?;
    let hdr = program.read_bytes(VirtAddr(prb), l.rb_size as usize, Some("printk_ringbuffer"))?;
    let g = |f: F| get(&hdr, 0, f).unwrap_or(0);
    let h = RingHeader {
        count_bits: g(l.count_bits) as u32,
        descs: g(l.descs),
        infos: g(l.infos),
        head_id: g(l.head_id),
        tail_id: g(l.tail_id),
        size_bits: g(l.size_bits) as u32,
        data: g(l.data),
    };
    let dlen = bounded(
        cmd,
        "descriptor count",
        u64::from(h.count_bits),
        l.desc_size,
    )?;
    let ilen = bounded(
        cmd,
        "descriptor count",
        u64::from(h.count_bits),
        l.info_size,
    )?;
    let tlen = bounded(cmd, "text ring size", u64::from(h.size_bits), 1)?;
    let descs = program.read_bytes(VirtAddr(h.descs), dlen as usize, Some("prb descriptors"))?;
    let infos = program.read_bytes(VirtAddr(h.infos), ilen as usize, Some("prb infos"))?;
    let data = program.read_bytes(VirtAddr(h.data), tlen as usize, Some("prb text ring"))?;
    let mut log = decode(&l, &h, &descs, &infos, &data);
    log.records.sort_by_key(|r| r.seq);
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> PrintkLayout {
        let f = |off, size| F {
            off,
            size,
            bit: 0,
            bits: 0,
        };
        PrintkLayout {
            rb_size: 0,
            count_bits: f(0, 4),
            descs: f(8, 8),
            infos: f(16, 8),
            head_id: f(24, 8),
            tail_id: f(32, 8),
            size_bits: f(40, 4),
            data: f(48, 8),
            desc_size: 24,
            state_var: f(0, 8),
            lpos_begin: f(8, 8),
            lpos_next: f(16, 8),
            info_size: 16,
            seq: f(0, 8),
            ts_nsec: f(8, 4),
            text_len: f(12, 2),
            facility: f(14, 1),
            level: F {
                off: 15,
                size: 1,
                bit: 5,
                bits: 3,
            },
            block_data: 8,
        }
    }

    #[test]
    fn decodes_plain_and_wrapped_blocks_and_skips_corrupt_ones() {
        let l = layout();
        // 4 descriptors, 64-byte text ring.
        let mut descs = vec![0u8; 4 * 24];
        let mut infos = vec![0u8; 4 * 16];
        let mut data = vec![0u8; 64];
        let put = |b: &mut Vec<u8>, at: usize, v: u64, n: usize| {
            b[at..at + n].copy_from_slice(&v.to_le_bytes()[..n]);
        };
        let fin = DESC_FINALIZED << 62;
        // id 5 (index 1): "hello" at lpos 64+40..64+56 (block: id + 5 bytes, padded).
        put(&mut descs, 24, fin | 5, 8);
        put(&mut descs, 32, 64 + 40, 8);
        put(&mut descs, 40, 64 + 56, 8);
        put(&mut data, 40, 5, 8);
        data[48..53].copy_from_slice(b"hello");
        put(&mut infos, 16, 7, 8);
        put(&mut infos, 24, 1_500_000_000, 4);
        put(&mut infos, 28, 5, 2);
        infos[31] = 6 << 5;
        // id 6 (index 2): wraps: begin 64+56, next 128+16: block at 0..16.
        put(&mut descs, 48, fin | 6, 8);
        put(&mut descs, 56, 64 + 56, 8);
        put(&mut descs, 64, 128 + 16, 8);
        put(&mut data, 0, 6, 8);
        data[8..12].copy_from_slice(b"a\nbc");
        put(&mut infos, 32, 8, 8);
        put(&mut infos, 44, 4, 2);
        // id 7 (index 3): block id mismatch.
        put(&mut descs, 72, fin | 7, 8);
        put(&mut descs, 80, 128 + 16, 8);
        put(&mut descs, 88, 128 + 32, 8);
        put(&mut infos, 48, 9, 8);
        let h = RingHeader {
            count_bits: 2,
            descs: 0,
            infos: 0,
            head_id: 7,
            tail_id: 5,
            size_bits: 6,
            data: 0,
        };
        let log = decode(&l, &h, &descs, &infos, &data);
        assert_eq!(log.records.len(), 2, "{log:?}");
        assert_eq!(log.records[0].text, "hello");
        assert_eq!(log.records[0].level, 6);
        assert_eq!(
            log.records[0].dmesg_lines(),
            vec!["[    1.500000] hello".to_string()]
        );
        assert_eq!(
            log.records[1].dmesg_lines(),
            vec!["[    0.000000] a", "[    0.000000] bc"]
        );
        assert_eq!(log.problems.len(), 1, "{:?}", log.problems);
        assert!(log.problems[0].contains("seq 9"));
    }
}
