//! `::walk rbtree`: the nodes of a red-black tree in order, or the structures embedding
//! them.

use super::collected::{container_offset, need_start, Collected};
use crate::args::Arg;
use crate::dcmd::{Walk, WalkerDef};
use crate::error::DcmdError;
use crate::session::Session;
use qmdb_bridge::VirtAddr;
use qmdb_linux::containers::rbtree_nodes;

pub const RBTREE: WalkerDef = WalkerDef {
    name: "rbtree",
    usage: ":[type member]",
    description: "the nodes of an rb_root in order, or their TYPEs",
    help: "ADDR is a struct rb_root or rb_root_cached. Emits each rb_node of the
tree in order (leftmost first); with TYPE MEMBER (MEMBER a struct rb_node
in TYPE, such as run_node, or a struct starting with one), the address of
each TYPE instead, from the member's offset in the kernel's BTF:
  ::percpu hrtimer_bases
  (base+off)::walk rbtree hrtimer_sleeper timer.node.node

The tree is guest data: the walk is bounded and cycle-checked, and a
cycle, the bound or an unreadable node ends it with a warning naming the
address.",
    init,
};

fn init(
    session: &mut Session,
    start: Option<VirtAddr>,
    args: &[Arg],
) -> Result<Box<dyn Walk>, DcmdError> {
    let cmd = "::walk rbtree";
    let root = need_start(cmd, start)?;
    let off = container_offset(session, cmd, args, "rb_node")?;
    let limit = session.walk_limit();
    let w = rbtree_nodes(session.program_mut(), root, limit)?;
    let addrs = w.items.iter().map(|n| VirtAddr(n.0.wrapping_sub(off)));
    Ok(Collected::new(addrs.collect(), w.end.into_iter().collect()))
}
