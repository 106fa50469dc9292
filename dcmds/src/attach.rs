//! Opening a session on a gdbstub: connect, load and check the kernel, as every front end
//! (script mode, the terminal UI, the gdb proxy) does it.

use crate::session::Session;
use qmdb_bridge::blocking::{BlockingTarget, ConnectOptions};
use qmdb_bridge::BridgeError;
use qmdb_kernel::cache::Origin;
use qmdb_linux::load::{load_kernel, LoadError};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// What to attach to.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// `host:port` of the gdbstub.
    pub target: String,
    pub connect: ConnectOptions,
    /// The guest's vmlinuz or vmlinux (`--kernel`).
    pub kernel: Option<PathBuf>,
    /// Where derived kernel data is cached (`None`: no cache).
    pub cache_root: Option<PathBuf>,
    /// Told what a slow step of finding the kernel is doing.
    pub progress: Option<fn(&str)>,
    /// The session's interrupt flag (see [`qmdb_linux::Program::interrupt_flag`]), given before
    /// attaching so that a signal also cuts finding the kernel short.
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// What the dcmds that need no kernel are, for the message when none was found.
pub const WITHOUT_KERNEL: &str = "::regs, ::cpus, ::status, ::monitor, ::vtop, ::dis and \
     memory by address (addr/K, addr,N/X) still work; --kernel FILE gives the rest";

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    // The cause is part of the message (one line), not a `source()` that would repeat it.
    #[error("cannot attach to {target}: {cause}")]
    Connect { target: String, cause: BridgeError },
    #[error("cannot use the kernel {path}: {cause}")]
    Kernel { path: String, cause: Box<LoadError> },
}

/// Connects to the stub (stopping the guest), and with a kernel file checks it against the
/// guest and installs its symbols and types; without one, finds the kernel in guest memory.
/// A kernel not found is no error: the session then says why
/// ([`qmdb_linux::Program::kernel_missing`]). Dropping the session detaches, leaving the VM
/// as it was found.
pub fn attach(opts: &AttachOptions) -> Result<(Session, Option<Origin>), AttachError> {
    let target = BlockingTarget::connect(&opts.target, opts.connect.clone()).map_err(|cause| {
        AttachError::Connect {
            target: opts.target.clone(),
            cause,
        }
    })?;
    let mut session = Session::new(Box::new(target));
    if let Some(flag) = &opts.interrupt {
        session.set_interrupt_flag(Arc::clone(flag));
    }
    session.set_writable(opts.connect.writable);
    let mut origin = None;
    if let Some(path) = &opts.kernel {
        let (k, o) = load_kernel(session.target_mut(), path, opts.cache_root.as_deref()).map_err(
            |cause| AttachError::Kernel {
                path: path.display().to_string(),
                cause: Box::new(cause),
            },
        )?;
        tracing::debug!(release = ?k.release, slide = k.slide, ?o, "kernel attached");
        qmdb_linux::load::install(&mut session, k);
        origin = Some(o);
    } else {
        let mut report = |msg: &str| {
            if let Some(p) = opts.progress {
                p(msg);
            }
        };
        let interrupt = session.interrupt_flag();
        match qmdb_linux::discover::attach(
            session.target_mut(),
            opts.cache_root.as_deref(),
            &mut report,
            &interrupt,
        ) {
            Ok((k, o)) => {
                tracing::debug!(release = ?k.release, slide = k.slide, ?o, "kernel found in guest memory");
                qmdb_linux::load::install(&mut session, k);
                origin = Some(o);
            }
            Err(e) => {
                session.set_kernel_missing(format!("none found in guest memory: {e}"));
            }
        }
    }
    Ok((session, origin))
}
