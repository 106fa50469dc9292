//! Everything a kernel file would give, read from the running kernel: kallsyms from its
//! `.rodata`, then by symbol the banner, build id, BTF, ORC tables and VMCOREINFO.

use super::vmcoreinfo::{VmcoreInfo, MAX_NOTE};
use super::{FoundImage, GuestKernelError, Progress};
use crate::arch::{DEFAULT_LINK_TEXT, KERNEL_IMAGE_REGION, START_KERNEL_MAP};
use qmdb_bridge::{MemoryExt, Target, VirtAddr};
use qmdb_kernel::banner::Banner;
use qmdb_kernel::cache::KernelFiles;
use qmdb_kernel::kallsyms::{self, SectionRange};
use qmdb_kernel::symtab::{Symbol, SymbolTable};
use qmdb_unwind::{OrcFormat, OrcTable};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

/// The most read when `.rodata` cannot be told apart (early boot): the whole image.
const MAX_IMAGE_READ: u64 = 256 << 20;
/// Bounds on what symbols say to read.
const MAX_BTF: u64 = 64 << 20;
const MAX_ORC: u64 = 32 << 20;
const MAX_NOTES: u64 = 64 << 10;
const MAX_BANNER: usize = 1024;
/// Pieces of a large read, for progress.
const PIECE: usize = 4 << 20;

/// Bytes read from the guest at runtime address `addr`.
struct Chunk {
    addr: u64,
    data: Vec<u8>,
}

impl Chunk {
    fn slice(&self, range: &Range<u64>) -> Option<&[u8]> {
        let start = usize::try_from(range.start.checked_sub(self.addr)?).ok()?;
        let end = usize::try_from(range.end.checked_sub(self.addr)?).ok()?;
        self.data.get(start..end)
    }
}

/// Reads the kernel out of guest memory: its files, its slide, and notes for `::status`.
pub(super) fn extract(
    target: &mut dyn Target,
    found: &FoundImage,
    progress: Progress<'_>,
    interrupt: &AtomicBool,
) -> Result<(KernelFiles, u64, Vec<String>), GuestKernelError> {
    let started = std::time::Instant::now();
    let mut notes = Vec::new();
    let ro = read_rodata(target, found, progress, interrupt)?;
    let mut bytes_read = ro.data.len();

    progress("decoding kallsyms");
    // The whole region, not _text.._end: `__init_scratch_begin` and friends lie past _end.
    let whole_image = [SectionRange {
        addr: START_KERNEL_MAP,
        size: KERNEL_IMAGE_REGION,
        exec: true,
    }];
    let decoded = kallsyms::decode(&ro.data, ro.addr, &whole_image).map_err(|cause| {
        GuestKernelError::Kallsyms {
            addr: VirtAddr(ro.addr),
            len: ro.data.len(),
            cause,
        }
    })?;
    let runtime = decoded.symbols;
    let find = |name: &'static str| -> Option<u64> {
        runtime
            .iter()
            .find(|s| s.name == name && !s.is_absolute())
            .map(|s| s.addr)
    };
    let need = |name: &'static str| find(name).ok_or(GuestKernelError::MissingSymbol(name));
    let text = need("_text")?;
    if text != found.text {
        notes.push(format!(
            "kallsyms puts _text at {text:x}, the page tables at {:x}",
            found.text
        ));
    }
    let etext = need("_etext")?;

    let vmcoreinfo = read_vmcoreinfo(target, find("vmcoreinfo_note"));
    let fallback_slide = text.wrapping_sub(DEFAULT_LINK_TEXT);
    let slide = match vmcoreinfo.as_ref().and_then(VmcoreInfo::kernel_offset) {
        Some(off) => {
            if off != fallback_slide {
                notes.push(format!(
                    "VMCOREINFO's KERNELOFFSET {off:#x} puts the link-time _text at {:x}",
                    text.wrapping_sub(off)
                ));
            }
            off
        }
        None => {
            notes.push(format!(
                "no VMCOREINFO yet: the slide assumes _text is linked at {DEFAULT_LINK_TEXT:x}"
            ));
            fallback_slide
        }
    };
    let link = |a: u64| a.wrapping_sub(slide);

    progress("reading the banner, build id, BTF and ORC tables");
    let mut fetch =
        |what: &'static str, range: Range<u64>, max: u64| -> Result<Vec<u8>, GuestKernelError> {
            let len = range.end.checked_sub(range.start).filter(|&n| n <= max);
            let Some(len) = len else {
                return Err(GuestKernelError::Implausible {
                    what,
                    addr: VirtAddr(range.start),
                    why: format!("it would end at {:x}", range.end),
                });
            };
            if let Some(s) = ro.slice(&range) {
                return Ok(s.to_vec());
            }
            let len = len as usize;
            bytes_read += len;
            qmdb_bridge::read_exact(target, VirtAddr(range.start), len).map_err(|cause| {
                GuestKernelError::Read {
                    what,
                    addr: VirtAddr(range.start),
                    len,
                    cause,
                }
            })
        };

    let banner_at = need("linux_banner")?;
    let raw = fetch(
        "linux_banner",
        banner_at..banner_at + MAX_BANNER as u64,
        MAX_BANNER as u64,
    )
    .or_else(|_| fetch("linux_banner", banner_at..banner_at + 256, 256))?;
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let banner_text = String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).into_owned();
    if !banner_text.starts_with("Linux version ") {
        return Err(GuestKernelError::Implausible {
            what: "linux_banner",
            addr: VirtAddr(banner_at),
            why: format!(
                "it reads {:?}",
                banner_text.get(..40).unwrap_or(&banner_text)
            ),
        });
    }

    let (build_id, build_id_addr) = match (find("__start_notes"), find("__stop_notes")) {
        (Some(s), Some(e)) => {
            let data = fetch(".notes", s..e, MAX_NOTES)?;
            match gnu_build_id(&data) {
                Some((off, id)) => (Some(id), Some(link(s + off as u64))),
                None => (None, None),
            }
        }
        _ => (None, None),
    };
    if let (Some(id), Some(v)) = (
        &build_id,
        vmcoreinfo.as_ref().and_then(VmcoreInfo::build_id),
    ) {
        if !id.starts_with(&v) {
            notes.push("VMCOREINFO's BUILD-ID differs from the .notes build id".into());
        }
    }

    let btf = match (find("__start_BTF"), find("__stop_BTF")) {
        (Some(s), Some(e)) => Some(fetch(".BTF", s..e, MAX_BTF)?),
        _ => None,
    };

    let (orc, orc_error) = match (
        find("__start_orc_unwind_ip"),
        find("__stop_orc_unwind_ip"),
        find("__start_orc_unwind"),
        find("__stop_orc_unwind"),
    ) {
        (Some(ip_s), Some(ip_e), Some(u_s), Some(u_e)) => {
            let ip = fetch(".orc_unwind_ip", ip_s..ip_e, MAX_ORC)?;
            let unwind = fetch(".orc_unwind", u_s..u_e, MAX_ORC)?;
            let header = match (find("__start_orc_header"), find("__stop_orc_header")) {
                (Some(s), Some(e)) => Some(fetch(".orc_header", s..e, 4096)?),
                _ => None,
            };
            let format = OrcFormat::of_kernel(header.is_some(), &unwind);
            match OrcTable::from_sections(link(ip_s), &ip, &unwind, format) {
                Ok(mut t) => {
                    t.set_header(header);
                    (Some(t), None)
                }
                Err(e) => (None, Some(e.to_string())),
            }
        }
        _ => (None, None),
    };

    let symbols: Vec<Symbol> = runtime
        .into_iter()
        .map(|mut s| {
            if !s.is_absolute() {
                s.addr = link(s.addr);
            }
            s
        })
        .collect();
    let regions = found
        .map
        .runs
        .iter()
        .map(|r| link(r.range.start)..link(r.range.end))
        .collect();
    let files = KernelFiles {
        banner: Banner {
            addr: link(banner_at),
            text: banner_text,
        },
        text: link(text)..link(etext),
        build_id,
        build_id_addr,
        symbols: SymbolTable::from_kallsyms(symbols, regions),
        btf,
        types_from_dwarf: false,
        orc,
        orc_error,
    };
    notes.insert(
        0,
        format!(
            "kernel read from guest memory: {:.1} MiB in {:.2} s",
            bytes_read as f64 / (1 << 20) as f64,
            started.elapsed().as_secs_f64()
        ),
    );
    Ok((files, slide, notes))
}

/// `.rodata` when the protections tell it apart, else the whole image (holes as zeros).
fn read_rodata(
    target: &mut dyn Target,
    found: &FoundImage,
    progress: Progress<'_>,
    interrupt: &AtomicBool,
) -> Result<Chunk, GuestKernelError> {
    let ranges: Vec<Range<u64>> = match found.map.rodata() {
        Some(ro) => vec![ro],
        None => found
            .map
            .runs
            .iter()
            .map(|r| r.range.clone())
            .take_while(|r| r.end.saturating_sub(found.text) <= MAX_IMAGE_READ)
            .collect(),
    };
    let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
        return Err(GuestKernelError::NotMapped {
            vcpu: found.vcpu,
            cr3: found.root.pgd_phys,
        });
    };
    let base = first.start;
    let total = usize::try_from(last.end - base).unwrap_or(usize::MAX);
    let what = if found.map.rodata().is_some() {
        "the kernel's read-only data"
    } else {
        "the kernel image (early boot: no read-only data yet)"
    };
    let mut data = vec![0u8; total];
    let mut done = 0usize;
    for range in &ranges {
        let mut at = range.start;
        while at < range.end {
            if interrupt.load(Ordering::Relaxed) {
                return Err(GuestKernelError::Interrupted);
            }
            let len = usize::try_from(range.end - at).unwrap_or(PIECE).min(PIECE);
            progress(&format!(
                "reading {what} from guest memory: {:.1} of {:.1} MiB",
                done as f64 / (1 << 20) as f64,
                total as f64 / (1 << 20) as f64
            ));
            let r = qmdb_bridge::read_partial(target, VirtAddr(at), len).map_err(|cause| {
                GuestKernelError::Read {
                    what: "kernel data",
                    addr: VirtAddr(at),
                    len,
                    cause,
                }
            })?;
            let off = (at - base) as usize;
            if let Some(dst) = data.get_mut(off..off + r.data.len()) {
                dst.copy_from_slice(&r.data);
            }
            done += len;
            at += len as u64;
        }
    }
    Ok(Chunk { addr: base, data })
}

/// VMCOREINFO through `vmcoreinfo_note`, when the kernel has set it up.
fn read_vmcoreinfo(target: &mut dyn Target, note_ptr: Option<u64>) -> Option<VmcoreInfo> {
    let p = target.read_u64(VirtAddr(note_ptr?)).ok()?;
    if p == 0 {
        return None;
    }
    let r = qmdb_bridge::read_partial(target, VirtAddr(p), MAX_NOTE).ok()?;
    match VmcoreInfo::parse_note(&r.data) {
        Ok(info) => Some(info),
        Err(e) => {
            tracing::debug!(addr = p, "VMCOREINFO unreadable: {e}");
            None
        }
    }
}

/// The GNU build id in ELF notes: the descriptor's offset and bytes.
pub fn gnu_build_id(notes: &[u8]) -> Option<(usize, Vec<u8>)> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let u32_at = |off: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            notes.get(off..off + 4)?.try_into().ok()?,
        ))
    };
    let mut off = 0usize;
    // Each note is at least 12 bytes: the loop ends within notes.len() / 12 rounds.
    while off + 12 <= notes.len() {
        let namesz = u32_at(off)? as usize;
        let descsz = u32_at(off + 4)? as usize;
        let kind = u32_at(off + 8)?;
        let name_at = off + 12;
        let desc_at = name_at.checked_add(namesz)?.next_multiple_of(4);
        let next = desc_at.checked_add(descsz)?.next_multiple_of(4);
        let name = notes.get(name_at..name_at + namesz)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
            return Some((desc_at, notes.get(desc_at..desc_at + descsz)?.to_vec()));
        }
        off = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_among_notes() {
        let mut n = Vec::new();
        // A Xen note first, then the GNU build id.
        n.extend([4u32, 8, 0x12].iter().flat_map(|v| v.to_le_bytes()));
        n.extend(b"Xen\0");
        n.extend([1u8; 8]);
        n.extend([4u32, 4, 3].iter().flat_map(|v| v.to_le_bytes()));
        n.extend(b"GNU\0");
        n.extend([0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(gnu_build_id(&n), Some((40, vec![0xde, 0xad, 0xbe, 0xef])));
        for cut in 0..n.len() {
            assert_eq!(gnu_build_id(&n[..cut]), None, "cut at {cut}");
        }
        let mut bad = n.clone();
        bad[0] = 0xff;
        bad[1] = 0xff;
        bad[2] = 0xff;
        bad[3] = 0xff;
        assert_eq!(gnu_build_id(&bad), None);
    }
}
