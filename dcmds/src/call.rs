//! The programmatic call API: run one dcmd with an address and arguments and get its typed
//! records back, with no command text formatted or parsed. The TUI's panes, the gdb proxy's
//! thread list and breakpoint callbacks talk to qmdb through it.
//!
//! ```no_run
//! # fn demo(session: &mut qmdb_dcmds::Session) -> Result<(), qmdb_dcmds::DcmdError> {
//! use qmdb_dcmds::records::TaskRow;
//! let mut call = session.call("::ps", None, &["-t"])?;
//! for task in call.take::<TaskRow>() {
//!     println!("{} {}", task.pid, task.comm);
//! }
//! # Ok(()) }
//! ```

use crate::args::Arg;
use crate::dcmd::{DcmdFlags, Invocation};
use crate::error::DcmdError;
use crate::output::Output;
use crate::record::{AnyRecord, Record};
use crate::registry::{display_name, find_dcmd};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;
use serde_json::Value;

/// What one dcmd gave a program: its records, and what it printed besides.
#[derive(Debug, Default)]
pub struct Call {
    /// The typed records, in order.
    pub records: Vec<Box<dyn AnyRecord>>,
    /// JSON of dcmds that do not return typed records yet, in order.
    pub data: Vec<Value>,
    /// Text lines that are not part of a record (table headers, notes).
    pub lines: Vec<String>,
    pub warnings: Vec<String>,
    /// Errors of single items that did not stop the dcmd (one unreadable task of many).
    pub errors: Vec<String>,
}

impl Call {
    /// Takes the records of type `R`, leaving the others.
    pub fn take<R: Record>(&mut self) -> Vec<R> {
        let mut taken = Vec::new();
        let mut rest = Vec::new();
        for rec in std::mem::take(&mut self.records) {
            if rec.as_any().is::<R>() {
                if let Ok(r) = rec.into_any().downcast::<R>() {
                    taken.push(*r);
                }
            } else {
                rest.push(rec);
            }
        }
        self.records = rest;
        taken
    }
}

/// An [`Output`] that keeps records whole.
struct CallOutput<'a>(&'a mut Call);

impl Output for CallOutput<'_> {
    fn begin(&mut self, _command: &str) {}
    fn line(&mut self, text: &str) {
        self.0.lines.push(text.to_string());
    }
    fn warning(&mut self, message: &str) {
        self.0.warnings.push(message.to_string());
    }
    fn error(&mut self, message: &str) {
        self.0.errors.push(message.to_string());
    }
    fn data(&mut self, value: Value) {
        self.0.data.push(value);
    }
    fn record(&mut self, rec: Box<dyn AnyRecord>) {
        self.0.records.push(rec);
    }
    fn end(&mut self) {}
}

impl Session {
    /// Runs the dcmd `name` (`::ps`, `ps` or an alias such as `$c`) at `addr` with `args`,
    /// as `addr::name args` would, and returns what it gave. Dot moves to `addr` when given.
    /// An `Err` is the error that stopped the dcmd.
    pub fn call(
        &mut self,
        name: &str,
        addr: Option<VirtAddr>,
        args: &[&str],
    ) -> Result<Call, DcmdError> {
        let name = name.strip_prefix("::").unwrap_or(name);
        let def = find_dcmd(name).ok_or_else(|| DcmdError::UnknownDcmd(name.to_string()))?;
        def.check_address(name, addr.is_some())?;
        self.program_mut().clear_interrupt();
        self.program_mut().clear_command_cache();
        if let Some(a) = addr {
            self.set_dot(a);
        }
        let args: Vec<Arg> = args.iter().map(|a| Arg::new(*a)).collect();
        let inv = Invocation {
            def,
            name,
            addr: self.dot(),
            flags: DcmdFlags {
                addrspec: addr.is_some(),
                looping: false,
                loop_first: true,
                pipe: false,
                pipe_out: false,
            },
            args: &args,
            exec: crate::exec::execute_with,
        };
        let mut call = Call::default();
        let mut out = CallOutput(&mut call);
        let mut sink = Sink::new(&mut out, None);
        (def.run)(self, &inv, &mut sink).map_err(|e| e.in_command(&display_name(name)))?;
        Ok(call)
    }
}
