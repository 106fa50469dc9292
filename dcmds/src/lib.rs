//! The mdb command language over a [`qmdb_linux::Program`]: parser, expressions, formats,
//! pipelines, the dcmds and walkers, and the typed records they return.
//!
//! Front ends drive it through two calls: [`Session::execute`] runs command text as a user
//! typed it, [`Session::call`] runs one dcmd for a program and returns its records.
//!
//! ```no_run
//! # fn demo(target: Box<dyn qmdb_bridge::Target>) -> Result<(), qmdb_dcmds::DcmdError> {
//! use qmdb_dcmds::records::TaskRow;
//! use qmdb_dcmds::{Session, TextOutput};
//! let mut session = Session::new(target);
//! let mut out = TextOutput::new(std::io::stdout());
//! let outcome = session.execute("<rip=K; ::walk list | /K", &mut out);
//! if outcome.quit { /* $q or ::quit */ }
//! let tasks: Vec<TaskRow> = session.call("::ps", None, &["-t"])?.take();
//! # Ok(()) }
//! ```
//!
//! Layout:
//! - [`lang`]: lexer, syntax tree, parser and expression evaluation;
//! - [`fmt`]: mdb's `/` and `=` format characters, from one table;
//! - [`dcmd`]: what a dcmd and a walker are; [`registry`]: the one table of each;
//!   [`cmds`] and [`walkers`] hold one file per entry;
//! - [`record`] and [`records`]: the typed results of dcmds, each with its one text renderer;
//! - [`session`], [`exec`] and [`call`]: the REPL state over the program, the pipeline
//!   runner, and the call API;
//! - [`output`] and [`sink`]: where results go (text, JSON lines, records, capture for tests);
//! - [`events`]: breakpoints, watchpoints and run control; [`proxy`]: the gdb proxy's backend;
//! - [`arch`]: the x86_64 disassembler and `$r` layout.

pub mod arch;
pub mod args;
pub mod attach;
pub mod call;
pub mod cmds;
pub mod dcmd;
/// The disassembler (x86_64's; see [`arch`]).
pub use arch::x86_64::dis;
pub mod error;
pub mod events;
pub mod exec;
pub mod fmt;
pub mod lang;
/// An in-memory target for tests (`qmdb_linux::mock`).
#[cfg(any(test, feature = "mock"))]
pub use qmdb_linux::mock;
pub mod output;
pub mod proxy;
pub mod record;
pub mod records;
pub mod registry;
pub mod session;
pub mod shell;
pub mod sink;
pub mod walkers;

#[cfg(test)]
mod tests;

pub use call::Call;
pub use dcmd::{DcmdDef, DcmdFlags, Invocation, Walk, WalkerDef};
pub use error::{DcmdError, Location, ReadCause};
pub use output::{CaptureOutput, CommandRecord, JsonOutput, Output, TextOutput};
pub use qmdb_kernel::symbols::{NoSymbols, SymbolHit, SymbolLookup};
pub use session::{ExecOutcome, Session};
pub use sink::Sink;
