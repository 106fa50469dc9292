//! Walkers, one file per concept. Each file defines `pub const` [`crate::WalkerDef`]s that
//! [`crate::registry::WALKERS`] lists.

pub mod list;
pub mod task;
