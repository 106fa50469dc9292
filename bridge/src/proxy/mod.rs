//! `qmdb proxy`'s server: stock gdb connects here instead of QEMU's gdbstub.
//!
//! [`serve`] speaks RSP to gdb through the `gdbstub` crate and forwards to a
//! [`Target`](crate::target::Target) (QEMU), with a [`ProxyBackend`] above it for the kernel's tasks (gdb threads), their saved
//! registers and `monitor` commands (dcmds).
//!
//! # What gdb sees (notes for the README)
//!
//! - **Threads** come from [`ProxyBackend::threads`] after every stop (or QEMU's vCPUs with
//!   [`ThreadsMode::Vcpus`], or when the backend cannot list tasks). A thread keeps its gdb
//!   id for the whole life of the proxy. gdbstub has no `qXfer:threads:read`, so gdb gets no
//!   thread *names*: pid, comm and state are in `qThreadExtraInfo`, which `info threads`
//!   shows in parentheses. The thread on the vCPU that stopped is listed first (gdbstub
//!   answers `?` with the first thread).
//! - **Registers** of a thread on a vCPU are that vCPU's; of any other thread, what the
//!   backend says it saved, the rest reading as 0. Writes (`G`, `P`, `M`, `X`) go to QEMU
//!   only if the target session is writable (`-w`), and only for threads on a vCPU; otherwise
//!   they get an error reply.
//! - **Run control** is QEMU's: a continue resumes every vCPU (a continue naming threads,
//!   scheduler locking, resumes them all too); a step steps the vCPU of the thread alone,
//!   the others staying stopped. Stepping a thread that is not on a vCPU is refused: gdb
//!   gets a console line saying why and an `E01` stop reply ("Remote failure reply").
//!   Breakpoints and watchpoints go to QEMU (`Z0`..`Z4`; QEMU writes nothing to guest
//!   memory, so no `-w` is needed); those a gdb leaves planted are removed when it goes.
//!   A stop is reported against the thread now on the stopping vCPU, with QEMU's signal
//!   (`swbreak`/`hwbreak`/`watch` when it is one of ours).
//! - **Symbols** (`qOffsets`): the proxy tells gdb where the kernel image lies
//!   ([`ProxyBackend::image_placement`]): `TextSeg=` the runtime address of the image's
//!   first loadable segment, so that gdb moves every section of a vmlinux loaded with `file`
//!   *before* `target remote` by the KASLR slide, as `add-symbol-file vmlinux -o SLIDE`
//!   would (`Text=;Data=;Bss=` would move only those three sections: gdb cannot map them
//!   onto a vmlinux's four segments, and `.rodata` or `.init.text` would stay behind).
//!   The per-CPU section moves too, though KASLR leaves it at 0: `add-symbol-file vmlinux
//!   -o SLIDE -s .data..percpu 0` places it right. No answer (as from QEMU) with
//!   [`ThreadsMode::Vcpus`] or without a kernel.
//! - **`monitor LINE`** runs [`ProxyBackend::monitor`], each output line going to gdb as
//!   console output at once.
//! - **`k`/`vKill`** are never forwarded (QEMU would exit): the proxy answers as if done,
//!   detaches gdb, removes its breakpoints, lets the VM run and logs it.
//! - **Detach** (`D`, or gdb closing the socket) removes gdb's breakpoints and lets the VM
//!   run, as QEMU does on `D`; the proxy then waits for the next gdb, which stops the VM
//!   again as it connects. Between gdbs the VM runs (if it ran when qmdb attached).
//! - **One gdb at a time**: another connection gets, after its first packet (or 2 s), the
//!   reply `E.qmdb proxy: another gdb is already connected ...` and is closed; gdb prints
//!   "Remote failure reply: E.qmdb proxy: ..." and "Remote connection closed".
//! - **QEMU going away**: while the VM runs, gdb gets a console line and an `X09` stop
//!   ("Program terminated with signal SIGKILL"); while it is stopped, the request that found
//!   out gets an error reply and the connection is closed after it ("Remote connection
//!   closed"). [`serve`] then returns [`ProxyError::TargetLost`].
//! - **Malformed input**: a bad checksum gets `-` (gdb resends), gdb's `-` gets our last
//!   packet again, a packet larger than the advertised `PacketSize` gets `E22`, unknown
//!   packets the empty reply. A packet gdbstub cannot parse would end its session: the proxy
//!   answers `E22` and starts a new gdbstub session on the same connection, replaying the
//!   `qSupported` and `Hg`/`Hc` gdb sent, so gdb notices nothing else.

pub mod backend;
mod conn;
mod description;
mod event_loop;
mod gate;
mod monitor;
mod regs;
mod run;
mod server;
mod session;
mod target;
mod threads;

use crate::error::BridgeError;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use backend::{
    BackendError, ImagePlacement, ProxyBackend, ProxyThread, SavedRegisters, ThreadKey,
};
pub use gate::warn_if_exposed;
pub use server::serve;

/// Which threads gdb sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ThreadsMode {
    /// What [`ProxyBackend::threads`] lists (kernel tasks).
    #[default]
    Tasks,
    /// QEMU's vCPUs, as gdb sees them attached to QEMU directly (`--threads=vcpus`).
    Vcpus,
}

/// How [`serve`] runs. Writes need the target session to be writable (`-w`).
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// Which threads gdb sees.
    pub threads: ThreadsMode,
    /// When set (by a signal handler, say), [`serve`] ends within a fraction of a second,
    /// ending a gdb session as a detach would.
    pub stop: Option<Arc<AtomicBool>>,
}

/// The name `qmdb proxy` uses for [`ProxyOptions`].
pub type ServeOptions = ProxyOptions;

/// Why [`serve`] ended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The listening socket failed.
    #[error("listening for gdb: {0}")]
    Listen(std::io::Error),
    /// The connection to the target (QEMU) is gone.
    #[error("lost the target: {0}")]
    TargetLost(BridgeError),
}
