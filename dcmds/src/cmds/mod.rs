//! Built-in dcmds, one file per concept. Each file defines `pub const` [`crate::DcmdDef`]s
//! that [`crate::registry::DCMDS`] lists.

pub mod bp;
pub mod cont;
pub mod cpuinfo;
pub mod cpus;
pub mod dis;
pub mod events;
pub mod findstack;
pub mod help;
pub mod lsmod;
pub mod monitor;
pub mod msgbuf;
pub mod nm;
pub mod offsetof;
pub mod print;
pub mod ps;
pub mod quit;
pub mod regs;
pub mod sizeof;
pub mod stack;
pub mod stacks;
pub mod status;
pub mod step;
pub mod task;
pub mod vtop;
pub mod walk;
pub mod whatis;
