//! A small kernel-like BTF for tests of this crate and of the dcmds over it.
#![allow(clippy::expect_used, clippy::panic)]

use super::builder::BtfBuilder;
use super::layout::int;
use super::{Btf, TypeId};

/// Ids of the kernel-like fixture.
pub struct Fixture {
    pub btf: Btf,
    pub int: TypeId,
    pub char_: TypeId,
    pub ulong: TypeId,
    pub pid_t: TypeId,
    pub list_head: TypeId,
    pub task: TypeId,
    pub thread: TypeId,
}

/// A small kernel: `task_struct` with integers, bitfields, an anonymous union, a list head,
/// a char array, a nested struct, pointers (void, self, char), an enum, a signed bitfield and
/// an int array.
pub fn fixture() -> Fixture {
    let mut b = BtfBuilder::new();
    let int_ = b.int("int", 4, 32, int::SIGNED); // 1
    let char_ = b.int("char", 1, 8, int::SIGNED); // 2
    let ulong = b.int("long unsigned int", 8, 64, 0); // 3
    let uint = b.int("unsigned int", 4, 32, 0); // 4
    let pid_t = b.typedef("pid_t", int_); // 5
    let lh_ptr = b.next_id() + 1;
    let list_head = b.struct_(
        "list_head",
        16,
        &[("next", lh_ptr, 0), ("prev", lh_ptr, 64)],
    ); // 6
    let lh_ptr2 = b.ptr(list_head); // 7
    assert_eq!(lh_ptr, lh_ptr2);
    let comm = b.array(char_, int_, 16); // 8
    let state = b.enum_(
        "task_state",
        4,
        false,
        &[
            ("TASK_RUNNING", 0),
            ("TASK_INTERRUPTIBLE", 1),
            ("TASK_UNINTERRUPTIBLE", 2),
        ],
    ); // 9
    let thread = b.struct_(
        "thread_struct",
        16,
        &[("sp", ulong, 0), ("fsbase", ulong, 64)],
    ); // 10
    let anon = b.union_("", 8, &[("a", ulong, 0), ("b", int_, 0)]); // 11
    let void_ptr = b.ptr(0); // 12
    let task_ptr = b.next_id() + 3;
    let char_ptr = b.ptr(char_); // 13
    let counts = b.array(int_, int_, 4); // 14
    let task = b.struct_bitfields(
        "task_struct",
        128,
        &[
            ("__state", uint, 0, 0),
            ("in_execve", uint, 32, 1),
            ("in_iowait", uint, 33, 1),
            ("prio", int_, 64, 0),
            ("", anon, 128, 0),
            ("tasks", list_head, 192, 0),
            ("pid", pid_t, 320, 0),
            ("tgid", pid_t, 352, 0),
            ("comm", comm, 384, 0),
            ("thread", thread, 512, 0),
            ("stack", void_ptr, 640, 0),
            ("parent", task_ptr, 704, 0),
            ("name", char_ptr, 768, 0),
            ("state", state, 832, 0),
            ("neg", int_, 864, 3),
            ("counts", counts, 896, 0),
        ],
    ); // 15
    let tp = b.ptr(task); // 16
    assert_eq!(tp, task_ptr);
    let btf = Btf::parse(&b.build()).expect("the fixture parses");
    Fixture {
        btf,
        int: int_,
        char_,
        ulong,
        pid_t,
        list_head,
        task,
        thread,
    }
}
