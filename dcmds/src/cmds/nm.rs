//! `::nm`: the kernel's symbol table and loaded modules' symbols, at runtime (KASLR-slid)
//! addresses.

use crate::args::getopts;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::SymbolEntry;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_kernel::symtab::{SlidSymbols, Symbol};
use qmdb_linux::modules::{self, ModuleSymbol, ModuleSymbols};
use std::sync::Arc;

pub const NM: DcmdDef = DcmdDef {
    name: "nm",
    aliases: &[],
    usage: "?[-n] [-m module] [name]",
    description: "print kernel and module symbols",
    help: "  ::nm              every symbol by address: the kernel's, then modules'
  ::nm NAME         every symbol called NAME (static functions may share one)
                    in the kernel and in modules
  ::nm MOD`NAME     symbol NAME of module MOD only
  ::nm -n NAME      the same as ::nm NAME
  ::nm -m MOD       every symbol of loaded module MOD (vmlinux: the kernel)
  addr::nm          the symbol holding addr, and addr as symbol+offset

Each line is `address type name`, the address as the guest sees it (with
the KASLR slide), the type letter as in /proc/kallsyms (T text, D data,
R read-only data, B bss, A absolute; lower case for local symbols). A
module's symbols come from its own kallsyms in guest memory and are named
module`name, as in `addr/i` and `=p`. Needs the kernel's symbols (the
kernel found in guest memory or given with --kernel). With --json:
{\"addr\",\"type\",\"name\"}, and \"module\" for a module's symbol.",
    run,
};

fn line(view: &SlidSymbols, sym: &Symbol, sink: &mut Sink<'_>) {
    let addr = view.runtime(sym);
    if sink.pipe_out() {
        sink.addr(qmdb_bridge::VirtAddr(addr));
        return;
    }
    sink.record(SymbolEntry {
        addr,
        kind: sym.kind,
        name: sym.name.clone(),
        module: None,
    });
}

fn module_line(sym: &ModuleSymbol, sink: &mut Sink<'_>) {
    if sink.pipe_out() {
        sink.addr(qmdb_bridge::VirtAddr(sym.addr));
        return;
    }
    sink.record(SymbolEntry {
        addr: sym.addr,
        kind: sym.kind,
        name: sym.name.clone(),
        module: Some(sym.module.clone()),
    });
}

/// The loaded modules' symbols, read again if the modules changed since the session read
/// them; none when the kernel has no module list. Problems are warnings.
fn module_symbols(
    session: &mut Session,
    cmd: &str,
    sink: &mut Sink<'_>,
) -> Result<Arc<ModuleSymbols>, DcmdError> {
    if session.symbols().lookup_name("modules").is_none() {
        return Ok(Arc::new(ModuleSymbols::default()));
    }
    let fresh = modules::session_modules(session, cmd)
        .and_then(|(layout, list)| modules::fresh_symbols(session, &layout, &list));
    match fresh {
        Ok((syms, problems)) => {
            for p in &problems {
                sink.warn(p);
            }
            Ok(syms)
        }
        Err(e) if e.ends_command() => Err(e.into()),
        Err(e) => {
            sink.warn(&format!("module symbols: {e}"));
            Ok(session.module_symbols().unwrap_or_default())
        }
    }
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "nm:")?;
    let kernel = session.require_kernel()?;
    let view = SlidSymbols::new(Arc::clone(&kernel.symbols), kernel.slide);
    let only_module = opts.value('m');
    match (inv.flags.addrspec, opts.rest.as_slice(), only_module) {
        (true, [], None) => {
            let mods = module_symbols(session, &cmd, sink)?;
            if mods.module_at(inv.addr.0).is_some() {
                let (sym, off) = mods.lookup(inv.addr.0).ok_or_else(|| {
                    DcmdError::usage(&cmd, format!("no symbol holds {}", inv.addr))
                })?;
                module_line(sym, sink);
                if !sink.pipe_out() && off != 0 {
                    sink.line(&format!(
                        "{} = {}`{}+{off:#x}",
                        inv.addr, sym.module, sym.name
                    ));
                }
                return Ok(());
            }
            let link = inv.addr.0.wrapping_sub(view.slide);
            let (sym, off) = view
                .table
                .lookup_addr(link)
                .ok_or_else(|| DcmdError::usage(&cmd, format!("no symbol holds {}", inv.addr)))?;
            line(&view, sym, sink);
            if !sink.pipe_out() && off != 0 {
                sink.line(&format!("{} = {}+{off:#x}", inv.addr, sym.name));
            }
            Ok(())
        }
        (false, [], only) => {
            if only.is_none_or(|m| m == "vmlinux") {
                for (i, sym) in view.table.iter().enumerate() {
                    if i % 4096 == 0 {
                        sink.check_open()?;
                        session.check_interrupt()?;
                    }
                    line(&view, sym, sink);
                }
            }
            if only == Some("vmlinux") {
                return Ok(());
            }
            let mods = module_symbols(session, &cmd, sink)?;
            let mut found = false;
            for (i, sym) in mods
                .symbols()
                .iter()
                .filter(|s| only.is_none_or(|m| s.module == m))
                .enumerate()
            {
                if i % 4096 == 0 {
                    sink.check_open()?;
                    session.check_interrupt()?;
                }
                found = true;
                module_line(sym, sink);
            }
            match only {
                Some(m) if !found => Err(DcmdError::usage(
                    &cmd,
                    format!("no symbols of a loaded module named {m:?}"),
                )),
                _ => Ok(()),
            }
        }
        (false, [name], only) => {
            let (module, bare) = match name.split_once('`') {
                Some((m, n)) => (Some(m), n),
                None => (only, *name),
            };
            let mut found = false;
            if module.is_none_or(|m| m == "vmlinux") {
                for sym in view.table.lookup_name_all(bare) {
                    found = true;
                    line(&view, sym, sink);
                }
            }
            if module != Some("vmlinux") {
                let mods = module_symbols(session, &cmd, sink)?;
                for sym in mods
                    .symbols()
                    .iter()
                    .filter(|s| s.name == bare && module.is_none_or(|m| s.module == m))
                {
                    found = true;
                    module_line(sym, sink);
                }
            }
            if found {
                Ok(())
            } else {
                Err(DcmdError::usage(&cmd, format!("no symbol named {name:?}")))
            }
        }
        _ => Err(inv.usage_error(format!("usage: {}", inv.def.synopsis()))),
    }
}
