//! The generic `list` walker: follow next pointers from a start address.

use crate::args::{getopts, number, Arg};
use crate::dcmd::{Walk, WalkerDef};
use crate::error::DcmdError;
use crate::session::Session;
use qmdb_bridge::VirtAddr;
use std::collections::HashSet;

pub const LIST: WalkerDef = WalkerDef {
    name: "list",
    usage: ":[-o offset] [-s] [-i]",
    description: "follow next pointers from a list_head or a chain",
    help: "Starting at ADDR, reads the pointer at ADDR+offset, moves to the node it
points to, and emits that node, until it comes back to ADDR or reads NULL.

By default this is a Linux list_head ring: the pointer at offset 0 is
`next`, and the start, the list's head, is not emitted. With -o OFF, each
node embeds its list_head at offset OFF, pointers point at that embedded
list_head, and the emitted addresses are the nodes' starts (container_of).

  -o OFF   offset of the next pointer in each node (hex unless 0t...)
  -s       singly linked: pointers point at the start of the next node
           (mdb's ::list); implies -i
  -i       emit the start node too

A node seen twice ends the walk with an error (a cycle that does not pass
through the start); so does a pointer that cannot be read, naming it.",
    init,
};

struct ListWalk {
    head: VirtAddr,
    cur: VirtAddr,
    /// The next pointer of `cur`, read before `cur` was emitted.
    next: Option<u64>,
    offset: u64,
    single: bool,
    emit_head: bool,
    seen: HashSet<u64>,
}

fn init(
    _session: &mut Session,
    start: Option<VirtAddr>,
    args: &[Arg],
) -> Result<Box<dyn Walk>, DcmdError> {
    let cmd = "::walk list";
    let head = start.ok_or_else(|| DcmdError::usage(cmd, "needs a start address"))?;
    let opts = getopts(cmd, args, "o:si")?;
    if let Some(extra) = opts.rest.first() {
        return Err(DcmdError::usage(
            cmd,
            format!("unexpected argument '{extra}'"),
        ));
    }
    let offset = opts
        .value('o')
        .map(|t| number(cmd, t))
        .transpose()?
        .unwrap_or(0);
    let single = opts.flag('s');
    Ok(Box::new(ListWalk {
        head,
        cur: head,
        next: None,
        offset,
        single,
        emit_head: single || opts.flag('i'),
        seen: HashSet::new(),
    }))
}

impl ListWalk {
    fn read_next(&self, session: &mut Session, node: VirtAddr) -> Result<u64, DcmdError> {
        Ok(session.read_u64(node.add(self.offset), Some("next pointer"))?)
    }
}

impl Walk for ListWalk {
    /// Reads a node's next pointer before emitting the node, so that a node that cannot be
    /// read is reported, not handed to the next stage (as mdb's list walker reads the element
    /// before its callback).
    fn step(&mut self, session: &mut Session) -> Result<Option<VirtAddr>, DcmdError> {
        if self.emit_head {
            self.emit_head = false;
            self.next = Some(self.read_next(session, self.head)?);
            return Ok(Some(self.head));
        }
        let ptr = match self.next.take() {
            Some(p) => p,
            None => self.read_next(session, self.cur)?,
        };
        if ptr == 0 {
            return Ok(None);
        }
        let node = if self.single {
            VirtAddr(ptr)
        } else {
            VirtAddr(ptr.wrapping_sub(self.offset))
        };
        if node == self.head {
            return Ok(None);
        }
        if !self.seen.insert(node.0) {
            return Err(DcmdError::Corrupt(format!(
                "list at {}: node {node} (from {}) was already visited: a cycle after {} nodes",
                self.head,
                self.cur,
                self.seen.len()
            )));
        }
        self.next = Some(self.read_next(session, node)?);
        self.cur = node;
        Ok(Some(node))
    }
}
