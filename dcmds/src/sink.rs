//! [`Sink`]: where a dcmd's results go — the session's [`Output`], or the pipe to the next
//! stage.

use crate::error::DcmdError;
use crate::output::Output;
use crate::record::{AnyRecord, Record};
use crate::records::Address;
use qmdb_bridge::VirtAddr;
use serde_json::Value;

/// A dcmd's output handle for one invocation.
///
/// When the stage feeds a pipe (mdb's `DCMD_PIPE_OUT`), [`Sink::addr`] sends addresses to the
/// next stage; otherwise it prints them as bare hex, one a line, as mdb does. Text lines,
/// warnings and errors always reach the output.
pub struct Sink<'a> {
    out: &'a mut dyn Output,
    pipe: Option<&'a mut Vec<VirtAddr>>,
    failed: bool,
}

impl<'a> Sink<'a> {
    /// A sink printing to `out`, or feeding `pipe` when given.
    pub fn new(out: &'a mut dyn Output, pipe: Option<&'a mut Vec<VirtAddr>>) -> Sink<'a> {
        Sink {
            out,
            pipe,
            failed: false,
        }
    }

    /// Whether addresses go to a next stage.
    pub fn pipe_out(&self) -> bool {
        self.pipe.is_some()
    }

    /// A line of text.
    pub fn line(&mut self, text: &str) {
        self.out.line(text);
    }

    /// An address: down the pipe, or printed as bare hex with a data record `"0x…"` (an
    /// [`Address`] record).
    pub fn addr(&mut self, addr: VirtAddr) {
        match &mut self.pipe {
            Some(p) => p.push(addr),
            None => self.out.record(Box::new(Address(addr.0))),
        }
    }

    /// A typed result: its text and JSON, or the record itself for a program's call. When
    /// the stage feeds a pipe only the text is printed, as with passed-through JSON.
    pub fn record<R: Record>(&mut self, rec: R) {
        self.boxed_record(Box::new(rec));
    }

    /// [`Sink::record`] of a record whose type is known only at run time (an event
    /// callback's, passed on).
    pub fn boxed_record(&mut self, rec: Box<dyn AnyRecord>) {
        if self.pipe.is_none() {
            self.out.record(rec);
        } else {
            for l in rec.lines() {
                self.out.line(&l);
            }
        }
    }

    /// JSON passed through from another output (a breakpoint callback's); dcmds return
    /// records instead. Dropped when the stage feeds a pipe.
    pub(crate) fn data(&mut self, value: Value) {
        if self.pipe.is_none() {
            self.out.data(value);
        }
    }

    /// The command has resumed the guest (see [`Output::guest_resumed`]).
    pub fn guest_resumed(&mut self) {
        self.out.guest_resumed();
    }

    /// A warning: printed, but the command still succeeds.
    pub fn warn(&mut self, message: &str) {
        self.out.warning(message);
    }

    /// An error that does not stop the dcmd (one bad item of many): printed now, and the
    /// command fails when it ends.
    pub fn fail(&mut self, err: &DcmdError) {
        self.failed = true;
        self.out.error(&err.to_string());
    }

    /// [`Sink::fail`] with a message already made (a nested command's error, passed on).
    pub fn fail_message(&mut self, message: &str) {
        self.failed = true;
        self.out.error(message);
    }

    /// Whether [`Sink::fail`] was called.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// `Err(OutputClosed)` once the output has gone away, so long loops stop.
    pub fn check_open(&self) -> Result<(), DcmdError> {
        if self.out.is_closed() {
            Err(DcmdError::OutputClosed)
        } else {
            Ok(())
        }
    }
}
