//! Session-level tests against [`MockTarget`].

mod btf_dcmds;
mod containers;
mod dcmds;
mod dis;
mod display;
mod habits;
mod json;
mod pipeline;
mod repeat;
mod session;

use crate::error::DcmdError;
use crate::output::CaptureOutput;
use crate::session::{ExecOutcome, Session};
use qmdb_bridge::VirtAddr;
use qmdb_linux::mock::{MockShared, MockTarget, TableSymbols};
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
const TEST_SYMBOLS: TableSymbols = TableSymbols(&[
    ("_text", 0xffffffff81000000, 0x100),
    ("do_work", 0xffffffff81000100, 0x10),
    ("helper", 0xffffffff81000110, 0x10),
    ("linux_banner", 0xffffffff82000000, 0x40),
]);
