//! mdb's amd64 `$r` layout of the registers (`::regs`).

use crate::records::Registers;
use std::collections::HashSet;

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

pub(crate) fn amd64(regs: &Registers, shown: &mut HashSet<String>, out: &mut Vec<String>) {
    for (l, r) in LEFT.iter().zip(RIGHT.iter()) {
        let line = format!("{} {}", regs.gpr_cell(l), regs.gpr_cell(r));
        out.push(line.trim_end().to_string());
        shown.insert(l.to_string());
        shown.insert(r.to_string());
    }
    out.push(String::new());
    for p in POINTERS {
        shown.insert(p.to_string());
        let line = match regs.get_u64(p) {
            Some(v) => format!("%{p} = 0x{v:016x} {}", regs.symbol_of(v)),
            None => format!("%{p} = unavailable"),
        };
        out.push(line.trim_end().to_string());
    }
    out.push(String::new());
    if let Some((name, v)) = FLAGS_NAME
        .iter()
        .find_map(|n| regs.get_u64(n).map(|v| (*n, v)))
    {
        shown.insert(name.to_string());
        out.push(format!("%rflags = 0x{v:08x}"));
        for l in flag_lines(v) {
            out.push(l);
        }
        out.push(String::new());
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
            out.push(cells.join("    "));
        }
    }
    out.push(String::new());
    for b in BASES {
        shown.insert(b.to_string());
        if let Some(v) = regs.get_u64(b) {
            out.push(format!("%{b:<9} = 0x{v:016x}"));
        }
    }
    out.push(String::new());
    for row in CONTROL {
        let cells: Vec<String> = row
            .iter()
            .filter_map(|c| {
                shown.insert(c.to_string());
                regs.get_u64(c).map(|v| format!("%{c:<4} = 0x{v:016x}"))
            })
            .collect();
        if !cells.is_empty() {
            out.push(cells.join("    "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::regs::hex_bytes;

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
