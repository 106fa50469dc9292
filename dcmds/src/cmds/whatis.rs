//! `addr::whatis`: every description that fits an address, most specific first.

mod cpu_stacks;
mod files;
mod members;
mod space;
mod tasks;

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::whatis::{
    MatchKind, SlabAt, SlabPlacement, SlabState, Whatis, WhatisMatch as Match,
};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_linux::modules::session_modules;
use qmdb_linux::slab::sheaves::InSheaf;
use qmdb_linux::slab::{self, ObjectState, Placement, SlabLayout, SlabObject};
use space::{Region, Space};

pub const WHATIS: DcmdDef = DcmdDef {
    name: "whatis",
    aliases: &[],
    usage: ":",
    description: "what an address is: symbol, stack, task, slab, page",
    help: "Prints every description that fits the address, most specific first,
one line each:
  kernel symbol+offset and its section (text, data, rodata, bss), or
    [module] symbol+offset in a loaded module's text or data;
  in the kernel stack of a task (pid, command, offset in the stack and the
    frame of its backtrace, numbered as ::findstack numbers them);
  in a task_struct (the task and the member at that offset);
  on a CPU's IRQ stack or exception stack (NMI, DB, DF, MCE...);
  in a SLUB slab object: the cache's name, the object's start and the
    offset in it, and whether it is allocated or free; for an allocated
    struct file, dentry or inode, also its path (as ::pfiles prints it);
  in a CPU's per-CPU area (the variable), the cpu_entry_area, the fixmap;
  in the direct map (physical address and page frame), the vmalloc area,
    the vmemmap (the struct page of page frame N), user space.
For example:
  <rsp::whatis
  ::walk thread | ::whatis
With --json, one object per address: {\"addr\", \"matches\": [{\"kind\",
\"text\", ...}]}, kind one of symbol, module, module_area, kernel_image,
stack, task, irq_stack, exception_stack, slab, path, percpu, cpu_entry_area,
fixmap, vmemmap, direct_map, vmalloc, espfix, efi, user, noncanonical,
kernel.",
    run,
};

fn plus(name: &str, off: u64) -> String {
    if off == 0 {
        name.to_string()
    } else {
        format!("{name}+{off:#x}")
    }
}

/// The kernel symbol holding `addr`, with its section from the symbol's type letter.
fn kernel_symbol(session: &Session, addr: u64, out: &mut Vec<Match>) -> bool {
    let Some(k) = session.kernel() else {
        return false;
    };
    let Some((sym, off)) = k.symbols.lookup_addr(addr.wrapping_sub(k.slide)) else {
        return false;
    };
    let section = match sym.kind.to_ascii_lowercase() {
        't' | 'w' => "text",
        'd' | 'g' => "data",
        'r' => "rodata",
        'b' | 's' => "bss",
        _ => "image",
    };
    out.push(Match::new(
        MatchKind::Symbol {
            symbol: sym.name.clone(),
            offset: off,
            section,
        },
        format!("{}, in kernel {section}", plus(&sym.name, off)),
    ));
    true
}

/// The module whose memory holds `addr`, and the symbol in it.
fn module(
    session: &mut Session,
    cmd: &str,
    addr: u64,
    out: &mut Vec<Match>,
) -> Result<bool, DcmdError> {
    let (_, list) = match session_modules(session, cmd) {
        Ok(l) => l,
        Err(e) if e.ends_command() => return Err(e.into()),
        Err(_) => return Ok(false),
    };
    let Some(m) = list
        .modules
        .iter()
        .find(|m| m.regions.iter().any(|&(s, e)| (s..e).contains(&addr)))
    else {
        return Ok(false);
    };
    let part = if (m.base..m.base.saturating_add(m.text_size)).contains(&addr) {
        "text"
    } else {
        "data"
    };
    let hit = session
        .module_symbols()
        .and_then(|syms| qmdb_kernel::symbols::SymbolLookup::lookup_addr(&*syms, VirtAddr(addr)));
    let sym = hit.as_ref().map(|h| {
        let name = h
            .name
            .split_once('`')
            .map_or(h.name.as_str(), |(_, n)| n)
            .to_string();
        (name, h.offset)
    });
    let what = match &sym {
        Some((n, off)) => plus(n, *off),
        None => format!("{:#x}+{:#x}", m.base, addr.wrapping_sub(m.base)),
    };
    let text = format!("[{}] {what}, in module {part}", m.name);
    let (symbol, offset) = sym.unzip();
    out.push(Match::new(
        MatchKind::Module {
            module: m.name.clone(),
            module_addr: m.addr,
            symbol,
            offset,
            section: part,
        },
        text,
    ));
    Ok(true)
}

fn slab_match(session: &Session, o: &SlabObject) -> Match {
    let c = &o.cache;
    let from = match o.state {
        Some(ObjectState::Allocated) => format!("allocated from slab cache {}", c.name),
        Some(ObjectState::Free) => {
            format!("free in slab cache {} (on the slab's freelist)", c.name)
        }
        Some(ObjectState::FreeOnCpu(cpu)) => {
            format!("free in slab cache {} (on CPU {cpu}'s freelist)", c.name)
        }
        Some(ObjectState::FreeInSheaf(InSheaf::Cpu(cpu))) => {
            format!("free in slab cache {} (in CPU {cpu}'s sheaf)", c.name)
        }
        Some(ObjectState::FreeInSheaf(InSheaf::Barn(node))) => {
            format!("free in slab cache {} (in node {node}'s barn)", c.name)
        }
        None => format!("in slab cache {}", c.name),
    };
    let state = o.state.map(|s| match s {
        ObjectState::Allocated => SlabState::Allocated,
        ObjectState::Free | ObjectState::FreeOnCpu(_) | ObjectState::FreeInSheaf(_) => {
            SlabState::Free
        }
    });
    let (text, placement) = match o.placement {
        Placement::Object {
            index,
            start,
            offset,
        } => {
            let member = if offset < c.object_size {
                struct_member(session, &c.name, offset)
            } else {
                None
            };
            let tail = if offset >= c.object_size {
                " (past the object: red zone or metadata)".to_string()
            } else {
                member
                    .as_ref()
                    .map(|m| format!(", member {m}"))
                    .unwrap_or_default()
            };
            let text = format!(
                "{}, {} (object {index} of slab {:x}){tail}",
                plus(&format!("{start:x}"), offset),
                from,
                o.slab
            );
            let placement = SlabPlacement::Object {
                object: start,
                offset,
                index,
                member,
            };
            (text, placement)
        }
        Placement::LeftRedZone { index, start } => (
            format!(
                "in the left red zone of object {start:x}, {} (slab {:x})",
                from, o.slab
            ),
            SlabPlacement::LeftRedZone {
                object: start,
                index,
            },
        ),
        Placement::Tail => (
            format!(
                "in the unused tail of slab {:x} of cache {} ({} objects)",
                o.slab, c.name, o.objects
            ),
            SlabPlacement::Tail {},
        ),
    };
    let kind = MatchKind::Slab(SlabAt {
        cache: c.name.clone(),
        kmem_cache: c.addr,
        object_size: c.object_size,
        size: c.size,
        slab: o.slab,
        state,
        placement,
    });
    Match::new(kind, text)
}

/// Caches whose objects are a struct of another name.
const CACHE_STRUCTS: &[(&str, &str)] = &[
    ("cred_jar", "cred"),
    ("files_cache", "files_struct"),
    ("fs_cache", "fs_struct"),
    ("sighand_cache", "sighand_struct"),
    ("signal_cache", "signal_struct"),
    ("inode_cache", "inode"),
    ("filp", "file"),
    ("names_cache", "filename"),
    ("sock_inode_cache", "socket_alloc"),
];

/// `path+off` of the struct the cache holds (named like the cache, as `mm_struct` and
/// `task_struct` are, or in [`CACHE_STRUCTS`]), if BTF has it.
fn struct_member(session: &Session, cache: &str, off: u64) -> Option<String> {
    let btf = session.kernel()?.types.clone()?;
    let name = CACHE_STRUCTS
        .iter()
        .find(|(c, _)| *c == cache)
        .map_or(cache, |(_, s)| s);
    let id = btf.find(&format!("struct {name}")).ok()?.plain()?;
    let m = members::member_at(&btf, id, off)?;
    Some(plus(&m.path, m.offset))
}

fn slab(
    session: &mut Session,
    cmd: &str,
    space: &Space,
    addr: u64,
    out: &mut Vec<Match>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    let btf = crate::cmds::print::kernel_types(session, cmd)?;
    let layout = match SlabLayout::from_btf(&btf) {
        Ok(l) => l,
        Err(e) => {
            sink.warn(&format!("{cmd}: slab objects unknown: {e}"));
            return Ok(());
        }
    };
    match slab::lookup(session, &layout, &space.map, addr) {
        Ok(Some(o)) => {
            out.push(slab_match(session, &o));
            let r = files::describe(session, cmd, &o, out);
            warn_unless_fatal(r, sink, &format!("{cmd}: {addr:x}: path"))?;
        }
        Ok(None) => {}
        Err(slab::SlabError::Read(e)) if e.ends_command() => return Err(e.into()),
        Err(e) => sink.warn(&format!("{cmd}: {:x}: slab: {e}", addr)),
    }
    Ok(())
}

/// A describer's failure that does not end the command is a warning, prefixed by `what`.
fn warn_unless_fatal(
    r: Result<(), DcmdError>,
    sink: &mut Sink<'_>,
    what: &str,
) -> Result<(), DcmdError> {
    match r {
        Err(e) if e.ends_command() => Err(e),
        Err(e) => {
            sink.warn(&format!("{what}: {e}"));
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// Every description of `addr`.
fn describe(
    session: &mut Session,
    cmd: &str,
    addr: u64,
    sink: &mut Sink<'_>,
) -> Result<Vec<Match>, DcmdError> {
    let space = Space::read(session);
    let region = space.region(addr);
    let mut out = Vec::new();
    let in_kernel = kernel_symbol(session, addr, &mut out);
    if region == Region::Modules && !module(session, cmd, addr, &mut out)? {
        out.push(Match::new(
            MatchKind::ModuleArea,
            "in the module area, in no loaded module".into(),
        ));
    }
    let btf = session.kernel().and_then(|k| k.types.clone());
    if btf.is_some()
        && matches!(
            region,
            Region::DirectMap | Region::Vmalloc | Region::KernelImage
        )
    {
        let r = tasks::describe(session, cmd, addr, &mut out);
        warn_unless_fatal(r, sink, &format!("{cmd}: {addr:x}: tasks"))?;
    }
    if btf.is_some()
        && matches!(
            region,
            Region::DirectMap | Region::Vmalloc | Region::CpuEntryArea
        )
    {
        let r = cpu_stacks::describe(session, cmd, addr, &mut out);
        warn_unless_fatal(r, sink, &format!("{cmd}: {addr:x}: CPU stacks"))?;
    }
    if btf.is_some() && region == Region::DirectMap {
        slab(session, cmd, &space, addr, &mut out, sink)?;
    }
    space::describe(session, btf.as_deref(), &space, addr, &mut out)?;
    if region == Region::KernelImage && !in_kernel {
        out.push(Match::new(
            MatchKind::KernelImage,
            "in the kernel image, in no symbol".into(),
        ));
    }
    if out.is_empty() {
        out.push(Match::new(
            MatchKind::Kernel,
            "in kernel space, outside every region qmdb knows".into(),
        ));
    }
    Ok(out)
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    if !inv.args.is_empty() {
        return Err(inv.usage_error("takes no arguments"));
    }
    let addr = inv.addr.0;
    let matches = describe(session, &cmd, addr, sink)?;
    sink.record(Whatis { addr, matches });
    Ok(())
}
