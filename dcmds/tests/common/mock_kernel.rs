//! A synthetic Linux kernel in a [`MockTarget`]: hand-built BTF, a symbol table with a KASLR
//! slide, and a memory image holding `init_task`, a handful of processes and threads, two
//! CPUs' runqueues and every task's stack (frame-pointer chains; no ORC).
//!
//! Shared by `linux_mock.rs` and `proxy_backend.rs`:
//! `#[path = "common/mock_kernel.rs"] mod mock_kernel;`.

#![allow(dead_code)]

use qmdb_dcmds::mock::MockTarget;
use qmdb_dcmds::Session;
use qmdb_kernel::btf::builder::BtfBuilder;
use qmdb_kernel::btf::layout::int;
use qmdb_kernel::{Btf, Kernel, Symbol, SymbolTable};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The KASLR slide: runtime = link-time + SLIDE for every non-absolute symbol.
pub const SLIDE: u64 = 0x1c0_0000;

// struct task_struct, at offsets of our choosing.
pub const TI_CPU: u64 = 20; // thread_info.cpu (thread_info at 0)
pub const STATE: u64 = 24;
pub const STACK: u64 = 32;
pub const FLAGS: u64 = 40;
pub const ON_CPU: u64 = 44;
pub const TASKS: u64 = 48;
pub const MM: u64 = 64;
pub const EXIT_STATE: u64 = 72;
pub const PID: u64 = 76;
pub const TGID: u64 = 80;
pub const REAL_PARENT: u64 = 88;
pub const THREAD_NODE: u64 = 96;
pub const COMM: u64 = 112;
pub const SIGNAL: u64 = 128;
pub const THREAD_SP: u64 = 136; // thread.sp (thread at 136)
pub const TASK_SIZE: u64 = 0x100;
// struct signal_struct
pub const THREAD_HEAD: u64 = 16;
pub const SIGNAL_SIZE: u64 = 0x40;
// struct rq
pub const RQ_CURR: u64 = 8;
pub const RQ_IDLE: u64 = 16;
pub const RQ_SIZE: u64 = 0x40;
// struct inactive_task_frame: r15 r14 r13 r12 bx bp ret_addr
pub const FRAME_BP: u64 = 40;
pub const FRAME_RET: u64 = 48;
pub const FRAME_SIZE: u64 = 56;

pub const THREAD_SIZE: u64 = 0x4000;
pub const PF_IDLE: u32 = 0x2;
pub const PF_KTHREAD: u32 = 0x0020_0000;

/// Where the tasks, signal structs and stacks live (runtime addresses).
pub const TASK_BASE: u64 = 0xffff_8881_0000_0000;
pub const SIGNAL_BASE: u64 = 0xffff_8881_0200_0000;
/// Stack `i` is at `STACK_BASE + i * 0x8000`: 16 KiB mapped, then a 16 KiB guard hole.
pub const STACK_BASE: u64 = 0xffff_c900_0001_0000;
/// `__per_cpu_offset[cpu]`, also each CPU's kernel `gs` base.
pub const PERCPU_OFF: [u64; 2] = [0xffff_8880_07a0_0000, 0xffff_8880_07a4_0000];
/// `runqueues`: an absolute per-CPU symbol (not slid).
pub const RUNQUEUES: u64 = 0x31980;

/// Symbols at link-time addresses; text first, then data, then the absolute one.
pub const SYMBOLS: &[(&str, u64, char)] = &[
    ("_stext", 0xffff_ffff_8100_0000, 'T'),
    ("ret_from_fork", 0xffff_ffff_8100_0100, 'T'),
    ("do_syscall_64", 0xffff_ffff_8100_1000, 'T'),
    ("kthread", 0xffff_ffff_8110_0000, 'T'),
    ("kthreadd", 0xffff_ffff_8110_0400, 'T'),
    ("worker_thread", 0xffff_ffff_8110_0800, 'T'),
    ("do_idle", 0xffff_ffff_8110_1000, 't'),
    ("cpu_startup_entry", 0xffff_ffff_8110_1400, 'T'),
    ("start_secondary", 0xffff_ffff_8110_1800, 't'),
    ("rest_init", 0xffff_ffff_8110_1c00, 'T'),
    ("default_idle", 0xffff_ffff_8110_2000, 'T'),
    ("hrtimer_nanosleep", 0xffff_ffff_8120_0000, 'T'),
    ("__x64_sys_nanosleep", 0xffff_ffff_8120_0400, 'T'),
    // __schedule first: of two symbols at one address the first is shown.
    ("__schedule", 0xffff_ffff_81e0_0000, 't'),
    ("__sched_text_start", 0xffff_ffff_81e0_0000, 'T'),
    ("schedule", 0xffff_ffff_81e0_0800, 'T'),
    ("schedule_idle", 0xffff_ffff_81e0_0c00, 'T'),
    ("do_nanosleep", 0xffff_ffff_81e0_1000, 't'),
    ("__sched_text_end", 0xffff_ffff_81e0_2000, 'T'),
    ("_etext", 0xffff_ffff_81e0_3000, 'T'),
    ("init_task", 0xffff_ffff_82a0_c940, 'D'),
    ("__per_cpu_offset", 0xffff_ffff_82b0_1000, 'R'),
    ("nr_cpu_ids", 0xffff_ffff_82b0_2000, 'D'),
    ("__cpu_online_mask", 0xffff_ffff_82b0_3000, 'D'),
    ("runqueues", RUNQUEUES, 'A'),
];

/// A symbol's runtime value.
pub fn sym(name: &str) -> u64 {
    let &(_, addr, kind) = SYMBOLS
        .iter()
        .find(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("no symbol {name}"));
    if kind == 'A' {
        addr
    } else {
        addr + SLIDE
    }
}

/// `name+off` at runtime.
pub fn pc(name: &str, off: u64) -> u64 {
    sym(name) + off
}

pub fn symbols() -> SymbolTable {
    SymbolTable::new(
        SYMBOLS
            .iter()
            .map(|&(name, addr, kind)| Symbol {
                name: name.to_string(),
                addr,
                kind,
            })
            .collect(),
    )
}

/// The BTF of the structures the layout looks up.
pub fn btf() -> Btf {
    let mut b = BtfBuilder::new();
    let int_t = b.int("int", 4, 32, int::SIGNED);
    let uint = b.int("unsigned int", 4, 32, 0);
    let ulong = b.int("long unsigned int", 8, 64, 0);
    let char_t = b.int("char", 1, 8, int::CHAR);
    let void_ptr = b.ptr(0);
    let lh = b.next_id() + 1;
    let lh_ptr = b.ptr(lh);
    let list_head = b.struct_(
        "list_head",
        16,
        &[("next", lh_ptr, 0), ("prev", lh_ptr, 64)],
    );
    assert_eq!(list_head, lh);
    let comm = b.array(char_t, int_t, 16);
    let thread_info = b.struct_(
        "thread_info",
        24,
        &[
            ("flags", ulong, 0),
            ("syscall_work", ulong, 64),
            ("status", uint, 128),
            ("cpu", uint, 160),
        ],
    );
    let thread_struct = b.struct_(
        "thread_struct",
        16,
        &[("sp", ulong, 0), ("fsbase", ulong, 64)],
    );
    let mm_ptr = b.ptr(0);
    let sig = b.next_id() + 1;
    let sig_ptr = b.ptr(sig);
    let signal_struct = b.struct_(
        "signal_struct",
        SIGNAL_SIZE as u32,
        &[
            ("nr_threads", int_t, 0),
            ("thread_head", list_head, THREAD_HEAD as u32 * 8),
        ],
    );
    assert_eq!(signal_struct, sig);
    let ts = b.next_id() + 1;
    let ts_ptr = b.ptr(ts);
    let bits = |o: u64| o as u32 * 8;
    let task = b.struct_(
        "task_struct",
        TASK_SIZE as u32,
        &[
            ("thread_info", thread_info, 0),
            ("__state", uint, bits(STATE)),
            ("stack", void_ptr, bits(STACK)),
            ("flags", uint, bits(FLAGS)),
            ("on_cpu", int_t, bits(ON_CPU)),
            ("tasks", list_head, bits(TASKS)),
            ("mm", mm_ptr, bits(MM)),
            ("exit_state", int_t, bits(EXIT_STATE)),
            ("pid", int_t, bits(PID)),
            ("tgid", int_t, bits(TGID)),
            ("real_parent", ts_ptr, bits(REAL_PARENT)),
            ("thread_node", list_head, bits(THREAD_NODE)),
            ("comm", comm, bits(COMM)),
            ("signal", sig_ptr, bits(SIGNAL)),
            ("thread", thread_struct, bits(THREAD_SP)),
        ],
    );
    assert_eq!(task, ts);
    b.struct_(
        "rq",
        RQ_SIZE as u32,
        &[
            ("nr_running", uint, 0),
            ("curr", ts_ptr, bits(RQ_CURR)),
            ("idle", ts_ptr, bits(RQ_IDLE)),
        ],
    );
    b.struct_(
        "inactive_task_frame",
        FRAME_SIZE as u32,
        &[
            ("r15", ulong, 0),
            ("r14", ulong, 64),
            ("r13", ulong, 128),
            ("r12", ulong, 192),
            ("bx", ulong, 256),
            ("bp", ulong, bits(FRAME_BP)),
            ("ret_addr", ulong, bits(FRAME_RET)),
        ],
    );
    Btf::parse(&b.build()).expect("synthetic BTF parses")
}

/// Guest memory: regions by start address, and the two vCPUs' registers.
#[derive(Debug, Clone)]
pub struct Image {
    pub regions: BTreeMap<u64, Vec<u8>>,
    pub regs: [Vec<(&'static str, u64)>; 2],
}

impl Image {
    pub fn map(&mut self, addr: u64, len: u64) {
        self.regions.insert(addr, vec![0; len as usize]);
    }

    pub fn unmap(&mut self, addr: u64) {
        self.regions.remove(&addr).expect("a region starts there");
    }

    /// The region holding `[addr, addr + len)`, and the offset in it.
    fn slot(&mut self, addr: u64, len: usize) -> &mut [u8] {
        let (start, bytes) = self
            .regions
            .range_mut(..=addr)
            .next_back()
            .unwrap_or_else(|| panic!("{addr:x} is not mapped"));
        let off = (addr - start) as usize;
        bytes
            .get_mut(off..off + len)
            .unwrap_or_else(|| panic!("{addr:x}+{len} is not mapped"))
    }

    pub fn write(&mut self, addr: u64, data: &[u8]) {
        self.slot(addr, data.len()).copy_from_slice(data);
    }

    pub fn w64(&mut self, addr: u64, v: u64) {
        self.write(addr, &v.to_le_bytes());
    }

    pub fn w32(&mut self, addr: u64, v: u32) {
        self.write(addr, &v.to_le_bytes());
    }

    pub fn set_reg(&mut self, vcpu: usize, name: &'static str, v: u64) {
        self.regs[vcpu].retain(|(n, _)| *n != name);
        self.regs[vcpu].push((name, v));
    }

    /// A target holding this image.
    pub fn target(&self) -> MockTarget {
        let mut t = MockTarget::new();
        for (vcpu, regs) in self.regs.iter().enumerate() {
            for &(name, v) in regs {
                t.set_reg(vcpu, name, v);
            }
        }
        for (&addr, bytes) in &self.regions {
            t = t.with_bytes(addr, bytes);
        }
        t
    }
}

/// What one task is.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub addr: u64,
    pub pid: i32,
    pub tgid: i32,
    pub comm: &'static str,
    pub state: u32,
    pub flags: u32,
    pub cpu: u32,
    pub parent: u64,
    pub stack: u64,
    /// `thread.sp`: where the inactive_task_frame is.
    pub sp: u64,
    /// The return addresses of the frame chain above `__schedule` (innermost first).
    pub callers: Vec<u64>,
}

impl TaskSpec {
    /// The frame record addresses of the chain: `[bp] = next bp`, `[bp + 8] = caller`.
    pub fn frame_bps(&self) -> Vec<u64> {
        (0..self.callers.len() as u64)
            .map(|i| self.sp + 0x40 + i * 0x30)
            .collect()
    }
}

/// The ret_addr of every sleeping task's switch frame.
pub fn switch_ret() -> u64 {
    pc("__schedule", 0x34d)
}

pub fn nanosleep_chain() -> Vec<u64> {
    vec![
        pc("schedule", 0x5d),
        pc("do_nanosleep", 0x6b),
        pc("hrtimer_nanosleep", 0x8c),
        pc("__x64_sys_nanosleep", 0x96),
        pc("do_syscall_64", 0x5b),
    ]
}

pub fn worker_chain() -> Vec<u64> {
    vec![
        pc("schedule", 0x5d),
        pc("worker_thread", 0xc2),
        pc("kthread", 0xe8),
        pc("ret_from_fork", 0x2c),
    ]
}

/// The world: tasks by name, and the image.
#[derive(Debug, Clone)]
pub struct World {
    pub tasks: Vec<TaskSpec>,
    pub image: Image,
    /// Each process's signal_struct.
    pub signals: BTreeMap<u64, u64>,
}

pub const INIT: usize = 0;
pub const SYSTEMD: usize = 1;
pub const KTHREADD: usize = 2;
pub const KWORKER0: usize = 3;
pub const KWORKER1: usize = 4;
pub const SLEEPER: usize = 5;
pub const SL_WORKER1: usize = 6;
pub const SL_WORKER2: usize = 7;
pub const BUSY: usize = 8;
pub const SWAPPER1: usize = 9;

/// vCPU 0's registers: running init_task (swapper/0) in the kernel, in default_idle.
pub fn vcpu0_rsp() -> u64 {
    STACK_BASE + THREAD_SIZE - 0x100
}

impl World {
    pub fn task(&self, i: usize) -> &TaskSpec {
        &self.tasks[i]
    }

    pub fn addr(&self, i: usize) -> u64 {
        self.tasks[i].addr
    }

    /// Process `i`'s signal_struct.
    pub fn signal(&self, i: usize) -> u64 {
        self.signals[&self.addr(i)]
    }

    /// Writes task `i`'s stack (switch frame and chain) into the image.
    pub fn write_stack(&mut self, i: usize) {
        let t = self.tasks[i].clone();
        let img = &mut self.image;
        img.w64(t.sp + FRAME_RET, switch_ret());
        let bps = t.frame_bps();
        img.w64(t.sp + FRAME_BP, bps.first().copied().unwrap_or(0));
        for (j, (&bp, &ret)) in bps.iter().zip(&t.callers).enumerate() {
            img.w64(bp, bps.get(j + 1).copied().unwrap_or(0));
            img.w64(bp + 8, ret);
        }
    }

    /// Links `nodes` (addresses of list_heads) into a ring through `head`.
    pub fn ring(&mut self, head: u64, nodes: &[u64]) {
        let all: Vec<u64> = std::iter::once(head).chain(nodes.iter().copied()).collect();
        for (k, &n) in all.iter().enumerate() {
            let next = all[(k + 1) % all.len()];
            let prev = all[(k + all.len() - 1) % all.len()];
            self.image.w64(n, next);
            self.image.w64(n + 8, prev);
        }
    }
}

/// index, pid, tgid, comm, state, flags, cpu, parent index, callers.
type Spec = (
    usize,
    i32,
    i32,
    &'static str,
    u32,
    u32,
    u32,
    usize,
    Vec<u64>,
);

/// The happy path: init_task (swapper/0, running on vCPU 0 in the kernel), systemd,
/// kthreadd, two kworkers, sleeper with two more threads, busy (running on vCPU 1 in user
/// mode), and swapper/1 (CPU 1's idle task, not on the task list).
pub fn world() -> World {
    let mut image = Image {
        regions: BTreeMap::new(),
        regs: [Vec::new(), Vec::new()],
    };
    let init = sym("init_task");
    let task_addr = |i: usize| {
        if i == INIT {
            init
        } else {
            TASK_BASE + i as u64 * 0x1000
        }
    };
    let stack = |i: usize| STACK_BASE + i as u64 * 0x8000;
    let sp = |i: usize| stack(i) + THREAD_SIZE - 0x200;
    let kt = PF_KTHREAD;
    #[rustfmt::skip]
    let specs: Vec<Spec> = vec![
        // index, pid, tgid, comm, state, flags, cpu, parent, callers
        (INIT, 0, 0, "swapper/0", 0, kt | PF_IDLE, 0, INIT,
         vec![pc("schedule_idle", 0x26), pc("do_idle", 0x1e0)]),
        (SYSTEMD, 1, 1, "systemd", 1, 0x40_0100, 1, INIT, nanosleep_chain()),
        (KTHREADD, 2, 2, "kthreadd", 1, kt | 0x8040, 0, INIT,
         vec![pc("schedule", 0x5d), pc("kthreadd", 0x1a0), pc("ret_from_fork", 0x2c)]),
        (KWORKER0, 20, 20, "kworker/0:1", 0x402, kt | 0x4_8060, 0, KTHREADD, worker_chain()),
        (KWORKER1, 21, 21, "kworker/1:1", 0x402, kt | 0x4_8060, 1, KTHREADD, worker_chain()),
        (SLEEPER, 100, 100, "sleeper", 1, 0x40_0000, 0, SYSTEMD, nanosleep_chain()),
        (SL_WORKER1, 101, 100, "sl-worker1", 1, 0x40_0040, 1, SYSTEMD, nanosleep_chain()),
        (SL_WORKER2, 102, 100, "sl-worker2", 1, 0x40_0040, 0, SYSTEMD, nanosleep_chain()),
        (BUSY, 300, 300, "busy", 0, 0x40_0000, 1, SYSTEMD, nanosleep_chain()),
        (SWAPPER1, 0, 0, "swapper/1", 0, kt | PF_IDLE, 1, INIT,
         vec![pc("schedule_idle", 0x26), pc("do_idle", 0x1e0),
              pc("cpu_startup_entry", 0x1d), pc("start_secondary", 0x113)]),
    ];
    let tasks: Vec<TaskSpec> = specs
        .into_iter()
        .map(
            |(i, pid, tgid, comm, state, flags, cpu, parent, callers)| TaskSpec {
                addr: task_addr(i),
                pid,
                tgid,
                comm,
                state,
                flags,
                cpu,
                parent: task_addr(parent),
                stack: stack(i),
                sp: sp(i),
                callers,
            },
        )
        .collect();
    for t in &tasks {
        image.map(t.addr, TASK_SIZE);
        image.map(t.stack, THREAD_SIZE);
    }
    let mut w = World {
        tasks,
        image,
        signals: BTreeMap::new(),
    };
    for i in 0..w.tasks.len() {
        let t = w.tasks[i].clone();
        let img = &mut w.image;
        img.w32(t.addr + TI_CPU, t.cpu);
        img.w32(t.addr + STATE, t.state);
        img.w64(t.addr + STACK, t.stack);
        img.w32(t.addr + FLAGS, t.flags);
        img.w32(t.addr + PID, t.pid as u32);
        img.w32(t.addr + TGID, t.tgid as u32);
        img.w64(t.addr + REAL_PARENT, t.parent);
        let mut comm = [0u8; 16];
        comm[..t.comm.len()].copy_from_slice(t.comm.as_bytes());
        img.write(t.addr + COMM, &comm);
        img.w64(t.addr + THREAD_SP, t.sp);
        if t.flags & PF_KTHREAD == 0 {
            img.w64(t.addr + MM, 0xffff_8881_0300_0000 + i as u64 * 0x400);
        }
        w.write_stack(i);
    }
    for i in [INIT, BUSY] {
        let a = w.addr(i);
        w.image.w32(a + ON_CPU, 1);
    }
    // Processes: each with a signal_struct whose thread_head rings its threads.
    let groups: &[(usize, &[usize])] = &[
        (INIT, &[]),
        (SYSTEMD, &[]),
        (KTHREADD, &[]),
        (KWORKER0, &[]),
        (KWORKER1, &[]),
        (SLEEPER, &[SL_WORKER1, SL_WORKER2]),
        (BUSY, &[]),
        (SWAPPER1, &[]),
    ];
    for (k, &(leader, threads)) in groups.iter().enumerate() {
        let sig = SIGNAL_BASE + k as u64 * 0x100;
        w.image.map(sig, SIGNAL_SIZE);
        w.image.w32(sig, 1 + threads.len() as u32);
        let members: Vec<usize> = std::iter::once(leader)
            .chain(threads.iter().copied())
            .collect();
        for &m in &members {
            let a = w.addr(m);
            w.image.w64(a + SIGNAL, sig);
            w.signals.insert(a, sig);
        }
        let nodes: Vec<u64> = members.iter().map(|&m| w.addr(m) + THREAD_NODE).collect();
        w.ring(sig + THREAD_HEAD, &nodes);
    }
    // Threads of sleeper share the signal_struct of their leader.
    let sig = w.signal(SLEEPER);
    for i in [SL_WORKER1, SL_WORKER2] {
        let a = w.addr(i);
        w.signals.insert(a, sig);
    }
    // The task list: init_task's tasks is the head.
    let procs: Vec<u64> = [SYSTEMD, KTHREADD, KWORKER0, KWORKER1, SLEEPER, BUSY]
        .iter()
        .map(|&i| w.addr(i) + TASKS)
        .collect();
    let head = w.addr(INIT) + TASKS;
    w.ring(head, &procs);
    // Threads and idle tasks are not on it: their tasks node points at itself.
    for i in [SL_WORKER1, SL_WORKER2, SWAPPER1] {
        let n = w.addr(i) + TASKS;
        w.image.w64(n, n);
        w.image.w64(n + 8, n);
    }
    // Per-CPU data.
    let img = &mut w.image;
    img.map(sym("__per_cpu_offset"), 16);
    img.w64(sym("__per_cpu_offset"), PERCPU_OFF[0]);
    img.w64(sym("__per_cpu_offset") + 8, PERCPU_OFF[1]);
    img.map(sym("nr_cpu_ids"), 8);
    img.w32(sym("nr_cpu_ids"), 2);
    img.map(sym("__cpu_online_mask"), 8);
    img.w64(sym("__cpu_online_mask"), 0b11);
    let (init, busy, swapper1) = (w.addr(INIT), w.addr(BUSY), w.addr(SWAPPER1));
    for (cpu, curr, idle) in [(0, init, init), (1, busy, swapper1)] {
        let rq = RUNQUEUES + PERCPU_OFF[cpu];
        w.image.map(rq, RQ_SIZE);
        w.image.w32(rq, 1);
        w.image.w64(rq + RQ_CURR, curr);
        w.image.w64(rq + RQ_IDLE, idle);
    }
    // vCPU 0: swapper/0 in default_idle, a frame chain on init_task's stack.
    let rsp = vcpu0_rsp();
    let bp0 = rsp + 0x10;
    let bp1 = rsp + 0x40;
    w.image.w64(bp0, bp1);
    w.image.w64(bp0 + 8, pc("do_idle", 0x1e0));
    w.image.w64(bp1, 0);
    w.image.w64(bp1 + 8, pc("cpu_startup_entry", 0x1d));
    let regs0 = [
        ("rip", pc("default_idle", 0xb)),
        ("rsp", rsp),
        ("rbp", bp0),
        ("cs", 0x10),
        ("ss", 0x18),
        ("gs_base", PERCPU_OFF[0]),
        ("k_gs_base", 0),
    ];
    // vCPU 1: busy, in user mode; the kernel's gs base is in k_gs_base.
    let regs1 = [
        ("rip", 0x40_1136),
        ("rsp", 0x7ffc_1234_5678),
        ("rbp", 0x7ffc_1234_56a0),
        ("cs", 0x33),
        ("ss", 0x2b),
        ("gs_base", 0),
        ("k_gs_base", PERCPU_OFF[1]),
    ];
    for (name, v) in regs0 {
        w.image.set_reg(0, name, v);
    }
    for (name, v) in regs1 {
        w.image.set_reg(1, name, v);
    }
    w
}

/// A session over `image` with the synthetic kernel (no ORC: frame pointers).
pub fn session_over(
    image: &Image,
) -> (
    Session,
    std::rc::Rc<std::cell::RefCell<qmdb_dcmds::mock::MockShared>>,
) {
    let target = image.target();
    let shared = target.shared();
    let mut s = Session::new(Box::new(target));
    qmdb_linux::load::install(
        &mut s,
        Kernel {
            release: Some("6.6.0-synthetic".into()),
            banner: None,
            slide: SLIDE,
            symbols: Arc::new(symbols()),
            types: Some(Arc::new(btf())),
            orc: None,
            notes: Vec::new(),
        },
    );
    (s, shared)
}
