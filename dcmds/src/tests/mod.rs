//! Session-level tests against [`MockTarget`].

mod dcmds;
mod dis;
mod display;
mod json;
mod pipeline;
mod session;

use crate::mock::{MockShared, MockTarget};
use crate::output::CaptureOutput;
use crate::session::{ExecOutcome, Session};
use crate::symbols::{SymbolHit, SymbolLookup};
use qmdb_bridge::VirtAddr;
use std::cell::RefCell;
use std::rc::Rc;

/// A session over `target`, with a handle on the target's shared state.
fn session_on(target: MockTarget) -> (Session, Rc<RefCell<MockShared>>) {
    let shared = target.shared();
    (Session::new(Box::new(target)), shared)
}

/// Runs `line`, returning the outcome and the transcript text mode would print.
fn run(session: &mut Session, line: &str) -> (ExecOutcome, CaptureOutput) {
    let mut out = CaptureOutput::new();
    let outcome = session.execute(line, &mut out);
    (outcome, out)
}

/// The transcript of `line`.
fn text(session: &mut Session, line: &str) -> String {
    run(session, line).1.text().to_string()
}

/// A few kernel-like symbols.
struct TestSymbols;

const SYMS: &[(&str, u64, u64)] = &[
    ("_text", 0xffffffff81000000, 0x100),
    ("do_work", 0xffffffff81000100, 0x10),
    ("helper", 0xffffffff81000110, 0x10),
    ("linux_banner", 0xffffffff82000000, 0x40),
];

impl SymbolLookup for TestSymbols {
    fn lookup_name(&self, name: &str) -> Option<VirtAddr> {
        SYMS.iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, a, _)| VirtAddr(*a))
    }
    fn lookup_addr(&self, addr: VirtAddr) -> Option<SymbolHit> {
        SYMS.iter()
            .find(|(_, a, size)| addr.0 >= *a && addr.0 - a < *size)
            .map(|(n, a, _)| SymbolHit {
                name: n.to_string(),
                offset: addr.0 - a,
            })
    }
}
