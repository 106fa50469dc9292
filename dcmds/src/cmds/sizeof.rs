//! `::sizeof`: the size of a type, from the kernel's BTF.

use super::print::{btf_error, kernel_types};
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::TypeSize;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;

pub const SIZEOF: DcmdDef = DcmdDef {
    name: "sizeof",
    aliases: &[],
    usage: "type",
    description: "print the size of a type",
    help: "Prints the size of TYPE in bytes, as mdb does:
  sizeof (struct task_struct) = 0x2600

TYPE is a C type name: task_struct, struct task_struct, pid_t,
unsigned long, struct list_head *, char [16]. Types come from the kernel's
BTF (the kernel found in guest memory or given with --kernel). In a
pipeline, passes the size on as a value.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let btf = kernel_types(session, &cmd)?;
    let words: Vec<&str> = inv.args.iter().map(|a| a.text.as_str()).collect();
    if words.is_empty() {
        return Err(inv.usage_error("missing type"));
    }
    let ct = btf.find(&words.join(" ")).map_err(|e| btf_error(&cmd, e))?;
    let size = btf.size_of_ctype(&ct).map_err(|e| btf_error(&cmd, e))?;
    let name = btf.ctype_name(&ct);
    if sink.pipe_out() {
        sink.addr(VirtAddr(size));
        return Ok(());
    }
    sink.record(TypeSize { ty: name, size });
    Ok(())
}
