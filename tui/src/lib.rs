//! The qmdb terminal UI: one screen with a command line, a scrollable output pane, and
//! threads, stack, registers (with symbols and one dereference), memory (hex and ASCII at an
//! expression), events and disassembly panes, over the same dcmd engine as script mode.
//!
//! - [`protocol`]: requests and events between the UI thread and the session worker;
//! - `worker`: the thread that owns the session and runs dcmds;
//! - `app`: the UI state and how keys and events change it (no drawing);
//! - `ui`: drawing the state with ratatui;
//! - [`clipboard`]: OSC 52, which `y` in the output pane sends.

pub mod app;
pub mod clipboard;
pub mod protocol;
pub mod terminal;
pub mod ui;
pub mod worker;

pub use terminal::{run, TuiOptions};
