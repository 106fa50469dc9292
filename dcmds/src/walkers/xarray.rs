//! `::walk xarray` and `::walk idr`: the pointers stored in an XArray or an IDR, in index
//! order (`::xarray` and `::idr` print them with their indices).

use super::collected::{need_start, Collected};
use crate::args::Arg;
use crate::cmds::print::kernel_types;
use crate::dcmd::{Walk, WalkerDef};
use crate::error::DcmdError;
use crate::session::Session;
use qmdb_bridge::VirtAddr;
use qmdb_linux::containers::{idr_entries, xa_is_value, xarray_entries, Walked};

pub const XARRAY: WalkerDef = WalkerDef {
    name: "xarray",
    usage: ":",
    description: "the pointers stored in a struct xarray, by index",
    help: "ADDR is a struct xarray (a page cache's i_pages, an address space's
tree). Emits every pointer entry in index order. Value entries (integers
stored in the array, such as shadow entries) are not addresses: they are
counted in a warning; ADDR::xarray prints every entry with its index.

The tree is guest data: the walk is bounded and cycle-checked, and a node
that cannot be read or makes no sense ends it with a warning naming the
address.",
    init: init_xarray,
};

pub const IDR: WalkerDef = WalkerDef {
    name: "idr",
    usage: ":",
    description: "the pointers stored in a struct idr, by id",
    help: "ADDR is a struct idr (e.g. a pid namespace's idr: every struct pid of
its ids). Emits every pointer it holds in id order, through its radix
tree idr_rt; ADDR::idr prints each with its id. Otherwise as ::walk
xarray.",
    init: init_idr,
};

/// The walk of an xarray's, an idr's or a maple tree's `entries`: pointer entries emitted,
/// value entries (`xa_is_value`) counted in a note, after the walk's own `end`.
pub(crate) fn pointer_walk(
    cmd: &str,
    entries: impl Iterator<Item = VirtAddr>,
    end: Option<String>,
) -> Box<dyn Walk> {
    let (values, pointers): (Vec<_>, Vec<_>) = entries.partition(|&e| xa_is_value(e));
    let mut notes: Vec<String> = end.into_iter().collect();
    if !values.is_empty() {
        notes.push(format!(
            "{cmd}: {} value entries (integers, not addresses) were not emitted",
            values.len()
        ));
    }
    Collected::new(pointers, notes)
}

/// [`pointer_walk`] of an xarray's or an idr's `(index, entry)` pairs.
fn indexed_walk(cmd: &str, w: Walked<(u64, VirtAddr)>) -> Box<dyn Walk> {
    pointer_walk(cmd, w.items.into_iter().map(|(_, e)| e), w.end)
}

fn no_args(cmd: &str, args: &[Arg]) -> Result<(), DcmdError> {
    match args.first() {
        Some(a) => Err(DcmdError::usage(
            cmd,
            format!("unexpected argument '{}'", a.text),
        )),
        None => Ok(()),
    }
}

fn init_xarray(
    session: &mut Session,
    start: Option<VirtAddr>,
    args: &[Arg],
) -> Result<Box<dyn Walk>, DcmdError> {
    let cmd = "::walk xarray";
    let xa = need_start(cmd, start)?;
    no_args(cmd, args)?;
    let btf = kernel_types(session, cmd)?;
    let limit = session.walk_limit();
    let w = xarray_entries(session.program_mut(), &btf, xa, limit)?;
    Ok(indexed_walk(cmd, w))
}

fn init_idr(
    session: &mut Session,
    start: Option<VirtAddr>,
    args: &[Arg],
) -> Result<Box<dyn Walk>, DcmdError> {
    let cmd = "::walk idr";
    let idr = need_start(cmd, start)?;
    no_args(cmd, args)?;
    let btf = kernel_types(session, cmd)?;
    let limit = session.walk_limit();
    let w = idr_entries(session.program_mut(), &btf, idr, limit)?;
    Ok(indexed_walk(cmd, w))
}
