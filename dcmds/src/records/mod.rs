//! The typed records dcmds return, one file per concept, each with its one text renderer
//! ([`crate::record::Record::render`]); their JSON is serde's.
//!
//! Programs read them through [`crate::Session::call`]: the TUI's panes and the gdb proxy's
//! thread list use these types, not the text or JSON of commands.

pub mod cpu;
pub mod dis;
pub mod regs;
pub mod stack;
pub mod task;
pub mod types;
pub mod whatis;

pub use cpu::CpuRow;
pub use dis::Instruction;
pub use regs::Registers;
pub use stack::{Frame, FrameHow, StackGroup, TaskStack, VcpuStack};
pub use task::{TaskDetail, TaskRow};
pub use types::{MemberLayout, MemberOffset, PrintedValue, TypeLayout, TypeSize};
pub use whatis::{MatchKind, Whatis, WhatisMatch};
