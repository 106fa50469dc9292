//! Parsing `.BTF`: validate the header, walk the type section once to record where each
//! type starts (checking every record's bounds and name offsets), and build the name index.
//! Everything else is read lazily from the kept bytes.

use super::error::BtfError;
use super::layout::{self, header};
use super::types::Kind;
use super::{Btf, NameEntry, TypeId};

/// The largest `.BTF` accepted (the kernel's own limit is 16 MiB per object; vmlinux is
/// far larger than modules, so leave room).
pub const MAX_BTF_SIZE: usize = 256 << 20;

/// The little-endian u16/u32 at `offset`, or a `Truncated` error naming `what`.
fn u16_at(data: &[u8], offset: usize, what: &'static str) -> Result<u16, BtfError> {
    let b = bytes_at::<2>(data, offset, what)?;
    Ok(u16::from_le_bytes(b))
}

fn u32_at(data: &[u8], offset: usize, what: &'static str) -> Result<u32, BtfError> {
    let b = bytes_at::<4>(data, offset, what)?;
    Ok(u32::from_le_bytes(b))
}

fn bytes_at<const N: usize>(
    data: &[u8],
    offset: usize,
    what: &'static str,
) -> Result<[u8; N], BtfError> {
    offset
        .checked_add(N)
        .and_then(|end| data.get(offset..end))
        .and_then(|s| s.try_into().ok())
        .ok_or(BtfError::Truncated {
            what,
            offset,
            need: N,
            have: data.len().saturating_sub(offset),
        })
}

/// `[off, off+len)` inside `[0, limit)`, or a header error naming `what`.
fn section(off: u32, len: u32, limit: usize, what: &str) -> Result<(usize, usize), BtfError> {
    let start = off as usize;
    let end = start.checked_add(len as usize).filter(|&e| e <= limit);
    end.map(|e| (start, e)).ok_or_else(|| {
        BtfError::Header(format!(
            "the {what} section ({off:#x}+{len:#x}) runs past the end of the data ({limit:#x} bytes after the header)"
        ))
    })
}

/// Whether types of this kind are found by name (C's tag and ordinary namespaces).
fn indexed(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Int
            | Kind::Float
            | Kind::Struct
            | Kind::Union
            | Kind::Enum
            | Kind::Enum64
            | Kind::Fwd
            | Kind::Typedef
    )
}

pub(super) fn parse(data: &[u8]) -> Result<Btf, BtfError> {
    if data.len() > MAX_BTF_SIZE {
        return Err(BtfError::Header(format!(
            "{} bytes is more than the {MAX_BTF_SIZE} accepted",
            data.len()
        )));
    }
    let magic = u16_at(data, header::MAGIC, "header magic")?;
    if magic == layout::MAGIC.swap_bytes() {
        return Err(BtfError::BigEndian);
    }
    if magic != layout::MAGIC {
        return Err(BtfError::BadMagic(magic));
    }
    let version = data
        .get(header::VERSION)
        .copied()
        .ok_or(BtfError::Truncated {
            what: "header version",
            offset: header::VERSION,
            need: 1,
            have: 0,
        })?;
    if version != layout::VERSION {
        return Err(BtfError::Version(version));
    }
    let hdr_len = u32_at(data, header::HDR_LEN, "header length")? as usize;
    if hdr_len < layout::HEADER_LEN {
        return Err(BtfError::Header(format!(
            "header length {hdr_len} is less than {}",
            layout::HEADER_LEN
        )));
    }
    let type_off = u32_at(data, header::TYPE_OFF, "header type_off")?;
    let type_len = u32_at(data, header::TYPE_LEN, "header type_len")?;
    let str_off = u32_at(data, header::STR_OFF, "header str_off")?;
    let str_len = u32_at(data, header::STR_LEN, "header str_len")?;
    let body = data.get(hdr_len..).ok_or_else(|| {
        BtfError::Header(format!(
            "header length {hdr_len} is more than the {} bytes of data",
            data.len()
        ))
    })?;
    let (ts, te) = section(type_off, type_len, body.len(), "type")?;
    let (ss, se) = section(str_off, str_len, body.len(), "string")?;
    let types = body.get(ts..te).unwrap_or_default();
    let strings = body.get(ss..se).unwrap_or_default();
    if strings.first() != Some(&0) || strings.last() != Some(&0) {
        return Err(BtfError::Header(
            "the string section must start and end with a NUL byte".into(),
        ));
    }
    let strings = std::str::from_utf8(strings).map_err(|e| BtfError::BadString {
        offset: e.valid_up_to() as u32,
    })?;

    let mut offsets: Vec<u32> = Vec::with_capacity(types.len() / 24 + 1);
    offsets.push(0); // id 0: void
    let mut index: Vec<NameEntry> = Vec::new();
    let check_name = |id: TypeId, offset: usize, name_off: u32| -> Result<(), BtfError> {
        if strings.is_char_boundary(name_off as usize) && (name_off as usize) < strings.len() {
            Ok(())
        } else {
            Err(BtfError::BadNameOffset {
                id,
                offset: hdr_len + ts + offset,
                name_off,
            })
        }
    };
    let mut off = 0usize;
    while off < types.len() {
        let id = offsets.len() as TypeId;
        if offsets.len() > layout::MAX_TYPES {
            return Err(BtfError::TooManyTypes {
                max: layout::MAX_TYPES,
            });
        }
        let abs = hdr_len + ts + off;
        let truncated = |need: usize| BtfError::RecordTruncated {
            id,
            offset: abs,
            need,
        };
        let rec = types
            .get(off..off + layout::TYPE_HEADER_LEN)
            .ok_or(truncated(layout::TYPE_HEADER_LEN))?;
        let name_off = u32_at(rec, 0, "type name")?;
        let info = u32_at(rec, 4, "type info")?;
        let raw_kind = layout::info_kind(info);
        let vlen = layout::info_vlen(info);
        let kind = Kind::from_raw(raw_kind).ok_or(BtfError::UnknownKind {
            id,
            offset: abs,
            kind: raw_kind,
        })?;
        let trailing = layout::trailing_len(raw_kind, vlen).unwrap_or(0);
        let len = layout::TYPE_HEADER_LEN + trailing;
        let extra = types
            .get(off + layout::TYPE_HEADER_LEN..off + len)
            .ok_or(truncated(len))?;
        check_name(id, off, name_off)?;
        // Names inside the record: members, enumerators, parameters.
        let stride = match kind {
            Kind::Struct | Kind::Union => layout::MEMBER_LEN,
            Kind::Enum => layout::ENUM_LEN,
            Kind::Enum64 => layout::ENUM64_LEN,
            Kind::FuncProto => layout::PARAM_LEN,
            _ => 0,
        };
        if stride != 0 {
            for (i, r) in extra.chunks_exact(stride).enumerate() {
                let n = u32_at(r, 0, "member name")?;
                check_name(id, off + layout::TYPE_HEADER_LEN + i * stride, n)?;
            }
        }
        if name_off != 0 && indexed(kind) {
            let rest = strings.get(name_off as usize..).unwrap_or_default();
            let len = rest.find('\0').unwrap_or(rest.len());
            index.push(NameEntry {
                start: name_off,
                len: len as u32,
                id,
            });
        }
        offsets.push(off as u32);
        off += len;
    }

    let mut btf = Btf {
        types: types.to_vec(),
        strings: strings.to_string(),
        offsets,
        index,
    };
    btf.sort_index();
    Ok(btf)
}
