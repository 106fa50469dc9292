//! `::list`: the entries of a Linux `list_head` ring as the structures that embed it
//! (mdb's `::list TYPE MEMBER`), container_of by member name.

use super::print::{btf_error, kernel_types};
use crate::args::getopts;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::ListEntry;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_linux::containers::list_nodes;

pub const LIST: DcmdDef = DcmdDef {
    name: "list",
    aliases: &[],
    usage: ":[-H] type member",
    description: "walk a list_head ring as the TYPEs that embed it",
    help: "Walks the list_head ring that MEMBER of TYPE links and prints the address
of each TYPE on it, from the member's offset in the kernel's BTF. MEMBER
is a path (tasks, se.group_node) to a struct list_head, or to a struct
that starts with one:
  init_task::list task_struct tasks | ::print struct task_struct comm

As mdb's ::list, ADDR is the first element: a TYPE, printed first, then
the others in next order until the walk is back at ADDR. Use this where
the ring has no separate head (init_task's tasks) or to start mid-list.
  -H   ADDR is the ring's head, a bare struct list_head that is not part
       of a TYPE (e.g. modules): the head is not printed, the walk starts
       at its next entry
Without -H, a separate head on the ring shows up as one bogus entry.

TYPE is `task_struct` or `struct task_struct`. The ring is guest data:
the walk is bounded and cycle-checked, and a cycle, the bound or an
unreadable pointer ends it with a warning naming the address.
In a pipeline, emits the addresses; --json gives one {addr} per entry.

The walker of the same name, addr::walk list [-o offset] [-s] [-i],
follows raw next pointers instead (see ::walkers).",
    run,
};

/// The TYPE and MEMBER words of `::list` and the container walkers: `(type name, member
/// offset)`, checking that MEMBER is a `struct want` (`list_head`, `rb_node`).
pub(crate) fn member_offset(
    session: &Session,
    cmd: &str,
    words: &[&str],
    want: &str,
) -> Result<(String, u64), DcmdError> {
    let Some((member, ty)) = words.split_last().filter(|(_, t)| !t.is_empty()) else {
        return Err(DcmdError::usage(cmd, "needs a type and a member"));
    };
    let btf = kernel_types(session, cmd)?;
    let ct = btf.find(&ty.join(" ")).map_err(|e| btf_error(cmd, e))?;
    let name = btf.ctype_name(&ct);
    let Some(id) = ct.plain() else {
        return Err(DcmdError::usage(cmd, format!("{name} is not a struct")));
    };
    let info = btf.member(id, member).map_err(|e| btf_error(cmd, e))?;
    if info.bit_offset % 8 != 0 || !starts_with_struct(&btf, info.ty, want) {
        return Err(DcmdError::usage(
            cmd,
            format!(
                "member {member} of {name} is a {}, not a struct {want}",
                btf.type_name(info.ty)
            ),
        ));
    }
    Ok((name, info.byte_offset()))
}

/// Whether type `id` is `struct want`, or a struct whose first member (at offset 0) is,
/// at any depth: `struct rb_node_linked { struct rb_node node; ... }` is an `rb_node`.
fn starts_with_struct(
    btf: &qmdb_kernel::btf::Btf,
    id: qmdb_kernel::btf::TypeId,
    want: &str,
) -> bool {
    let mut cur = id;
    for _ in 0..8 {
        let Ok(t) = btf.resolved(cur) else {
            return false;
        };
        if t.kind == qmdb_kernel::btf::Kind::Struct && t.name() == want {
            return true;
        }
        match btf.members(t).next() {
            Some(m) if m.bit_offset == 0 && t.kind == qmdb_kernel::btf::Kind::Struct => cur = m.ty,
            _ => return false,
        }
    }
    false
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "H")?;
    if opts.rest.len() < 2 {
        return Err(inv.usage_error("needs a type and a member"));
    }
    let (_, off) = member_offset(session, &cmd, &opts.rest, "list_head")?;
    let from_head = opts.flag('H');
    let head = if from_head {
        inv.addr
    } else {
        inv.addr.add(off)
    };
    let limit = session.walk_limit();
    let walked = list_nodes(session.program_mut(), head, limit)?;
    let first = (!from_head).then_some(inv.addr);
    let entries = first
        .into_iter()
        .chain(walked.items.iter().map(|n| VirtAddr(n.0.wrapping_sub(off))));
    for (i, a) in entries.enumerate() {
        if sink.pipe_out() {
            sink.addr(a);
        } else {
            sink.record(ListEntry { addr: a.0 });
        }
        if i % 1024 == 1023 {
            sink.check_open()?;
        }
    }
    if let Some(end) = walked.end {
        sink.warn(&end);
    }
    Ok(())
}
