//! BTF of the real Debian kernels that `scripts/guest setup` caches (6.1 and 6.12), checked
//! against an independent reader: `bpftool btf dump file <.BTF> format raw` (Debian package
//! `bpftool`). Every type record must read the same; `::sizeof`, `::offsetof` and the
//! `::print` layout of `task_struct` must agree with offsets computed from bpftool's dump.
//! A missing kernel or bpftool fails the test with the command that provides it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_dcmds::mock::MockTarget;
use qmdb_dcmds::{CaptureOutput, Session};
use qmdb_kernel::btf::{Kind, Type};
use qmdb_kernel::fixture::kernel;
use qmdb_kernel::{Btf, Kernel, SymbolTable};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

/// bpftool, on PATH or where Debian installs it.
fn bpftool() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("bpftool"))
                .collect()
        })
        .unwrap_or_default();
    candidates.push("/usr/sbin/bpftool".into());
    candidates.push("/sbin/bpftool".into());
    candidates.into_iter().find(|p| p.is_file()).expect(
        "bpftool is missing: install Debian's `bpftool` package (apt-get install -y bpftool)",
    )
}

/// One type as bpftool's raw dump shows it: kind, name, `key=value` attributes, and its
/// member, enumerator, parameter or variable lines (each a name and attributes).
#[derive(Debug, Clone, PartialEq, Default)]
struct Raw {
    kind: String,
    name: String,
    attrs: BTreeMap<String, String>,
    items: Vec<(String, BTreeMap<String, String>)>,
}

/// `'name' a=1 b=2` → ("name", {a: 1, b: 2}); an unquoted start has no name.
fn name_and_attrs(s: &str) -> (String, BTreeMap<String, String>) {
    let s = s.trim();
    let (name, rest) = match s.strip_prefix('\'') {
        Some(r) => {
            let end = r.find('\'').expect("closing quote");
            (r[..end].to_string(), &r[end + 1..])
        }
        None => (String::new(), s),
    };
    let attrs = rest
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches(',').split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (name, attrs)
}

/// Runs bpftool on the `.BTF` bytes; the types by id (index 0 unused).
fn bpftool_dump(btf: &[u8]) -> Vec<Raw> {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(btf).unwrap();
    let out = Command::new(bpftool())
        .args(["btf", "dump", "file"])
        .arg(file.path())
        .args(["format", "raw"])
        .output()
        .expect("run bpftool");
    assert!(
        out.status.success(),
        "bpftool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("bpftool prints UTF-8");
    let mut types = vec![Raw::default()];
    for line in text.lines() {
        if let Some(item) = line.strip_prefix('\t') {
            types.last_mut().unwrap().items.push(name_and_attrs(item));
            continue;
        }
        let (id, rest) = line
            .strip_prefix('[')
            .and_then(|l| l.split_once("] "))
            .unwrap_or_else(|| panic!("unexpected bpftool line: {line}"));
        assert_eq!(id.parse::<usize>().unwrap(), types.len(), "{line}");
        let (kind, rest) = rest.split_once(' ').unwrap();
        let (name, attrs) = name_and_attrs(rest);
        types.push(Raw {
            kind: kind.to_string(),
            name,
            attrs,
            items: Vec::new(),
        });
    }
    types
}

fn linkage(l: u32) -> String {
    match l {
        0 => "static".into(),
        1 => "global".into(),
        2 => "extern".into(),
        n => format!("(unknown {n})"),
    }
}

/// Our reading of a type, in bpftool's words.
fn ours(btf: &Btf, t: Type<'_>) -> Raw {
    let mut a = BTreeMap::new();
    let mut items = Vec::new();
    let mut put = |k: &str, v: String| {
        a.insert(k.to_string(), v);
    };
    match t.kind {
        Kind::Int => {
            let i = t.int().unwrap();
            put("size", i.size.to_string());
            put("bits_offset", i.offset.to_string());
            put("nr_bits", i.bits.to_string());
            let enc = match (i.signed, i.char, i.bool) {
                (false, false, false) => "(none)",
                (true, false, false) => "SIGNED",
                (false, true, false) => "CHAR",
                (false, false, true) => "BOOL",
                _ => "UNKN",
            };
            put("encoding", enc.into());
        }
        Kind::Ptr
        | Kind::Typedef
        | Kind::Volatile
        | Kind::Const
        | Kind::Restrict
        | Kind::TypeTag => put("type_id", t.target().unwrap().to_string()),
        Kind::Array => {
            let r = t.array().unwrap();
            put("type_id", r.elem.to_string());
            put("index_type_id", r.index.to_string());
            put("nr_elems", r.nelems.to_string());
        }
        Kind::Struct | Kind::Union => {
            put("size", t.size().unwrap().to_string());
            put("vlen", t.vlen().to_string());
            for m in btf.members(t) {
                let mut ma = BTreeMap::new();
                ma.insert("type_id".into(), m.ty.to_string());
                ma.insert("bits_offset".into(), m.bit_offset.to_string());
                if m.bitfield_size != 0 {
                    ma.insert("bitfield_size".into(), m.bitfield_size.to_string());
                }
                items.push((m.name.to_string(), ma));
            }
        }
        Kind::Enum | Kind::Enum64 => {
            let signed = t.enum_signed();
            put(
                "encoding",
                if signed { "SIGNED" } else { "UNSIGNED" }.into(),
            );
            put("size", t.size().unwrap().to_string());
            put("vlen", t.vlen().to_string());
            for e in btf.enumerators(t) {
                let v = match (t.kind, signed) {
                    (Kind::Enum, true) => (e.value as i64).to_string(),
                    (Kind::Enum, false) => e.value.to_string(),
                    (_, true) => format!("{}LL", e.value as i64),
                    (_, false) => format!("{}ULL", e.value),
                };
                items.push((e.name.to_string(), BTreeMap::from([("val".into(), v)])));
            }
        }
        Kind::Fwd => put(
            "fwd_kind",
            if t.fwd_is_union() { "union" } else { "struct" }.into(),
        ),
        Kind::Func => {
            put("type_id", t.target().unwrap().to_string());
            put("linkage", linkage(u32::from(t.func_linkage().unwrap())));
        }
        Kind::FuncProto => {
            put("ret_type_id", t.target().unwrap().to_string());
            put("vlen", t.vlen().to_string());
            for p in btf.params(t) {
                items.push((
                    p.name.to_string(),
                    BTreeMap::from([("type_id".into(), p.ty.to_string())]),
                ));
            }
        }
        Kind::Var => {
            put("type_id", t.target().unwrap().to_string());
            put("linkage", linkage(t.var_linkage().unwrap()));
        }
        Kind::Datasec => {
            put("size", t.size().unwrap().to_string());
            put("vlen", t.vlen().to_string());
            for i in 0..usize::from(t.vlen()) {
                let v = t.secinfo(i).unwrap();
                items.push((
                    String::new(),
                    BTreeMap::from([
                        ("type_id".into(), v.ty.to_string()),
                        ("offset".into(), v.offset.to_string()),
                        ("size".into(), v.size.to_string()),
                    ]),
                ));
            }
        }
        Kind::Float => put("size", t.size().unwrap().to_string()),
        Kind::DeclTag => {
            put("type_id", t.target().unwrap().to_string());
            put("component_idx", t.decl_tag_component().unwrap().to_string());
        }
        Kind::Void => {}
    }
    let name = if t.name().is_empty() {
        "(anon)".to_string()
    } else {
        t.name().to_string()
    };
    Raw {
        kind: t.kind.as_str().to_string(),
        name,
        attrs: a,
        items,
    }
}

/// Every attribute we produce must be in bpftool's record, with the same value.
fn same(id: usize, want: &Raw, got: &Raw) {
    assert_eq!(
        (&got.kind, &got.name),
        (&want.kind, &want.name),
        "type {id}"
    );
    for (k, v) in &got.attrs {
        assert_eq!(
            want.attrs.get(k),
            Some(v),
            "type {id} {} attribute {k}",
            want.name
        );
    }
    assert_eq!(
        got.items.len(),
        want.items.len(),
        "type {id} {} items",
        want.name
    );
    for (i, ((gn, ga), (wn, wa))) in got.items.iter().zip(&want.items).enumerate() {
        let wn = if wn == "(anon)" { "" } else { wn.as_str() };
        assert_eq!(gn, wn, "type {id} item {i}");
        for (k, v) in ga {
            assert_eq!(
                wa.get(k),
                Some(v),
                "type {id} {} item {i} ({gn}) {k}",
                want.name
            );
        }
    }
}

/// bpftool's view: sizes and member offsets computed from its dump alone.
struct Model<'a>(&'a [Raw]);

impl Model<'_> {
    fn get(&self, id: u32) -> &Raw {
        &self.0[id as usize]
    }
    fn attr(&self, id: u32, k: &str) -> u64 {
        self.get(id).attrs[k].parse().unwrap()
    }
    fn resolve(&self, mut id: u32) -> u32 {
        while matches!(
            self.get(id).kind.as_str(),
            "TYPEDEF" | "CONST" | "VOLATILE" | "RESTRICT" | "TYPE_TAG"
        ) {
            id = self.attr(id, "type_id") as u32;
        }
        id
    }
    fn size(&self, id: u32) -> u64 {
        if id == 0 {
            return 0;
        }
        let r = self.resolve(id);
        match self.get(r).kind.as_str() {
            "PTR" => 8,
            "ARRAY" => self.attr(r, "nr_elems") * self.size(self.attr(r, "type_id") as u32),
            _ => self.attr(r, "size"),
        }
    }
    /// (bit offset, bitfield size, type) of member `name` of struct/union `id`, searching
    /// anonymous members.
    fn member(&self, id: u32, name: &str) -> Option<(u64, u64, u32)> {
        let r = self.resolve(id);
        for (n, a) in &self.get(r).items {
            let off: u64 = a["bits_offset"].parse().unwrap();
            let ty: u32 = a["type_id"].parse().unwrap();
            let bits: u64 = a.get("bitfield_size").map_or(0, |b| b.parse().unwrap());
            if n == name {
                return Some((off, bits, ty));
            }
            if n == "(anon)" {
                if let Some((o, b, t)) = self.member(ty, name) {
                    return Some((off + o, b, t));
                }
            }
        }
        None
    }
    fn path(&self, id: u32, path: &str) -> (u64, u64, u32) {
        let mut at = (0, 0, id);
        for part in path.split('.') {
            let (o, b, t) = self
                .member(at.2, part)
                .unwrap_or_else(|| panic!("bpftool has no member {part} in {path}"));
            at = (at.0 + o, b, t);
        }
        at
    }
    fn find_struct(&self, name: &str) -> u32 {
        self.0
            .iter()
            .position(|t| t.kind == "STRUCT" && t.name == name)
            .unwrap_or_else(|| panic!("bpftool shows no struct {name}")) as u32
    }
}

fn hex(v: u64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

fn session(btf: Btf, target: MockTarget) -> Session {
    let mut s = Session::new(Box::new(target));
    qmdb_linux::load::install(
        &mut s,
        Kernel {
            release: None,
            banner: None,
            slide: 0,
            symbols: Arc::new(SymbolTable::new(vec![])),
            types: Some(Arc::new(btf)),
            orc: None,
            notes: Vec::new(),
        },
    );
    s
}

fn run(s: &mut Session, line: &str) -> CaptureOutput {
    let mut out = CaptureOutput::new();
    s.execute(line, &mut out);
    out
}

fn check(version: &str, task_size: u64) {
    let image = kernel(version);
    let data = image.section(".BTF").expect(".BTF section").data;
    let t = Instant::now();
    let btf = Btf::parse(data).unwrap_or_else(|e| panic!("{version}: {e}"));
    let took = t.elapsed();
    eprintln!(
        "{version}: {} types parsed in {:.1} ms",
        btf.type_count(),
        took.as_secs_f64() * 1e3
    );
    if !cfg!(debug_assertions) {
        assert!(took.as_millis() < 300, "{version}: parse took {took:?}");
    }

    // Every record reads as bpftool reads it.
    let raw = bpftool_dump(data);
    assert_eq!(btf.type_count(), raw.len() - 1, "{version}: type count");
    for t in btf.types() {
        same(t.id as usize, &raw[t.id as usize], &ours(&btf, t));
    }

    // ::sizeof and ::offsetof of task_struct, every member by name, against bpftool.
    let model = Model(&raw);
    let task = model.find_struct("task_struct");
    assert_eq!(
        model.attr(task, "size"),
        task_size,
        "{version}: bpftool's task_struct"
    );
    let mut s = session(btf, MockTarget::new());
    let out = run(&mut s, "::sizeof task_struct");
    assert_eq!(
        out.text(),
        format!("sizeof (struct task_struct) = {}\n", hex(task_size))
    );
    let mut names: Vec<String> = model
        .get(task)
        .items
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| n != "(anon)")
        .collect();
    names.extend(
        [
            "thread.sp",
            "se.vruntime",
            "sched_info.run_delay",
            "signal",
            "__state",
            "on_cpu",
        ]
        .map(String::from),
    );
    let mut bitfields = 0;
    for m in &names {
        let (bits, width, ty) = model.path(task, m);
        let mut want = format!("offsetof (struct task_struct, {m}) = {}", hex(bits / 8));
        if bits % 8 != 0 || width != 0 {
            want.push_str(&format!(".{:x}", bits % 8));
        }
        let size = model.size(ty);
        if size > 0 {
            want.push_str(&format!(", sizeof (...->{m}) = {}", hex(size)));
        }
        if width != 0 {
            bitfields += 1;
            want.push_str(&format!(" (bitfield :{width})"));
        }
        let got = run(&mut s, &format!("::offsetof task_struct {m}"));
        assert_eq!(got.text(), format!("{want}\n"), "{version}: {m}");
    }
    assert!(names.len() > 200, "{version}: {} members", names.len());
    assert!(bitfields > 0, "{version}: task_struct has bitfields");
    eprintln!(
        "{version}: {} task_struct members agree with bpftool ({bitfields} bitfields)",
        names.len()
    );

    // The layout of `::print task_struct` (every nested member) against bpftool.
    let out = run(&mut s, "::print -t task_struct");
    let rec = &out.records()[0];
    assert!(
        rec.output.len() > 500,
        "{version}: {} lines",
        rec.output.len()
    );
    let members = rec.data[0]["members"].as_array().unwrap();
    for m in members {
        let path = m["member"].as_str().unwrap();
        let (bits, width, ty) = model.path(task, path);
        assert_eq!(m["offset"], bits / 8, "{version}: {path}");
        assert_eq!(m["size"], model.size(ty), "{version}: {path}");
        if width != 0 {
            assert_eq!(m["bits"], width, "{version}: {path}");
            assert_eq!(m["bit_offset"], bits, "{version}: {path}");
        }
    }
    eprintln!(
        "{version}: {} nested members of the ::print layout agree with bpftool",
        members.len()
    );
    let pid = model.path(task, "pid").0 / 8;
    assert!(
        rec.output.contains(&format!("    {pid:x} pid_t pid")),
        "{version}: no pid line"
    );

    // `::print task_struct comm pid` on a task laid out from bpftool's offsets.
    let base = 0xffff_ffff_8260_0000u64;
    let comm = model.path(task, "comm").0 / 8;
    let mut bytes = vec![0u8; task_size as usize];
    bytes[comm as usize..comm as usize + 9].copy_from_slice(b"swapper/0");
    bytes[pid as usize..pid as usize + 4].copy_from_slice(&0u32.to_le_bytes());
    let target = MockTarget::new().with_bytes(base, &bytes);
    let btf = Btf::parse(data).unwrap();
    let mut s = session(btf, target);
    let out = run(&mut s, &format!("{base:x}::print task_struct comm pid"));
    assert_eq!(out.text(), "comm = [ \"swapper/0\" ]\npid = 0\n");
    let out = run(&mut s, &format!("{base:x}::print task_struct"));
    assert!(
        out.text().contains("\n    comm = [ \"swapper/0\" ]\n"),
        "{version}"
    );
    assert!(!out.text().contains("qmdb:"), "{version}: {}", out.text());
}

#[test]
fn debian_6_1_agrees_with_bpftool() {
    check("6.1", 0x2600);
}

#[test]
fn debian_6_12_agrees_with_bpftool() {
    check("6.12", 0x2640);
}
