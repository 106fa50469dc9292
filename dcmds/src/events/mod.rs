//! Execution control the kmdb way: the event table (breakpoints and watchpoints, planted
//! in QEMU with `Z0`/`Z2`-`Z4`, never written into guest memory), continuing, stepping, and
//! what is done and printed at each stop.
//!
//! - [`event`]: one event and its `::evset`-style options;
//! - [`table`]: the session's table, kept in step with what QEMU holds;
//! - [`stop`]: where the guest stopped (vCPU, CPU, task, pc) and the stop report;
//! - [`run`]: continue/step loops, bounded by Ctrl-C and `-T`, and the stop handling;
//! - [`callback`]: `-c` output into the running command's sink;
//! - [`front_end`]: the events when gdb (through the proxy) runs the guest.
//!
//! The dcmds are in `cmds/bp.rs`, `cmds/events.rs`, `cmds/cont.rs` and `cmds/step.rs`.

pub mod callback;
pub mod event;
pub mod front_end;
pub mod run;
pub mod stop;
pub mod table;

#[cfg(test)]
mod tests;

pub use event::{Event, EventKind, EventOptions, TaskFilter, WatchMode};
pub use table::{EventTable, Resume, StepKind};
