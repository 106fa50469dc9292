//! Walkers, one file per concept. Each file defines `pub const` [`crate::WalkerDef`]s that
//! [`crate::registry::WALKERS`] lists.

pub mod collected;
pub mod hlist;
pub mod list;
pub mod maple;
pub mod rbtree;
pub mod task;
pub mod xarray;
