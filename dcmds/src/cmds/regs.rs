//! `::regs` / `$r`: the selected vCPU's registers, in mdb's amd64 `$r` layout.

use crate::args::getopts;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::Registers;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use std::collections::HashMap;

pub const REGS: DcmdDef = DcmdDef {
    name: "regs",
    aliases: &["$r"],
    usage: "[-a]",
    description: "print the selected vCPU's registers",
    help: "Prints the registers of the selected vCPU (see ::cpus, ::cpu) as mdb's
amd64 $r does: general registers with the symbol each value points into,
%rip, %rbp, %rsp, %rflags with its flags decoded (upper case = set),
segment selectors, the fs/gs bases, control registers and EFER.

  -a   also print every other register the stub supplies (x87, SSE...)

Registers are also values in expressions: <rip, <rsp, <cr3.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let opts = getopts(&inv.display_name(), inv.args, "a")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument '{extra}'")));
    }
    let regs = session.target_mut().read_registers()?;
    let mut rec = Registers {
        values: regs
            .values
            .iter()
            .map(|(d, b)| (d.name.clone(), b.clone()))
            .collect(),
        symbols: HashMap::new(),
        all: opts.flag('a'),
    };
    for (name, _) in &rec.values {
        if let Some(v) = rec.get_u64(name) {
            if session.symbols().lookup_addr(VirtAddr(v)).is_some() {
                rec.symbols.insert(v, session.symbolize(VirtAddr(v)));
            }
        }
    }
    sink.record(rec);
    Ok(())
}
