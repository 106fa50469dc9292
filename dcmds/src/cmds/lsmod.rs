//! `::lsmod` and `::modinfo`: the guest's loaded modules.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::{ModuleEntry, ModuleInfo};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_linux::modules;
use std::sync::Arc;

pub const LSMOD: DcmdDef = DcmdDef {
    name: "lsmod",
    aliases: &[],
    usage: "",
    description: "list loaded kernel modules",
    help: "Lists the guest's modules from the kernel's `modules` list, newest first:
              ADDR NAME                   SIZE   TEXT
  ffffffffc0204000 qemu_fw_cfg           20480  12288
ADDR is the module's text base and SIZE its total size, as /proc/modules
prints them; TEXT the size of its text. Also reads every module's symbols
(from its own kallsyms) again, so that addresses in module code print as
module`function+offset.

In a pipeline, emits the struct module addresses. With --json, one object
per module: {\"module\",\"name\",\"base\",\"size\",\"text_size\",\"state\"}.",
    run: lsmod,
};

pub const MODINFO: DcmdDef = DcmdDef {
    name: "modinfo",
    aliases: &[],
    usage: "?[name]",
    description: "show one loaded module",
    help: "Shows one module: `addr::modinfo` for the struct module at ADDR, or
`::modinfo NAME`. Prints its state, text base, sizes, memory regions and
how many symbols its kallsyms holds.",
    run: modinfo,
};

fn lsmod(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    if let Some(extra) = inv.args.first() {
        return Err(inv.usage_error(format!("unexpected argument '{}'", extra.text)));
    }
    let (layout, list) = modules::session_modules(session, &cmd)?;
    for p in &list.problems {
        sink.warn(p);
    }
    let (syms, problems) = modules::load_symbols(session.program_mut(), &layout, &list)?;
    for p in &problems {
        sink.warn(p);
    }
    session.set_module_symbols(Some(Arc::new(syms)));
    if sink.pipe_out() {
        for m in &list.modules {
            sink.addr(qmdb_bridge::VirtAddr(m.addr));
        }
        return Ok(());
    }
    if inv.flags.header() {
        sink.line(&ModuleEntry::header());
    }
    for m in &list.modules {
        sink.record(ModuleEntry::new(m));
    }
    Ok(())
}

fn modinfo(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let name = match inv.args {
        [] => None,
        [a] => Some(a.text.clone()),
        _ => return Err(inv.usage_error("give one module name")),
    };
    if name.is_none() && !inv.flags.addrspec {
        return Err(inv.usage_error("give a struct module address or a module name"));
    }
    let (layout, list) = modules::session_modules(session, &cmd)?;
    let found = list.modules.iter().find(|m| match &name {
        Some(n) => &m.name == n,
        None => m.addr == inv.addr.0 || m.base == inv.addr.0,
    });
    let m = match found {
        Some(m) => m.clone(),
        None => {
            for p in &list.problems {
                sink.warn(p);
            }
            return Err(DcmdError::usage(
                &cmd,
                match &name {
                    Some(n) => format!("no loaded module named '{n}'"),
                    None => format!("no loaded module at {}", inv.addr),
                },
            ));
        }
    };
    let nsyms = match modules::read_module_symbols(session.program_mut(), &layout, &m) {
        Ok(s) => s.len().to_string(),
        Err(e) => format!("unreadable ({e})"),
    };
    sink.record(ModuleInfo {
        entry: ModuleEntry::new(&m),
        symbols: nsyms,
        regions: m.regions,
        kallsyms: m.kallsyms,
    });
    Ok(())
}
