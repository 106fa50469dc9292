//! What a panicked kernel left behind: the panic message, the panicking CPU, the taint.
//!
//! `panic()` records the CPU that panics in `panic_cpu` (an `atomic_t`, -1 when none has)
//! before it stops the others, and logs "Kernel panic - not syncing: MESSAGE" through
//! printk; the message itself is kept nowhere else, so it is read from the log buffer.
//! `tainted_mask` holds the taint flags, one bit each, printed as letters.

use crate::error::Error;
use crate::memory::{recoverable, GuestMemory};
use crate::printk::Log;
use crate::Program;

/// The prefix of the log line `panic()` prints.
pub const PANIC_PREFIX: &str = "Kernel panic - not syncing: ";

/// The taint letters by bit (`kernel/panic.c`'s `taint_flags`; bit 0 prints `G` when clear).
const TAINT_LETTERS: &[u8] = b"PFSRMBUDAWCIOELKXTNJ";

/// What the kernel says about a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanicState {
    /// `panic_cpu`, when a CPU has panicked.
    pub cpu: Option<u32>,
    /// The message of the last panic line in the log, and when it was logged (ns).
    pub message: Option<(String, u64)>,
    /// `tainted_mask`.
    pub tainted: Option<u64>,
}

/// The letters of the taint flags set in `mask`, in the kernel's order (`""` untainted;
/// `G`, the "not proprietary" letter, is left out).
pub fn taint_letters(mask: u64) -> String {
    TAINT_LETTERS
        .iter()
        .enumerate()
        .filter(|(bit, _)| *bit < 64 && mask & (1u64 << bit) != 0)
        .map(|(_, &c)| char::from(c))
        .collect()
}

/// The message of the last log line `panic()` printed ("Kernel panic - not syncing: MSG",
/// not the "---[ end Kernel panic ... ]---" after it), with its timestamp.
pub fn panic_message(log: &Log) -> Option<(String, u64)> {
    log.records.iter().rev().find_map(|r| {
        r.text
            .strip_prefix(PANIC_PREFIX)
            .map(|msg| (msg.trim_end().to_string(), r.ts_nsec))
    })
}

/// Reads `panic_cpu` and `tainted_mask`; the message comes from `log`.
pub fn panic_state(program: &mut Program, log: &Log) -> Result<PanicState, Error> {
    let sym = |p: &Program, n: &str| p.symbols().lookup_name(n);
    let cpu = match sym(program, "panic_cpu") {
        Some(a) => recoverable(program.read_u32(a, Some("panic_cpu")))?
            .map(|v| v as i32)
            .and_then(|v| u32::try_from(v).ok()),
        None => None,
    };
    let tainted = match sym(program, "tainted_mask") {
        Some(a) => recoverable(GuestMemory::read_u64(program, a, Some("tainted_mask")))?,
        None => None,
    };
    Ok(PanicState {
        cpu,
        message: panic_message(log),
        tainted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printk::LogRecord;

    #[test]
    fn taint_bits_print_as_the_kernel_letters() {
        assert_eq!(taint_letters(0), "");
        assert_eq!(taint_letters(1 << 13), "E");
        assert_eq!(taint_letters((1 << 7) | (1 << 9)), "DW");
        assert_eq!(taint_letters(1), "P");
    }

    #[test]
    fn the_last_panic_line_is_the_message() {
        let rec = |text: &str, ts| LogRecord {
            seq: 0,
            ts_nsec: ts,
            level: 0,
            facility: 0,
            text: text.into(),
        };
        let log = Log {
            records: vec![
                rec("sysrq: Trigger a crash", 1),
                rec("Kernel panic - not syncing: sysrq triggered crash", 2),
                rec("Kernel Offset: 0x1000 from 0xffffffff81000000", 3),
                rec(
                    "---[ end Kernel panic - not syncing: sysrq triggered crash ]---",
                    4,
                ),
            ],
            problems: vec![],
        };
        assert_eq!(
            panic_message(&log),
            Some(("sysrq triggered crash".to_string(), 2))
        );
        assert_eq!(panic_message(&Log::default()), None);
    }
}
