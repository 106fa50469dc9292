//! `::walk hlist`: the nodes of an `hlist_head` chain, or the structures embedding them.

use super::collected::{container_offset, need_start, Collected};
use crate::args::Arg;
use crate::dcmd::{Walk, WalkerDef};
use crate::error::DcmdError;
use crate::session::Session;
use qmdb_bridge::VirtAddr;
use qmdb_linux::containers::hlist_nodes;

pub const HLIST: WalkerDef = WalkerDef {
    name: "hlist",
    usage: ":[type member]",
    description: "the nodes of an hlist_head chain, or their TYPEs",
    help: "ADDR is a struct hlist_head. Emits each hlist_node on its chain, first
to last; with TYPE MEMBER (MEMBER a struct hlist_node in TYPE, a path such
as pid_links[0], or a struct starting with one), the address of each
TYPE instead, from the member's offset in the kernel's BTF; the tasks of
a struct pid at P (off: ::offsetof struct pid tasks[0]):
  (P+off)::walk hlist task_struct pid_links[0]

The chain is guest data: the walk is bounded and cycle-checked, and a
cycle, the bound or an unreadable node ends it with a warning naming the
address.",
    init,
};

fn init(
    session: &mut Session,
    start: Option<VirtAddr>,
    args: &[Arg],
) -> Result<Box<dyn Walk>, DcmdError> {
    let cmd = "::walk hlist";
    let head = need_start(cmd, start)?;
    let off = container_offset(session, cmd, args, "hlist_node")?;
    let limit = session.walk_limit();
    let w = hlist_nodes(session.program_mut(), head, limit)?;
    let addrs = w.items.iter().map(|n| VirtAddr(n.0.wrapping_sub(off)));
    Ok(Collected::new(addrs.collect(), w.end.into_iter().collect()))
}
