//! Async client to a gdbstub.
