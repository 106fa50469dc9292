//! `::xarray` and `::idr`: every entry of an XArray or IDR with its index.

use super::print::kernel_types;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::XarrayEntry;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_linux::containers::{idr_entries, xa_is_value, xa_to_value, xarray_entries};

pub const XARRAY: DcmdDef = DcmdDef {
    name: "xarray",
    aliases: &[],
    usage: ":",
    description: "print every entry of a struct xarray with its index",
    help: "ADDR is a struct xarray. Prints each present entry in index order:
       INDEX            ENTRY
           0 ffff888004a1c000
           5               2b (value 0x15)
A value entry (an integer stored in the array, xa_is_value) shows the
integer it holds; sibling, retry and zero (reserved) entries are not
entries; a multi-index entry shows once, at its first index.

In a pipeline, emits the pointer entries (as ::walk xarray does). With
--json, one {index, entry[, value]} per entry. The tree is guest data:
the walk is bounded and cycle-checked, and a node that cannot be read or
makes no sense ends it with a warning naming the address.",
    run: xarray,
};

pub const IDR: DcmdDef = DcmdDef {
    name: "idr",
    aliases: &[],
    usage: ":",
    description: "print every entry of a struct idr with its id",
    help: "ADDR is a struct idr. Prints each pointer it holds with its id (the
index in its radix tree idr_rt plus idr_base), as ::xarray does:
  ::idr on a pid namespace's idr lists every struct pid by number.
In a pipeline, emits the pointers (as ::walk idr does).",
    run: idr,
};

fn xarray(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    show(session, inv, sink, false)
}

fn idr(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    show(session, inv, sink, true)
}

fn show(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
    is_idr: bool,
) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    if let Some(a) = inv.args.first() {
        return Err(inv.usage_error(format!("unexpected argument '{}'", a.text)));
    }
    let btf = kernel_types(session, &cmd)?;
    let limit = session.walk_limit();
    let walk = if is_idr { idr_entries } else { xarray_entries };
    let w = walk(session.program_mut(), &btf, inv.addr, limit)?;
    if sink.pipe_out() {
        let values = w.items.iter().filter(|(_, e)| xa_is_value(*e)).count();
        for (_, e) in w.items.iter().filter(|(_, e)| !xa_is_value(*e)) {
            sink.addr(*e);
        }
        if values > 0 {
            sink.warn(&format!(
                "{cmd}: {values} value entries (integers, not addresses) were not emitted"
            ));
        }
    } else {
        if inv.flags.header() {
            sink.line(&XarrayEntry::header());
        }
        for &(index, e) in &w.items {
            sink.record(XarrayEntry {
                index,
                entry: e.0,
                value: xa_is_value(e).then(|| xa_to_value(e)),
            });
        }
    }
    if let Some(end) = w.end {
        sink.warn(&end);
    }
    Ok(())
}
