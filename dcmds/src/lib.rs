//! The mdb command language over a [`qmdb_bridge::Target`]: parser, expressions, formats,
//! pipelines, and the registry of dcmds and walkers.
//!
//! The binary (and later the TUI and the gdb proxy) drive it through two calls:
//!
//! ```no_run
//! # fn demo(target: Box<dyn qmdb_bridge::Target>) {
//! use qmdb_dcmds::{Session, TextOutput};
//! let mut session = Session::new(target);
//! let mut out = TextOutput::new(std::io::stdout());
//! let outcome = session.execute("<rip=K; ::walk list | /K", &mut out);
//! if outcome.quit { /* $q or ::quit */ }
//! # }
//! ```
//!
//! Layout:
//! - [`lang`]: lexer, syntax tree, parser and expression evaluation;
//! - [`fmt`]: mdb's `/` and `=` format characters, from one table;
//! - [`registry`]: the one table of dcmds and the one table of walkers; [`cmds`] and
//!   [`walkers`] hold one file per entry;
//! - [`session`] and [`exec`]: the state of a debugging session and the pipeline runner;
//! - [`output`] and [`sink`]: where results go (text, JSON lines, capture for tests).

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
