//! DWARF → BTF (`qmdb_kernel::dwarf`) on a C program compiled here from
//! `tests/data/dwarf_types.c` with `cc -g -O0`, as DWARF 5 and as DWARF 4, in two units (the
//! second defines what the first only declares), also with type units, checked against an
//! independent reader of the same DWARF: gdb. For every struct and union, `ptype /o` gives the size and each member's
//! offset, bit position, bitfield width and size; `print` gives every enumerator's value.
//! Compressed variants (zlib, GNU `.zdebug`, zstd) must convert to the same bytes.
//! A missing cc, objcopy or gdb fails with the command that installs it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_kernel::btf::{Kind, Namespace, TypeId};
use qmdb_kernel::dwarf::btf_from_dwarf;
use qmdb_kernel::Btf;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dwarf_types.c");

/// The structs and unions checked against gdb.
const AGGREGATES: &[&str] = &[
    "struct list_head",
    "struct hlist_node",
    "struct sched_entity",
    "struct thread_struct",
    "struct task_struct",
    "struct packed_header",
    "union value",
    "struct flex_buffer",
    "struct zero_len",
    "struct self_ref",
    "struct ping",
    "struct pong",
    "struct uses_typedefs",
    "struct signed_bits",
    "struct opaque_thing",
];

/// The enums whose values are checked against gdb.
const ENUMS: &[&str] = &["task_state", "big_flags", "small_unsigned"];

fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is missing: run `scripts/guest setup` (it installs gcc, binutils and gdb)")
        })
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Compiles the fixture (two units) with extra `flags` into `dir/name`.
fn compile(dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    let cc = tool("cc");
    let second = dir.join(format!("{name}-second.o"));
    run(Command::new(&cc)
        .args(["-g", "-O0", "-c", "-DSECOND_UNIT", "-o"])
        .arg(&second)
        .args(flags)
        .arg(SOURCE));
    let prog = dir.join(name);
    run(Command::new(&cc)
        .args(["-g", "-O0", "-o"])
        .arg(&prog)
        .args(flags)
        .arg(SOURCE)
        .arg(&second));
    prog
}

/// Converts `prog`'s DWARF, printing the time taken and the number of types.
fn convert(prog: &Path) -> (Vec<u8>, Btf) {
    let elf = std::fs::read(prog).expect("read the program");
    let start = Instant::now();
    let blob = btf_from_dwarf(&elf)
        .expect("convert")
        .expect("the program has .debug_info");
    let took = start.elapsed();
    let btf = Btf::parse(&blob).expect("the converted BTF parses");
    eprintln!(
        "{}: {} bytes of ELF -> {} BTF types ({} bytes) in {took:?}",
        prog.display(),
        elf.len(),
        btf.type_count(),
        blob.len()
    );
    (blob, btf)
}

/// One line of `ptype /o`, as a tree: a member (or the type itself at the root).
#[derive(Debug, Default)]
struct GdbMember {
    /// `None` for an anonymous member.
    name: Option<String>,
    bit_offset: u64,
    bitfield: u32,
    size: u64,
    children: Vec<GdbMember>,
}

/// The member name of a declaration: `unsigned long debugreg[2][4]` → `debugreg`,
/// `int (*callback)(const char *, void *)` → `callback`.
fn decl_name(decl: &str) -> String {
    let decl = match decl.split_once("(*") {
        Some((_, rest)) => rest.split(')').next().unwrap_or_default(),
        None => decl.split('[').next().unwrap_or_default(),
    };
    let ident: String = decl
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    ident.chars().rev().collect()
}

/// Parses `ptype /o` output. Offsets are from the start of the outermost type; members of
/// a union have none (they start where the union does).
fn parse_ptype(text: &str) -> GdbMember {
    let mut stack: Vec<GdbMember> = vec![GdbMember::default()];
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("/*") {
            let Some((comment, decl)) = rest.split_once("*/") else {
                continue;
            };
            let comment = comment.trim();
            let decl = decl.trim();
            if let Some(n) = comment.strip_prefix("total size (bytes):") {
                if let Some(top) = stack.last_mut() {
                    top.size = n.trim().parse().expect("total size");
                }
                continue;
            }
            if comment.starts_with("XXX") || comment.starts_with("offset") {
                continue;
            }
            let parent_offset = stack.last().map_or(0, |p| p.bit_offset);
            let (offset, size) = match comment.split_once('|') {
                Some((o, s)) => {
                    let (byte, bit) = match o.split_once(':') {
                        Some((b, bit)) => (b.trim(), bit.trim().parse::<u64>().expect("bit")),
                        None => (o.trim(), 0),
                    };
                    (byte.parse::<u64>().expect("offset") * 8 + bit, s)
                }
                None => (parent_offset, comment),
            };
            let size = size.trim().parse().expect("size");
            if decl.ends_with('{') {
                stack.push(GdbMember {
                    bit_offset: offset,
                    size,
                    ..GdbMember::default()
                });
            } else if let Some(decl) = decl.strip_suffix(';') {
                let (decl, bitfield) = match decl.rsplit_once(" : ") {
                    Some((d, w)) => (d, w.trim().parse().expect("bitfield width")),
                    None => (decl, 0),
                };
                let m = GdbMember {
                    name: Some(decl_name(decl)),
                    bit_offset: offset,
                    bitfield,
                    size,
                    children: Vec::new(),
                };
                stack.last_mut().expect("open type").children.push(m);
            }
        } else if let Some(rest) = t.strip_prefix('}') {
            if stack.len() > 1 {
                let mut m = stack.pop().expect("open type");
                let name = rest.trim().trim_end_matches(';').trim();
                m.name = (!name.is_empty()).then(|| name.to_string());
                stack.last_mut().expect("parent").children.push(m);
            }
        }
    }
    stack.swap_remove(0)
}

/// Runs gdb once with `commands`, each output introduced by a marker line; returns the
/// output of each command.
fn gdb(prog: &Path, commands: &[String]) -> Vec<String> {
    let mut cmd = Command::new(tool("gdb"));
    cmd.args(["-batch", "-nx"]);
    for (i, c) in commands.iter().enumerate() {
        cmd.arg("-ex").arg(format!("echo @@@{i}\\n"));
        cmd.arg("-ex").arg(c);
    }
    cmd.arg(prog);
    let out = run(&mut cmd);
    let mut parts = vec![String::new(); commands.len()];
    let mut cur: Option<usize> = None;
    for line in out.lines() {
        if let Some(i) = line
            .strip_prefix("@@@")
            .and_then(|n| n.parse::<usize>().ok())
        {
            cur = Some(i);
        } else if let Some(part) = cur.and_then(|i| parts.get_mut(i)) {
            part.push_str(line);
            part.push('\n');
        }
    }
    parts
}

/// Checks `m` (at member path `path`, unless it is anonymous or the root) and its members,
/// recursively, against BTF type `root`; returns the number of members checked. Members of
/// an anonymous member are looked up by their own names, as C finds them.
fn check_member(btf: &Btf, root: TypeId, what: &str, path: &str, m: &GdbMember) -> usize {
    let mut checked = 0;
    if m.name.is_some() && !path.is_empty() {
        let info = btf
            .member(root, path)
            .unwrap_or_else(|e| panic!("{what}.{path}: {e}"));
        assert_eq!(
            (info.bit_offset, info.bitfield_size),
            (m.bit_offset, m.bitfield),
            "{what}.{path}: (bit offset, bitfield width) differ from gdb's"
        );
        let size = btf
            .size_of(info.ty)
            .unwrap_or_else(|e| panic!("{what}.{path}: {e}"));
        assert_eq!(size, m.size, "{what}.{path}: the size differs from gdb's");
        checked += 1;
    }
    for c in &m.children {
        let p = match (&c.name, path.is_empty()) {
            (Some(n), true) => n.clone(),
            (Some(n), false) => format!("{path}.{n}"),
            (None, _) => path.to_string(),
        };
        checked += check_member(btf, root, what, &p, c);
    }
    checked
}

/// Each of `aggregates` against `ptype /o`: size, member names, and every member's offset,
/// bitfield width and size, recursively. Returns the number of members checked.
fn check_layouts(prog: &Path, btf: &Btf, aggregates: &[&str]) -> usize {
    let cmds: Vec<String> = aggregates.iter().map(|a| format!("ptype /o {a}")).collect();
    let mut total = 0;
    for (name, out) in aggregates.iter().zip(gdb(prog, &cmds)) {
        let tree = parse_ptype(&out);
        assert!(
            !tree.children.is_empty(),
            "gdb printed no members of {name}:\n{out}"
        );
        let ct = btf.find(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let id = ct.plain().expect("a plain type");
        assert_eq!(
            btf.size_of(id).unwrap_or_else(|e| panic!("{name}: {e}")),
            tree.size,
            "sizeof({name}) differs from gdb's"
        );
        let gdb_names: Vec<String> = tree
            .children
            .iter()
            .map(|c| c.name.clone().unwrap_or_default())
            .collect();
        let btf_names: Vec<String> = btf
            .members(btf.resolved(id).expect("resolve"))
            .map(|m| m.name.to_string())
            .collect();
        assert_eq!(
            btf_names, gdb_names,
            "{name}: the members differ from gdb's"
        );
        total += check_member(btf, id, name, "", &tree);
    }
    total
}

/// Every struct and union against `ptype /o`; every enumerator against `print`.
fn check_against_gdb(prog: &Path, btf: &Btf) {
    let total = check_layouts(prog, btf, AGGREGATES);
    assert!(total >= 110, "only {total} members were checked");

    let mut values = Vec::new();
    let mut cmds = Vec::new();
    for e in ENUMS {
        cmds.push(format!("ptype enum {e}"));
        let id = btf
            .lookup(Namespace::Enum, e)
            .unwrap_or_else(|| panic!("no enum {e}"));
        let t = btf.type_by_id(id).expect("enum");
        for v in btf.enumerators(t) {
            cmds.push(format!("print/x (unsigned long long){}", v.name));
            values.push((
                v.name.to_string(),
                v.value,
                btf.type_by_id(id).map(|t| t.kind),
            ));
        }
    }
    let out = gdb(prog, &cmds);
    let mut names_by_gdb = Vec::new();
    let mut printed = Vec::new();
    for (c, o) in cmds.iter().zip(&out) {
        if c.starts_with("ptype") {
            let body = o
                .split_once('{')
                .and_then(|(_, b)| b.split_once('}'))
                .expect(o)
                .0;
            names_by_gdb.extend(
                body.split(',')
                    .map(|n| n.split('=').next().unwrap_or_default().trim().to_string()),
            );
        } else {
            let hex = o.split_once("= 0x").expect(o).1.trim();
            printed.push(u64::from_str_radix(hex, 16).expect("hex"));
        }
    }
    let ours: Vec<String> = values.iter().map(|v| v.0.clone()).collect();
    assert_eq!(ours, names_by_gdb, "enumerators differ from gdb's");
    for ((name, value, kind), by_gdb) in values.iter().zip(printed) {
        // An ENUM holds 32 bits: gdb's 64-bit value must match once truncated and extended
        // as the BTF kind flag says.
        let expect = if *kind == Some(Kind::Enum) && *value <= u64::from(u32::MAX) {
            by_gdb & 0xffff_ffff
        } else {
            by_gdb
        };
        assert_eq!(
            *value, expect,
            "enumerator {name}: {value:#x} vs gdb's {by_gdb:#x}"
        );
    }
}

/// What gdb cannot tell in `ptype /o`: kinds, encodings, array shapes, forward declarations
/// resolved across units, and that nothing is converted twice.
fn check_structure(btf: &Btf) {
    let find = |n: &str| -> TypeId {
        btf.find(n)
            .unwrap_or_else(|e| panic!("{n}: {e}"))
            .plain()
            .expect("plain")
    };
    let kind_of = |id: TypeId| btf.type_by_id(id).expect("type").kind;
    let member = |s: &str, m: &str| {
        btf.member(find(s), m)
            .unwrap_or_else(|e| panic!("{m}: {e}"))
            .ty
    };

    // Declared in the first unit, defined in the second: one STRUCT, no FWD left.
    let opaque = find("struct opaque_thing");
    assert_eq!(kind_of(opaque), Kind::Struct);
    let p = btf
        .resolved(member("struct task_struct", "opaque"))
        .expect("ptr");
    assert_eq!((p.kind, p.target()), (Kind::Ptr, Some(opaque)));
    // Declared only: a FWD.
    assert_eq!(kind_of(find("struct cred")), Kind::Fwd);

    let wide = btf
        .resolved(member("struct task_struct", "wide"))
        .expect("wide");
    let i = wide.int().expect("int");
    assert_eq!((i.size, i.bits, i.signed), (16, 128, true));
    let uwide = btf
        .resolved(member("struct task_struct", "uwide"))
        .expect("uwide")
        .int()
        .expect("int");
    assert_eq!((uwide.size, uwide.bits, uwide.signed), (16, 128, false));
    let ld = btf
        .resolved(member("struct task_struct", "ld"))
        .expect("ld");
    assert_eq!((ld.kind, ld.size()), (Kind::Float, Some(16)));
    let flag = btf
        .resolved(member("struct task_struct", "flag"))
        .expect("flag")
        .int()
        .expect("int");
    assert!(flag.bool && flag.size == 1);
    let c = btf
        .resolved(find("char"))
        .expect("char")
        .int()
        .expect("int");
    assert!(c.char && c.size == 1);

    assert_eq!(
        btf.type_name(member("struct task_struct", "comm")),
        "char [16]"
    );
    assert_eq!(
        btf.type_name(member("struct task_struct", "matrix")),
        "int [3][5]"
    );
    assert_eq!(
        btf.type_name(member("struct task_struct", "cube")),
        "char [2][3][4]"
    );
    assert_eq!(
        btf.type_name(member("struct flex_buffer", "data")),
        "u8 [0]"
    );
    assert_eq!(
        btf.type_name(member("struct zero_len", "entries")),
        "int [0]"
    );
    assert_eq!(
        btf.type_name(member("struct task_struct", "cred")),
        "const struct cred *volatile"
    );
    let cv = btf.type_name(member("struct task_struct", "cv_ptr"));
    assert!(
        cv == "const volatile int *" || cv == "volatile const int *",
        "cv_ptr is {cv}"
    );
    assert_eq!(
        btf.type_name(member("struct task_struct", "const_ptr")),
        "int *const"
    );
    assert_eq!(btf.type_name(member("struct task_struct", "pid")), "pid_t");
    assert_eq!(
        btf.type_name(member("struct uses_typedefs", "refs")),
        "atomic_t"
    );

    // The typedef chain uid_t_chain → __kernel_uid_t → u32 → unsigned int.
    let mut chain = Vec::new();
    let mut id = find("uid_t_chain");
    while let Some(t) = btf.type_by_id(id).filter(|t| t.kind == Kind::Typedef) {
        chain.push(t.name().to_string());
        id = t.target().expect("target");
    }
    chain.push(btf.type_name(id));
    assert_eq!(
        chain,
        ["uid_t_chain", "__kernel_uid_t", "u32", "unsigned int"]
    );

    // work_func_t: a pointer to void (struct list_head *, int, ...).
    let proto = btf
        .resolved(find("work_func_t"))
        .expect("ptr")
        .target()
        .expect("proto");
    let proto = btf.type_by_id(proto).expect("proto");
    assert_eq!(proto.kind, Kind::FuncProto);
    let params: Vec<(String, TypeId)> = btf
        .params(proto)
        .map(|p| (btf.type_name(p.ty), p.ty))
        .collect();
    assert_eq!(params.len(), 3);
    assert_eq!(params[0].0, "struct list_head *");
    assert_eq!(params[1].0, "int");
    assert_eq!(params[2].1, 0, "`...` is a last parameter of type 0");

    // Self-reference and mutual reference through pointers.
    let sr = find("struct self_ref");
    let left = btf
        .resolved(member("struct self_ref", "left"))
        .expect("ptr");
    assert_eq!(left.target(), Some(sr));
    let ping = find("struct ping");
    let pong_peer = btf.resolved(member("struct pong", "peer")).expect("ptr");
    assert_eq!(pong_peer.target(), Some(ping));

    let kind = |e: &str| kind_of(btf.lookup(Namespace::Enum, e).expect("enum"));
    assert_eq!(kind("big_flags"), Kind::Enum64);
    assert_eq!(kind("task_state"), Kind::Enum);
    let ts = btf
        .type_by_id(btf.lookup(Namespace::Enum, "task_state").expect("enum"))
        .expect("enum");
    assert!(ts.enum_signed());

    // Dedup: both units define every type, yet no two records are the same.
    let mut seen: HashMap<String, TypeId> = HashMap::new();
    for t in btf.types() {
        let members: Vec<_> = btf
            .members(t)
            .map(|m| (m.name, m.ty, m.bit_offset, m.bitfield_size))
            .collect();
        let values: Vec<_> = btf.enumerators(t).map(|e| (e.name, e.value)).collect();
        let params: Vec<_> = btf.params(t).map(|p| (p.name, p.ty)).collect();
        let key = format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {members:?} {values:?} {params:?}",
            t.kind,
            t.name(),
            t.size(),
            t.target(),
            t.array(),
            t.int()
        );
        if let Some(prev) = seen.insert(key.clone(), t.id) {
            panic!("types {prev} and {} are the same: {key}", t.id);
        }
    }
    let mut named: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for t in btf.types() {
        if !t.name().is_empty() {
            *named
                .entry((format!("{:?}", t.kind), t.name()))
                .or_default() += 1;
        }
    }
    named.retain(|_, n| *n > 1);
    assert!(
        named.is_empty(),
        "named types converted more than once: {named:?}"
    );
}

fn variant(flags: &[&str], name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let prog = compile(dir.path(), name, flags);
    let (blob, btf) = convert(&prog);
    check_against_gdb(&prog, &btf);
    check_structure(&btf);
    assert!(
        btf.type_count() < 200,
        "{} types for a small program: dedup failed?",
        btf.type_count()
    );

    // Compressed debug sections convert to the same bytes.
    let objcopy = tool("objcopy");
    for how in ["zlib", "zlib-gnu", "zstd"] {
        let z = dir.path().join(format!("{name}-{how}"));
        run(Command::new(&objcopy)
            .arg(format!("--compress-debug-sections={how}"))
            .arg(&prog)
            .arg(&z));
        let elf = std::fs::read(&z).expect("read");
        let zblob = btf_from_dwarf(&elf).expect("convert").expect("debug info");
        assert!(
            zblob == blob,
            "{how}-compressed sections convert differently"
        );
    }
}

#[test]
fn dwarf5_matches_gdb() {
    variant(&["-gdwarf-5"], "prog-dwarf5");
}

#[test]
fn dwarf4_matches_gdb() {
    variant(&["-gdwarf-4"], "prog-dwarf4");
}

/// Types in type units, referred to by signature: DWARF 4's `.debug_types`, DWARF 5's
/// `DW_UT_type` units in `.debug_info`.
#[test]
fn type_units_match_gdb() {
    variant(&["-gdwarf-4", "-fdebug-types-section"], "prog-types4");
    variant(&["-gdwarf-5", "-fdebug-types-section"], "prog-types5");
}

/// Real headers (glibc and the kernel's UAPI), every type kept: a bigger program, timed, with
/// some of its most intricate types (anonymous unions in structs in unions, bitfields,
/// flexible arrays, typedefs of anonymous structs) checked against gdb.
#[test]
fn system_headers_match_gdb() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("headers.c");
    let mut text = String::from("#define _GNU_SOURCE\n");
    for h in SYSTEM_HEADERS {
        text.push_str(&format!("#include <{h}>\n"));
    }
    text.push_str("int main(void) { return 0; }\n");
    std::fs::write(&src, text).expect("write");
    let prog = dir.path().join("headers");
    run(Command::new(tool("cc"))
        .args(["-g", "-O0", "-fno-eliminate-unused-debug-types", "-o"])
        .arg(&prog)
        .arg(&src));
    let (_, btf) = convert(&prog);
    assert!(btf.type_count() > 1000, "only {} types", btf.type_count());
    let total = check_layouts(&prog, &btf, SYSTEM_AGGREGATES);
    eprintln!(
        "{total} members of {} system types match gdb",
        SYSTEM_AGGREGATES.len()
    );
}

const SYSTEM_HEADERS: &[&str] = &[
    "stdio.h",
    "stdlib.h",
    "pthread.h",
    "signal.h",
    "sys/socket.h",
    "netinet/in.h",
    "netinet/tcp.h",
    "sys/stat.h",
    "sys/resource.h",
    "sys/epoll.h",
    "sys/user.h",
    "sys/statfs.h",
    "regex.h",
    "dirent.h",
    "termios.h",
    "net/if.h",
    "netdb.h",
    "elf.h",
    "link.h",
    "ucontext.h",
    "linux/bpf.h",
    "linux/perf_event.h",
    "linux/netlink.h",
    "linux/rtnetlink.h",
    "linux/ethtool.h",
    "linux/input.h",
    "linux/io_uring.h",
    "linux/kvm.h",
    "linux/seccomp.h",
];

const SYSTEM_AGGREGATES: &[&str] = &[
    "struct stat",
    "struct sigaction",
    "struct tcp_info",
    "struct ifreq",
    "struct addrinfo",
    "struct sockaddr_in6",
    "union bpf_attr",
    "struct perf_event_attr",
    "struct kvm_run",
    "struct io_uring_sqe",
    "struct ethtool_link_settings",
    "struct input_event",
    "struct user_regs_struct",
    "struct seccomp_data",
    "struct dirent",
    "struct termios",
    "Elf64_Ehdr",
    "Elf64_Dyn",
    "ucontext_t",
    "pthread_mutex_t",
    "siginfo_t",
];

/// A file without `.debug_info` has no types; a corrupted one fails or converts, never
/// panics.
#[test]
fn stripped_and_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prog = compile(dir.path(), "prog", &[]);
    let stripped = dir.path().join("stripped");
    run(Command::new(tool("objcopy"))
        .arg("--strip-debug")
        .arg(&prog)
        .arg(&stripped));
    let elf = std::fs::read(&stripped).expect("read");
    assert_eq!(btf_from_dwarf(&elf), Ok(None));

    let elf = std::fs::read(&prog).expect("read");
    let out = run(Command::new(tool("readelf")).args(["-S", "-W"]).arg(&prog));
    let mut corrupted = 0;
    let mut errors = 0;
    for sec in [".debug_info", ".debug_abbrev", ".debug_str"] {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("{sec} ")))
            .expect(sec);
        let fields: Vec<&str> = line
            .split(']')
            .nth(1)
            .expect("fields")
            .split_whitespace()
            .collect();
        let off = usize::from_str_radix(fields[3], 16).expect("offset");
        let size = usize::from_str_radix(fields[4], 16).expect("size");
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut bad = elf.clone();
            let at = off + (seed as usize) % size;
            bad[at] ^= (seed >> 32) as u8 | 1;
            if let Err(e) = btf_from_dwarf(&bad) {
                errors += 1;
                assert!(!e.to_string().contains('\n'), "one-line errors: {e}");
            } else if let Ok(Some(blob)) = btf_from_dwarf(&bad) {
                Btf::parse(&blob).expect("whatever converts parses");
            }
            corrupted += 1;
        }
    }
    eprintln!("{corrupted} corrupted programs: {errors} errors, no panic");
    assert!(errors > 0, "no corruption was detected");
}

/// The test binary itself: Rust DWARF (namespaces, generics, enums with variant parts),
/// hundreds of units. Everything converts; the time and type count are printed. Set
/// `QMDB_DWARF_ELF` to a file (a vmlinux) to convert it too and see its figures.
#[test]
fn rust_binary_converts() {
    let exe = std::env::current_exe().expect("current exe");
    let (_, btf) = convert(&exe);
    assert!(btf.type_count() > 100, "only {} types", btf.type_count());
    if let Some(path) = std::env::var_os("QMDB_DWARF_ELF") {
        let (_, btf) = convert(Path::new(&path));
        compare_with_btf_section(Path::new(&path), &btf);
    }
}

/// When `path` (a vmlinux) also has a `.BTF` section (pahole's, from the same DWARF), every
/// named struct and union of it must be in ours with the same size and members (name, bit
/// offset, bitfield width, size). Member type names are compared too, with arrays flattened
/// as pahole flattens them (`[4][2][5]` → `[40]`); those differences are only printed: a few
/// structs are compiled twice with different macros (`siginfo_t` → `compat_siginfo_t`).
fn compare_with_btf_section(path: &Path, ours: &Btf) {
    let image = qmdb_kernel::KernelImage::open(path).expect("open");
    let Some(section) = image.section(".BTF") else {
        return;
    };
    let real = Btf::parse(section.data).expect("the .BTF section parses");
    type Layout = (u64, Vec<(String, u64, u32, u64)>);
    let layout = |btf: &Btf, id: TypeId| -> (Layout, Vec<String>) {
        let t = btf.type_by_id(id).expect("type");
        let mut members = Vec::new();
        let mut names = Vec::new();
        for m in btf.members(t) {
            let info = btf.member_info(&m).expect("member");
            let size = btf.size_of(m.ty).unwrap_or(u64::MAX);
            members.push((
                m.name.to_string(),
                info.bit_offset,
                info.bitfield_size,
                size,
            ));
            names.push(flatten_arrays(&btf.type_name(m.ty)));
        }
        ((btf.size_of(id).unwrap_or(0), members), names)
    };
    // Several structs may share a name (one per driver): any of ours may match.
    let mut by_name: HashMap<(Kind, &str), Vec<TypeId>> = HashMap::new();
    for t in ours.types() {
        by_name.entry((t.kind, t.name())).or_default().push(t.id);
    }
    let (mut same, mut differ, mut missing, mut renamed) = (0, 0, 0, 0);
    for t in real.types() {
        if !matches!(t.kind, Kind::Struct | Kind::Union) || t.name().is_empty() {
            continue;
        }
        let Some(candidates) = by_name.get(&(t.kind, t.name())) else {
            missing += 1;
            eprintln!("missing: {} {}", t.kind.as_str(), t.name());
            continue;
        };
        let want = layout(&real, t.id);
        let got: Vec<_> = candidates.iter().map(|&id| layout(ours, id)).collect();
        if !got.iter().any(|g| g.0 == want.0) {
            differ += 1;
            eprintln!(
                "differs: {} {}: {want:?}, ours {got:?}",
                t.kind.as_str(),
                t.name()
            );
        } else if !got.contains(&want) {
            renamed += 1;
            eprintln!(
                "member types named differently: {} {}",
                t.kind.as_str(),
                t.name()
            );
            same += 1;
        } else {
            same += 1;
        }
    }
    eprintln!(
        "against .BTF: {same} structs and unions alike ({renamed} with member types named \
         differently), {differ} differ, {missing} missing; {} types in .BTF",
        real.type_count()
    );
    assert_eq!((differ, missing), (0, 0));

    // Enums (values compared as 32 bits where the size is 4: pahole 1.24 marks no enum
    // signed) and typedefs (by what they name).
    let values = |btf: &Btf, id: TypeId| -> (Option<u32>, Vec<(String, u64)>) {
        let t = btf.type_by_id(id).expect("type");
        let size = t.size();
        let mask = if size == Some(4) {
            0xffff_ffff
        } else {
            u64::MAX
        };
        let v = btf
            .enumerators(t)
            .map(|e| (e.name.to_string(), e.value & mask))
            .collect();
        (size, v)
    };
    let (mut enums, mut typedefs) = (0, 0);
    for t in real.types() {
        let ok = match t.kind {
            Kind::Enum | Kind::Enum64 if !t.name().is_empty() => {
                enums += 1;
                let want = values(&real, t.id);
                [Kind::Enum, Kind::Enum64].iter().any(|k| {
                    by_name
                        .get(&(*k, t.name()))
                        .is_some_and(|c| c.iter().any(|&id| values(ours, id) == want))
                })
            }
            Kind::Typedef => {
                typedefs += 1;
                let want = flatten_arrays(&real.type_name(t.target().unwrap_or(0)));
                by_name.get(&(Kind::Typedef, t.name())).is_some_and(|c| {
                    c.iter().any(|&id| {
                        let target = ours.type_by_id(id).and_then(|o| o.target()).unwrap_or(0);
                        flatten_arrays(&ours.type_name(target)) == want
                    })
                })
            }
            _ => true,
        };
        assert!(ok, "{} {} differs from .BTF's", t.kind.as_str(), t.name());
    }
    eprintln!("against .BTF: {enums} named enums and {typedefs} typedefs alike");
}

/// `long int [4][2][5]` → `long int [40]`.
fn flatten_arrays(name: &str) -> String {
    let Some(at) = name.find(" [").or_else(|| name.find('[')) else {
        return name.to_string();
    };
    let (base, dims) = name.split_at(at);
    let product = dims
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split("][")
        .map(|d| d.parse::<u64>())
        .try_fold(1u64, |acc, d| d.map(|d| acc * d));
    match product {
        Ok(n) => format!("{base} [{n}]"),
        Err(_) => name.to_string(),
    }
}
