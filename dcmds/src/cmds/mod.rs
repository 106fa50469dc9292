//! Built-in dcmds, one file per concept. Each file defines `pub const` [`crate::DcmdDef`]s
//! that [`crate::registry::DCMDS`] lists.

pub mod cpus;
pub mod dis;
pub mod help;
pub mod monitor;
pub mod nm;
pub mod offsetof;
pub mod print;
pub mod quit;
pub mod regs;
pub mod sizeof;
pub mod status;
pub mod walk;
