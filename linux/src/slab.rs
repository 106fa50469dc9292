//! SLUB: the slab object an address of the direct map falls in, and of which cache.
//!
//! From the address's page frame to its `struct page` in the vmemmap, to the compound
//! head, whose page flags (`PG_slab` up to 6.9) or page type (`PGTY_slab` on 6.12+, an
//! inverted bit on 6.10–6.11) say whether it is a slab; `struct slab` (5.17+, overlaying
//! `struct page`) gives `slab_cache` and the object count, and the `kmem_cache` the name,
//! the object size and the left red zone. Whether the object is free is read from the
//! slab's freelist and the per-CPU freelist of a CPU whose active slab it is (up to 6.x),
//! or the per-CPU sheaves and per-node barns (7.x, [`sheaves`]), decoding hardened free
//! pointers. Every offset comes from BTF; every value read is guest data:
//! pointers are range-checked, walks are bounded by the slab's object count.

mod freelist;
pub mod sheaves;
pub mod stats;

pub use freelist::decode_free_pointer;

use super::layout::{find_member, find_struct, struct_size, LayoutError, MemberPlace};
use crate::memory::{u32_at, u64_at};
use crate::Error;
use crate::Program;
use freelist::object_state;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::{Btf, TypeId};
use sheaves::{InSheaf, SheafLayout};

/// Objects in one slab at most (`objects` is a 15-bit field).
pub const MAX_OBJECTS: u64 = 1 << 15;
/// The longest cache name read.
const MAX_NAME: usize = 64;
/// Pages in a compound page at most (order 18, beyond any slab or THP).
const MAX_COMPOUND_PAGES: u64 = 1 << 18;

/// How a page says it is a slab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlabTest {
    /// `PG_slab`, a bit of `page->flags` (up to 6.9).
    Flag { bit: u32 },
    /// 6.12+: the top byte of `page->page_type` is `PGTY_slab`.
    TypeByte { offset: u64, value: u8 },
    /// 6.10–6.11: `(page_type & (PAGE_TYPE_BASE | PG_slab)) == PAGE_TYPE_BASE`.
    TypeBit { offset: u64, base: u32, flag: u32 },
    /// Nothing in BTF says: the cache pointer is checked against `slab_caches`.
    Unknown,
}

/// Offsets in `struct kmem_cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheLayout {
    pub size: u64,
    pub object_size: u64,
    pub name: u64,
    pub offset: u64,
    pub red_left_pad: Option<u64>,
    /// `random`: present when free pointers are hardened (`CONFIG_SLAB_FREELIST_HARDENED`).
    pub random: Option<u64>,
    pub cpu_slab: Option<u64>,
    pub list: Option<u64>,
}

/// What the slab lookup reads, from BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlabLayout {
    /// `sizeof(struct page)`.
    pub page_size: u64,
    pub compound_head: Option<u64>,
    pub test: SlabTest,
    /// In `struct slab` (or `struct page` before 5.17).
    pub slab_cache: u64,
    pub(crate) objects: Option<MemberPlace>,
    pub freelist: Option<u64>,
    pub cache: CacheLayout,
    /// `struct kmem_cache_cpu`: `freelist` and `slab` (`page` before 5.17).
    pub cpu_freelist: Option<(u64, u64)>,
    /// 7.x: per-CPU sheaves and per-node barns instead of `kmem_cache_cpu`.
    pub sheaves: Option<SheafLayout>,
}

fn enum_value(btf: &Btf, enum_name: &str, name: &str) -> Option<u64> {
    let id = btf.find(&format!("enum {enum_name}")).ok()?.plain()?;
    let ty = btf.resolved(id).ok()?;
    btf.enumerators(ty)
        .find(|e| e.name == name)
        .map(|e| e.value)
}

fn opt(btf: &Btf, id: TypeId, sname: &str, path: &str) -> Option<u64> {
    find_member(btf, id, sname, path).ok().map(|m| m.offset)
}

impl SlabLayout {
    /// Looks the offsets up in `btf`; the error names what is missing.
    pub fn from_btf(btf: &Btf) -> Result<SlabLayout, LayoutError> {
        let page = find_struct(btf, "page")?;
        let page_size = struct_size(btf, page, "page")?;
        let (slab, sname) = match find_struct(btf, "slab") {
            Ok(s) => (s, "slab"),
            Err(_) => (page, "page"),
        };
        let slab_cache = find_member(btf, slab, sname, "slab_cache")?.offset;
        let objects = find_member(btf, slab, sname, "objects").ok();
        let freelist = opt(btf, slab, sname, "freelist");
        let page_type = opt(btf, page, "page", "page_type");
        let test = if let (Some(v), Some(offset)) =
            (enum_value(btf, "pagetype", "PGTY_slab"), page_type)
        {
            SlabTest::TypeByte {
                offset,
                value: v as u8,
            }
        } else if let Some(bit) = enum_value(btf, "pageflags", "PG_slab") {
            SlabTest::Flag { bit: bit as u32 }
        } else if let (Some(flag), Some(offset)) =
            (enum_value(btf, "pagetype", "PG_slab"), page_type)
        {
            SlabTest::TypeBit {
                offset,
                base: enum_value(btf, "pagetype", "PAGE_TYPE_BASE").unwrap_or(0xf000_0000) as u32,
                flag: flag as u32,
            }
        } else {
            SlabTest::Unknown
        };
        let kc = find_struct(btf, "kmem_cache")?;
        let req = |p: &str| find_member(btf, kc, "kmem_cache", p).map(|m| m.offset);
        let cache = CacheLayout {
            size: req("size")?,
            object_size: req("object_size")?,
            name: req("name")?,
            offset: req("offset")?,
            red_left_pad: opt(btf, kc, "kmem_cache", "red_left_pad"),
            random: opt(btf, kc, "kmem_cache", "random"),
            cpu_slab: opt(btf, kc, "kmem_cache", "cpu_slab"),
            list: opt(btf, kc, "kmem_cache", "list"),
        };
        let cpu_freelist = find_struct(btf, "kmem_cache_cpu").ok().and_then(|c| {
            let f = opt(btf, c, "kmem_cache_cpu", "freelist")?;
            let s = opt(btf, c, "kmem_cache_cpu", "slab")
                .or_else(|| opt(btf, c, "kmem_cache_cpu", "page"))?;
            Some((f, s))
        });
        Ok(SlabLayout {
            page_size,
            compound_head: opt(btf, page, "page", "compound_head")
                .or_else(|| opt(btf, page, "page", "compound_info")),
            test,
            slab_cache,
            objects,
            freelist,
            cache,
            cpu_freelist,
            sheaves: SheafLayout::from_btf(btf),
        })
    }

    /// The compound head of the `struct page` at `page` whose bytes are `b`: itself unless
    /// `compound_head` (`compound_info` in 7.x) has bit 0 set. The rest of the word is the
    /// head's address, or in 7.x, when the vmemmap allows it, a mask that gives the head
    /// from the tail's own address (`page & mask`; seen on Debian's 7.2.13:
    /// `0xfffffffffffffe01` in the tail pages of an order-3 slab). A mask is all ones above
    /// an alignment of 64 bytes to 1 GiB; no `struct page` address has that form.
    pub fn head_of(&self, page: u64, b: &[u8]) -> u64 {
        match self.compound_head.map(|o| u64_at(b, o)) {
            Some(h) if h & 1 == 1 => {
                let v = h & !1;
                let is_mask = (!v)
                    .checked_add(1)
                    .is_some_and(|a| a.is_power_of_two() && (64..=1 << 30).contains(&a));
                if is_mask {
                    page & v
                } else {
                    v
                }
            }
            _ => page,
        }
    }

    /// Whether the head page whose bytes are `b` is a slab; `None` when BTF cannot tell.
    pub fn is_slab(&self, b: &[u8]) -> Option<bool> {
        match self.test {
            SlabTest::Flag { bit } => Some(bit < 64 && u64_at(b, 0) >> bit & 1 == 1),
            SlabTest::TypeByte { offset, value } => Some((u32_at(b, offset) >> 24) as u8 == value),
            SlabTest::TypeBit { offset, base, flag } => {
                Some(u32_at(b, offset) & (base | flag) == base)
            }
            SlabTest::Unknown => None,
        }
    }

    /// The object count of the slab whose head page bytes are `b`.
    pub fn objects_of(&self, b: &[u8]) -> Option<u64> {
        let p = self.objects?;
        let raw = u64_at(b, p.offset);
        let bits = if p.bits == 0 {
            p.size as u32 * 8
        } else {
            p.bits
        };
        Some((raw >> p.bit) & ((1u64 << bits.min(63)) - 1))
    }
}

/// The direct map and the vmemmap, at their (KASLR) bases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectMap {
    /// `PAGE_OFFSET`: where physical address 0 is mapped.
    pub page_offset: u64,
    /// `VMEMMAP_START`: the `struct page` of page frame 0.
    pub vmemmap: u64,
    /// One past the last page frame (`max_pfn`).
    pub max_pfn: u64,
}

impl DirectMap {
    /// The page frame of a direct-map address.
    pub fn pfn_of(&self, addr: u64) -> Option<u64> {
        let pfn = addr.checked_sub(self.page_offset)? >> 12;
        (pfn < self.max_pfn).then_some(pfn)
    }

    /// The `struct page` of page frame `pfn` in the vmemmap (`page_size`: `sizeof(struct page)`).
    pub fn page_of(&self, pfn: u64, page_size: u64) -> u64 {
        self.vmemmap.wrapping_add(pfn.wrapping_mul(page_size))
    }

    /// The page frame of the `struct page` at `page`, if it is one.
    pub fn pfn_of_page(&self, page: u64, page_size: u64) -> Option<u64> {
        let d = page.checked_sub(self.vmemmap)?;
        (page_size > 0 && d % page_size == 0 && d / page_size < self.max_pfn).then(|| d / page_size)
    }
}

/// A cache as read from its `kmem_cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    /// The `struct kmem_cache`.
    pub addr: u64,
    /// The cache's name (`kmalloc-64`).
    pub name: String,
    /// The stride of its objects, metadata included.
    pub size: u64,
    /// The size the user asked for.
    pub object_size: u64,
    /// The left red zone before each object (0 without debugging).
    pub red_left_pad: u64,
    /// Where in a free object its free pointer is.
    pub offset: u64,
    /// The free-pointer hardening key, when hardened.
    pub random: Option<u64>,
    /// `cpu_slab` (per-CPU `kmem_cache_cpu`), 0 without.
    pub cpu_slab: u64,
    /// `cpu_sheaves` (7.x), 0 without.
    pub cpu_sheaves: u64,
}

/// Where in a slab an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In object `index`, which starts at `start`; `offset` past it (beyond `object_size`:
    /// in the red zone or metadata after it).
    Object { index: u64, start: u64, offset: u64 },
    /// In the left red zone of object `index`.
    LeftRedZone { index: u64, start: u64 },
    /// Past the last object.
    Tail,
}

/// Where `addr` is in a slab at `base` of `objects` objects of `cache`.
pub fn place(base: u64, cache: &Cache, objects: u64, addr: u64) -> Placement {
    let Some(d) = addr.checked_sub(base).filter(|_| cache.size > 0) else {
        return Placement::Tail;
    };
    let index = d / cache.size;
    if index >= objects {
        return Placement::Tail;
    }
    let start = base
        .wrapping_add(index * cache.size)
        .wrapping_add(cache.red_left_pad);
    match addr.checked_sub(start) {
        Some(offset) => Placement::Object {
            index,
            start,
            offset,
        },
        None => Placement::LeftRedZone { index, start },
    }
}

/// Allocated or free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectState {
    /// On no freelist, sheaf or barn: in use.
    Allocated,
    /// On the slab's freelist.
    Free,
    /// On CPU `cpu`'s freelist (the slab is that CPU's active one).
    FreeOnCpu(u32),
    /// In a CPU's sheaf or a node's barn (7.x).
    FreeInSheaf(InSheaf),
}

/// A slab object holding an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlabObject {
    /// The cache the slab belongs to.
    pub cache: Cache,
    /// The `struct slab` (the head `struct page`).
    pub slab: u64,
    /// The slab's first byte.
    pub base: u64,
    /// How many objects the slab holds.
    pub objects: u64,
    /// Where in the slab the address is.
    pub placement: Placement,
    /// `None` when the freelists could not be read.
    pub state: Option<ObjectState>,
}

/// Why no slab object could be named.
#[derive(Debug, thiserror::Error)]
pub enum SlabError {
    /// Guest memory could not be read.
    #[error(transparent)]
    Read(#[from] Error),
    /// The slab's `struct page`, cache or object count makes no sense; `why` says which.
    #[error("slab {slab:#x}: {why}")]
    Corrupt { slab: u64, why: String },
}

/// Finds the slab object holding `addr`, a direct-map address; `Ok(None)` when its page is
/// not a slab.
pub fn lookup(
    program: &mut Program,
    l: &SlabLayout,
    map: &DirectMap,
    addr: u64,
) -> Result<Option<SlabObject>, SlabError> {
    let Some(pfn) = map.pfn_of(addr) else {
        return Ok(None);
    };
    let page = map.page_of(pfn, l.page_size);
    let psize = l.page_size as usize;
    let b = program.read_bytes(VirtAddr(page), psize, Some("struct page"))?;
    let head = l.head_of(page, &b);
    let head_pfn = match map.pfn_of_page(head, l.page_size) {
        Some(h) if h <= pfn && pfn - h < MAX_COMPOUND_PAGES => h,
        _ => {
            return Err(SlabError::Corrupt {
                slab: page,
                why: format!("compound head {head:#x} is not a struct page before it"),
            })
        }
    };
    let hb = if head == page {
        b
    } else {
        program.read_bytes(VirtAddr(head), psize, Some("struct page (compound head)"))?
    };
    let flagged = l.is_slab(&hb);
    if flagged == Some(false) {
        return Ok(None);
    }
    let corrupt = |why: String| SlabError::Corrupt { slab: head, why };
    let cache_addr = u64_at(&hb, l.slab_cache);
    if flagged.is_none() && !on_slab_caches(program, l, cache_addr)? {
        return Ok(None);
    }
    let cache = read_cache(program, l, cache_addr).map_err(|e| match e {
        SlabError::Corrupt { why, .. } => corrupt(why),
        e => e,
    })?;
    let base = map.page_offset.wrapping_add(head_pfn << 12);
    let objects = match l.objects_of(&hb) {
        Some(n) if n > 0 && n <= MAX_OBJECTS => n,
        Some(n) => return Err(corrupt(format!("{n} objects"))),
        None => ((pfn - head_pfn + 1) << 12) / cache.size,
    };
    let placement = place(base, &cache, objects, addr);
    let state = match placement {
        Placement::Object { start, .. } | Placement::LeftRedZone { start, .. } => {
            object_state(program, l, &cache, head, &hb, objects, start)?
        }
        Placement::Tail => None,
    };
    Ok(Some(SlabObject {
        cache,
        slab: head,
        base,
        objects,
        placement,
        state,
    }))
}

fn read_cache(program: &mut Program, l: &SlabLayout, addr: u64) -> Result<Cache, SlabError> {
    let c = &l.cache;
    let bad = |why: String| SlabError::Corrupt { slab: 0, why };
    if addr == 0 {
        return Err(bad("slab_cache is NULL".into()));
    }
    let end = [c.size, c.object_size, c.offset]
        .into_iter()
        .chain(c.red_left_pad)
        .map(|o| o + 4)
        .chain(
            [
                c.name,
                c.random.unwrap_or(0),
                c.cpu_slab.unwrap_or(0),
                l.sheaves.as_ref().map_or(0, |s| s.cpu_sheaves),
            ]
            .map(|o| o + 8),
        )
        .max()
        .unwrap_or(0);
    let b = program.read_bytes(VirtAddr(addr), end as usize, Some("struct kmem_cache"))?;
    let name_ptr = u64_at(&b, c.name);
    let raw = program.read_partial(VirtAddr(name_ptr), MAX_NAME)?.data;
    let name_end = raw.iter().position(|&x| x == 0).unwrap_or(raw.len());
    let name = String::from_utf8_lossy(raw.get(..name_end).unwrap_or_default()).into_owned();
    if name.is_empty() || !name.chars().all(|ch| ch.is_ascii_graphic()) {
        return Err(bad(format!(
            "kmem_cache {addr:#x} has no readable name (at {name_ptr:#x})"
        )));
    }
    let size = u64::from(u32_at(&b, c.size));
    let object_size = u64::from(u32_at(&b, c.object_size));
    if size == 0 || object_size > size {
        return Err(bad(format!(
            "kmem_cache {addr:#x} ({name}): size {size:#x}, object size {object_size:#x}"
        )));
    }
    Ok(Cache {
        addr,
        name,
        size,
        object_size,
        red_left_pad: c
            .red_left_pad
            .map_or(0, |o| u64::from(u32_at(&b, o)))
            .min(size),
        offset: u64::from(u32_at(&b, c.offset)),
        random: c.random.map(|o| u64_at(&b, o)),
        cpu_slab: c.cpu_slab.map_or(0, |o| u64_at(&b, o)),
        cpu_sheaves: l.sheaves.as_ref().map_or(0, |s| u64_at(&b, s.cpu_sheaves)),
    })
}

/// Whether `cache` is on the `slab_caches` list (for kernels whose BTF cannot say that a
/// page is a slab).
fn on_slab_caches(program: &mut Program, l: &SlabLayout, cache: u64) -> Result<bool, Error> {
    let (Some(list), Some(head)) = (
        l.cache.list,
        program.symbols().lookup_name("slab_caches").map(|a| a.0),
    ) else {
        return Ok(false);
    };
    let mut next = program.read_u64(VirtAddr(head), Some("slab_caches"))?;
    for _ in 0..4096 {
        if next == head || next == 0 {
            break;
        }
        if next.wrapping_sub(list) == cache {
            return Ok(true);
        }
        next = program.read_u64(VirtAddr(next), Some("kmem_cache.list"))?;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(test: SlabTest) -> SlabLayout {
        SlabLayout {
            page_size: 64,
            compound_head: Some(8),
            test,
            slab_cache: 24,
            objects: Some(MemberPlace {
                offset: 40,
                size: 4,
                bit: 16,
                bits: 15,
            }),
            freelist: Some(32),
            cache: CacheLayout {
                size: 0x18,
                object_size: 0x1c,
                name: 0x60,
                offset: 0x28,
                red_left_pad: Some(0x58),
                random: Some(0xb8),
                cpu_slab: Some(0),
                list: Some(0x68),
            },
            cpu_freelist: Some((0, 16)),
            sheaves: None,
        }
    }

    fn cache(size: u64, red: u64) -> Cache {
        Cache {
            addr: 0x1000,
            name: "kmalloc-64".into(),
            size,
            object_size: size - red,
            red_left_pad: red,
            offset: 0,
            random: None,
            cpu_slab: 0,
            cpu_sheaves: 0,
        }
    }

    #[test]
    fn compound_heads_by_address_or_by_mask() {
        let l = layout(SlabTest::Flag { bit: 9 });
        let page = |info: u64| {
            let mut b = vec![0u8; 64];
            b[8..16].copy_from_slice(&info.to_le_bytes());
            b
        };
        let tail = 0xfffff4adc009a440;
        // Up to 6.x (and 7.x without the mask): the head's address, plus 1.
        assert_eq!(
            l.head_of(tail, &page(0xfffff4adc009a401)),
            0xfffff4adc009a400
        );
        // 7.2.13's order-3 slab: a mask.
        assert_eq!(
            l.head_of(tail, &page(0xfffffffffffffe01)),
            0xfffff4adc009a400
        );
        // A head page, and a word of all ones (no 64..1 GiB alignment) taken as an address.
        assert_eq!(l.head_of(tail, &page(0)), tail);
        assert_eq!(l.head_of(tail, &page(u64::MAX)), u64::MAX - 1);
    }

    #[test]
    fn heads_and_slab_tests() {
        let l = layout(SlabTest::Flag { bit: 9 });
        let mut b = vec![0u8; 64];
        assert_eq!(l.head_of(0x5000, &b), 0x5000);
        b[8..16].copy_from_slice(&0x4001u64.to_le_bytes());
        assert_eq!(l.head_of(0x5000, &b), 0x4000);
        assert_eq!(l.is_slab(&b), Some(false));
        b[0..8].copy_from_slice(&(1u64 << 9).to_le_bytes());
        assert_eq!(l.is_slab(&b), Some(true));
        b[40..44].copy_from_slice(&((21u32 << 16) | 7).to_le_bytes());
        assert_eq!(l.objects_of(&b), Some(21));

        let l = layout(SlabTest::TypeByte {
            offset: 48,
            value: 0xf5,
        });
        assert_eq!(l.is_slab(&b), Some(false));
        b[48..52].copy_from_slice(&0xf500_0000u32.to_le_bytes());
        assert_eq!(l.is_slab(&b), Some(true));
        let l = layout(SlabTest::TypeBit {
            offset: 48,
            base: 0xf000_0000,
            flag: 0x1000,
        });
        b[48..52].copy_from_slice(&0xffff_efffu32.to_le_bytes());
        assert_eq!(l.is_slab(&b), Some(true));
        b[48..52].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
        assert_eq!(l.is_slab(&b), Some(false));
        assert_eq!(layout(SlabTest::Unknown).is_slab(&b), None);
        // Short bytes read as zero, never panic.
        assert_eq!(layout(SlabTest::Flag { bit: 9 }).is_slab(&[1]), Some(false));
        assert_eq!(layout(SlabTest::Flag { bit: 99 }).is_slab(&b), Some(false));
    }

    #[test]
    fn placement_in_a_slab() {
        let c = cache(0x40, 0);
        assert_eq!(
            place(0x10000, &c, 64, 0x10048),
            Placement::Object {
                index: 1,
                start: 0x10040,
                offset: 8
            }
        );
        assert_eq!(place(0x10000, &c, 64, 0x11000), Placement::Tail);
        assert_eq!(place(0x10000, &c, 64, 0xffff), Placement::Tail);
        let c = cache(0x60, 0x20);
        assert_eq!(
            place(0x10000, &c, 4, 0x10070),
            Placement::LeftRedZone {
                index: 1,
                start: 0x10080
            }
        );
        assert_eq!(
            place(0x10000, &c, 4, 0x10090),
            Placement::Object {
                index: 1,
                start: 0x10080,
                offset: 0x10
            }
        );
        assert_eq!(place(0x10000, &cache(0, 0), 4, 0x10000), Placement::Tail);
    }

    #[test]
    fn direct_map_and_free_pointers() {
        let m = DirectMap {
            page_offset: 0xffff_8880_0000_0000,
            vmemmap: 0xffff_ea00_0000_0000,
            max_pfn: 0x20000,
        };
        assert_eq!(m.pfn_of(0xffff_8880_0123_4567), Some(0x1234));
        assert_eq!(m.pfn_of(0xffff_8880_2000_0000), None);
        assert_eq!(m.pfn_of(0x1000), None);
        assert_eq!(m.page_of(0x1234, 64), 0xffff_ea00_0004_8d00);
        assert_eq!(m.pfn_of_page(0xffff_ea00_0004_8d00, 64), Some(0x1234));
        assert_eq!(m.pfn_of_page(0xffff_ea00_0004_8d08, 64), None);
        let at = 0xffff_8880_0123_4010u64;
        let (next, random) = (0xffff_8880_0123_4040u64, 0x1234_5678_9abc_def0u64);
        let raw = next ^ random ^ at.swap_bytes();
        assert_eq!(decode_free_pointer(raw, Some(random), at), next);
        assert_eq!(decode_free_pointer(next, None, at), next);
    }
}
