//! A small kernel for the scheduler's tests: `struct rq`, its class queues, the three
//! scheduling entities and `task_struct`, at offsets of our choosing (the walkers find them
//! by name), and a [`Guest`] that lays them out in [`SparseMemory`].

use crate::mock::SparseMemory;
use qmdb_kernel::btf::builder::BtfBuilder;
use qmdb_kernel::btf::layout::int;
use qmdb_kernel::btf::Btf;

/// Where the test's run queue is.
pub const RQ: u64 = 0x10_0000;
/// Where free-standing group entities go.
pub const SE: u64 = 0x6_0000;

pub const T_STATE: u64 = 0x10;
pub const T_EXIT_STATE: u64 = 0x14;
pub const T_PRIO: u64 = 0x18;
pub const T_PID: u64 = 0x20;
pub const T_ON_RQ: u64 = 0x24;
pub const T_COMM: u64 = 0x30;
pub const T_SE: u64 = 0x100;
pub const T_RT: u64 = 0x200;
pub const T_DL: u64 = 0x280;
pub const T_SCHED_INFO: u64 = 0x300;
pub const T_SIZE: u64 = 0x400;

pub const SE_RUN_NODE: u64 = 0x10;
pub const SE_DEADLINE: u64 = 0x28;
pub const SE_DELAYED: u64 = 0x30;
pub const SE_VRUNTIME: u64 = 0x38;
pub const SE_MY_Q: u64 = 0x40;
pub const SE_SIZE: u64 = 0x80;

pub const DL_RB_NODE: u64 = 0;
pub const DL_DEADLINE: u64 = 0x38;
pub const DL_FLAGS: u64 = 0x44;
pub const DL_SIZE: u64 = 0x60;

pub const CFS_TIMELINE: u64 = 0x10;
pub const CFS_CURR: u64 = 0x20;
pub const CFS_SIZE: u64 = 0x80;

pub const RT_QUEUE: u64 = 0x10;
pub const RT_QUEUES: u64 = 100;

pub const RQ_NR_RUNNING: u64 = 0;
pub const RQ_LOCK: u64 = 4;
pub const RQ_CLOCK: u64 = 8;
pub const RQ_CURR: u64 = 0x10;
pub const RQ_IDLE: u64 = 0x18;
pub const RQ_STOP: u64 = 0x20;
pub const RQ_CFS: u64 = 0x40;
pub const RQ_RT: u64 = 0x100;
pub const RQ_DL: u64 = 0x780;
pub const RQ_FAIR_SERVER: u64 = 0x800;
pub const RQ_SIZE: u64 = 0x1000;

/// The types, as a 6.12-like kernel has them (EEVDF deadline, delayed dequeue, a deadline
/// server, group scheduling of the fair class only).
pub fn btf() -> Btf {
    let mut b = BtfBuilder::new();
    let u8t = b.int("unsigned char", 1, 8, 0);
    let u32t = b.int("unsigned int", 4, 32, 0);
    let i32t = b.int("int", 4, 32, int::SIGNED);
    let u64t = b.int("long long unsigned int", 8, 64, 0);
    let chr = b.int("char", 1, 8, int::SIGNED);
    let ptr = b.ptr(u64t);
    let comm = b.array(chr, u32t, 16);
    let rb_node = b.struct_(
        "rb_node",
        24,
        &[
            ("__rb_parent_color", u64t, 0),
            ("rb_right", ptr, 64),
            ("rb_left", ptr, 128),
        ],
    );
    let rb_root = b.struct_("rb_root", 8, &[("rb_node", ptr, 0)]);
    let rb_cached = b.struct_(
        "rb_root_cached",
        16,
        &[("rb_root", rb_root, 0), ("rb_leftmost", ptr, 64)],
    );
    let list_head = b.struct_("list_head", 16, &[("next", ptr, 0), ("prev", ptr, 64)]);
    let bits = |o: u64| (o * 8) as u32;
    let se = b.struct_(
        "sched_entity",
        SE_SIZE as u32,
        &[
            ("run_node", rb_node, bits(SE_RUN_NODE)),
            ("deadline", u64t, bits(SE_DEADLINE)),
            ("sched_delayed", u8t, bits(SE_DELAYED)),
            ("vruntime", u64t, bits(SE_VRUNTIME)),
            ("my_q", ptr, bits(SE_MY_Q)),
        ],
    );
    let rt_se = b.struct_("sched_rt_entity", 0x40, &[("run_list", list_head, 0)]);
    let dl_se = b.struct_bitfields(
        "sched_dl_entity",
        DL_SIZE as u32,
        &[
            ("rb_node", rb_node, bits(DL_RB_NODE), 0),
            ("deadline", u64t, bits(DL_DEADLINE), 0),
            ("dl_throttled", u32t, bits(DL_FLAGS), 1),
            ("dl_server", u32t, bits(DL_FLAGS) + 4, 1),
        ],
    );
    let sched_info = b.struct_(
        "sched_info",
        0x20,
        &[("pcount", u64t, 0), ("last_arrival", u64t, 0x80)],
    );
    b.struct_(
        "task_struct",
        T_SIZE as u32,
        &[
            ("__state", u32t, bits(T_STATE)),
            ("exit_state", u32t, bits(T_EXIT_STATE)),
            ("prio", i32t, bits(T_PRIO)),
            ("pid", i32t, bits(T_PID)),
            ("on_rq", i32t, bits(T_ON_RQ)),
            ("comm", comm, bits(T_COMM)),
            ("se", se, bits(T_SE)),
            ("rt", rt_se, bits(T_RT)),
            ("dl", dl_se, bits(T_DL)),
            ("sched_info", sched_info, bits(T_SCHED_INFO)),
        ],
    );
    let cfs_rq = b.struct_(
        "cfs_rq",
        CFS_SIZE as u32,
        &[
            ("nr_running", u32t, 0),
            ("tasks_timeline", rb_cached, bits(CFS_TIMELINE)),
            ("curr", ptr, bits(CFS_CURR)),
        ],
    );
    let queue = b.array(list_head, u32t, RT_QUEUES as u32);
    let bitmap = b.array(u64t, u32t, 2);
    let prio_array = b.struct_(
        "rt_prio_array",
        (RT_QUEUE + 16 * RT_QUEUES) as u32,
        &[("bitmap", bitmap, 0), ("queue", queue, bits(RT_QUEUE))],
    );
    let rt_rq = b.struct_(
        "rt_rq",
        (RT_QUEUE + 16 * RT_QUEUES + 16) as u32,
        &[("active", prio_array, 0)],
    );
    let dl_rq = b.struct_("dl_rq", 0x20, &[("root", rb_cached, 0)]);
    b.struct_(
        "rq",
        RQ_SIZE as u32,
        &[
            ("nr_running", u32t, bits(RQ_NR_RUNNING)),
            ("__lock", u32t, bits(RQ_LOCK)),
            ("clock", u64t, bits(RQ_CLOCK)),
            ("curr", ptr, bits(RQ_CURR)),
            ("idle", ptr, bits(RQ_IDLE)),
            ("stop", ptr, bits(RQ_STOP)),
            ("cfs", cfs_rq, bits(RQ_CFS)),
            ("rt", rt_rq, bits(RQ_RT)),
            ("dl", dl_rq, bits(RQ_DL)),
            ("fair_server", dl_se, bits(RQ_FAIR_SERVER)),
        ],
    );
    Btf::parse(&b.build()).expect("test BTF")
}

/// Guest memory being laid out.
pub struct Guest {
    pub mem: SparseMemory,
}

impl Guest {
    pub fn new() -> Guest {
        Guest {
            mem: SparseMemory::default(),
        }
    }

    fn zero(&mut self, addr: u64, len: u64) {
        self.mem.put(addr, &vec![0u8; len as usize]);
    }

    /// A run queue: empty queues, the given counts.
    pub fn rq(&mut self, addr: u64, curr: u64, idle: u64, nr_running: u32, clock: u64) {
        self.zero(addr, RQ_SIZE);
        self.mem
            .put(addr + RQ_NR_RUNNING, &nr_running.to_le_bytes());
        self.mem.put_u64(addr + RQ_CLOCK, clock);
        self.mem.put_u64(addr + RQ_CURR, curr);
        self.mem.put_u64(addr + RQ_IDLE, idle);
        for i in 0..RT_QUEUES {
            let head = addr + RQ_RT + RT_QUEUE + 16 * i;
            self.mem.put_u64(head, head);
            self.mem.put_u64(head + 8, head);
        }
    }

    /// A task (its entities zeroed).
    pub fn task(&mut self, addr: u64, pid: i32, comm: &str, state: u32) {
        self.zero(addr, T_SIZE);
        self.mem.put(addr + T_PID, &pid.to_le_bytes());
        self.mem.put(addr + T_COMM, comm.as_bytes());
        self.mem.put(addr + T_STATE, &state.to_le_bytes());
        self.mem.put(addr + T_PRIO, &120i32.to_le_bytes());
    }

    /// A fair entity.
    pub fn se(&mut self, addr: u64, my_q: u64, vruntime: u64) {
        self.zero(addr, SE_SIZE);
        self.mem.put_u64(addr + SE_MY_Q, my_q);
        self.mem.put_u64(addr + SE_VRUNTIME, vruntime);
        self.mem.put_u64(addr + SE_DEADLINE, vruntime + 1000);
    }

    /// A task's own fair entity.
    pub fn task_se(&mut self, task: u64, vruntime: u64, my_q: u64) {
        self.se(task + T_SE, my_q, vruntime);
    }

    /// A `cfs_rq` with an empty tree.
    pub fn cfs_rq(&mut self, addr: u64, curr: u64, nr_running: u32) {
        self.zero(addr, CFS_SIZE);
        self.mem.put(addr, &nr_running.to_le_bytes());
        self.mem.put_u64(addr + CFS_CURR, curr);
    }

    /// A deadline entity (`server`: `dl_server` set).
    pub fn dl(&mut self, addr: u64, server: u32, deadline: u64) {
        self.zero(addr, DL_SIZE);
        self.mem.put_u64(addr + DL_DEADLINE, deadline);
        self.mem.put(addr + DL_FLAGS, &(server << 4).to_le_bytes());
    }

    /// A tree at `root` whose in-order nodes are `nodes` (the `rb_node`s): a chain to the
    /// right.
    pub fn tree(&mut self, root: u64, nodes: &[u64]) {
        self.mem.put_u64(root, nodes.first().copied().unwrap_or(0));
        self.mem
            .put_u64(root + 8, nodes.first().copied().unwrap_or(0));
        for (i, &n) in nodes.iter().enumerate() {
            self.mem.put_u64(n, 0);
            self.mem
                .put_u64(n + 8, nodes.get(i + 1).copied().unwrap_or(0));
            self.mem.put_u64(n + 16, 0);
        }
    }

    /// Real-time queue `prio` of the `rt_rq` at `rt_rq` through the `run_list`s `nodes`.
    pub fn rt_queue(&mut self, rt_rq: u64, prio: u64, nodes: &[u64]) {
        let head = rt_rq + RT_QUEUE + 16 * prio;
        let ring: Vec<u64> = std::iter::once(head).chain(nodes.iter().copied()).collect();
        for (i, &n) in ring.iter().enumerate() {
            let next = ring.get(i + 1).copied().unwrap_or(head);
            let prev = if i == 0 {
                *ring.last().unwrap()
            } else {
                ring[i - 1]
            };
            self.mem.put_u64(n, next);
            self.mem.put_u64(n + 8, prev);
        }
    }
}
