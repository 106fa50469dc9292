//! `::print`, `::sizeof` and `::offsetof` over the mock target.

use crate::output::CaptureOutput;
use crate::session::Session;
use qmdb_kernel::btf::fixture::fixture;
use qmdb_kernel::{Kernel, SymbolTable};
use qmdb_linux::mock::{MockTarget, TableSymbols};
use std::sync::Arc;

const TASK: u64 = 0xffff_8880_0001_0000;
const STR: u64 = 0xffff_8880_0002_0000;

/// `init_task` at [`TASK`].
const SYMS: TableSymbols = TableSymbols(&[("init_task", TASK, 128)]);

/// The task's 128 bytes.
fn task_bytes() -> Vec<u8> {
    let mut t = vec![0u8; 128];
    let mut put = |at: usize, b: &[u8]| t[at..at + b.len()].copy_from_slice(b);
    put(0, &1u32.to_le_bytes());
    put(4, &[0x01]);
    put(8, &120i32.to_le_bytes());
    put(16, &0x1122_3344_5566_7788u64.to_le_bytes());
    put(24, &0xffff_8880_0003_0018u64.to_le_bytes());
    put(32, &(TASK + 24).to_le_bytes());
    put(48, b"swapper/0");
    put(64, &0xffff_c900_0000_3e38u64.to_le_bytes());
    put(80, &0xffff_c900_0000_0000u64.to_le_bytes());
    put(88, &TASK.to_le_bytes());
    put(96, &STR.to_le_bytes());
    put(104, &2u32.to_le_bytes());
    put(108, &[0x06]);
    put(112, &1i32.to_le_bytes());
    put(116, &2i32.to_le_bytes());
    put(120, &(-1i32).to_le_bytes());
    t
}

fn session_with(target: MockTarget, btf: bool) -> Session {
    let mut s = Session::new(Box::new(target));
    qmdb_linux::load::install(
        &mut s,
        Kernel {
            release: None,
            banner: None,
            slide: 0,
            symbols: Arc::new(SymbolTable::new(vec![])),
            types: btf.then(|| Arc::new(fixture().btf)),
            orc: None,
            notes: Vec::new(),
        },
    );
    // After the kernel, which installs its own (here empty) symbols.
    s.set_symbols(Box::new(SYMS));
    s
}

fn session() -> Session {
    let target = MockTarget::new()
        .with_bytes(TASK, &task_bytes())
        .with_bytes(STR, b"hello\0");
    session_with(target, true)
}

fn run(s: &mut Session, line: &str) -> CaptureOutput {
    let mut out = CaptureOutput::new();
    s.execute(line, &mut out);
    out
}

fn text(s: &mut Session, line: &str) -> String {
    run(s, line).text().to_string()
}

const WHOLE: &str = "\
{
    __state = 0x1
    in_execve = 0x1
    in_iowait = 0
    prio = 0x78
    {
        a = 0x1122334455667788
        b = 0x55667788
    }
    tasks = {
        next = 0xffff888000030018
        prev = init_task+0x18
    }
    pid = 0
    tgid = 0
    comm = [ \"swapper/0\" ]
    thread = {
        sp = 0xffffc90000003e38
        fsbase = 0
    }
    stack = 0xffffc90000000000
    parent = init_task
    name = 0xffff888000020000 \"hello\"
    state = 0x2 (TASK_UNINTERRUPTIBLE)
    neg = -2
    counts = [ 0x1, 0x2, 0xffffffff, 0 ]
}
";

const WHOLE_T: &str = "\
struct task_struct {
    unsigned int __state = 0x1
    unsigned int in_execve :1 = 0x1
    unsigned int in_iowait :1 = 0
    int prio = 0x78
    union {
        long unsigned int a = 0x1122334455667788
        int b = 0x55667788
    }
    struct list_head tasks = {
        struct list_head *next = 0xffff888000030018
        struct list_head *prev = init_task+0x18
    }
    pid_t pid = 0
    pid_t tgid = 0
    char [16] comm = [ \"swapper/0\" ]
    struct thread_struct thread = {
        long unsigned int sp = 0xffffc90000003e38
        long unsigned int fsbase = 0
    }
    void *stack = 0xffffc90000000000
    struct task_struct *parent = init_task
    char *name = 0xffff888000020000 \"hello\"
    enum task_state state = 0x2 (TASK_UNINTERRUPTIBLE)
    int neg :3 = -2
    int [4] counts = [ 0x1, 0x2, 0xffffffff, 0 ]
}
";

const LAYOUT: &str = "\
0 struct task_struct {
    0 unsigned int __state
    4 unsigned int in_execve :1
    4.1 unsigned int in_iowait :1
    8 int prio
    10 union {
        10 long unsigned int a
        10 int b
    }
    18 struct list_head tasks {
        18 struct list_head *next
        20 struct list_head *prev
    }
    28 pid_t pid
    2c pid_t tgid
    30 char [16] comm
    40 struct thread_struct thread {
        40 long unsigned int sp
        48 long unsigned int fsbase
    }
    50 void *stack
    58 struct task_struct *parent
    60 char *name
    68 enum task_state state
    6c int neg :3
    70 int [4] counts
}
";

#[test]
fn print_whole_objects_like_mdb() {
    let mut s = session();
    assert_eq!(text(&mut s, "init_task::print task_struct"), WHOLE);
    assert_eq!(text(&mut s, "init_task::print struct task_struct"), WHOLE);
    assert_eq!(text(&mut s, "init_task::print -t task_struct"), WHOLE_T);
    let out = run(&mut s, "ffff888000010000::print task_struct");
    assert_eq!(out.text(), WHOLE);
    let rec = &out.records()[0];
    let v = &rec.data[0];
    assert_eq!(v["addr"], "0xffff888000010000");
    assert_eq!(v["type"], "struct task_struct");
    assert_eq!(v["value"]["comm"], "swapper/0");
    assert_eq!(v["value"]["pid"], 0);
    assert_eq!(v["value"]["prio"], 120);
    assert_eq!(
        v["value"]["a"], 0x1122_3344_5566_7788u64,
        "anonymous members merge in"
    );
    assert_eq!(v["value"]["tasks"]["next"], "0xffff888000030018");
    assert_eq!(v["value"]["state"]["name"], "TASK_UNINTERRUPTIBLE");
    assert_eq!(v["value"]["neg"], -2);
    assert_eq!(v["value"]["counts"], serde_json::json!([1, 2, -1, 0]));
}

#[test]
fn print_members_reads_only_their_bytes() {
    let target = MockTarget::new().with_bytes(TASK, &task_bytes());
    let shared = target.shared();
    let mut s = session_with(target, true);
    assert_eq!(
        text(&mut s, "init_task::print task_struct comm pid"),
        "comm = [ \"swapper/0\" ]\npid = 0\n"
    );
    // Two members: two small requests, none of them the whole task.
    assert_eq!(shared.borrow().requests, 2);
    assert_eq!(
        text(&mut s, "init_task::print -t task_struct pid thread"),
        "pid_t pid = 0\nstruct thread_struct thread = {\n    long unsigned int thread.sp = \
         0xffffc90000003e38\n    long unsigned int thread.fsbase = 0\n}\n"
    );
    assert_eq!(
        text(
            &mut s,
            "init_task::print -a task_struct comm thread.sp in_iowait neg"
        ),
        "ffff888000010030 comm = [ \"swapper/0\" ]\nffff888000010040 thread.sp = \
         0xffffc90000003e38\nffff888000010004.1 in_iowait = 0\nffff88800001006c neg = -2\n"
    );
    assert_eq!(
        text(
            &mut s,
            "init_task::print task_struct comm[4] counts[2] a tasks.prev"
        ),
        "comm[4] = 'p'\ncounts[2] = 0xffffffff\na = 0x1122334455667788\n\
         tasks.prev = init_task+0x18\n"
    );
    assert_eq!(
        text(&mut s, "init_task::print -d task_struct counts prio neg"),
        "counts = [ 1, 2, -1, 0 ]\nprio = 120\nneg = -2\n"
    );
    assert_eq!(
        text(&mut s, "init_task::print -x task_struct neg state"),
        "neg = 0x6\nstate = 0x2 (TASK_UNINTERRUPTIBLE)\n"
    );
    assert_eq!(
        text(&mut s, "init_task::print -n task_struct parent tasks.prev"),
        "parent = 0xffff888000010000\ntasks.prev = 0xffff888000010018\n"
    );
    assert_eq!(
        text(&mut s, "init_task::print -l 2 task_struct counts"),
        "counts = [ 0x1, 0x2, ... ]\n"
    );
    assert_eq!(
        text(&mut s, "init_task::print -s 0 task_struct thread"),
        "thread = { ... }\n"
    );
    // Through pointers: parent->comm, and a pointer's members directly.
    assert_eq!(
        text(
            &mut s,
            "init_task::print task_struct parent->comm parent->parent->pid"
        ),
        "parent->comm = [ \"swapper/0\" ]\nparent->parent->pid = 0\n"
    );
    assert_eq!(
        text(&mut s, "init_task+58::print \"struct task_struct *\" comm"),
        "comm = [ \"swapper/0\" ]\n"
    );
    assert_eq!(
        text(
            &mut s,
            "init_task::print task_struct tasks.prev[0] parent[0].pid"
        ),
        "tasks.prev[0] = {\n    tasks.prev[0].next = 0xffff888000030018\n    \
         tasks.prev[0].prev = init_task+0x18\n}\nparent[0].pid = 0\n"
    );
}

#[test]
fn print_other_types() {
    let mut s = session();
    assert_eq!(text(&mut s, "init_task::print int"), "0x1\n");
    assert_eq!(text(&mut s, "init_task::print -t pid_t"), "pid_t 0x1\n");
    assert_eq!(
        text(&mut s, "init_task+30::print char [16]"),
        "[ \"swapper/0\" ]\n"
    );
    assert_eq!(
        text(&mut s, "init_task+58::print -t \"struct task_struct *\""),
        "struct task_struct * init_task\n"
    );
    assert_eq!(
        text(&mut s, "init_task+18::print list_head"),
        "{\n    next = 0xffff888000030018\n    prev = init_task+0x18\n}\n"
    );
    assert_eq!(
        text(&mut s, "init_task+18::print \"struct list_head [2]\""),
        "[\n    {\n        next = 0xffff888000030018\n        prev = init_task+0x18\n    },\n    \
         {\n        next = 0\n        prev = 0x2f72657070617773\n    },\n]\n"
    );
    assert_eq!(
        text(&mut s, "init_task::print -l 1 \"struct list_head [2]\""),
        "[\n    {\n        next = 0x100000001\n        prev = 0x78\n    },\n... ]\n"
    );
    assert_eq!(
        text(&mut s, "init_task+70::print \"int [2][2]\""),
        "[\n    [ 0x1, 0x2 ],\n    [ 0xffffffff, 0 ],\n]\n"
    );
    // Characters that are not a string print one by one.
    assert_eq!(
        text(&mut s, "init_task::print -l 3 \"char [4]\""),
        "[ '\\x01', '\\0', '\\0', ... ]\n"
    );
}

#[test]
fn layouts_without_an_address() {
    let mut s = session();
    assert_eq!(text(&mut s, "::print -t task_struct"), LAYOUT);
    assert_eq!(
        text(&mut s, "::print -t list_head"),
        "0 struct list_head {\n    0 struct list_head *next\n    8 struct list_head *prev\n}\n"
    );
    assert_eq!(
        text(&mut s, "::print list_head"),
        "0 {\n    0 next\n    8 prev\n}\n"
    );
    assert_eq!(
        text(&mut s, "::print -t task_struct thread in_iowait"),
        "40 struct thread_struct thread {\n    40 long unsigned int thread.sp\n    \
         48 long unsigned int thread.fsbase\n}\n4.1 unsigned int in_iowait :1\n"
    );
    let out = run(&mut s, "::print -t list_head");
    let d = &out.records()[0].data[0];
    assert_eq!(d["type"], "struct list_head");
    assert_eq!(d["size"], 16);
    assert_eq!(
        d["members"],
        serde_json::json!([
            {"member": "next", "type": "struct list_head *", "offset": 0, "size": 8},
            {"member": "prev", "type": "struct list_head *", "offset": 8, "size": 8},
        ])
    );
    let out = run(&mut s, "::print task_struct");
    let m = &out.records()[0].data[0]["members"];
    assert!(m
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["member"] == "thread.sp" && x["offset"] == 64));
    assert!(m
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["member"] == "in_iowait" && x["bit_offset"] == 33 && x["bits"] == 1));
    assert!(m
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["member"] == "a" && x["offset"] == 16));
}

#[test]
fn sizeof_and_offsetof_like_mdb() {
    let mut s = session();
    assert_eq!(
        text(&mut s, "::sizeof task_struct"),
        "sizeof (struct task_struct) = 0x80\n"
    );
    assert_eq!(
        text(&mut s, "::sizeof struct list_head *"),
        "sizeof (struct list_head *) = 0x8\n"
    );
    assert_eq!(text(&mut s, "::sizeof pid_t"), "sizeof (pid_t) = 0x4\n");
    assert_eq!(
        text(&mut s, "::sizeof unsigned long"),
        "sizeof (long unsigned int) = 0x8\n"
    );
    assert_eq!(
        text(&mut s, "::offsetof task_struct pid"),
        "offsetof (struct task_struct, pid) = 0x28, sizeof (...->pid) = 0x4\n"
    );
    assert_eq!(
        text(&mut s, "::offsetof struct task_struct thread.sp"),
        "offsetof (struct task_struct, thread.sp) = 0x40, sizeof (...->thread.sp) = 0x8\n"
    );
    assert_eq!(
        text(&mut s, "::offsetof list_head next"),
        "offsetof (struct list_head, next) = 0, sizeof (...->next) = 0x8\n"
    );
    assert_eq!(
        text(&mut s, "::offsetof task_struct in_iowait"),
        "offsetof (struct task_struct, in_iowait) = 0x4.1, sizeof (...->in_iowait) = 0x4 \
         (bitfield :1)\n"
    );
    let out = run(&mut s, "::sizeof task_struct");
    assert_eq!(
        out.records()[0].data[0],
        serde_json::json!({"type": "struct task_struct", "size": 128})
    );
    let out = run(&mut s, "::offsetof task_struct in_iowait");
    assert_eq!(
        out.records()[0].data[0],
        serde_json::json!({"type": "struct task_struct", "member": "in_iowait", "offset": 4,
            "bit_offset": 33, "size": 4, "member_type": "unsigned int", "bits": 1})
    );
}

#[test]
fn pipelines_carry_values() {
    let mut s = session();
    // A pointer member passes its target on.
    assert_eq!(
        text(
            &mut s,
            "init_task::print task_struct parent | ::print task_struct pid comm"
        ),
        "pid = 0\ncomm = [ \"swapper/0\" ]\n"
    );
    assert_eq!(
        text(&mut s, "::sizeof task_struct | =K"),
        "                80\n"
    );
    assert_eq!(
        text(&mut s, "::offsetof task_struct comm | =K"),
        "                30\n"
    );
    assert_eq!(
        text(&mut s, "init_task::print task_struct thread | =K"),
        "                ffff888000010040\n"
    );
    assert_eq!(
        text(&mut s, "::offsetof task_struct in_iowait | =K"),
        "qmdb: ::offsetof: member in_iowait of struct task_struct is not byte-aligned\n"
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let mut s = session();
    let cases = [
        ("::sizeof nosuch", "qmdb: ::sizeof: unknown type 'nosuch'\n"),
        (
            "::sizeof",
            "qmdb: ::sizeof: missing type (usage: ::sizeof type)\n",
        ),
        (
            "::sizeof struct opaque_nope",
            "qmdb: ::sizeof: unknown type 'struct opaque_nope'\n",
        ),
        ("::sizeof void", "qmdb: ::sizeof: void has no size\n"),
        (
            "::offsetof task_struct",
            "qmdb: ::offsetof: needs a type and a member (usage: ::offsetof type member)\n",
        ),
        (
            "::offsetof task_struct nosuch",
            "qmdb: ::offsetof: struct task_struct has no member 'nosuch'\n",
        ),
        (
            "::offsetof \"struct list_head *\" next",
            "qmdb: ::offsetof: struct list_head * is not a struct or union\n",
        ),
        (
            "init_task::print nosuch",
            "qmdb: ::print: unknown type 'nosuch'\n",
        ),
        (
            "init_task::print",
            "qmdb: ::print: missing type (usage: [addr]::print [-adLntx] [-l limit] [-s depth] \
             type [member...])\n",
        ),
        (
            "init_task::print task_struct nosuch pid",
            "qmdb: ::print: struct task_struct has no member 'nosuch'\npid = 0\n",
        ),
        (
            "init_task::print task_struct tasks.next->next",
            "qmdb: failed to read tasks.next->next at ffff888000030018: no mapping\n",
        ),
        (
            "init_task::print task_struct pid->x",
            "qmdb: ::print: pid_t is not a pointer (following '->' in 'pid->x')\n",
        ),
        (
            "0::print task_struct",
            "qmdb: failed to read struct task_struct at 0: no mapping\n",
        ),
        (
            "1000::sizeof int",
            "qmdb: ::sizeof: does not take an address (usage: ::sizeof type)\n",
        ),
        ("::print -z int", "qmdb: ::print: unknown option -z\n"),
    ];
    for (cmd, want) in cases {
        assert_eq!(text(&mut s, cmd), want, "{cmd}");
    }
}

#[test]
fn without_btf_the_dcmds_say_how_to_get_it() {
    let mut s = Session::new(Box::new(MockTarget::new()));
    assert_eq!(
        text(&mut s, "::sizeof int"),
        "qmdb: ::sizeof: no kernel: no kernel was given (--kernel) or looked for\n"
    );
    assert_eq!(
        text(&mut s, "1000::print int"),
        "qmdb: ::print: no kernel: no kernel was given (--kernel) or looked for\n"
    );
    let mut s = session_with(MockTarget::new(), false);
    assert_eq!(
        text(&mut s, "::offsetof task_struct pid"),
        "qmdb: ::offsetof: no type information: the kernel image has neither .BTF nor DWARF\n"
    );
}

#[test]
fn unreadable_parts_print_inline() {
    // Only the first 0x40 bytes of the task are mapped; the char * points nowhere.
    let bytes = task_bytes();
    let target = MockTarget::new().with_bytes(TASK, &bytes[..0x40]);
    let mut s = session_with(target, true);
    let out = text(&mut s, "init_task::print task_struct");
    assert!(out.contains("    comm = [ \"swapper/0\" ]\n"), "{out}");
    assert!(
        out.contains(
            "    thread = {\n        sp = ??? (failed to read 8 bytes at ffff888000010040)\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("    counts = [ ??? (failed to read 4 bytes at ffff888000010070),"),
        "{out}"
    );
    assert!(
        out.ends_with("}\nqmdb: failed to read 64 bytes of struct task_struct at ffff888000010040: no mapping\n"),
        "{out}"
    );
    // A char * whose string cannot be read prints as a plain pointer.
    let mut s = session_with(MockTarget::new().with_bytes(TASK, &bytes), true);
    assert_eq!(
        text(&mut s, "init_task::print task_struct name"),
        "name = 0xffff888000020000\n"
    );
}

#[test]
fn cyclic_and_huge_types_stay_bounded() {
    use qmdb_kernel::btf::builder::BtfBuilder;
    use qmdb_kernel::btf::Btf;
    let mut b = BtfBuilder::new();
    // struct loop { struct loop a; struct loop b; } as anonymous members: 2^depth values.
    let lp = b.struct_("loop", 8, &[("a", 1, 0), ("b", 1, 0)]);
    let int_ = b.int("int", 4, 32, 0);
    let big = b.array(int_, int_, 0x10_0000);
    b.struct_("big", 0x40_0000, &[("x", big, 0)]);
    let btf = Btf::parse(&b.build()).unwrap();
    assert_eq!(lp, 1);
    let mut s = Session::new(Box::new(MockTarget::new().with_bytes(TASK, &[0; 8])));
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
    let out = run(&mut s, "ffff888000010000::print loop");
    assert!(out
        .text()
        .ends_with("qmdb: output cut: too many values (print members by name)\n"));
    assert!(out.text().lines().count() < 200_000);
    assert_eq!(
        text(&mut s, "ffff888000010000::print big"),
        "qmdb: ::print: struct big is 0x400000 bytes, too large to print whole: name the \
         members to print\n"
    );
    let out = text(&mut s, "ffff888000010000::print -L big x");
    assert!(
        out.starts_with("qmdb: ::print: x is 0x400000 bytes"),
        "{out}"
    );
    assert!(text(&mut s, "::print -t loop").lines().count() < 200_000);
}
