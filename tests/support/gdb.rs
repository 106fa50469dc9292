//! Reading what real gdb prints, for the tests that compare qmdb with it.

/// The value of register `name` in gdb's `info registers` output
/// (`rip 0xffffffff81... 0x...`); panics, showing the text, if gdb printed none.
pub fn gdb_reg(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == name).then(|| w.next())?
        })
        .and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("gdb printed no {name}:\n{text}"))
}

/// The values of gdb's `x/Ngx` output, in order.
pub fn gdb_words(text: &str) -> Vec<u64> {
    text.lines()
        .filter(|l| l.starts_with("0x") && l.contains(':'))
        .flat_map(|l| l.split(':').nth(1).unwrap_or("").split_whitespace())
        .filter_map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).ok())
        .collect()
}

/// One frame of gdb's `bt` (`#3  0xffffffff81... in pipe_read (...) at fs/pipe.c:378`, or
/// without the address for frame 0 at a line's start and for a frame inlined into the one
/// below it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdbFrame {
    pub level: u32,
    /// The frame's pc, when gdb printed it.
    pub pc: Option<u64>,
    /// The function, `??` when gdb has none.
    pub func: String,
}

/// The frames of gdb's `bt` output in `text`, in order.
pub fn gdb_frames(text: &str) -> Vec<GdbFrame> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix('#')?;
            let (level, rest) = rest.split_once(char::is_whitespace)?;
            let level = level.parse().ok()?;
            let rest = rest.trim_start();
            let (pc, rest) = match rest.strip_prefix("0x") {
                Some(r) => {
                    let (hex, r) = r.split_once(" in ")?;
                    (Some(u64::from_str_radix(hex, 16).ok()?), r)
                }
                None => (None, rest),
            };
            let func = rest.split_once(" (")?.0.trim().to_string();
            Some(GdbFrame { level, pc, func })
        })
        .collect()
}

/// gdb's frames folded into machine frames: a frame inlined into the one below it has
/// no pc of its own, and the machine frame's function is the outermost one (the one the
/// pc's symbol names): `(pc, function)`, the pc `None` for frame 0 printed without one.
pub fn gdb_machine_frames(frames: &[GdbFrame]) -> Vec<(Option<u64>, String)> {
    let mut out: Vec<(Option<u64>, String)> = Vec::new();
    for f in frames {
        match out.last_mut() {
            Some(last) if f.pc.is_none() && f.level > 0 => last.1 = f.func.clone(),
            _ => out.push((f.pc, f.func.clone())),
        }
    }
    out
}

/// The frames of `::findstack -v` output up to the end of the kernel stack: `(pc,
/// function)` (`[ sp func+0x4d() ] pc X start`, `  sp func+0x5a() pc X call`).
pub fn findstack_frames(text: &str) -> Vec<(u64, String)> {
    text.lines()
        .filter(|l| l.starts_with("[ ") || l.starts_with("  ffff"))
        .filter_map(|l| {
            let l = l.trim_start_matches("[ ").trim_start();
            let mut w = l.split_whitespace();
            let _sp = w.next()?;
            let sym = w.next()?;
            let func = sym.split(['+', '(']).next()?.to_string();
            let pc = l.split("pc ").nth(1)?.split_whitespace().next()?;
            Some((u64::from_str_radix(pc, 16).ok()?, func))
        })
        .collect()
}

/// Whether kallsyms' `sym` (as qmdb and /proc name a frame) is gdb's `func` (the DWARF
/// function): the same, the same without a compiler suffix (`foo.constprop.0`), or a
/// label inside an assembly function (`entry_SYSCALL_64_after_hwframe` inside
/// `entry_SYSCALL_64`).
pub fn same_function(sym: &str, func: &str) -> bool {
    sym == func
        || sym.split('.').next() == Some(func)
        || sym
            .strip_prefix(func)
            .is_some_and(|rest| rest.starts_with('_'))
}
