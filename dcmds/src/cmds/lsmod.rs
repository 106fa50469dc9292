//! `::lsmod` and `::modinfo`: the guest's loaded modules.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_linux::modules::{self, Module};
use serde_json::json;
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

fn json_of(m: &Module) -> serde_json::Value {
    json!({
        "module": format!("{:#x}", m.addr),
        "name": m.name,
        "base": format!("{:#x}", m.base),
        "size": m.size,
        "text_size": m.text_size,
        "state": m.state,
    })
}

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
        sink.line(&format!(
            "{:>16} {:<20} {:>8} {:>6}",
            "ADDR", "NAME", "SIZE", "TEXT"
        ));
    }
    for m in &list.modules {
        sink.line(&format!(
            "{:>16x} {:<20} {:>8} {:>6}",
            m.base, m.name, m.size, m.text_size
        ));
        sink.data(json_of(m));
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
    sink.line(&format!("module     {:x}", m.addr));
    sink.line(&format!("name       {}", m.name));
    sink.line(&format!("state      {}", m.state));
    sink.line(&format!("base       {:x}", m.base));
    sink.line(&format!("size       {}", m.size));
    sink.line(&format!("text_size  {}", m.text_size));
    for (s, e) in &m.regions {
        sink.line(&format!("region     {s:x}-{e:x}"));
    }
    sink.line(&format!("kallsyms   {:x}", m.kallsyms));
    sink.line(&format!("symbols    {nsyms}"));
    let mut j = json_of(&m);
    j["symbols"] = json!(nsyms);
    sink.data(j);
    Ok(())
}
