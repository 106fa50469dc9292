//! The panes that read guest memory directly: the memory pane (the bytes at an mdb
//! expression) and the registers' symbols and one level of dereference.
//!
//! Every read is bounded ([`MEMORY_BYTES`], [`MAX_DEREFS`] words of 8 bytes) and
//! fault-tolerant: an unreadable address gives fewer bytes or no dereference, never an
//! error; only a lost connection (or Ctrl-C) ends the refresh.

use super::panes::PaneError;
use crate::protocol::{MemoryView, Pointee, RegisterRow};
use qmdb_bridge::VirtAddr;
use qmdb_dcmds::lang::{self, Verb};
use qmdb_dcmds::{DcmdError, Session};

/// How many bytes the memory pane reads from its address.
pub(crate) const MEMORY_BYTES: usize = 512;
/// At most this many registers are dereferenced per refresh.
pub(crate) const MAX_DEREFS: usize = 32;
/// The lowest x86-64 kernel-half (canonical, sign-extended) address.
const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;

/// Whether `v` is a kernel-half address, the only ones worth dereferencing.
pub(crate) fn is_kernel_address(v: u64) -> bool {
    v >= KERNEL_HALF
}

/// `func` or `func+0x1a` when `addr` is in the kernel's (or a module's) text or data.
pub(crate) fn symbol_of(session: &Session, addr: u64) -> Option<String> {
    if !is_kernel_address(addr) {
        return None;
    }
    session
        .symbols()
        .lookup_addr(VirtAddr(addr))
        .map(|h| match h.offset {
            0 => h.name,
            off => format!("{}+{off:#x}", h.name),
        })
}

/// Why a read for a pane failed: fatal (connection gone, interrupted) ends the refresh;
/// anything else just means "unreadable".
fn ends_refresh(e: &qmdb_linux::Error) -> bool {
    e.ends_command()
}

/// Adds to each register its symbol and, for kernel addresses, the word it points at.
pub(crate) fn annotate_registers(
    session: &mut Session,
    rows: &mut [RegisterRow],
) -> Result<(), PaneError> {
    let mut derefs = 0;
    for r in rows.iter_mut() {
        r.symbol = symbol_of(session, r.value);
        // The pc's word is instruction bytes: nothing to read there.
        let is_pc = matches!(r.name.as_str(), "rip" | "pc");
        if is_pc || !is_kernel_address(r.value) || derefs >= MAX_DEREFS {
            continue;
        }
        derefs += 1;
        match session.read_partial(VirtAddr(r.value), 8) {
            Ok(pr) => {
                let word = pr
                    .data
                    .get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_le_bytes);
                r.deref = word.map(|value| Pointee {
                    value,
                    symbol: symbol_of(session, value),
                });
            }
            Err(e) if ends_refresh(&e) => return Err(PaneError::Dcmd(Box::new(e.into()))),
            Err(_) => {}
        }
    }
    Ok(())
}

/// Why the memory pane's expression gives no address.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExprError {
    #[error("{0:?} is not an expression (e.g. init_task, <rsp+0x10)")]
    NotAnExpression(String),
    #[error("{0}")]
    Eval(Box<DcmdError>),
}

/// The value of the mdb expression `expr` (`init_task+0x10`, `<rsp`, `*jiffies`): one
/// command with an address and no verb, as a line that only sets dot.
pub(crate) fn evaluate(session: &mut Session, expr: &str) -> Result<u64, ExprError> {
    let not_expr = || ExprError::NotAnExpression(expr.to_string());
    let mut cmds = lang::parse_line(expr);
    let cmd = match (cmds.pop(), cmds.is_empty()) {
        (Some(c), true) => c,
        _ => return Err(not_expr()),
    };
    let stages = cmd.stages.map_err(|e| ExprError::Eval(Box::new(e)))?;
    let [stage] = stages.as_slice() else {
        return Err(not_expr());
    };
    match (&stage.addr, &stage.count, &stage.verb) {
        (Some(addr), None, Verb::None) => {
            lang::eval(addr, session).map_err(|e| ExprError::Eval(Box::new(e)))
        }
        _ => Err(not_expr()),
    }
}

/// The memory pane: [`MEMORY_BYTES`] bytes from the value of `expr`, or as many as are
/// readable.
pub(crate) fn memory(session: &mut Session, expr: &str) -> Result<MemoryView, PaneError> {
    let addr = evaluate(session, expr).map_err(|e| PaneError::Memory(e.to_string()))?;
    let len = MEMORY_BYTES.min((u64::MAX - addr).saturating_add(1) as usize);
    match session.read_partial(VirtAddr(addr), len) {
        Ok(pr) => {
            let note = pr
                .fault
                .map(|(at, why)| format!("unreadable from {:x}: {why}", at.0))
                .or_else(|| (pr.data.len() < len).then(|| "the address space ends".into()));
            Ok(MemoryView {
                expr: expr.to_string(),
                addr,
                bytes: pr.data,
                note,
            })
        }
        Err(e) if ends_refresh(&e) => Err(PaneError::Dcmd(Box::new(e.into()))),
        Err(e) => Err(PaneError::Memory(e.to_string())),
    }
}
