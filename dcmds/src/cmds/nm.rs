//! `::nm`: the kernel's symbol table, at runtime (KASLR-slid) addresses.

use crate::args::getopts;
use crate::error::DcmdError;
use crate::kernel::symtab::{SlidSymbols, Symbol};
use crate::registry::{DcmdDef, Invocation};
use crate::session::Session;
use crate::sink::Sink;
use serde_json::json;
use std::sync::Arc;

pub const NM: DcmdDef = DcmdDef {
    name: "nm",
    aliases: &[],
    usage: "?[-n] [name]",
    description: "print kernel symbols",
    help: "  ::nm              every symbol, by address
  ::nm NAME         every symbol called NAME (static functions may share one)
  ::nm -n NAME      the same
  addr::nm          the symbol holding addr, and addr as symbol+offset

Each line is `address type name`, the address as the guest sees it (with
the KASLR slide), the type letter as in /proc/kallsyms (T text, D data,
R read-only data, B bss, A absolute; lower case for local symbols).
Needs --kernel.",
    run,
};

fn line(view: &SlidSymbols, sym: &Symbol, sink: &mut Sink<'_>) {
    let addr = view.runtime(sym);
    if sink.pipe_out() {
        sink.addr(qmdb_bridge::VirtAddr(addr));
        return;
    }
    sink.line(&format!("{addr:016x} {} {}", sym.kind, sym.name));
    sink.data(json!({
        "addr": format!("{addr:#x}"),
        "type": sym.kind.to_string(),
        "name": sym.name,
    }));
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let opts = getopts(&inv.display_name(), inv.args, "n")?;
    let kernel = session.kernel().ok_or_else(|| {
        DcmdError::usage(
            inv.display_name(),
            "no kernel symbols: start qmdb with --kernel",
        )
    })?;
    let view = SlidSymbols::new(Arc::clone(&kernel.symbols), kernel.slide);
    match (inv.flags.addrspec, opts.rest.as_slice()) {
        (true, []) => {
            let link = inv.addr.0.wrapping_sub(view.slide);
            let (sym, off) = view.table.lookup_addr(link).ok_or_else(|| {
                DcmdError::usage(inv.display_name(), format!("no symbol holds {}", inv.addr))
            })?;
            line(&view, sym, sink);
            if !sink.pipe_out() && off != 0 {
                sink.line(&format!("{} = {}+{off:#x}", inv.addr, sym.name));
            }
            Ok(())
        }
        (false, []) => {
            for (i, sym) in view.table.iter().enumerate() {
                if i % 4096 == 0 {
                    sink.check_open()?;
                    session.check_interrupt()?;
                }
                line(&view, sym, sink);
            }
            Ok(())
        }
        (false, [name]) => {
            let mut found = false;
            for sym in view.table.lookup_name_all(name) {
                found = true;
                line(&view, sym, sink);
            }
            if found {
                Ok(())
            } else {
                Err(DcmdError::usage(
                    inv.display_name(),
                    format!("no symbol named {name:?}"),
                ))
            }
        }
        _ => Err(inv.usage_error(format!("usage: {}", inv.def.synopsis()))),
    }
}
