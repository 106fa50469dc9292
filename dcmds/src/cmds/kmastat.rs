//! `::kmastat`: the slab caches and their memory, as mdb's `::kmastat` (from the figures
//! of the guest's `/proc/slabinfo`).

use crate::args::getopts;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::{KmastatRow, KmastatTotal};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_linux::slab::stats::read_slab_stats;

pub const KMASTAT: DcmdDef = DcmdDef {
    name: "kmastat",
    aliases: &[],
    usage: "[-s]",
    description: "slab caches: sizes, objects in use, memory",
    help: "Lists the slab caches on the kernel's slab_caches list, newest first, with
the figures of /proc/slabinfo:
NAME                     OBJSIZE   SIZE   ACTIVE    TOTAL  SLABS   MEMORY
kmem_cache                   224    256      208      208     13    52.0K
OBJSIZE is the size asked for (object_size), SIZE the slot each object
takes (size, slabinfo's <objsize>). TOTAL counts the objects of every slab
of every node (kmem_cache_node's total_objects) and ACTIVE all of them but
the free objects of the nodes' partial slabs, as the kernel counts them
(objects on CPU slabs and sheaves count as active). MEMORY is the slabs'
pages (slabs << order). A last line gives the totals.

  -s   sort by memory, largest first

In a pipeline, emits the struct kmem_cache addresses. With --json, one
object per cache: {\"cache\",\"name\",\"object_size\",\"size\",\"active\",
\"total\",\"slabs\",\"objects_per_slab\",\"pages_per_slab\",\"memory\"}, then
{\"caches\",\"slabs\",\"memory\"}.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "s")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument '{extra}'")));
    }
    let btf = qmdb_linux::context(session, &cmd)?.btf.clone();
    let limit = session.walk_limit();
    let mut stats = read_slab_stats(session, &btf, limit)?;
    for p in &stats.problems {
        sink.warn(p);
    }
    if opts.flag('s') {
        stats.caches.sort_by_key(|c| std::cmp::Reverse(c.memory));
    }
    if sink.pipe_out() {
        for c in &stats.caches {
            sink.addr(c.addr);
        }
        return Ok(());
    }
    if inv.flags.header() {
        sink.line(&KmastatRow::header());
    }
    for c in &stats.caches {
        sink.record(KmastatRow::new(c));
    }
    sink.record(KmastatTotal {
        caches: stats.caches.len() as u64,
        slabs: stats.caches.iter().map(|c| c.slabs).sum(),
        memory: stats.caches.iter().map(|c| c.memory).sum(),
    });
    Ok(())
}
