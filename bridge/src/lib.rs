//! qmdb's bridge to a GDB remote-protocol stub (QEMU's gdbstub).
//!
//! Layers, bottom up:
//! - [`rsp`]: the wire protocol as a sans-IO frame decoder and typed packets;
//! - [`client`]: an async (tokio) client that pipelines requests to the stub;
//! - [`memory`]: the fault-aware chunked reader (kmdb's `kmt_rw()` done right) and the page cache;
//! - [`paging`]: a sans-IO x86_64 page-table walker (and Linux PTI's kernel/user PGD pair);
//! - [`target`]: the synchronous [`Target`] trait the mdb layer is written against, and
//!   [`blocking::BlockingTarget`], its implementation over the live client;
//! - [`proxy`]: the gdb-facing server of `qmdb proxy` (on the `gdbstub` crate), forwarding to
//!   a [`Target`] with kernel tasks as threads.

pub mod addr;
pub mod arch;
pub mod blocking;
pub mod cache;
pub mod client;
pub mod error;
pub mod memory;
/// Page-table walks (x86_64's; see [`arch`]).
pub use arch::x86_64::paging;
pub mod proxy;
pub mod regs;
pub mod rsp;
pub mod stalled_step;
pub mod target;

pub use addr::VirtAddr;
pub use error::{BridgeError, ChunkError};
pub use memory::{read_exact, read_partial, MemoryExt, PartialRead, TargetMemory};
pub use paging::{PageTableRoot, Translation, WalkFault};
pub use target::{BreakKind, RunState, StopReason, Target, TargetStatus, VcpuId, VcpuInfo};
