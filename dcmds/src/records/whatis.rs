//! What an address is (`addr::whatis`): every description that fits it, most specific first.

use crate::record::{hex, Record};
use serde::Serialize;

/// One address and its descriptions. JSON: `{"addr", "matches": [{"kind", "text", …}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Whatis {
    #[serde(with = "hex")]
    pub addr: u64,
    pub matches: Vec<WhatisMatch>,
}

impl Record for Whatis {
    fn render(&self, lines: &mut Vec<String>) {
        for m in &self.matches {
            lines.push(format!("{:x} is {}", self.addr, m.text));
        }
    }
}

/// One description of an address: what it is, and its text (after `ADDR is `).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhatisMatch {
    /// The kind and its fields; in JSON, `"kind"` and the fields sit beside `"text"`.
    #[serde(flatten)]
    pub kind: MatchKind,
    pub text: String,
}

impl WhatisMatch {
    /// A match of `kind` described by `text`.
    pub fn new(kind: MatchKind, text: String) -> WhatisMatch {
        WhatisMatch { kind, text }
    }
}

/// What an address is, with the fields of that kind. JSON: `{"kind": "symbol", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MatchKind {
    /// In a kernel symbol.
    Symbol {
        symbol: String,
        offset: u64,
        /// `text`, `data`, `rodata`, `bss` or `image`, from the symbol's type letter.
        section: &'static str,
    },
    /// In a loaded module's memory.
    Module {
        module: String,
        /// The `struct module`.
        #[serde(with = "hex")]
        module_addr: u64,
        /// The module symbol holding the address, if any (without the module's name).
        symbol: Option<String>,
        offset: Option<u64>,
        /// `text` or `data`.
        section: &'static str,
    },
    /// In the module area, in no loaded module.
    ModuleArea,
    /// In the kernel image, in no symbol.
    KernelImage,
    /// In a task's kernel stack.
    Stack(TaskStackAt),
    /// In a `task_struct`.
    Task(TaskStructAt),
    /// On a CPU's hard IRQ stack (`name` is null).
    IrqStack(CpuStackAt),
    /// On a CPU's exception (IST) stack.
    ExceptionStack(CpuStackAt),
    /// In a slab.
    Slab(SlabAt),
    /// In a slab object that is a `struct file`, a dentry or an inode: its path.
    Path(PathAt),
    /// In a CPU's per-CPU area.
    Percpu {
        cpu: u32,
        offset: u64,
        /// `var+0x10` for the static variable there; null in the dynamic part.
        variable: Option<String>,
    },
    /// In the cpu_entry_area.
    CpuEntryArea(CpuEntryAreaAt),
    /// In the fixmap.
    Fixmap {
        /// The slot (pages below `FIXADDR_TOP`).
        slot: Option<u64>,
        /// The `enum fixed_addresses` enumerator of the slot (`NAME+2` past it).
        name: Option<String>,
    },
    /// In the vmemmap: a `struct page`.
    Vmemmap {
        /// The `struct page`.
        #[serde(with = "hex")]
        page: u64,
        offset: u64,
        #[serde(with = "hex")]
        pfn: u64,
    },
    /// In the direct map of physical memory.
    DirectMap {
        #[serde(with = "hex")]
        pa: u64,
        #[serde(with = "hex")]
        pfn: u64,
    },
    /// In the vmalloc area, `offset` past `vmalloc_base`.
    Vmalloc { offset: u64 },
    /// In the ESPfix stacks.
    Espfix,
    /// In the EFI runtime services mapping.
    Efi,
    /// A user-space address.
    User,
    /// In the non-canonical hole.
    Noncanonical,
    /// In kernel space, outside every known region.
    Kernel,
}

/// Where in a task's kernel stack an address is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskStackAt {
    /// The `task_struct`.
    #[serde(with = "hex")]
    pub thread: u64,
    pub pid: i32,
    pub comm: String,
    /// The stack's base.
    #[serde(with = "hex")]
    pub stack: u64,
    pub offset: u64,
    /// The frame of the task's backtrace (numbered as `::findstack` numbers them).
    pub frame: Option<usize>,
    /// That frame's stack pointer and pc.
    #[serde(with = "hex::option")]
    pub frame_sp: Option<u64>,
    #[serde(with = "hex::option")]
    pub pc: Option<u64>,
    /// The frame's function as `symbol+off`.
    pub function: Option<String>,
}

/// Where in a `task_struct` an address is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskStructAt {
    /// The `task_struct`.
    #[serde(with = "hex")]
    pub thread: u64,
    pub pid: i32,
    pub comm: String,
    pub offset: u64,
    /// The member's path (`thread.sp`), when BTF has it.
    pub member: Option<String>,
    /// The offset in that member.
    pub member_offset: Option<u64>,
}

/// Where on a CPU's IRQ or exception stack an address is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuStackAt {
    pub cpu: u32,
    /// The exception stack's name (`NMI`, `DF`…); null for the IRQ stack.
    pub name: Option<String>,
    /// The stack's base.
    #[serde(with = "hex")]
    pub stack: u64,
    pub offset: u64,
    /// The task the CPU runs, when its backtrace passes through the address.
    pub pid: Option<i32>,
    /// The frame of that backtrace.
    pub frame: Option<usize>,
    /// The frame's function as `symbol+off`.
    pub function: Option<String>,
}

/// Where in a slab an address is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlabAt {
    /// The cache's name.
    pub cache: String,
    /// The `struct kmem_cache`.
    #[serde(with = "hex")]
    pub kmem_cache: u64,
    pub object_size: u64,
    /// The stride of the cache's objects.
    pub size: u64,
    /// The `struct slab`.
    #[serde(with = "hex")]
    pub slab: u64,
    /// Null when the freelists could not be read.
    pub state: Option<SlabState>,
    /// The object's fields, when the address is in or just before one.
    #[serde(flatten)]
    pub placement: SlabPlacement,
}

/// The path a slab object that is a file, a dentry or an inode stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathAt {
    /// `file`, `dentry` or `inode`.
    pub object_type: String,
    /// The structure (the `struct inode` inside a filesystem's inode, for an inode).
    #[serde(with = "hex")]
    pub object: u64,
    /// The path as `/proc/PID/fd` would show it (`?...` when the walk broke off).
    pub path: String,
    /// Why the path may not be the kernel's, if it may not be.
    pub note: Option<String>,
}

/// Whether a slab object is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlabState {
    Allocated,
    Free,
}

/// Where in the slab: its fields join [`SlabAt`]'s in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SlabPlacement {
    /// In object `index`, starting at `object`, `offset` past it.
    Object {
        #[serde(with = "hex")]
        object: u64,
        offset: u64,
        index: u64,
        /// `path+off` of the member, when BTF has the cache's struct.
        member: Option<String>,
    },
    /// In the left red zone of object `index`.
    LeftRedZone {
        #[serde(with = "hex")]
        object: u64,
        index: u64,
    },
    /// In the unused tail of the slab.
    Tail {},
}

/// Where in the cpu_entry_area an address is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuEntryAreaAt {
    /// The per-CPU slot, when BTF knows `struct cpu_entry_area` and the address is past
    /// the IDT page; absent from JSON otherwise.
    #[serde(flatten)]
    pub slot: Option<CpuEntryAreaSlot>,
}

/// A CPU's `struct cpu_entry_area`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuEntryAreaSlot {
    /// The CPU whose slot it is, if any.
    pub cpu: Option<u32>,
    pub slot: u64,
    /// The offset in the slot.
    pub offset: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(kind: MatchKind) -> serde_json::Value {
        serde_json::to_value(WhatisMatch::new(kind, "t".into())).unwrap()
    }

    #[test]
    fn json_is_flat() {
        assert_eq!(m(MatchKind::User), json!({"kind": "user", "text": "t"}));
        assert_eq!(
            m(MatchKind::Symbol {
                symbol: "f".into(),
                offset: 3,
                section: "text"
            }),
            json!({"kind": "symbol", "symbol": "f", "offset": 3, "section": "text", "text": "t"})
        );
        assert_eq!(
            m(MatchKind::IrqStack(CpuStackAt {
                cpu: 1,
                name: None,
                stack: 0x1000,
                offset: 8,
                pid: None,
                frame: None,
                function: None,
            })),
            json!({"kind": "irq_stack", "cpu": 1, "name": null, "stack": "0x1000", "offset": 8,
                   "pid": null, "frame": null, "function": null, "text": "t"})
        );
        assert_eq!(
            m(MatchKind::CpuEntryArea(CpuEntryAreaAt { slot: None })),
            json!({"kind": "cpu_entry_area", "text": "t"})
        );
        assert_eq!(
            m(MatchKind::CpuEntryArea(CpuEntryAreaAt {
                slot: Some(CpuEntryAreaSlot {
                    cpu: None,
                    slot: 2,
                    offset: 0x10
                })
            })),
            json!({"kind": "cpu_entry_area", "cpu": null, "slot": 2, "offset": 16, "text": "t"})
        );
    }

    #[test]
    fn slab_json() {
        let slab = |placement| {
            m(MatchKind::Slab(SlabAt {
                cache: "c".into(),
                kmem_cache: 0x10,
                object_size: 8,
                size: 16,
                slab: 0x20,
                state: Some(SlabState::Free),
                placement,
            }))
        };
        let base = json!({"kind": "slab", "cache": "c", "kmem_cache": "0x10", "object_size": 8,
                          "size": 16, "slab": "0x20", "state": "free", "text": "t"});
        assert_eq!(slab(SlabPlacement::Tail {}), base);
        let mut obj = base.clone();
        let o = obj.as_object_mut().unwrap();
        o.insert("object".into(), json!("0x30"));
        o.insert("index".into(), json!(1));
        assert_eq!(
            slab(SlabPlacement::LeftRedZone {
                object: 0x30,
                index: 1
            }),
            obj
        );
        let o = obj.as_object_mut().unwrap();
        o.insert("offset".into(), json!(2));
        o.insert("member".into(), json!(null));
        assert_eq!(
            slab(SlabPlacement::Object {
                object: 0x30,
                offset: 2,
                index: 1,
                member: None
            }),
            obj
        );
    }
}
