//! Pane rows from the typed records of ordinary dcmds ([`qmdb_dcmds::records`]), as
//! [`qmdb_dcmds::Session::call`] returns them.
//!
//! Every function here is pure and never panics on a record whose fields are out of the
//! ordinary: a missing value becomes a default (`?`, `None`).

use crate::protocol::{DisasmRow, EventRow, FrameRow, RegisterRow, StackView, ThreadRow};
use qmdb_bridge::regs::RegLayout;
use qmdb_dcmds::records::{CpuRow, Frame, Instruction, Registers, TaskRow, TaskStack, VcpuStack};
use qmdb_kernel::btf::Kind;
use qmdb_kernel::Kernel;
use std::collections::HashMap;

/// The tasks of `::ps -t` with, from `::cpuinfo`, the vCPU each one runs on.
pub(crate) fn threads(ps: &[TaskRow], cpus: &[CpuRow]) -> Vec<ThreadRow> {
    let on_vcpu: HashMap<u64, u32> = cpus
        .iter()
        .filter_map(|c| Some((c.thread?, c.vcpu)))
        .collect();
    ps.iter()
        .map(|t| ThreadRow {
            thread: t.thread,
            pid: i64::from(t.pid),
            tgid: i64::from(t.tgid),
            comm: t.comm.clone(),
            state: t.state.chars().next().unwrap_or('?'),
            cpu: t.cpu,
            on_vcpu: on_vcpu.get(&t.thread).copied(),
        })
        .collect()
}

/// The kernel's symbol names and its named BTF types (structs, unions, enums, typedefs,
/// base types), each sorted without duplicates, for Tab completion.
pub fn names(k: &Kernel) -> (Vec<String>, Vec<String>) {
    let mut symbols: Vec<String> = k.symbols.iter().map(|s| s.name.clone()).collect();
    symbols.sort_unstable();
    symbols.dedup();
    let mut types: Vec<String> = k
        .types
        .as_deref()
        .map(|btf| {
            btf.types()
                .filter(|t| {
                    matches!(
                        t.kind,
                        Kind::Struct
                            | Kind::Union
                            | Kind::Enum
                            | Kind::Enum64
                            | Kind::Typedef
                            | Kind::Int
                            | Kind::Float
                    )
                })
                .map(|t| t.name())
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    types.sort_unstable();
    types.dedup();
    (symbols, types)
}

/// Register groups that are not shown: they hold wide or floating-point values.
const HIDDEN_GROUPS: &[&str] = &["float", "vector"];

/// The registers of `::regs` that fit 64 bits, in the stub's order (`layout`), then any the
/// layout does not name, in the record's order.
pub(crate) fn registers(regs: &Registers, layout: &RegLayout) -> Vec<RegisterRow> {
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for desc in &layout.regs {
        seen.insert(desc.name.as_str());
        if desc
            .group
            .as_deref()
            .is_some_and(|g| HIDDEN_GROUPS.contains(&g))
        {
            continue;
        }
        if let Some(value) = regs.get_u64(&desc.name) {
            rows.push(RegisterRow {
                name: desc.name.clone(),
                value,
                ..RegisterRow::default()
            });
        }
    }
    for (name, _) in &regs.values {
        if seen.contains(name.as_str()) {
            continue;
        }
        if let Some(value) = regs.get_u64(name) {
            rows.push(RegisterRow {
                name: name.clone(),
                value,
                ..RegisterRow::default()
            });
        }
    }
    rows
}

/// The events pane's rows from the session's event table, in id order.
pub(crate) fn events(table: &[qmdb_dcmds::events::Event]) -> Vec<EventRow> {
    let mut rows: Vec<EventRow> = table
        .iter()
        .map(|e| EventRow {
            id: e.id,
            kind: e.kind_text(),
            addr: e.addr.0,
            symbol: e.what.clone(),
            enabled: e.enabled,
            planted: e.planted,
            hits: e.hits,
            options: e.opts.describe(),
        })
        .collect();
    rows.sort_by_key(|r| r.id);
    rows
}

fn frames(frames: &[Frame]) -> Vec<FrameRow> {
    frames
        .iter()
        .map(|f| FrameRow {
            sp: f.sp,
            pc: f.pc,
            symbol: f.name(),
            reliable: f.reliable,
        })
        .collect()
}

/// The stack pane from `ADDR::findstack`.
pub(crate) fn findstack(st: &TaskStack) -> StackView {
    let user = match (st.user_pc, st.user_sp) {
        (Some(pc), Some(sp)) => Some(format!("user mode: pc {pc:x} sp {sp:x}")),
        _ => None,
    };
    StackView {
        thread: Some(st.thread),
        header: st.header(),
        frames: frames(&st.frames),
        note: st.end.as_ref().map(|e| format!("walk ended: {e}")).or(user),
    }
}

/// The stack pane from `$c` (the selected vCPU's task): the user-mode note and why the walk
/// ended become the note.
pub(crate) fn vcpu_stack(st: &VcpuStack) -> StackView {
    let notes: Vec<String> = st
        .note
        .iter()
        .map(|n| n.trim_start_matches('(').trim_end_matches(')').to_string())
        .chain(st.end_note.iter().map(|n| format!("walk ended: {n}")))
        .collect();
    StackView {
        thread: None,
        header: format!(
            "stack of vCPU {}: thread {:x} ({} {})",
            st.vcpu, st.thread, st.pid, st.comm
        ),
        frames: frames(&st.frames),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

/// Instructions before and after the centre shown by the disassembly pane.
pub(crate) const DIS_BEFORE: usize = 8;
pub(crate) const DIS_AFTER: usize = 24;

/// The instructions around `pc`: up to [`DIS_BEFORE`] before it and [`DIS_AFTER`] from it,
/// the one at `pc` marked. `None` when no instruction starts at `pc` (the disassembly
/// started out of step). `symbol` names an address (`func+0x1a`).
pub(crate) fn disassembly(
    all: &[Instruction],
    pc: u64,
    symbol: impl Fn(u64) -> Option<String>,
) -> Option<Vec<DisasmRow>> {
    let at = all.iter().position(|i| i.addr == pc)?;
    let from = at.saturating_sub(DIS_BEFORE);
    let to = at.saturating_add(DIS_AFTER).min(all.len());
    Some(
        all.get(from..to)
            .unwrap_or_default()
            .iter()
            .map(|i| DisasmRow {
                addr: i.addr,
                symbol: symbol(i.addr),
                bytes: i.bytes.clone(),
                text: i.text.clone(),
                current: i.addr == pc,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(thread: u64, pid: i32, comm: &str, state: &str, cpu: Option<u32>) -> TaskRow {
        TaskRow {
            thread,
            pid,
            tgid: pid,
            ppid: 0,
            comm: comm.into(),
            state: state.into(),
            flags: 0,
            cpu,
        }
    }

    fn cpu(vcpu: u32, thread: Option<u64>) -> CpuRow {
        CpuRow {
            vcpu,
            vcpu_id: qmdb_bridge::VcpuId {
                pid: 1,
                tid: vcpu + 1,
            },
            cpu: Some(vcpu),
            online: Some(true),
            thread,
            pid: None,
            comm: None,
            mode: "kernel",
            pc: 0,
            symbol: None,
        }
    }

    fn frame(sp: u64, pc: u64, symbol: Option<&str>, offset: u64, reliable: bool) -> Frame {
        Frame {
            sp,
            pc,
            symbol: symbol.map(str::to_string),
            offset: symbol.map(|_| offset),
            module: None,
            reliable,
            pt_regs: None,
            user: None,
            how: qmdb_dcmds::records::FrameHow::Call,
        }
    }

    #[test]
    fn threads_merge_cpuinfo() {
        let ps = [
            task(0xffff1000, 1, "init", "S", Some(0)),
            task(0xffff2000, 94, "qmdb-busy", "R", Some(1)),
            task(0xffff3000, 95, "odd", "", None),
        ];
        let rows = threads(&ps, &[cpu(1, Some(0xffff2000)), cpu(0, None)]);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].on_vcpu, None);
        assert_eq!(
            (rows[1].comm.as_str(), rows[1].on_vcpu),
            ("qmdb-busy", Some(1))
        );
        assert_eq!(rows[1].state, 'R');
        assert_eq!((rows[2].pid, rows[2].state, rows[2].cpu), (95, '?', None));
    }

    #[test]
    fn registers_follow_the_layout_and_skip_wide_ones() {
        use qmdb_bridge::regs::RegDesc;
        let desc = |name: &str, group: Option<&str>| RegDesc {
            name: name.into(),
            bits: 64,
            regnum: 0,
            ty: "int64".into(),
            group: group.map(str::to_string),
        };
        let layout = RegLayout {
            regs: vec![
                desc("rip", None),
                desc("rax", None),
                desc("xmm0", Some("vector")),
            ],
        };
        let le = |v: u64| v.to_le_bytes().to_vec();
        let regs = Registers {
            values: vec![
                ("rax".into(), le(1)),
                ("rip".into(), le(0xffffffff81000010)),
                ("xmm0".into(), le(2)),
                ("extra".into(), le(3)),
                (
                    "wide".into(),
                    vec![0x99, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11],
                ),
            ],
            symbols: HashMap::new(),
            all: false,
        };
        let rows = registers(&regs, &layout);
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["rip", "rax", "extra"]);
        assert_eq!(rows[0].value, 0xffffffff81000010);
    }

    #[test]
    fn vcpu_stack_rows() {
        let st = VcpuStack {
            vcpu: 1,
            thread: 0xffff2000,
            pid: 94,
            comm: "busy".into(),
            frames: vec![
                frame(0xc008, 0xffffffff81000100, Some("do_idle"), 0x206, true),
                frame(0xc010, 0xffffffff81000200, None, 0, false),
            ],
            note: Some("(user mode; pc 52bdcb)".into()),
            end_note: None,
            with_sp: false,
        };
        let v = vcpu_stack(&st);
        assert_eq!(v.thread, None);
        assert_eq!(v.header, "stack of vCPU 1: thread ffff2000 (94 busy)");
        assert_eq!(v.frames[0].symbol, "do_idle+0x206");
        assert_eq!(v.frames[1].symbol, "ffffffff81000200");
        assert!(!v.frames[1].reliable);
        assert_eq!(v.note.as_deref(), Some("user mode; pc 52bdcb"));
    }

    #[test]
    fn disassembly_window_marks_the_pc() {
        let all: Vec<Instruction> = (0..40u64)
            .map(|i| Instruction {
                addr: 0x1000 + i,
                bytes: "90".into(),
                text: "nop".into(),
                label: String::new(),
                show_bytes: false,
            })
            .collect();
        let rows = disassembly(&all, 0x1010, |a| Some(format!("f+{:#x}", a - 0x1000))).unwrap();
        assert_eq!(rows.len(), DIS_BEFORE + DIS_AFTER);
        assert_eq!(rows.iter().filter(|r| r.current).count(), 1);
        assert_eq!(rows[DIS_BEFORE].addr, 0x1010);
        assert_eq!(rows[0].symbol.as_deref(), Some("f+0x8"));
        assert_eq!(disassembly(&all, 0x2000, |_| None), None);
    }
}
