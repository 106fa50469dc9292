//! x86_64 disassembly of guest memory (iced-x86, AT&T syntax as mdb and objdump print it),
//! with branch targets and RIP-relative operands named by symbol.

use crate::error::DcmdError;
use crate::session::Session;
use iced_x86::{Decoder, DecoderOptions, Formatter, GasFormatter, Instruction, Mnemonic};
use qmdb_bridge::VirtAddr;

/// The longest x86 instruction.
pub const MAX_INSN: usize = 15;

/// The most instructions one request disassembles.
pub const MAX_COUNT: usize = 4096;

/// One disassembled instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisLine {
    pub addr: VirtAddr,
    pub bytes: Vec<u8>,
    /// The instruction in AT&T syntax, with `<symbol+off>` after symbolised targets.
    pub text: String,
    /// `ret`, `jmp` or `ud2`: where a function's straight-line code ends.
    pub ends_flow: bool,
    /// The bytes do not decode as an instruction.
    pub invalid: bool,
}

impl DisLine {
    pub fn next(&self) -> VirtAddr {
        self.addr.add(self.bytes.len().max(1) as u64)
    }
}

/// Disassembles up to `count` instructions from `addr`, stopping early after an instruction
/// for which `stop` says so (it sees the session, for symbol lookups).
/// Stops at unreadable memory: an error if nothing could be read, else the lines so far.
pub fn disassemble(
    session: &mut Session,
    addr: VirtAddr,
    count: usize,
    mut stop: impl FnMut(&Session, &DisLine) -> bool,
) -> Result<Vec<DisLine>, DcmdError> {
    let count = count.min(MAX_COUNT);
    let mut out = Vec::new();
    let mut cur = addr;
    let mut fmt = GasFormatter::new();
    fmt.options_mut().set_space_after_operand_separator(false);
    fmt.options_mut().set_gas_show_mnemonic_size_suffix(true);
    fmt.options_mut().set_uppercase_hex(false);
    while out.len() < count {
        let want = ((count - out.len()) * MAX_INSN).min(4096);
        let chunk = session.read_partial(cur, want)?;
        if chunk.data.is_empty() {
            let (at, cause) = chunk
                .fault
                .unwrap_or((cur, qmdb_bridge::ChunkError::NoMapping));
            if out.is_empty() {
                return Err(DcmdError::read(
                    "instruction bytes",
                    at,
                    crate::error::ReadCause::Target(cause),
                ));
            }
            break;
        }
        let complete = chunk.fault.is_none();
        let mut decoder = Decoder::with_ip(64, &chunk.data, cur.0, DecoderOptions::NONE);
        let mut insn = Instruction::default();
        let mut progressed = false;
        while decoder.can_decode() && out.len() < count {
            let pos = decoder.position();
            decoder.decode_out(&mut insn);
            let len = insn.len().max(1);
            // An instruction cut short by the end of what was read: read again from it.
            if insn.is_invalid() && (pos + MAX_INSN > chunk.data.len()) && complete {
                break;
            }
            let bytes = chunk.data.get(pos..pos + len).unwrap_or_default().to_vec();
            let line = render(&mut fmt, session, &insn, VirtAddr(insn.ip()), bytes);
            cur = line.next();
            progressed = true;
            let done = stop(session, &line);
            out.push(line);
            if done {
                return Ok(out);
            }
        }
        if !progressed || !complete {
            break;
        }
    }
    Ok(out)
}

fn render(
    fmt: &mut GasFormatter,
    session: &Session,
    insn: &Instruction,
    addr: VirtAddr,
    bytes: Vec<u8>,
) -> DisLine {
    if insn.is_invalid() {
        return DisLine {
            addr,
            bytes,
            text: "(bad)".to_string(),
            ends_flow: false,
            invalid: true,
        };
    }
    let mut text = String::new();
    fmt.format(insn, &mut text);
    let target = if insn.is_ip_rel_memory_operand() {
        Some(insn.ip_rel_memory_address())
    } else {
        match insn.near_branch_target() {
            0 => None,
            t => Some(t),
        }
    };
    if let Some(t) = target {
        if session.symbols().lookup_addr(VirtAddr(t)).is_some() {
            text.push_str(&format!(" <{}>", session.symbolize(VirtAddr(t))));
        }
    }
    let ends_flow = matches!(
        insn.mnemonic(),
        Mnemonic::Ret | Mnemonic::Jmp | Mnemonic::Ud2 | Mnemonic::Iretq | Mnemonic::Sysretq
    );
    DisLine {
        addr,
        bytes,
        text,
        ends_flow,
        invalid: false,
    }
}
