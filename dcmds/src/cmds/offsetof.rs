//! `::offsetof`: where a member lies in a struct or union, from the kernel's BTF.

use super::print::{btf_error, kernel_types};
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::MemberOffset;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;

pub const OFFSETOF: DcmdDef = DcmdDef {
    name: "offsetof",
    aliases: &[],
    usage: "type member",
    description: "print the offset of a member of a type",
    help: "Prints the offset of MEMBER in TYPE and the member's size, as mdb does:
  offsetof (struct task_struct, pid) = 0x970, sizeof (...->pid) = 0x4
A bitfield's offset has the bit after a dot, and its width follows (on one
line):
  offsetof (struct task_struct, in_execve) = 0x928.2,
  sizeof (...->in_execve) = 0x4 (bitfield :1)

MEMBER may be a path through nested and anonymous structs and unions:
thread.sp, se.avg.util_avg, a[3].b (indices are hex unless written 0t10).
Types come from the kernel's BTF (the kernel found in guest memory or given
with --kernel). In a pipeline, passes the byte offset on as a value.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let btf = kernel_types(session, &cmd)?;
    let words: Vec<&str> = inv.args.iter().map(|a| a.text.as_str()).collect();
    let Some((member, ty)) = words.split_last().filter(|(_, t)| !t.is_empty()) else {
        return Err(inv.usage_error("needs a type and a member"));
    };
    let ct = btf.find(&ty.join(" ")).map_err(|e| btf_error(&cmd, e))?;
    let name = btf.ctype_name(&ct);
    let Some(id) = ct.plain() else {
        return Err(DcmdError::usage(
            cmd,
            format!("{name} is not a struct or union"),
        ));
    };
    let info = btf.member(id, member).map_err(|e| btf_error(&cmd, e))?;
    let bit = info.bit_offset % 8;
    let size = btf.size_of(info.ty).unwrap_or(0);
    if sink.pipe_out() {
        if bit != 0 {
            return Err(DcmdError::usage(
                cmd,
                format!("member {member} of {name} is not byte-aligned"),
            ));
        }
        sink.addr(VirtAddr(info.byte_offset()));
        return Ok(());
    }
    sink.record(MemberOffset {
        ty: name,
        member: (*member).to_string(),
        offset: info.byte_offset(),
        bit_offset: info.bit_offset,
        size,
        member_type: btf.type_name(info.ty),
        bits: (info.bitfield_size != 0).then_some(info.bitfield_size),
    });
    Ok(())
}
