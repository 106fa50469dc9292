//! `::dis`: disassemble guest code.

use crate::args::{getopts, number};
use crate::dcmd::{DcmdDef, Invocation};
use crate::dis::disassemble;
use crate::error::DcmdError;
use crate::records::Instruction;
use crate::session::Session;
use crate::sink::Sink;

pub const DIS: DcmdDef = DcmdDef {
    name: "dis",
    aliases: &[],
    usage: ":[-b] [-n count]",
    description: "disassemble instructions at an address",
    help: "  func::dis         the whole function (from its symbol to the next one,
                    at most 4096 instructions)
  addr::dis         16 instructions from addr
  addr::dis -n N    N instructions from addr
  -b                show the instruction bytes too

AT&T syntax, as mdb and objdump print it. Branch targets and RIP-relative
operands are followed by <symbol+offset> when a symbol is known. The code is
read from guest memory, so it is what the CPU runs (with the kernel's
alternatives and static keys applied), not what the file holds.",
    run,
};

/// Instructions shown from an address that is not a function's start.
const DEFAULT_COUNT: usize = 16;

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let opts = getopts(&inv.display_name(), inv.args, "bn:")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument {extra:?}")));
    }
    let start = inv.addr;
    let function = session
        .symbols()
        .lookup_addr(start)
        .filter(|h| h.offset == 0)
        .map(|h| h.name);
    let count = match opts.value('n') {
        Some(n) => usize::try_from(number(&inv.display_name(), n)?).unwrap_or(usize::MAX),
        None if function.is_some() => crate::dis::MAX_COUNT,
        None => DEFAULT_COUNT,
    };
    // A whole function ends where the next symbol starts.
    let bounded = function.is_some() && opts.value('n').is_none();
    let lines = disassemble(session, start, count, |s, l| {
        bounded
            && s.symbols()
                .lookup_addr(l.next())
                .is_none_or(|h| Some(&h.name) != function.as_ref())
    })?;
    for line in &lines {
        if sink.pipe_out() {
            sink.addr(line.addr);
        } else {
            sink.record(Instruction::new(session, line, opts.flag('b')));
        }
    }
    Ok(())
}
