//! QEMU's single-step flags: `qqemu.sstepbits`, `qqemu.sstep` and `Qqemu.sstep=<hex>`.
//!
//! QEMU steps with the flags in `sstep_flags` (global to the gdbstub, kept across
//! connections): `ENABLE` (stepping works at all), `NOIRQ` (no interrupt is delivered during
//! the step) and `NOTIMER` (timers do not advance). Without `NOIRQ`, a step of a vCPU with a
//! pending timer interrupt lands in the interrupt handler instead of the next instruction.
//! QEMU 7.2 under TCG: `qqemu.sstepbits` → `ENABLE=1,NOIRQ=2,NOTIMER=4` (only the bits the
//! accelerator supports are listed), `qqemu.sstep` → `0x7`, `Qqemu.sstep=7` → `OK`, and a
//! value with an unlisted bit → `E22`. A stub without them answers empty.

use super::malformed::{lossy, MalformedReply, Problem};
use super::reply::{classify, Reply};

/// `qqemu.sstepbits`: which flags exist, and their values.
pub const BITS_QUERY: &[u8] = b"qqemu.sstepbits";

/// `qqemu.sstep`: the flags in effect.
pub const QUERY: &[u8] = b"qqemu.sstep";

/// The flags the stub offers, each `Some(bit)` if listed by `qqemu.sstepbits`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SstepBits {
    pub enable: Option<u64>,
    pub noirq: Option<u64>,
    pub notimer: Option<u64>,
}

impl SstepBits {
    /// The flags to step with: `ENABLE`, plus `NOIRQ` and `NOTIMER` unless interrupts are
    /// allowed; only bits the stub listed.
    pub fn wanted(&self, allow_interrupts: bool) -> u64 {
        let mut v = self.enable.unwrap_or(0);
        if !allow_interrupts {
            v |= self.noirq.unwrap_or(0) | self.notimer.unwrap_or(0);
        }
        v
    }

    /// Every listed bit.
    pub fn all(&self) -> u64 {
        self.enable.unwrap_or(0) | self.noirq.unwrap_or(0) | self.notimer.unwrap_or(0)
    }
}

/// `Qqemu.sstep=<hex>`: step with these flags from now on.
pub fn set_request(flags: u64) -> Vec<u8> {
    format!("Qqemu.sstep={flags:x}").into_bytes()
}

fn parse_hex(s: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(s).ok()?.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// Parses a `qqemu.sstepbits` reply: `Ok(None)` when the stub does not have it (empty reply),
/// else the listed bits (`NAME=<hex>` items separated by commas; unknown names are ignored).
pub fn parse_bits(body: &[u8]) -> Result<Option<SstepBits>, MalformedReply> {
    let bad = |p: Problem| MalformedReply::new("qqemu.sstepbits reply", body, p);
    let d = match classify(body) {
        Reply::Unsupported => return Ok(None),
        Reply::Data(d) => d,
        Reply::Ok => return Err(bad(Problem::Shape("OK instead of the bits"))),
        Reply::Error(n) => return Err(bad(Problem::Remote(n))),
    };
    let mut bits = SstepBits::default();
    for item in d.split(|&c| c == b',').filter(|i| !i.is_empty()) {
        let bad_item = || {
            bad(Problem::BadValue {
                field: "item",
                value: lossy(item),
            })
        };
        let eq = item.iter().position(|&c| c == b'=').ok_or_else(bad_item)?;
        let (name, value) = item.split_at(eq);
        let value = value.get(1..).and_then(parse_hex).ok_or_else(bad_item)?;
        match name {
            b"ENABLE" => bits.enable = Some(value),
            b"NOIRQ" => bits.noirq = Some(value),
            b"NOTIMER" => bits.notimer = Some(value),
            _ => {}
        }
    }
    Ok(Some(bits))
}

/// Parses a `qqemu.sstep` reply (QEMU: `0x7`; plain hex accepted too): `Ok(None)` when the
/// stub does not have it.
pub fn parse_flags(body: &[u8]) -> Result<Option<u64>, MalformedReply> {
    let bad = |p: Problem| MalformedReply::new("qqemu.sstep reply", body, p);
    match classify(body) {
        Reply::Unsupported => Ok(None),
        Reply::Data(d) => parse_hex(d).map(Some).ok_or_else(|| {
            bad(Problem::BadValue {
                field: "flags",
                value: lossy(d),
            })
        }),
        Reply::Ok => Err(bad(Problem::Shape("OK instead of the flags"))),
        Reply::Error(n) => Err(bad(Problem::Remote(n))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QEMU: SstepBits = SstepBits {
        enable: Some(1),
        noirq: Some(2),
        notimer: Some(4),
    };

    #[test]
    fn wire_literals() {
        assert_eq!(BITS_QUERY, b"qqemu.sstepbits");
        assert_eq!(QUERY, b"qqemu.sstep");
        assert_eq!(set_request(7), b"Qqemu.sstep=7");
        assert_eq!(set_request(1), b"Qqemu.sstep=1");
        assert_eq!(set_request(0x1f), b"Qqemu.sstep=1f");
    }

    #[test]
    fn parses_qemu_replies() {
        assert_eq!(parse_bits(b"ENABLE=1,NOIRQ=2,NOTIMER=4"), Ok(Some(QEMU)));
        assert_eq!(parse_flags(b"0x7"), Ok(Some(7)));
        assert_eq!(parse_flags(b"0x1"), Ok(Some(1)));
        assert_eq!(parse_flags(b"5"), Ok(Some(5)));
        // No such packets: nothing to set.
        assert_eq!(parse_bits(b""), Ok(None));
        assert_eq!(parse_flags(b""), Ok(None));
    }

    #[test]
    fn only_listed_bits() {
        // KVM without NOIRQ support lists fewer bits; unknown names are ignored.
        let kvm = parse_bits(b"ENABLE=1,FUTURE=10").unwrap().unwrap();
        assert_eq!(
            kvm,
            SstepBits {
                enable: Some(1),
                ..SstepBits::default()
            }
        );
        assert_eq!(kvm.wanted(false), 1);
        assert_eq!(QEMU.wanted(false), 7);
        assert_eq!(QEMU.wanted(true), 1);
        assert_eq!(QEMU.all(), 7);
        let no_timer = parse_bits(b"ENABLE=1,NOIRQ=2").unwrap().unwrap();
        assert_eq!(no_timer.wanted(false), 3);
        assert_eq!(
            parse_bits(b"ENABLE=0x1,NOIRQ=0x2").unwrap(),
            Some(SstepBits {
                enable: Some(1),
                noirq: Some(2),
                notimer: None,
            })
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_bits(b"ENABLE").is_err());
        assert!(parse_bits(b"ENABLE=zz").is_err());
        assert!(parse_bits(b"E01").is_err());
        assert!(parse_bits(b"OK").is_err());
        assert!(parse_flags(b"0x").is_err());
        assert!(parse_flags(b"seven").is_err());
        assert!(parse_flags(b"E22").is_err());
        assert!(parse_flags(b"11112222333344445").is_err());
    }
}
