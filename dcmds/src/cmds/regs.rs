//! `::regs` / `$r`: the selected vCPU's registers, in mdb's amd64 `$r` layout.

use crate::args::getopts;
use crate::error::DcmdError;
use crate::registry::{DcmdDef, Invocation};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::regs::RegValues;
use qmdb_bridge::VirtAddr;
use serde_json::{Map, Value};
use std::collections::HashSet;

pub const REGS: DcmdDef = DcmdDef {
    name: "regs",
    aliases: &["$r"],
    usage: "[-a]",
    description: "print the selected vCPU's registers",
    help: "Prints the registers of the selected vCPU (see ::cpus, ::cpu) as mdb's
amd64 $r does: general registers with the symbol each value points into,
%rip, %rbp, %rsp, %rflags with its flags decoded (upper case = set),
segment selectors, the fs/gs bases, control registers and EFER.

  -a   also print every other register the stub supplies (x87, SSE...)

Registers are also values in expressions: <rip, <rsp, <cr3.",
    run,
};

const LEFT: [&str; 7] = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8"];
const RIGHT: [&str; 7] = ["r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const POINTERS: [&str; 3] = ["rip", "rbp", "rsp"];
const SEGMENTS: [[&str; 3]; 2] = [["cs", "ds", "es"], ["fs", "gs", "ss"]];
const BASES: [&str; 3] = ["fs_base", "gs_base", "k_gs_base"];
const CONTROL: [[&str; 2]; 3] = [["cr0", "cr2"], ["cr3", "cr4"], ["cr8", "efer"]];
const FLAGS_NAME: [&str; 2] = ["eflags", "rflags"];

/// `(bit, name)` of the one-bit status flags, in mdb's order.
const STATUS_FLAGS: [(u32, &str); 9] = [
    (11, "of"),
    (10, "df"),
    (9, "if"),
    (8, "tf"),
    (7, "sf"),
    (6, "zf"),
    (4, "af"),
    (2, "pf"),
    (0, "cf"),
];

/// The register's bytes as hex, most significant first.
fn hex_bytes(bytes: &[u8]) -> String {
    let s: String = bytes.iter().rev().map(|b| format!("{b:02x}")).collect();
    let t = s.trim_start_matches('0');
    if t.is_empty() {
        "0".to_string()
    } else {
        t.to_string()
    }
}

fn symbol_of(session: &Session, v: u64) -> String {
    session
        .symbols()
        .lookup_addr(VirtAddr(v))
        .map(|_| session.symbolize(VirtAddr(v)))
        .unwrap_or_default()
}

fn gpr_cell(session: &Session, regs: &RegValues, name: &str) -> String {
    let label = format!("%{name:<3}");
    match regs.get_u64(name) {
        Some(v) => format!("{label} = 0x{v:016x} {:<15}", symbol_of(session, v)),
        None => format!("{label} = {:<18} {:<15}", "unavailable", ""),
    }
}

/// The decoded flag lines under `%rflags`.
pub fn flag_lines(v: u64) -> [String; 2] {
    let bit = |n: u32| (v >> n) & 1;
    let control = format!(
        "  id={} vip={} vif={} ac={} vm={} rf={} nt={} iopl={:#x}",
        bit(21),
        bit(20),
        bit(19),
        bit(18),
        bit(17),
        bit(16),
        bit(14),
        (v >> 12) & 3
    );
    let status: Vec<String> = STATUS_FLAGS
        .iter()
        .map(|&(b, n)| {
            if bit(b) == 1 {
                n.to_uppercase()
            } else {
                n.to_string()
            }
        })
        .collect();
    [control, format!("  status=<{}>", status.join(","))]
}

fn amd64(session: &Session, regs: &RegValues, shown: &mut HashSet<String>, sink: &mut Sink<'_>) {
    for (l, r) in LEFT.iter().zip(RIGHT.iter()) {
        let line = format!(
            "{} {}",
            gpr_cell(session, regs, l),
            gpr_cell(session, regs, r)
        );
        sink.line(line.trim_end());
        shown.insert(l.to_string());
        shown.insert(r.to_string());
    }
    sink.line("");
    for p in POINTERS {
        shown.insert(p.to_string());
        let line = match regs.get_u64(p) {
            Some(v) => format!("%{p} = 0x{v:016x} {}", symbol_of(session, v)),
            None => format!("%{p} = unavailable"),
        };
        sink.line(line.trim_end());
    }
    sink.line("");
    if let Some((name, v)) = FLAGS_NAME
        .iter()
        .find_map(|n| regs.get_u64(n).map(|v| (*n, v)))
    {
        shown.insert(name.to_string());
        sink.line(&format!("%rflags = 0x{v:08x}"));
        for l in flag_lines(v) {
            sink.line(&l);
        }
        sink.line("");
    }
    for row in SEGMENTS {
        let cells: Vec<String> = row
            .iter()
            .filter_map(|s| {
                shown.insert(s.to_string());
                regs.get_u64(s).map(|v| format!("%{s} = 0x{v:04x}"))
            })
            .collect();
        if !cells.is_empty() {
            sink.line(&cells.join("    "));
        }
    }
    sink.line("");
    for b in BASES {
        shown.insert(b.to_string());
        if let Some(v) = regs.get_u64(b) {
            sink.line(&format!("%{b:<9} = 0x{v:016x}"));
        }
    }
    sink.line("");
    for row in CONTROL {
        let cells: Vec<String> = row
            .iter()
            .filter_map(|c| {
                shown.insert(c.to_string());
                regs.get_u64(c).map(|v| format!("%{c:<4} = 0x{v:016x}"))
            })
            .collect();
        if !cells.is_empty() {
            sink.line(&cells.join("    "));
        }
    }
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let opts = getopts(&inv.display_name(), inv.args, "a")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument '{extra}'")));
    }
    let regs = session.target_mut().read_registers()?;
    let mut shown = HashSet::new();
    let is_amd64 = regs.get_bytes("rax").is_some() && regs.get_bytes("rip").is_some();
    if is_amd64 {
        amd64(session, &regs, &mut shown, sink);
    }
    let mut first_extra = true;
    for (desc, bytes) in &regs.values {
        if shown.contains(&desc.name) {
            continue;
        }
        if is_amd64 && !opts.flag('a') {
            continue;
        }
        if first_extra && is_amd64 {
            sink.line("");
        }
        first_extra = false;
        sink.line(&format!("%{} = 0x{}", desc.name, hex_bytes(bytes)));
    }
    let mut map = Map::new();
    for (desc, bytes) in &regs.values {
        map.insert(
            desc.name.clone(),
            Value::String(format!("0x{}", hex_bytes(bytes))),
        );
    }
    sink.data(Value::Object(map));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_decode_like_mdb() {
        let [control, status] = flag_lines(0x286);
        assert_eq!(control, "  id=0 vip=0 vif=0 ac=0 vm=0 rf=0 nt=0 iopl=0x0");
        assert_eq!(status, "  status=<of,df,IF,tf,SF,zf,af,PF,cf>");
        let [control, status] = flag_lines(0x203046 | (1 << 21));
        assert_eq!(control, "  id=1 vip=0 vif=0 ac=0 vm=0 rf=0 nt=0 iopl=0x3");
        assert_eq!(status, "  status=<of,df,if,tf,sf,ZF,af,PF,cf>");
    }

    #[test]
    fn wide_registers_print_whole() {
        assert_eq!(
            hex_bytes(&[0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0xff]),
            "ff000000000000000201"
        );
        assert_eq!(hex_bytes(&[0; 16]), "0");
    }
}
