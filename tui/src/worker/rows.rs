//! Pane rows from the `--json` data records of ordinary dcmds.
//!
//! Every function here is pure: it reads [`CommandRecord`]s (as [`CaptureOutput`] keeps them)
//! and never panics on a record of the wrong shape; a missing or malformed field becomes a
//! default (`?`, `None`) or, when the record is useless without it, an error message.
//!
//! [`CaptureOutput`]: qmdb_dcmds::CaptureOutput

use crate::protocol::{DisasmRow, FrameRow, RegisterRow, StackView, ThreadRow};
use qmdb_bridge::regs::RegLayout;
use qmdb_dcmds::CommandRecord;
use qmdb_kernel::btf::Kind;
use qmdb_kernel::Kernel;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// `"0x…"` (or bare hex) as a `u64`; `None` for anything else, or for more than 64 bits.
pub(crate) fn hex_u64(v: &Value) -> Option<u64> {
    let s = v.as_str()?;
    let digits = s.strip_prefix("0x").unwrap_or(s);
    u64::from_str_radix(digits, 16).ok()
}

/// The record's error, or, when it has none, its data records.
fn data_of(rec: &CommandRecord) -> Result<&[Value], String> {
    match &rec.error {
        Some(e) if !rec.ok => Err(e.clone()),
        _ => Ok(&rec.data),
    }
}

/// The records of `::ps -t` and (optionally) `::cpuinfo` merged: a task on a vCPU gets its
/// index as `on_vcpu`. A failing `::cpuinfo` only loses the on-CPU markers.
pub(crate) fn threads(
    ps: &CommandRecord,
    cpuinfo: Option<&CommandRecord>,
) -> Result<Vec<ThreadRow>, String> {
    let mut on_vcpu: HashMap<u64, u32> = HashMap::new();
    if let Some(Ok(data)) = cpuinfo.map(data_of) {
        for r in data {
            let thread = r.get("thread").and_then(hex_u64);
            let vcpu = r.get("vcpu").and_then(as_u32);
            if let (Some(t), Some(v)) = (thread, vcpu) {
                on_vcpu.insert(t, v);
            }
        }
    }
    Ok(data_of(ps)?
        .iter()
        .filter_map(|r| {
            let thread = r.get("thread").and_then(hex_u64)?;
            Some(ThreadRow {
                thread,
                pid: r.get("pid").and_then(Value::as_i64).unwrap_or(-1),
                tgid: r.get("tgid").and_then(Value::as_i64).unwrap_or(-1),
                comm: r
                    .get("comm")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                state: state_char(r.get("state")),
                cpu: r.get("cpu").and_then(as_u32),
                on_vcpu: on_vcpu.get(&thread).copied(),
            })
        })
        .collect())
}

fn as_u32(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn state_char(v: Option<&Value>) -> char {
    v.and_then(Value::as_str)
        .and_then(|s| s.chars().next())
        .unwrap_or('?')
}

/// The kernel's symbol names and its named BTF types (structs, unions, enums, typedefs,
/// base types), each sorted without duplicates, for Tab completion.
pub(crate) fn names(k: &Kernel) -> (Vec<String>, Vec<String>) {
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

/// The registers of a `::regs` record that fit 64 bits, in the stub's order (`layout`), then
/// any the layout does not name, by name.
pub(crate) fn registers(
    rec: &CommandRecord,
    layout: &RegLayout,
) -> Result<Vec<RegisterRow>, String> {
    let map: &Map<String, Value> = data_of(rec)?
        .iter()
        .find_map(Value::as_object)
        .ok_or_else(|| "::regs gave no registers".to_string())?;
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
        if let Some(value) = map.get(&desc.name).and_then(hex_u64) {
            rows.push(RegisterRow {
                name: desc.name.clone(),
                value,
            });
        }
    }
    for (name, v) in map {
        if seen.contains(name.as_str()) {
            continue;
        }
        if let Some(value) = hex_u64(v) {
            rows.push(RegisterRow {
                name: name.clone(),
                value,
            });
        }
    }
    Ok(rows)
}

/// `name+0x1a` as mdb prints it (`name` at offset 0), or the hex pc.
fn frame_symbol(f: &Value, pc: u64) -> String {
    match (
        f.get("symbol").and_then(Value::as_str),
        f.get("offset").and_then(Value::as_u64),
    ) {
        (Some(name), Some(0)) => name.to_string(),
        (Some(name), Some(off)) => format!("{name}+{off:#x}"),
        // `$c` gives the symbolised form already.
        (Some(name), None) => name.to_string(),
        (None, _) => format!("{pc:x}"),
    }
}

fn frames(rec: &Value) -> Vec<FrameRow> {
    rec.get("frames")
        .and_then(Value::as_array)
        .map(|fs| {
            fs.iter()
                .filter_map(|f| {
                    let pc = f.get("pc").and_then(hex_u64)?;
                    Some(FrameRow {
                        sp: f.get("sp").and_then(hex_u64).unwrap_or(0),
                        pc,
                        symbol: frame_symbol(f, pc),
                        reliable: f.get("reliable").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The stack pane from `ADDR::findstack`: its first text line is the header.
pub(crate) fn findstack(rec: &CommandRecord, thread: u64) -> Result<StackView, String> {
    let r = data_of(rec)?
        .iter()
        .find(|v| v.is_object())
        .ok_or_else(|| format!("::findstack gave no stack for {thread:x}"))?;
    let header = rec
        .output
        .iter()
        .find(|l| l.starts_with("stack pointer"))
        .cloned()
        .unwrap_or_else(|| {
            let sp = r.get("sp").and_then(hex_u64).unwrap_or(0);
            format!("stack pointer for thread {thread:x}: {sp:x}")
        });
    let user = match (
        r.get("user_pc").and_then(hex_u64),
        r.get("user_sp").and_then(hex_u64),
    ) {
        (Some(pc), Some(sp)) => Some(format!("user mode: pc {pc:x} sp {sp:x}")),
        _ => None,
    };
    let end = r
        .get("end")
        .and_then(Value::as_str)
        .map(|e| format!("walk ended: {e}"));
    Ok(StackView {
        thread: Some(thread),
        header,
        frames: frames(r),
        note: end.or(user),
    })
}

/// The stack pane from `$c` (the selected vCPU's task); its parenthesised text lines (the
/// user-mode note, why the walk ended) become the note.
pub(crate) fn vcpu_stack(rec: &CommandRecord) -> Result<StackView, String> {
    let r = data_of(rec)?
        .iter()
        .find(|v| v.is_object())
        .ok_or_else(|| "$c gave no stack".to_string())?;
    let vcpu = r.get("vcpu").and_then(Value::as_u64).unwrap_or(0);
    let thread = r.get("thread").and_then(hex_u64).unwrap_or(0);
    let pid = r.get("pid").and_then(Value::as_i64).unwrap_or(-1);
    let comm = r.get("comm").and_then(Value::as_str).unwrap_or("?");
    let notes: Vec<&str> = rec
        .output
        .iter()
        .filter_map(|l| l.strip_prefix('(').and_then(|l| l.strip_suffix(')')))
        .collect();
    Ok(StackView {
        thread: None,
        header: format!("stack of vCPU {vcpu}: thread {thread:x} ({pid} {comm})"),
        frames: frames(r),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// Instructions before and after the centre shown by the disassembly pane.
pub(crate) const DIS_BEFORE: usize = 8;
pub(crate) const DIS_AFTER: usize = 24;

/// The `::dis` records around `pc`: up to [`DIS_BEFORE`] instructions before it and
/// [`DIS_AFTER`] from it, the one at `pc` marked. `None` when no instruction starts at `pc`
/// (the disassembly started out of step). `symbol` names an address (`func+0x1a`).
pub(crate) fn disassembly(
    rec: &CommandRecord,
    pc: u64,
    symbol: impl Fn(u64) -> Option<String>,
) -> Result<Option<Vec<DisasmRow>>, String> {
    let all: Vec<(u64, &Value)> = data_of(rec)?
        .iter()
        .filter_map(|r| Some((r.get("addr").and_then(hex_u64)?, r)))
        .collect();
    let Some(at) = all.iter().position(|(a, _)| *a == pc) else {
        return Ok(None);
    };
    let from = at.saturating_sub(DIS_BEFORE);
    let to = at.saturating_add(DIS_AFTER).min(all.len());
    Ok(Some(
        all.get(from..to)
            .unwrap_or_default()
            .iter()
            .map(|&(addr, r)| DisasmRow {
                addr,
                symbol: symbol(addr),
                bytes: r
                    .get("bytes")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                text: r
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                current: addr == pc,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(data: Vec<Value>, output: &[&str]) -> CommandRecord {
        CommandRecord {
            command: "x".into(),
            ok: true,
            output: output.iter().map(|s| s.to_string()).collect(),
            data,
            ..CommandRecord::default()
        }
    }

    #[test]
    fn threads_merge_cpuinfo_and_survive_bad_records() {
        let ps = rec(
            vec![
                json!({"thread":"0xffff1000","pid":1,"tgid":1,"comm":"init","state":"S","cpu":0}),
                json!({"thread":"0xffff2000","pid":94,"tgid":94,"comm":"qmdb-busy","state":"R","cpu":1}),
                json!({"thread":"not hex","pid":3}),
                json!({"thread":"0xffff3000"}),
                json!("0xffff4000"),
            ],
            &[],
        );
        let cpuinfo = rec(
            vec![
                json!({"vcpu":1,"thread":"0xffff2000"}),
                json!({"vcpu":0,"thread":null}),
            ],
            &[],
        );
        let rows = threads(&ps, Some(&cpuinfo)).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].on_vcpu, None);
        assert_eq!(
            (rows[1].comm.as_str(), rows[1].on_vcpu),
            ("qmdb-busy", Some(1))
        );
        assert_eq!(rows[1].state, 'R');
        assert_eq!((rows[2].pid, rows[2].state, rows[2].cpu), (-1, '?', None));
    }

    #[test]
    fn a_failed_command_is_an_error() {
        let mut ps = rec(vec![], &[]);
        ps.ok = false;
        ps.error = Some("no kernel".into());
        assert_eq!(threads(&ps, None), Err("no kernel".to_string()));
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
        let r = rec(
            vec![
                json!({"rax":"0x1","rip":"0xffffffff81000010","xmm0":"0x2","extra":"0x3",
                        "wide":"0x112233445566778899"}),
            ],
            &[],
        );
        let rows = registers(&r, &layout).unwrap();
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["rip", "rax", "extra"]);
        assert_eq!(rows[0].value, 0xffffffff81000010);
    }

    #[test]
    fn findstack_rows() {
        let r = rec(
            vec![json!({"thread":"0xffff1000","sp":"0xc000","frames":[
                {"sp":"0xc008","pc":"0xffffffff81000100","symbol":"schedule","offset":90,"reliable":true},
                {"sp":"0xc010","pc":"0xffffffff81000200","symbol":null,"offset":null,"reliable":false},
                {"sp":"0xc018"}],
                "user_pc":"0x4bfde3","user_sp":"0x7fff0000","end":null})],
            &[
                "stack pointer for thread ffff1000 (90 sleeper): c000",
                "  more",
            ],
        );
        let v = findstack(&r, 0xffff1000).unwrap();
        assert_eq!(
            v.header,
            "stack pointer for thread ffff1000 (90 sleeper): c000"
        );
        assert_eq!(v.frames.len(), 2);
        assert_eq!(v.frames[0].symbol, "schedule+0x5a");
        assert_eq!(v.frames[1].symbol, "ffffffff81000200");
        assert!(!v.frames[1].reliable);
        assert_eq!(v.note.as_deref(), Some("user mode: pc 4bfde3 sp 7fff0000"));
    }

    #[test]
    fn vcpu_stack_rows() {
        let r = rec(
            vec![
                json!({"vcpu":1,"thread":"0xffff2000","pid":94,"comm":"busy","frames":[
                {"sp":"0xc008","pc":"0xffffffff81000100","symbol":"do_idle+0x206","reliable":true}]}),
            ],
            &["(user mode; pc 52bdcb)", "do_idle+0x206()"],
        );
        let v = vcpu_stack(&r).unwrap();
        assert_eq!(v.thread, None);
        assert_eq!(v.header, "stack of vCPU 1: thread ffff2000 (94 busy)");
        assert_eq!(v.frames[0].symbol, "do_idle+0x206");
        assert_eq!(v.note.as_deref(), Some("user mode; pc 52bdcb"));
    }

    #[test]
    fn disassembly_window_marks_the_pc() {
        let data = (0..40u64)
            .map(|i| json!({"addr": format!("{:#x}", 0x1000 + i), "bytes":"90", "text":"nop"}))
            .collect();
        let r = rec(data, &[]);
        let rows = disassembly(&r, 0x1010, |a| Some(format!("f+{:#x}", a - 0x1000)))
            .unwrap()
            .unwrap();
        assert_eq!(rows.len(), DIS_BEFORE + DIS_AFTER);
        assert_eq!(rows.iter().filter(|r| r.current).count(), 1);
        assert_eq!(rows[DIS_BEFORE].addr, 0x1010);
        assert_eq!(rows[0].symbol.as_deref(), Some("f+0x8"));
        assert_eq!(disassembly(&r, 0x2000, |_| None).unwrap(), None);
    }
}
