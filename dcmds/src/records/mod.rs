//! The typed records dcmds return, one file per concept, each with its one text renderer
//! ([`crate::record::Record::render`]); their JSON is serde's.
//!
//! Programs read them through [`crate::Session::call`]: the TUI's panes and the gdb proxy's
//! thread list use these types, not the text or JSON of commands.

pub mod addr;
pub mod containers;
pub mod cpu;
pub mod cpus;
pub mod dis;
pub mod events;
pub mod files;
pub mod formats;
pub mod help;
pub mod hung;
pub mod kmastat;
pub mod modules;
pub mod monitor;
pub mod mounts;
pub mod msgbuf;
pub mod panic;
pub mod pmap;
pub mod printf;
pub mod regs;
pub mod sched;
pub mod stack;
pub mod status;
pub mod symbols;
pub mod task;
pub mod types;
pub mod vtop;
pub mod whatis;

pub use addr::Address;
pub use containers::{ListEntry, PerCpuAddr, XarrayEntry};
pub use cpu::CpuRow;
pub use cpus::{SelectedVcpu, VcpuEntry};
pub use dis::Instruction;
pub use events::{EventInfo, EventOptionsInfo, EventRow, NewEvent, StopPlace, StopReport};
pub use files::OpenFileRow;
pub use formats::{FormattedValue, MemoryLine};
pub use help::{DcmdEntry, DcmdHelp, FormatEntry, WalkerEntry, WalkerHelp};
pub use hung::{ChainStep, HungTask, LockChainRecord, LockWait};
pub use kmastat::{KmastatRow, KmastatTotal};
pub use modules::{ModuleEntry, ModuleInfo};
pub use monitor::MonitorReply;
pub use mounts::MountRow;
pub use msgbuf::LogEntry;
pub use panic::{CpuStop, PanicInfo};
pub use pmap::MapEntry;
pub use printf::PrintfText;
pub use regs::Registers;
pub use sched::{PtreeRow, RunqEntry, RunqTask, RunqueueRecord};
pub use stack::{Frame, FrameHow, StackGroup, TaskStack, VcpuStack};
pub use status::Status;
pub use symbols::SymbolEntry;
pub use task::{TaskDetail, TaskLastRan, TaskRow};
pub use types::{MemberLayout, MemberOffset, PrintedValue, TypeLayout, TypeSize};
pub use vtop::{PageLevel, Translation};
pub use whatis::{MatchKind, Whatis, WhatisMatch};
