//! The kernel found in guest memory, with no kernel file: `qmdb --target HOST:PORT` alone.
//!
//! 1. The page tables of a vCPU with paging on say where the image is mapped, hence `_text`
//!    and the KASLR slide, and (once `mark_rodata_ro` has run) where `.rodata` is
//!    ([`image_map`]).
//! 2. A kernel seen before is recognised by its build id and banner at their cached
//!    addresses plus the slide: two small reads, and the cache entry is used
//!    (`qmdb_kernel::cache::cached_identities`).
//! 3. Otherwise `.rodata` is read, kallsyms decoded from it as from a file, and through
//!    its symbols `linux_banner`, `.notes` (the build id), `.BTF`, the ORC tables and
//!    VMCOREINFO (the exact slide) are read (`extract`). The result is cached like a
//!    file's, under its build id.

mod extract;
pub mod vmcoreinfo;

/// The kernel image's mapping from the page tables (x86_64; kept at this path).
pub use crate::arch::image_map;

use crate::arch::{self, Paging};
use image_map::{walk_image, ImageMap, MapError};
use qmdb_bridge::paging::PageTableRoot;
use qmdb_bridge::{BridgeError, Target, VcpuId, VirtAddr};
use qmdb_kernel::cache::{self, Origin};
use qmdb_kernel::Kernel;
use std::path::Path;
use std::sync::atomic::AtomicBool;

pub use crate::arch::DEFAULT_LINK_TEXT;
/// The GNU build id in an ELF notes blob (`.notes`): its offset and bytes.
pub use extract::gnu_build_id;

/// Reports what a slow step is doing (for a status line or stderr).
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// Why the kernel could not be found in guest memory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuestKernelError {
    /// The vCPU's registers could not be read.
    #[error("cannot read the registers of vCPU {vcpu}: {cause}")]
    Registers { vcpu: VcpuId, cause: BridgeError },
    /// No vCPU has paging on: firmware or boot loader.
    #[error("no vCPU has paging on (vCPU {vcpu}: CR0={cr0:#x}): the kernel is not running yet (firmware or boot loader)")]
    PagingOff { vcpu: VcpuId, cr0: u64 },
    #[error(
        "nothing is mapped at the kernel's place (ffffffff80000000-ffffffffbfffffff) in the \
         page tables of any vCPU (vCPU {vcpu}: CR3={cr3:#x}): the kernel is not running yet \
         (boot loader or decompressor), or the guest is not x86_64 Linux"
    )]
    /// Nothing is mapped in the kernel image region.
    NotMapped { vcpu: VcpuId, cr3: u64 },
    /// A page table of the image's mapping could not be read.
    #[error("cannot walk the page tables of vCPU {vcpu}: {cause}")]
    PageTables {
        vcpu: VcpuId,
        cause: MapError<BridgeError>,
    },
    /// A part of the kernel (`what`) could not be read.
    #[error("cannot read {what} ({len} bytes at {addr}): {cause}")]
    Read {
        what: &'static str,
        addr: VirtAddr,
        len: usize,
        cause: BridgeError,
    },
    /// The kernel data read holds no kallsyms tables.
    #[error("no kallsyms tables in the {len} bytes of kernel data at {addr}: {cause}")]
    Kallsyms {
        addr: VirtAddr,
        len: usize,
        cause: qmdb_kernel::kallsyms::KallsymsError,
    },
    /// The user interrupted the (long) read of the kernel.
    #[error("interrupted")]
    Interrupted,
    /// kallsyms lacks a symbol the extraction needs.
    #[error("kallsyms has no {0} symbol")]
    MissingSymbol(&'static str),
    /// What a symbol points at does not look like what it should be.
    #[error("{what} at {addr} is not plausible: {why}")]
    Implausible {
        what: &'static str,
        addr: VirtAddr,
        why: String,
    },
}

/// Where the kernel is mapped, as one vCPU's page tables say.
#[derive(Debug, Clone)]
pub struct FoundImage {
    /// The vCPU whose page tables were read.
    pub vcpu: VcpuId,
    /// The page-table root the image was found in (the PTI kernel twin when there is one).
    pub root: PageTableRoot,
    /// The image's mappings.
    pub map: ImageMap,
    /// Runtime `_text`: the first mapped page.
    pub text: u64,
}

/// Finds the kernel in the guest and loads what the program needs, from the cache when this
/// kernel was seen before.
pub fn attach(
    target: &mut dyn Target,
    cache_root: Option<&Path>,
    progress: Progress<'_>,
    interrupt: &AtomicBool,
) -> Result<(Kernel, Origin), GuestKernelError> {
    let found = find_image(target)?;
    tracing::debug!(text = found.text, vcpu = %found.vcpu, tables = found.map.tables_read,
        runs = found.map.runs.len(), "kernel image mapping");
    if let Some(root) = cache_root {
        if let Some((files, slide)) = recognise(target, root, found.text) {
            let mut kernel = Kernel::from_files(files, slide);
            kernel.notes.insert(
                0,
                "kernel recognised in guest memory, loaded from the cache".into(),
            );
            return Ok((kernel, Origin::Cache));
        }
    }
    let (files, slide, notes) = extract::extract(target, &found, progress, interrupt)?;
    if let Some(root) = cache_root {
        if let Err(e) = cache::store_entry(root, &files) {
            tracing::warn!(root = %root.display(), "cannot write the kernel cache: {e}");
        }
    }
    let mut kernel = Kernel::from_files(files, slide);
    kernel.notes.splice(0..0, notes);
    Ok((kernel, Origin::Image))
}

/// The kernel image's mapping, from the first vCPU (the selected one first) whose page
/// tables have one. The selected vCPU is restored.
pub fn find_image(target: &mut dyn Target) -> Result<FoundImage, GuestKernelError> {
    let selected = target.selected_vcpu();
    let mut order = vec![selected];
    if let Ok(all) = target.vcpus() {
        order.extend(all.into_iter().map(|v| v.id).filter(|&id| id != selected));
    }
    let result = find_on_vcpus(target, &order);
    if target.selected_vcpu() != selected {
        let _ = target.select_vcpu(selected);
    }
    result
}

fn find_on_vcpus(
    target: &mut dyn Target,
    order: &[VcpuId],
) -> Result<FoundImage, GuestKernelError> {
    let mut first_error: Option<GuestKernelError> = None;
    for &vcpu in order {
        match find_on_vcpu(target, vcpu) {
            Ok(found) => return Ok(found),
            Err(e) => {
                // The first vCPU's reason, unless it only says paging is off (an AP not
                // started yet) and another's says more.
                let replace = match &first_error {
                    None => true,
                    Some(GuestKernelError::PagingOff { .. }) => {
                        !matches!(e, GuestKernelError::PagingOff { .. })
                    }
                    Some(_) => false,
                };
                if replace {
                    first_error = Some(e);
                }
            }
        }
    }
    Err(first_error.unwrap_or(GuestKernelError::NotMapped {
        vcpu: target.selected_vcpu(),
        cr3: 0,
    }))
}

fn find_on_vcpu(target: &mut dyn Target, vcpu: VcpuId) -> Result<FoundImage, GuestKernelError> {
    let regs_err = |cause| GuestKernelError::Registers { vcpu, cause };
    if target.selected_vcpu() != vcpu {
        target.select_vcpu(vcpu).map_err(regs_err)?;
    }
    let regs = target.read_registers().map_err(regs_err)?;
    let (cr3, roots) = match arch::paging(&regs) {
        Paging::Off { cr0 } => return Err(GuestKernelError::PagingOff { vcpu, cr0 }),
        Paging::On { root_reg, roots } => (root_reg, roots),
    };
    let mut best: Option<(PageTableRoot, ImageMap)> = None;
    for root in roots {
        let map = walk_image(&mut |phys| target.read_physical(phys, 4096), root)
            .map_err(|cause| GuestKernelError::PageTables { vcpu, cause })?;
        let better = match &best {
            None => !map.runs.is_empty(),
            Some((_, b)) => b.rodata().is_none() && map.rodata().is_some(),
        };
        if better {
            best = Some((root, map));
        }
    }
    match best {
        Some((root, map)) => {
            let text = map.text_base().unwrap_or_default();
            Ok(FoundImage {
                vcpu,
                root,
                map,
                text,
            })
        }
        None => Err(GuestKernelError::NotMapped { vcpu, cr3 }),
    }
}

/// A cached kernel whose banner and build id the guest holds at their cached addresses plus
/// the slide that puts the cached `_text` at `text`.
fn recognise(target: &mut dyn Target, root: &Path, text: u64) -> Option<(cache::KernelFiles, u64)> {
    let ids = cache::cached_identities(root);
    if ids.is_empty() {
        return None;
    }
    let max = target.max_request();
    let mut reqs: Vec<(VirtAddr, usize)> = Vec::new();
    for id in &ids {
        let slide = text.wrapping_sub(id.text_start);
        let len = id.banner.text.len().min(max);
        reqs.push((VirtAddr(id.banner.addr.wrapping_add(slide)), len));
        let (at, len) = match (&id.build_id, id.build_id_addr) {
            (Some(b), Some(a)) => (a.wrapping_add(slide), b.len().min(max)),
            _ => (id.banner.addr.wrapping_add(slide), 1),
        };
        reqs.push((VirtAddr(at), len));
    }
    let replies = target.read_chunks(&reqs).ok()?;
    for (id, pair) in ids.iter().zip(replies.chunks(2)) {
        let [Ok(banner), Ok(build_id)] = pair else {
            continue;
        };
        let banner_ok = id.banner.text.as_bytes().starts_with(banner) && !banner.is_empty();
        let build_id_ok = match (&id.build_id, id.build_id_addr) {
            (Some(b), Some(_)) => b.starts_with(build_id),
            // Without a build id location the banner alone decides.
            _ => true,
        };
        if !(banner_ok && build_id_ok) {
            continue;
        }
        match cache::load_entry(root, &id.key) {
            Ok(files) => return Some((files, text.wrapping_sub(id.text_start))),
            Err(why) => tracing::debug!(key = %id.key, "cache entry unusable: {why}"),
        }
    }
    None
}
