//! `::print`: guest memory as a typed object, or a type's layout, from the kernel's BTF.

use crate::args::{self, getopts};
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::{bytes_word, DcmdError, ReadCause};
use crate::records::{MemberLayout, PrintedValue, TypeLayout};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use qmdb_kernel::btf::render::{self, Style};
use qmdb_kernel::btf::value::{self, Decoder, Field, NoMemory, Value};
use qmdb_kernel::btf::{
    parse_path, split_type_words, Btf, BtfError, CType, Declarator, Kind, MemberInfo, PathPart,
    TypeId,
};
use std::sync::Arc;

pub const PRINT: DcmdDef = DcmdDef {
    name: "print",
    aliases: &[],
    usage: "?[-adLntx] [-l limit] [-s depth] type [member...]",
    description: "print typed guest data",
    help: "Prints the object of type TYPE at the address as mdb does: a struct or
union member by member, nested ones indented, character arrays as strings,
pointers in hex or as symbol+offset, integers in hex:
  init_task::print task_struct comm pid
  comm = [ \"swapper/0\" ]
  pid = 0
With MEMBER names, prints only those members, reading only their bytes.
A member is a path: thread.sp, se.avg, a[3].b, parent->comm (indices are
hex unless written 0t10). What cannot be read prints inline as
??? (failed to read ...).

Without an address, prints the layout of TYPE: each member's offset (and
.bit for a bitfield), type (with -t) and name, as mdb's ::print -at does.

  -a        show each member's address
  -d        integers in decimal
  -x        integers in hex, signed bitfields too
  -t        show each member's type
  -n        pointers in hex, never as symbol+offset
  -l limit  show at most LIMIT array elements (default 0t16)
  -L        show every array element
  -s depth  expand nested structs and arrays at most DEPTH levels

TYPE is a C type name: task_struct, struct task_struct, pid_t,
unsigned long, struct list_head *, char [16]. Types come from the kernel's
BTF (the kernel found in guest memory or given with --kernel). In a
pipeline, passes on each member's value (a pointer's target, an integer)
or, for a struct or array, its address.",
    run,
};

/// The largest object printed whole; larger ones must be printed by member.
const MAX_OBJECT: u64 = 1 << 20;
/// The bound on `-L` and `-l`.
const MAX_ARRAY_LIMIT: u64 = 1 << 20;

/// The kernel's BTF, or the error saying how to get it.
pub(crate) fn kernel_types(session: &Session, cmd: &str) -> Result<Arc<Btf>, DcmdError> {
    session.require_kernel()?.types.clone().ok_or_else(|| {
        DcmdError::usage(
            cmd,
            "no type information: the kernel image has neither .BTF nor DWARF",
        )
    })
}

/// A BTF lookup error as this dcmd's error.
pub(crate) fn btf_error(cmd: &str, e: BtfError) -> DcmdError {
    DcmdError::usage(cmd, e.to_string())
}

/// The decoder's view of guest memory: the session's fault-aware reads and its symbols.
struct SessionMemory<'s> {
    session: &'s mut Session,
}

impl value::Memory for SessionMemory<'_> {
    type Error = DcmdError;

    fn read(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, DcmdError> {
        Ok(self.session.read_partial(VirtAddr(addr), len)?.data)
    }

    fn symbol(&self, addr: u64) -> Option<String> {
        let a = VirtAddr(addr);
        self.session
            .symbols()
            .lookup_addr(a)
            .map(|_| self.session.symbolize(a))
    }
}

/// Where a member was found: its first byte, the bits into that byte, its bitfield width.
struct Located {
    addr: u64,
    bit: u64,
    bitfield: u32,
    ty: TypeId,
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "adLntxl:s:")?;
    let btf = kernel_types(session, &cmd)?;
    let (type_text, members) = split_type_words(&opts.rest);
    if type_text.is_empty() {
        return Err(inv.usage_error("missing type"));
    }
    let ct = btf.find(&type_text).map_err(|e| btf_error(&cmd, e))?;
    let mut vopts = value::Options {
        symbolic: !opts.flag('n'),
        values: inv.flags.addrspec,
        ..value::Options::default()
    };
    if let Some(l) = opts.value('l') {
        vopts.array_limit = args::number(&cmd, l)?.min(MAX_ARRAY_LIMIT) as usize;
    }
    if opts.flag('L') {
        vopts.array_limit = MAX_ARRAY_LIMIT as usize;
    }
    if let Some(s) = opts.value('s') {
        vopts.max_depth = args::number(&cmd, s)?.min(u64::from(u32::MAX)) as usize;
    }
    let p = Printer {
        btf: &btf,
        cmd: &cmd,
        ct: &ct,
        name: btf.ctype_name(&ct),
        vopts,
        style: Style {
            types: opts.flag('t'),
            addrs: opts.flag('a') || !inv.flags.addrspec,
            decimal: opts.flag('d') && !opts.flag('x'),
            hex: opts.flag('x'),
            values: inv.flags.addrspec,
        },
    };
    if !inv.flags.addrspec {
        return p.layout(members, sink);
    }
    let addr = inv.addr.0;
    if members.is_empty() {
        return p.whole(session, addr, sink);
    }
    for m in members {
        sink.check_open()?;
        match p.member(session, addr, m, sink) {
            Ok(()) => {}
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => sink.fail(&e),
        }
    }
    Ok(())
}

/// Reads `len` bytes of `what` at `addr`: what could be read, and an error for the rest.
fn read_object(
    session: &mut Session,
    addr: u64,
    len: u64,
    what: &str,
) -> Result<(Vec<u8>, Option<DcmdError>), DcmdError> {
    let n = usize::try_from(len).unwrap_or(usize::MAX);
    let pr = session.read_partial(VirtAddr(addr), n)?;
    if pr.data.len() >= n {
        return Ok((pr.data, None));
    }
    let (at, cause) = match pr.fault {
        Some((at, c)) => (at, ReadCause::Target(c)),
        None => (
            VirtAddr(addr.wrapping_add(pr.data.len() as u64)),
            ReadCause::Wrap,
        ),
    };
    if pr.data.is_empty() {
        return Err(DcmdError::read(what, VirtAddr(addr), cause));
    }
    let missing = bytes_word(n - pr.data.len());
    let err = DcmdError::read(format!("{missing} of {what}"), at, cause);
    Ok((pr.data, Some(err)))
}

/// The value a pipeline gets from a printed value (mdb's pipe_print): a pointer's target, an
/// integer, or the address of anything else; `None` when the value could not be read.
fn pipe_value(f: &Field, addr: u64) -> Option<u64> {
    match &f.value {
        Value::Pointer { addr, .. } => Some(*addr),
        Value::Int { raw, width, .. } => Some(if *width >= 64 {
            *raw
        } else {
            raw & ((1u64 << width) - 1)
        }),
        Value::Enum { raw, .. } => Some(*raw),
        Value::Unreadable { .. } | Value::Bad(_) => None,
        _ => Some(addr),
    }
}

/// One `::print`: the type, the options, and how to print.
struct Printer<'a> {
    btf: &'a Btf,
    cmd: &'a str,
    ct: &'a CType,
    /// `ct`'s C name.
    name: String,
    vopts: value::Options,
    style: Style,
}

impl Printer<'_> {
    fn err(&self, e: BtfError) -> DcmdError {
        btf_error(self.cmd, e)
    }

    fn not_composite(&self) -> DcmdError {
        DcmdError::usage(self.cmd, format!("{} is not a struct or union", self.name))
    }

    /// `::print [-t] TYPE [member...]` without an address: offsets, types and names.
    fn layout(&self, members: &[&str], sink: &mut Sink<'_>) -> Result<(), DcmdError> {
        let mut mem = NoMemory;
        if members.is_empty() {
            let root = Decoder::new(self.btf, &mut mem, &self.vopts, 0, &[])
                .root(self.ct, "", 0, 0)
                .unwrap_or_else(|e| match e {});
            sink.record(TypeLayout {
                ty: self.name.clone(),
                size: self.btf.size_of_ctype(self.ct).ok(),
                tree: root,
                style: self.style,
            });
            return Ok(());
        }
        let id = self.ct.plain().ok_or_else(|| self.not_composite())?;
        for m in members {
            let info = self.btf.member(id, m).map_err(|e| self.err(e))?;
            let root = Decoder::new(self.btf, &mut mem, &self.vopts, 0, &[])
                .root(&CType::of(info.ty), "", info.bit_offset, info.bitfield_size)
                .unwrap_or_else(|e| match e {});
            let bitfield = info.bitfield_size != 0;
            sink.record(MemberLayout {
                ty: self.name.clone(),
                member: (*m).to_string(),
                member_type: root.type_name.clone(),
                offset: info.byte_offset(),
                size: root.size,
                bit_offset: bitfield.then_some(info.bit_offset),
                bits: bitfield.then_some(info.bitfield_size),
                tree: root,
                style: self.style,
            });
        }
        Ok(())
    }

    /// Prints (or pipes) `rec`, decoded from the object at its address; `truncated`: the
    /// decoder cut the values.
    fn emit(
        &self,
        rec: PrintedValue,
        truncated: bool,
        sink: &mut Sink<'_>,
    ) -> Result<(), DcmdError> {
        if sink.pipe_out() {
            let Some(v) = pipe_value(&rec.tree, rec.addr) else {
                let prefix = rec.member.as_deref();
                let text = render::lines(&rec.tree, rec.addr, prefix, &self.style).join(" ");
                return Err(DcmdError::Corrupt(format!(
                    "cannot pass on {}: {text}",
                    prefix.unwrap_or("the value")
                )));
            };
            sink.addr(VirtAddr(v));
            return Ok(());
        }
        sink.record(rec);
        if truncated {
            sink.warn("output cut: too many values (print members by name)");
        }
        Ok(())
    }

    /// `addr::print TYPE`: the whole object.
    fn whole(
        &self,
        session: &mut Session,
        addr: u64,
        sink: &mut Sink<'_>,
    ) -> Result<(), DcmdError> {
        let name = &self.name;
        let size = self.btf.size_of_ctype(self.ct).map_err(|e| self.err(e))?;
        if size > MAX_OBJECT {
            return Err(DcmdError::usage(
                self.cmd,
                format!(
                    "{name} is {size:#x} bytes, too large to print whole: name the members to print"
                ),
            ));
        }
        let (bytes, rest) = read_object(session, addr, size, name)?;
        let mut mem = SessionMemory { session };
        let mut dec = Decoder::new(self.btf, &mut mem, &self.vopts, addr, &bytes);
        let root = dec.root(self.ct, "", 0, 0)?;
        let truncated = dec.truncated;
        let rec = PrintedValue {
            addr,
            member: None,
            ty: name.clone(),
            tree: root,
            style: self.style,
        };
        self.emit(rec, truncated, sink)?;
        if let Some(e) = rest {
            sink.fail(&e);
        }
        Ok(())
    }

    /// Follows member path `path` from the object at `addr`, reading pointers for `->` and
    /// for indexing through a pointer.
    fn locate(&self, session: &mut Session, addr: u64, path: &str) -> Result<Located, DcmdError> {
        let btf = self.btf;
        let usage = |msg: String| DcmdError::usage(self.cmd, msg);
        let parts = parse_path(path).map_err(|e| self.err(e))?;
        let start = MemberInfo {
            bit_offset: 0,
            bitfield_size: 0,
            ty: self.ct.base,
        };
        let (mut base, mut at) = match self.ct.decl.as_slice() {
            [] => (addr, start),
            // A pointer: its members are reached through it, as mdb guesses `->`.
            [Declarator::Pointer] => (session.read_u64(VirtAddr(addr), Some("pointer"))?, start),
            _ => return Err(self.not_composite()),
        };
        for (i, part) in parts.iter().enumerate() {
            let t = btf.resolved(at.ty).map_err(|e| self.err(e))?;
            if *part == PathPart::Deref && t.kind != Kind::Ptr {
                return Err(usage(format!(
                    "{} is not a pointer (following '->' in '{path}')",
                    btf.type_name(at.ty)
                )));
            }
            let through_pointer = t.kind == Kind::Ptr
                && (matches!(part, PathPart::Deref | PathPart::Index(_))
                    || (i == 0 && matches!(part, PathPart::Member(_))));
            if !through_pointer {
                at = btf.member_step(at, part, path).map_err(|e| self.err(e))?;
                continue;
            }
            if at.bitfield_size != 0 {
                return Err(usage(format!("{path}: a bitfield is not a pointer")));
            }
            let pointer_at = base.wrapping_add(at.bit_offset / 8);
            let p = session.read_u64(VirtAddr(pointer_at), Some("pointer"))?;
            let pointee = t.target().unwrap_or(0);
            base = p;
            at = MemberInfo {
                ty: pointee,
                ..start
            };
            match part {
                PathPart::Index(index) => {
                    let size = btf.size_of(pointee).map_err(|e| self.err(e))?;
                    base = index
                        .checked_mul(size)
                        .map(|o| p.wrapping_add(o))
                        .ok_or_else(|| usage(format!("{path}: index overflows")))?;
                }
                PathPart::Member(_) => {
                    at = btf.member_step(at, part, path).map_err(|e| self.err(e))?;
                }
                PathPart::Deref => {}
            }
        }
        if matches!(parts.last(), Some(PathPart::Deref)) {
            return Err(usage(format!("{path}: a member name must follow '->'")));
        }
        Ok(Located {
            addr: base.wrapping_add(at.bit_offset / 8),
            bit: at.bit_offset % 8,
            bitfield: at.bitfield_size,
            ty: at.ty,
        })
    }

    /// `addr::print TYPE member`: one member, reading only its bytes.
    fn member(
        &self,
        session: &mut Session,
        addr: u64,
        path: &str,
        sink: &mut Sink<'_>,
    ) -> Result<(), DcmdError> {
        let loc = self.locate(session, addr, path)?;
        let size = if loc.bitfield != 0 {
            (loc.bit + u64::from(loc.bitfield)).div_ceil(8)
        } else {
            self.btf.size_of(loc.ty).unwrap_or(0)
        };
        if size > MAX_OBJECT {
            return Err(DcmdError::usage(
                self.cmd,
                format!("{path} is {size:#x} bytes, too large to print: name its members"),
            ));
        }
        let (bytes, rest) = if size == 0 {
            (Vec::new(), None)
        } else {
            read_object(session, loc.addr, size, path)?
        };
        let mut mem = SessionMemory { session };
        let mut dec = Decoder::new(self.btf, &mut mem, &self.vopts, loc.addr, &bytes);
        let root = dec.root(&CType::of(loc.ty), "", loc.bit, loc.bitfield)?;
        let truncated = dec.truncated;
        let rec = PrintedValue {
            addr: loc.addr,
            member: Some(path.to_string()),
            ty: root.type_name.clone(),
            tree: root,
            style: self.style,
        };
        self.emit(rec, truncated, sink)?;
        if let Some(e) = rest {
            sink.fail(&e);
        }
        Ok(())
    }
}
