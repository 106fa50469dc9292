//! End-to-end: mdb's habits and the ways in besides the terminal (`qmdb mcp`, `~/.qmdbrc`)
//! on the real guests. One test binary, so each kernel's guest is booted once and shared by
//! every module here. (The UI's and the line prompt's habits need a terminal: they are in
//! `tests/tui.rs`.)

#[path = "../support/mod.rs"]
mod support;

mod language;
mod mcp;
mod qmdbrc;
