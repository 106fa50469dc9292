//! `::walk maple`: the entries of a maple tree (6.1+: a process's VMAs in `mm->mm_mt`).

use super::collected::need_start;
use super::xarray::pointer_walk;
use crate::args::Arg;
use crate::cmds::print::kernel_types;
use crate::dcmd::{Walk, WalkerDef};
use crate::error::DcmdError;
use crate::session::Session;
use qmdb_bridge::VirtAddr;
use qmdb_linux::mm::maple::maple_entries;

pub const MAPLE: WalkerDef = WalkerDef {
    name: "maple",
    usage: ":",
    description: "the entries of a struct maple_tree, in index order",
    help: "ADDR is a struct maple_tree (an mm_struct's mm_mt: its VMAs; its address
is the mm's plus ::offsetof struct mm_struct mm_mt). Emits the entry of
every range that holds one, in index order, each once, e.g. piped to
::print struct vm_area_struct vm_start vm_end. (::pmap prints a process's
VMAs as /proc/PID/maps does.) Value entries (integers stored in the tree)
are not addresses: they are counted in a warning.

The tree is guest data: the walk is bounded (entries, nodes, depth 32) and
cycle-checked, and a node that cannot be read or makes no sense (an unknown
node type, a pivot outside its range) ends it with a warning naming it.",
    init,
};

fn init(
    session: &mut Session,
    start: Option<VirtAddr>,
    args: &[Arg],
) -> Result<Box<dyn Walk>, DcmdError> {
    let cmd = "::walk maple";
    let tree = need_start(cmd, start)?;
    if let Some(a) = args.first() {
        return Err(DcmdError::usage(
            cmd,
            format!("unexpected argument '{}'", a.text),
        ));
    }
    let btf = kernel_types(session, cmd)?;
    let limit = session.walk_limit();
    let w = maple_entries(session.program_mut(), &btf, tree, limit)?;
    Ok(pointer_walk(
        cmd,
        w.items.into_iter().map(|e| e.entry),
        w.end,
    ))
}
