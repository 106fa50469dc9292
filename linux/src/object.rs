//! One kernel structure read from the guest in a single read, its members found by name in
//! the kernel's BTF: what the walkers over files, mounts, VMAs, run queues and locks use
//! instead of hand-written offsets.
//!
//! ```text
//! let file = StructView::read(program, &btf, "file", addr)?;
//! let dentry = file.ptr("f_path.dentry")?;
//! ```
//!
//! Members are paths as `::print` takes them (`f_path.dentry`, `comm[3]`, through anonymous
//! structs and unions). A member the kernel lacks is an [`Error::Layout`] naming the struct
//! and the member; the bytes are guest data, decoded without panics (a short read is an
//! error at read time, never later).

use crate::error::Error;
use crate::layout::{find_struct, LayoutError};
use crate::memory::GuestMemory;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::{Btf, TypeId};

/// The bound on the size of a structure read whole (`task_struct` is ~10 KiB).
pub const MAX_STRUCT_SIZE: u64 = 64 * 1024;

/// `struct NAME`'s type id and size; the error names the struct.
pub fn struct_type(btf: &Btf, name: &str) -> Result<(TypeId, u64), Error> {
    let id = find_struct(btf, name).map_err(|e| Error::layout(format!("struct {name}"), e))?;
    let size = btf.size_of(id).map_err(|cause| {
        Error::layout(
            format!("struct {name}"),
            LayoutError::Size {
                what: format!("struct {name}"),
                cause,
            },
        )
    })?;
    Ok((id, size))
}

/// The byte offset of member `path` in `struct sname`.
pub fn offset_of(btf: &Btf, sname: &str, path: &str) -> Result<u64, Error> {
    Ok(member_place(btf, sname, path)?.offset)
}

/// Whether `struct sname` has a member `path`.
pub fn has_member(btf: &Btf, sname: &str, path: &str) -> bool {
    find_struct(btf, sname)
        .ok()
        .is_some_and(|id| btf.member(id, path).is_ok())
}

/// Where member `path` of `struct sname` is.
pub fn member_place(btf: &Btf, sname: &str, path: &str) -> Result<Place, Error> {
    let (id, _) = struct_type(btf, sname)?;
    place_in(btf, id, sname, path)
}

fn place_in(btf: &Btf, id: TypeId, sname: &str, path: &str) -> Result<Place, Error> {
    let m = btf.member(id, path).map_err(|_| {
        Error::layout(
            format!("struct {sname}"),
            LayoutError::NoMember {
                sname: sname.into(),
                path: path.into(),
            },
        )
    })?;
    let size = btf.size_of(m.ty).map_err(|cause| {
        Error::layout(
            format!("struct {sname}"),
            LayoutError::Size {
                what: format!("{sname}.{path}"),
                cause,
            },
        )
    })?;
    Ok(Place {
        offset: m.byte_offset(),
        size,
        bit: (m.bit_offset % 8) as u32,
        bits: m.bitfield_size,
        ty: m.ty,
    })
}

/// Where a member is in its structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// Byte offset (rounded down for a bitfield).
    pub offset: u64,
    /// Size in bytes of the member's type.
    pub size: u64,
    /// For a bitfield: its first bit within the byte at `offset`; 0 otherwise.
    pub bit: u32,
    /// For a bitfield: its width; 0 for a whole member.
    pub bits: u32,
    /// The member's type.
    pub ty: TypeId,
}

/// One structure's bytes as read from the guest, and where its members are.
#[derive(Debug, Clone)]
pub struct StructView {
    addr: VirtAddr,
    name: String,
    id: TypeId,
    bytes: Vec<u8>,
}

impl StructView {
    /// Reads `struct sname` at `addr` in one read of its size.
    pub fn read(
        mem: &mut dyn GuestMemory,
        btf: &Btf,
        sname: &str,
        addr: VirtAddr,
    ) -> Result<StructView, Error> {
        let (id, size) = struct_type(btf, sname)?;
        if size > MAX_STRUCT_SIZE {
            return Err(Error::Corrupt(format!(
                "struct {sname} is {size} bytes: over the {MAX_STRUCT_SIZE}-byte bound"
            )));
        }
        let bytes = mem.read_bytes(addr, size as usize, Some(&format!("struct {sname}")))?;
        Ok(StructView {
            addr,
            name: sname.to_string(),
            id,
            bytes,
        })
    }

    /// The view of bytes already read (tests, or a structure inside a larger one).
    pub fn from_bytes(
        btf: &Btf,
        sname: &str,
        addr: VirtAddr,
        bytes: Vec<u8>,
    ) -> Result<Self, Error> {
        let (id, _) = struct_type(btf, sname)?;
        Ok(StructView {
            addr,
            name: sname.to_string(),
            id,
            bytes,
        })
    }

    /// Where the structure is.
    pub fn addr(&self) -> VirtAddr {
        self.addr
    }

    /// The structure's name (`file` for `struct file`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where member `path` is.
    pub fn place(&self, btf: &Btf, path: &str) -> Result<Place, Error> {
        place_in(btf, self.id, &self.name, path)
    }

    /// The guest address of member `path` (for a list head or an embedded structure).
    pub fn member_addr(&self, btf: &Btf, path: &str) -> Result<VirtAddr, Error> {
        Ok(self.addr.add(self.place(btf, path)?.offset))
    }

    /// Member `path`'s bytes.
    pub fn member_bytes(&self, btf: &Btf, path: &str) -> Result<&[u8], Error> {
        let p = self.place(btf, path)?;
        self.slice(p.offset, p.size, path)
    }

    fn slice(&self, offset: u64, size: u64, path: &str) -> Result<&[u8], Error> {
        let start = usize::try_from(offset).ok();
        let end = offset
            .checked_add(size)
            .and_then(|e| usize::try_from(e).ok());
        start
            .zip(end)
            .and_then(|(s, e)| self.bytes.get(s..e))
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "{}.{path} at +{offset:#x} is past the {} bytes read at {}",
                    self.name,
                    self.bytes.len(),
                    self.addr
                ))
            })
    }

    /// Member `path` as an unsigned integer (1, 2, 4 or 8 bytes, or a bitfield), zero-extended.
    pub fn uint(&self, btf: &Btf, path: &str) -> Result<u64, Error> {
        let p = self.place(btf, path)?;
        if p.bits > 0 {
            let span = (u64::from(p.bit) + u64::from(p.bits)).div_ceil(8).min(8);
            let raw = le_uint(self.slice(p.offset, span, path)?);
            let v = raw >> p.bit;
            return Ok(if p.bits >= 64 {
                v
            } else {
                v & ((1u64 << p.bits) - 1)
            });
        }
        match p.size {
            1 | 2 | 4 | 8 => Ok(le_uint(self.slice(p.offset, p.size, path)?)),
            n => Err(Error::Corrupt(format!(
                "{}.{path} is {n} bytes: not an integer",
                self.name
            ))),
        }
    }

    /// Member `path` as a signed integer, sign-extended from its size.
    pub fn int(&self, btf: &Btf, path: &str) -> Result<i64, Error> {
        let p = self.place(btf, path)?;
        let v = self.uint(btf, path)?;
        let bits = if p.bits > 0 {
            p.bits as u64
        } else {
            p.size * 8
        };
        Ok(if bits == 0 || bits >= 64 {
            v as i64
        } else {
            let shift = 64 - bits;
            ((v << shift) as i64) >> shift
        })
    }

    /// Member `path`, a pointer.
    pub fn ptr(&self, btf: &Btf, path: &str) -> Result<VirtAddr, Error> {
        Ok(VirtAddr(self.uint(btf, path)?))
    }

    /// Member `path`, a `char[]`, up to its first NUL (lossy UTF-8).
    pub fn cstr(&self, btf: &Btf, path: &str) -> Result<String, Error> {
        let b = self.member_bytes(btf, path)?;
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        Ok(String::from_utf8_lossy(b.get(..end).unwrap_or_default()).into_owned())
    }
}

/// A little-endian unsigned integer of up to 8 bytes.
fn le_uint(b: &[u8]) -> u64 {
    b.iter()
        .take(8)
        .enumerate()
        .fold(0u64, |v, (i, &byte)| v | (u64::from(byte) << (8 * i)))
}

/// A NUL-terminated string at `addr` (at most `max` bytes; lossy UTF-8), for names kept out
/// of line (`dentry.d_name.name`, `super_block.s_type->name`).
pub fn read_cstring(
    mem: &mut dyn GuestMemory,
    addr: VirtAddr,
    max: usize,
) -> Result<String, Error> {
    let b = mem.read_some(addr, max)?;
    if b.is_empty() {
        return Err(Error::read("string", addr, crate::error::ReadCause::Wrap));
    }
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    Ok(String::from_utf8_lossy(b.get(..end).unwrap_or_default()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::SparseMemory;
    use qmdb_kernel::btf::builder::BtfBuilder;

    #[test]
    fn members_decode_by_name() {
        let mut b = BtfBuilder::new();
        let u32t = b.int("unsigned int", 4, 32, 0);
        let u64t = b.int("long unsigned int", 8, 64, 0);
        let ptr = b.ptr(u64t);
        b.struct_bitfields(
            "thing",
            24,
            &[
                ("a", u32t, 0, 0),
                ("f", u32t, 36, 3),
                ("b", u64t, 64, 0),
                ("p", ptr, 128, 0),
            ],
        );
        let btf = Btf::parse(&b.build()).unwrap();
        let mut mem = SparseMemory::default();
        let mut bytes = vec![0u8; 24];
        bytes[0..4].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        bytes[4] = 0b0101_0000;
        bytes[8..16].copy_from_slice(&7u64.to_le_bytes());
        bytes[16..24].copy_from_slice(&0xffff_8880_0000_1000u64.to_le_bytes());
        mem.put(0x1000, &bytes);
        let v = StructView::read(&mut mem, &btf, "thing", VirtAddr(0x1000)).unwrap();
        assert_eq!(v.uint(&btf, "a").unwrap(), 0xdead_beef);
        assert_eq!(v.uint(&btf, "f").unwrap(), 0b101);
        assert_eq!(v.int(&btf, "f").unwrap(), -3);
        assert_eq!(v.uint(&btf, "b").unwrap(), 7);
        assert_eq!(v.ptr(&btf, "p").unwrap(), VirtAddr(0xffff_8880_0000_1000));
        assert_eq!(v.member_addr(&btf, "b").unwrap(), VirtAddr(0x1008));
        assert!(v
            .uint(&btf, "nosuch")
            .unwrap_err()
            .to_string()
            .contains("nosuch"));
        assert!(StructView::read(&mut mem, &btf, "thing", VirtAddr(0x9000)).is_err());
        assert_eq!(offset_of(&btf, "thing", "p").unwrap(), 16);
        assert!(has_member(&btf, "thing", "f") && !has_member(&btf, "thing", "g"));
    }
}
