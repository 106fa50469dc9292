//! Every kind, C names, type-name parsing, sizes, member paths, bitfields, anonymous members
//! and cycles, on handcrafted BTF.

use super::super::builder::BtfBuilder;
use super::super::layout::int;
use super::super::{Btf, BtfError, CType, Declarator, Kind, MemberInfo, Namespace};
use super::fixture;

/// One type of every kind, named so that each has a distinct C spelling.
fn every_kind() -> (Btf, Vec<(u32, Kind, &'static str)>) {
    let mut b = BtfBuilder::new();
    let int_ = b.int("int", 4, 32, int::SIGNED); // 1
    let char_ = b.int("char", 1, 8, int::SIGNED); // 2
    let ptr = b.ptr(char_); // 3
    let arr = b.array(char_, int_, 16); // 4
    let st = b.struct_("pair", 8, &[("x", int_, 0), ("y", int_, 32)]); // 5
    let un = b.union_("either", 4, &[("i", int_, 0), ("c", char_, 0)]); // 6
    let en = b.enum_("color", 4, true, &[("RED", -1), ("GREEN", 1)]); // 7
    let fwd = b.fwd("opaque", false); // 8
    let fwdu = b.fwd("opaque_u", true); // 9
    let td = b.typedef("color_t", en); // 10
    let vol = b.volatile(int_); // 11
    let cst = b.const_(char_); // 12
    let rst = b.restrict(ptr); // 13
    let proto = b.func_proto(0, &[("a", int_), ("", 0)]); // 14
    let func = b.func("do_it", proto, 1); // 15
    let var = b.var("jiffies_like", int_, 1); // 16
    let sec = b.datasec(".data..percpu", 4, &[(var, 0, 4)]); // 17
    let flt = b.float("double", 8); // 18
    let dtag = b.decl_tag("bpf_kfunc", func, -1); // 19
    let ttag = b.type_tag("user", int_); // 20
    let e64 = b.enum64("big", 8, false, &[("HUGE", 1 << 40)]); // 21
    let ptr_cst = b.ptr(cst); // 22: const char *
    let cst_ptr = b.const_(ptr); // 23: char *const
    let fptr = b.ptr(proto); // 24: void (*)(int, ...)
    let aptr = b.ptr(arr); // 25: char (*)[16]
    let ptr_arr = b.array(ptr, int_, 4); // 26: char *[4]
    let names = vec![
        (int_, Kind::Int, "int"),
        (char_, Kind::Int, "char"),
        (ptr, Kind::Ptr, "char *"),
        (arr, Kind::Array, "char [16]"),
        (st, Kind::Struct, "struct pair"),
        (un, Kind::Union, "union either"),
        (en, Kind::Enum, "enum color"),
        (fwd, Kind::Fwd, "struct opaque"),
        (fwdu, Kind::Fwd, "union opaque_u"),
        (td, Kind::Typedef, "color_t"),
        (vol, Kind::Volatile, "volatile int"),
        (cst, Kind::Const, "const char"),
        (rst, Kind::Restrict, "char *restrict"),
        (proto, Kind::FuncProto, "void (int, ...)"),
        (func, Kind::Func, "void do_it(int, ...)"),
        (var, Kind::Var, "int"),
        (sec, Kind::Datasec, "SEC .data..percpu"),
        (flt, Kind::Float, "double"),
        (dtag, Kind::DeclTag, "void do_it(int, ...)"),
        (ttag, Kind::TypeTag, "int"),
        (e64, Kind::Enum64, "enum big"),
        (ptr_cst, Kind::Ptr, "const char *"),
        (cst_ptr, Kind::Const, "char *const"),
        (fptr, Kind::Ptr, "void (*)(int, ...)"),
        (aptr, Kind::Ptr, "char (*)[16]"),
        (ptr_arr, Kind::Array, "char *[4]"),
    ];
    (Btf::parse(&b.build()).unwrap(), names)
}

#[test]
fn every_kind_parses_and_prints_its_c_name() {
    let (btf, names) = every_kind();
    assert_eq!(btf.type_count(), names.len());
    for (id, kind, name) in &names {
        let t = btf.type_by_id(*id).unwrap();
        assert_eq!(t.kind, *kind, "type {id}");
        assert_eq!(btf.type_name(*id), *name, "type {id}");
    }
    assert_eq!(btf.type_name(0), "void");
    assert!(btf.type_by_id(names.len() as u32 + 1).is_none());
    assert_eq!(btf.types().count(), names.len());
}

#[test]
fn records_decode() {
    let (btf, _) = every_kind();
    let t = |id| btf.type_by_id(id).unwrap();
    let i = t(1).int().unwrap();
    assert_eq!(
        (i.size, i.bits, i.offset, i.signed, i.char),
        (4, 32, 0, true, false)
    );
    let a = t(4).array().unwrap();
    assert_eq!((a.elem, a.index, a.nelems), (2, 1, 16));
    let m: Vec<_> = btf
        .members(t(5))
        .map(|m| (m.name, m.ty, m.bit_offset))
        .collect();
    assert_eq!(m, vec![("x", 1, 0), ("y", 1, 32)]);
    let e: Vec<_> = btf
        .enumerators(t(7))
        .map(|e| (e.name, e.value as i64))
        .collect();
    assert_eq!(e, vec![("RED", -1), ("GREEN", 1)]);
    assert!(t(7).enum_signed());
    let e: Vec<_> = btf.enumerators(t(21)).map(|e| e.value).collect();
    assert_eq!(e, vec![1 << 40]);
    assert!(t(9).fwd_is_union() && !t(8).fwd_is_union());
    let p: Vec<_> = btf.params(t(14)).map(|p| (p.name, p.ty)).collect();
    assert_eq!(p, vec![("a", 1), ("", 0)]);
    assert_eq!(t(15).func_linkage(), Some(1));
    assert_eq!(t(16).var_linkage(), Some(1));
    let s = t(17).secinfo(0).unwrap();
    assert_eq!((s.ty, s.offset, s.size), (16, 0, 4));
    assert_eq!(t(19).decl_tag_component(), Some(-1));
    assert_eq!(t(20).name(), "user");
    assert_eq!(t(18).size(), Some(8));
    assert_eq!(t(3).target(), Some(2));
    assert_eq!(t(3).size(), None);
}

#[test]
fn sizes_follow_c() {
    let (btf, _) = every_kind();
    let size = |id| btf.size_of(id);
    assert_eq!(size(1), Ok(4));
    assert_eq!(size(3), Ok(8)); // pointer
    assert_eq!(size(4), Ok(16)); // char [16]
    assert_eq!(size(5), Ok(8));
    assert_eq!(size(10), Ok(4)); // typedef of an enum
    assert_eq!(size(11), Ok(4)); // volatile int
    assert_eq!(size(16), Ok(4)); // a variable: its type's
    assert_eq!(size(20), Ok(4)); // type tag
    assert_eq!(size(21), Ok(8));
    assert_eq!(size(26), Ok(32)); // char *[4]
    assert_eq!(
        size(8),
        Err(BtfError::NoSize {
            name: "struct opaque".into()
        })
    );
    assert!(matches!(size(14), Err(BtfError::NoSize { .. })));
    assert_eq!(size(0).unwrap_err().to_string(), "void has no size");
}

#[test]
fn type_names_as_users_type_them() {
    let f = fixture();
    let btf = &f.btf;
    let find = |s: &str| btf.find(s).map(|c| btf.ctype_name(&c));
    assert_eq!(find("task_struct").unwrap(), "struct task_struct");
    assert_eq!(find("struct task_struct").unwrap(), "struct task_struct");
    assert_eq!(
        find("  struct   task_struct ").unwrap(),
        "struct task_struct"
    );
    assert_eq!(find("pid_t").unwrap(), "pid_t");
    assert_eq!(find("unsigned long").unwrap(), "long unsigned int");
    assert_eq!(find("long unsigned int").unwrap(), "long unsigned int");
    assert_eq!(find("unsigned long int").unwrap(), "long unsigned int");
    assert_eq!(find("unsigned").unwrap(), "unsigned int");
    assert_eq!(find("signed int").unwrap(), "int");
    assert_eq!(find("const char").unwrap(), "char");
    assert_eq!(find("struct list_head *").unwrap(), "struct list_head *");
    assert_eq!(find("list_head*").unwrap(), "struct list_head *");
    assert_eq!(find("char [16]").unwrap(), "char [16]");
    assert_eq!(find("char *[4]").unwrap(), "char *[4]");
    assert_eq!(find("int [2][3]").unwrap(), "int [2][3]");
    assert_eq!(find("char * const *").unwrap(), "char **");
    assert_eq!(find("void *").unwrap(), "void *");
    assert_eq!(find("enum task_state").unwrap(), "enum task_state");
    assert_eq!(
        btf.find("char *[4]").unwrap(),
        CType {
            base: f.char_,
            decl: vec![Declarator::Pointer, Declarator::Array(4)]
        }
    );
    let size = |s: &str| btf.size_of_ctype(&btf.find(s).unwrap()).unwrap();
    assert_eq!(size("task_struct"), 128);
    assert_eq!(size("struct list_head *"), 8);
    assert_eq!(size("char [16]"), 16);
    assert_eq!(size("int [2][3]"), 24);
    assert_eq!(size("struct list_head [3]"), 48);
    assert_eq!(size("void *[2]"), 16);

    let err = |s: &str| btf.find(s).unwrap_err().to_string();
    assert_eq!(err("nosuch"), "unknown type 'nosuch'");
    assert_eq!(err("struct nosuch"), "unknown type 'struct nosuch'");
    assert_eq!(err("union task_struct"), "unknown type 'union task_struct'");
    assert_eq!(err("unsigned short"), "unknown type 'unsigned short'");
    assert_eq!(err(""), "cannot parse type name '': no type name");
    assert_eq!(
        err("struct"),
        "cannot parse type name 'struct': a tag needs a name"
    );
    assert_eq!(
        err("char [x]"),
        "cannot parse type name 'char [x]': bad array length 'x'"
    );
    assert_eq!(
        err("char [4"),
        "cannot parse type name 'char [4': no closing ']'"
    );
    assert_eq!(
        err("int)"),
        "cannot parse type name 'int)': not a C identifier"
    );
    assert_eq!(
        err("struct a b"),
        "cannot parse type name 'struct a b': too many words"
    );
    assert_eq!(
        err("char *x"),
        "cannot parse type name 'char *x': unexpected 'x'"
    );
}

#[test]
fn typedef_names_come_before_tags_and_definitions_before_forwards() {
    let mut b = BtfBuilder::new();
    let int_ = b.int("int", 4, 32, int::SIGNED);
    let fwd = b.fwd("thing", false);
    let def = b.struct_("thing", 4, &[("x", int_, 0)]);
    let alias = b.typedef("thing", fwd);
    let only_fwd = b.fwd("opaque", false);
    let btf = Btf::parse(&b.build()).unwrap();
    assert_eq!(btf.lookup(Namespace::Struct, "thing"), Some(def));
    assert_eq!(btf.lookup(Namespace::Ordinary, "thing"), Some(alias));
    assert_eq!(btf.find("thing").unwrap().base, alias);
    assert_eq!(btf.find("struct thing").unwrap().base, def);
    assert_eq!(btf.find("opaque").unwrap().base, only_fwd);
    assert_eq!(btf.lookup(Namespace::Union, "thing"), None);
}

#[test]
fn members_by_path() {
    let f = fixture();
    let btf = &f.btf;
    let m = |p: &str| btf.member(f.task, p);
    assert_eq!(
        m("pid").unwrap(),
        MemberInfo {
            bit_offset: 320,
            bitfield_size: 0,
            ty: f.pid_t
        }
    );
    assert_eq!(m("comm").unwrap().byte_offset(), 48);
    assert_eq!(m("comm[3]").unwrap().byte_offset(), 51);
    assert_eq!(m("comm[3]").unwrap().ty, f.char_);
    assert_eq!(m("comm[a]").unwrap().byte_offset(), 58, "indices are hex");
    assert_eq!(m("comm[0t10]").unwrap().byte_offset(), 58);
    assert_eq!(m("thread.sp").unwrap().byte_offset(), 64);
    assert_eq!(m(".thread.fsbase").unwrap().byte_offset(), 72);
    assert_eq!(m("thread.sp").unwrap().ty, f.ulong);
    assert_eq!(m("tasks.prev").unwrap().byte_offset(), 32);
    assert_eq!(m("counts[3]").unwrap().byte_offset(), 124);
    // Through the anonymous union.
    assert_eq!(m("a").unwrap().byte_offset(), 16);
    assert_eq!(m("b").unwrap().ty, f.int);
    // Bitfields (kind flag).
    assert_eq!(
        m("in_iowait").unwrap(),
        MemberInfo {
            bit_offset: 33,
            bitfield_size: 1,
            ty: 4
        }
    );
    assert_eq!(m("neg").unwrap().bitfield_size, 3);
    // Through a typedef of the struct.
    assert_eq!(btf.member(f.thread, "fsbase").unwrap().byte_offset(), 8);

    let err = |p: &str| m(p).unwrap_err().to_string();
    assert_eq!(err("nosuch"), "struct task_struct has no member 'nosuch'");
    assert_eq!(
        err("thread.nosuch"),
        "struct thread_struct has no member 'nosuch'"
    );
    assert_eq!(
        err("pid.x"),
        "pid_t is not a struct or union (looking for member 'x')"
    );
    assert_eq!(
        err("comm[10]"),
        "index 16 is outside of char [16] [0 .. 15]"
    );
    assert_eq!(
        err("pid[1]"),
        "pid_t is not an array or pointer (indexing 'pid[1]')"
    );
    assert_eq!(
        err("parent->pid"),
        "bad member 'parent->pid': '->' follows a pointer, which needs guest memory"
    );
    assert_eq!(err(""), "bad member '': empty");
    assert_eq!(err("a..b"), "bad member 'a..b': a member name is missing");
    assert_eq!(err("a+b"), "bad member 'a+b': '+' is not a valid delimiter");
    assert_eq!(err("comm[1"), "bad member 'comm[1': no closing ']'");
    assert_eq!(
        btf.member(f.int, "x").unwrap_err().to_string(),
        "int is not a struct or union (looking for member 'x')"
    );
    assert_eq!(btf.member(f.list_head, "next").unwrap().bit_offset, 0);
}

#[test]
fn old_style_bitfields_live_in_the_int() {
    let mut b = BtfBuilder::new();
    let bits = b.int_at("unsigned int", 4, 3, 5, 0);
    let st = b.struct_("s", 4, &[("f", bits, 0)]);
    let btf = Btf::parse(&b.build()).unwrap();
    assert_eq!(
        btf.member(st, "f").unwrap(),
        MemberInfo {
            bit_offset: 5,
            bitfield_size: 3,
            ty: bits
        }
    );
}

#[test]
fn cycles_end_in_errors_not_hangs() {
    let mut b = BtfBuilder::new();
    let a = b.typedef("a", 2); // 1 -> 2
    let bb = b.typedef("b", 1); // 2 -> 1
    let arr = b.array(3, 0, 2); // 3: an array of itself
    let self_ptr_name = b.ptr(4); // 4: a pointer to itself
                                  // A struct whose anonymous member is itself, twice.
    let st = b.struct_("loop", 8, &[("", 5, 0), ("", 5, 0)]); // 5
    let cv = b.const_(7); // 6 -> 7
    let vv = b.volatile(6); // 7 -> 6
    let btf = Btf::parse(&b.build()).unwrap();
    assert_eq!(btf.resolve(a), Err(BtfError::TooDeep { id: a, max: 64 }));
    assert!(matches!(btf.size_of(bb), Err(BtfError::TooDeep { .. })));
    assert!(matches!(btf.size_of(arr), Err(BtfError::TooDeep { .. })));
    assert_eq!(btf.size_of(self_ptr_name), Ok(8));
    assert!(matches!(btf.size_of(cv), Err(BtfError::TooDeep { .. })));
    assert!(btf.type_name(a).contains("<nested too deep>") || !btf.type_name(a).is_empty());
    assert!(btf.type_name(self_ptr_name).contains("<nested too deep>"));
    assert!(btf.type_name(arr).contains("<nested too deep>"));
    assert!(btf.type_name(vv).contains("<nested too deep>"));
    assert!(matches!(btf.member(st, "x"), Err(BtfError::TooDeep { .. })));
    assert!(matches!(btf.member(a, "x"), Err(BtfError::TooDeep { .. })));
    assert!(btf.find("a").is_ok());
}

#[test]
fn bad_references_are_named() {
    let mut b = BtfBuilder::new();
    let p = b.ptr(99);
    let t = b.typedef("t", 99);
    let s = b.struct_("s", 4, &[("x", 99, 0)]);
    let btf = Btf::parse(&b.build()).unwrap();
    assert_eq!(btf.type_name(p), "<bad type 99> *");
    assert_eq!(btf.size_of(p), Ok(8));
    assert_eq!(btf.size_of(t), Err(BtfError::BadTypeId { from: t, id: 99 }));
    assert_eq!(
        btf.size_of(t).unwrap_err().to_string(),
        "BTF type 2 refers to type 99, which does not exist"
    );
    assert!(btf.member(s, "x").is_err());
    assert_eq!(
        btf.member(s, "x").unwrap_err(),
        BtfError::BadTypeId { from: 99, id: 99 }
    );
}

#[test]
fn split_type_words_takes_what_belongs_to_the_type() {
    use super::super::split_type_words;
    fn split(w: &[&'static str]) -> (String, Vec<&'static str>) {
        let (t, rest) = split_type_words(w);
        (t, rest.to_vec())
    }
    assert_eq!(
        split(&["task_struct", "comm", "pid"]),
        ("task_struct".into(), vec!["comm", "pid"])
    );
    assert_eq!(
        split(&["struct", "task_struct", "comm"]),
        ("struct task_struct".into(), vec!["comm"])
    );
    assert_eq!(
        split(&["unsigned", "long", "x"]),
        ("unsigned long".into(), vec!["x"])
    );
    assert_eq!(
        split(&["struct", "list_head", "*", "next"]),
        ("struct list_head *".into(), vec!["next"])
    );
    assert_eq!(split(&["char", "[16]"]), ("char [16]".into(), vec![]));
    assert_eq!(
        split(&["const", "char", "*"]),
        ("const char *".into(), vec![])
    );
    assert_eq!(split(&[]), (String::new(), vec![]));
    assert_eq!(split(&["struct"]), ("struct".into(), vec![]));
}

#[test]
fn branching_types_are_bounded() {
    let mut b = BtfBuilder::new();
    // struct wide { 300 anonymous members of type struct wide }: a search branches 300 ways
    // at each of 64 levels.
    let members: Vec<(&str, u32, u32)> = (0..300).map(|_| ("", 1, 0)).collect();
    let wide = b.struct_("wide", 8, &members);
    // A prototype whose 300 parameters are pointers to itself.
    let params: Vec<(&str, u32)> = (0..300).map(|_| ("", 3)).collect();
    let proto = b.func_proto(0, &params); // 2
    let p = b.ptr(proto); // 3
    let btf = Btf::parse(&b.build()).unwrap();
    let t = std::time::Instant::now();
    assert!(matches!(
        btf.member(wide, "x"),
        Err(BtfError::SearchTooLong { .. } | BtfError::TooDeep { .. })
    ));
    let name = btf.type_name(p);
    assert!(name.contains("..."), "{name}");
    assert!(t.elapsed().as_secs() < 5);
}
