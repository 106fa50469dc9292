//! Where the fields qmdb reads live in the running kernel's structures, from its BTF.
//!
//! Offsets are never constants keyed to a kernel version: members were renamed (`state` →
//! `__state`), moved (`cpu` into `thread_info`) and replaced (`thread_group` by
//! `signal->thread_head`/`thread_node`), so each is looked up by name, with the older name
//! as a fallback.

use qmdb_kernel::btf::{Btf, BtfError, TypeId};

/// A member's byte offset and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Byte offset in the structure.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
}

/// Offsets in `struct task_struct` and the structures reached from it.
#[derive(Debug, Clone)]
pub struct TaskLayout {
    /// `sizeof(struct task_struct)`.
    pub size: u64,
    pub state: Field,
    pub exit_state: Option<Field>,
    pub flags: Field,
    /// `stack`: the base of the task's kernel stack.
    pub stack: u64,
    /// `thread_info.cpu` or `cpu`.
    pub cpu: Option<Field>,
    pub on_cpu: Option<Field>,
    pub tasks: u64,
    pub pid: u64,
    pub tgid: u64,
    pub real_parent: u64,
    pub comm: Field,
    /// `thread.sp`: the saved stack pointer of a task that is not running.
    pub thread_sp: u64,
    pub mm: Option<u64>,
    pub threads: ThreadLinks,
}

/// How a process's threads are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadLinks {
    /// `signal->thread_head`, each thread on it through `thread_node` (6.6+, and some
    /// backports such as Debian's 6.1).
    SignalHead {
        signal: u64,
        thread_head: u64,
        thread_node: u64,
    },
    /// A ring through every thread's `thread_group`.
    Ring { thread_group: u64 },
}

/// Offsets in the scheduler's per-CPU `struct rq`.
#[derive(Debug, Clone, Copy)]
pub struct RqLayout {
    pub curr: u64,
    pub idle: u64,
}

/// `struct inactive_task_frame`: what `__switch_to_asm` pushes before it saves `thread.sp`.
#[derive(Debug, Clone, Copy)]
pub struct SwitchFrameLayout {
    pub bp: u64,
    pub ret_addr: u64,
}

/// Everything the Linux walkers and `::findstack` need from BTF.
#[derive(Debug, Clone)]
pub struct LinuxLayout {
    /// `struct task_struct` and what hangs off it.
    pub task: TaskLayout,
    /// The per-CPU run queue.
    pub rq: RqLayout,
    /// The frame a sleeping task's saved stack pointer points at.
    pub switch_frame: SwitchFrameLayout,
    /// `struct pcpu_hot` (6.2+), which holds the IRQ stack pointer among others.
    pub pcpu_hot_hardirq_stack: Option<u64>,
}

/// A structure, member or size the kernel's BTF does not give: which one, and where it was
/// looked for. Each prints as one line; a cause is part of the message, not a `source()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// No `struct NAME`.
    #[error("the kernel's BTF has no struct {name}")]
    NoStruct { name: String },
    /// `struct sname` has no member `path` (alternatives joined by `or`).
    #[error("struct {sname} has no member {path}")]
    NoMember { sname: String, path: String },
    /// `struct sname` has none of two alternative members.
    #[error("struct {sname} has neither {first} nor {second}")]
    Neither {
        sname: String,
        first: String,
        second: String,
    },
    /// The size of `what` (a struct, or `sname.path`) cannot be computed.
    #[error("{what}: {cause}")]
    Size { what: String, cause: BtfError },
    /// A printk ring buffer structure is missing: the kernel predates the lockless ring.
    #[error("{0} (printk before 5.10?)")]
    OldPrintk(Box<LayoutError>),
    /// Something [`LinuxLayout`] needs (tasks, run queues, switch frames) is missing.
    #[error("kernel layout: {0}")]
    Kernel(Box<LayoutError>),
}

/// `struct NAME`'s type id, or an error saying the kernel's BTF has no such struct.
pub(crate) fn find_struct(btf: &Btf, name: &str) -> Result<TypeId, LayoutError> {
    btf.find(&format!("struct {name}"))
        .ok()
        .and_then(|ct| ct.plain())
        .ok_or_else(|| LayoutError::NoStruct { name: name.into() })
}

/// The size of `struct name` (type `id`); the error names the struct.
pub(crate) fn struct_size(btf: &Btf, id: TypeId, name: &str) -> Result<u64, LayoutError> {
    btf.size_of(id).map_err(|cause| LayoutError::Size {
        what: format!("struct {name}"),
        cause,
    })
}

/// Where a member is: byte offset and size, and for a bitfield its bit position within
/// the first byte and its width (0 otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemberPlace {
    pub offset: u64,
    pub size: u64,
    pub bit: u32,
    pub bits: u32,
}

/// The member at `path` (`a.b`, through anonymous members) of `struct sname` (type `id`),
/// or an error naming it.
pub(crate) fn find_member(
    btf: &Btf,
    id: TypeId,
    sname: &str,
    path: &str,
) -> Result<MemberPlace, LayoutError> {
    let m = btf.member(id, path).map_err(|_| LayoutError::NoMember {
        sname: sname.into(),
        path: path.into(),
    })?;
    let size = btf.size_of(m.ty).map_err(|cause| LayoutError::Size {
        what: format!("{sname}.{path}"),
        cause,
    })?;
    Ok(MemberPlace {
        offset: m.byte_offset(),
        size,
        bit: (m.bit_offset % 8) as u32,
        bits: m.bitfield_size,
    })
}

fn field_of(btf: &Btf, id: TypeId, path: &str) -> Result<Field, BtfError> {
    let m = btf.member(id, path)?;
    Ok(Field {
        offset: m.byte_offset(),
        size: btf.size_of(m.ty)?,
    })
}

fn required(btf: &Btf, id: TypeId, sname: &str, paths: &[&str]) -> Result<Field, LayoutError> {
    paths
        .iter()
        .find_map(|p| field_of(btf, id, p).ok())
        .ok_or_else(|| LayoutError::NoMember {
            sname: sname.into(),
            path: paths.join(" or "),
        })
}

fn optional(btf: &Btf, id: TypeId, paths: &[&str]) -> Option<Field> {
    paths.iter().find_map(|p| field_of(btf, id, p).ok())
}

impl LinuxLayout {
    /// Looks every offset up in `btf`; the error ([`LayoutError::Kernel`]) names the first
    /// structure or member missing.
    pub fn from_btf(btf: &Btf) -> Result<LinuxLayout, LayoutError> {
        Self::lookup(btf).map_err(|e| LayoutError::Kernel(Box::new(e)))
    }

    fn lookup(btf: &Btf) -> Result<LinuxLayout, LayoutError> {
        let t = find_struct(btf, "task_struct")?;
        let ts = "task_struct";
        let size = struct_size(btf, t, ts)?;
        let threads = match (
            optional(btf, t, &["signal"]),
            optional(btf, t, &["thread_node"]),
            find_struct(btf, "signal_struct")
                .ok()
                .and_then(|s| optional(btf, s, &["thread_head"])),
        ) {
            (Some(signal), Some(node), Some(head)) => ThreadLinks::SignalHead {
                signal: signal.offset,
                thread_head: head.offset,
                thread_node: node.offset,
            },
            _ => ThreadLinks::Ring {
                thread_group: required(btf, t, ts, &["thread_group"])?.offset,
            },
        };
        let task = TaskLayout {
            size,
            state: required(btf, t, ts, &["__state", "state"])?,
            exit_state: optional(btf, t, &["exit_state"]),
            flags: required(btf, t, ts, &["flags"])?,
            stack: required(btf, t, ts, &["stack"])?.offset,
            cpu: optional(btf, t, &["thread_info.cpu", "cpu"]),
            on_cpu: optional(btf, t, &["on_cpu"]),
            tasks: required(btf, t, ts, &["tasks"])?.offset,
            pid: required(btf, t, ts, &["pid"])?.offset,
            tgid: required(btf, t, ts, &["tgid"])?.offset,
            real_parent: required(btf, t, ts, &["real_parent"])?.offset,
            comm: required(btf, t, ts, &["comm"])?,
            thread_sp: required(btf, t, ts, &["thread.sp"])?.offset,
            mm: optional(btf, t, &["mm"]).map(|f| f.offset),
            threads,
        };
        let rq = find_struct(btf, "rq")?;
        let rq = RqLayout {
            curr: required(btf, rq, "rq", &["curr"])?.offset,
            idle: required(btf, rq, "rq", &["idle"])?.offset,
        };
        let f = find_struct(btf, "inactive_task_frame")?;
        let switch_frame = SwitchFrameLayout {
            bp: required(btf, f, "inactive_task_frame", &["bp"])?.offset,
            ret_addr: required(btf, f, "inactive_task_frame", &["ret_addr"])?.offset,
        };
        let pcpu_hot_hardirq_stack = find_struct(btf, "pcpu_hot")
            .ok()
            .and_then(|p| optional(btf, p, &["hardirq_stack_ptr"]))
            .map(|f| f.offset);
        Ok(LinuxLayout {
            task,
            rq,
            switch_frame,
            pcpu_hot_hardirq_stack,
        })
    }

    /// How many bytes of a task_struct hold every field qmdb reads.
    pub fn task_prefix(&self) -> u64 {
        let t = &self.task;
        let mut end = [
            t.state.offset + t.state.size,
            t.flags.offset + t.flags.size,
            t.stack + 8,
            t.tasks + 16,
            t.pid + 4,
            t.tgid + 4,
            t.real_parent + 8,
            t.comm.offset + t.comm.size,
            t.thread_sp + 8,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        for f in [t.exit_state, t.cpu, t.on_cpu].into_iter().flatten() {
            end = end.max(f.offset + f.size);
        }
        if let Some(mm) = t.mm {
            end = end.max(mm + 8);
        }
        end = end.max(match t.threads {
            ThreadLinks::SignalHead {
                signal,
                thread_node,
                ..
            } => (signal + 8).max(thread_node + 16),
            ThreadLinks::Ring { thread_group } => thread_group + 16,
        });
        end.min(t.size.max(end))
    }
}
