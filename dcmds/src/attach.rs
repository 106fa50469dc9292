//! Opening a session on a gdbstub: connect, load and check the kernel, as every front end
//! (script mode, the terminal UI, the gdb proxy) does it.

use crate::kernel::{self, cache::Origin, KernelError};
use crate::session::Session;
use qmdb_bridge::blocking::{BlockingTarget, ConnectOptions};
use qmdb_bridge::BridgeError;
use std::path::PathBuf;

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
}

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    // The cause is part of the message (one line), not a `source()` that would repeat it.
    #[error("cannot attach to {target}: {cause}")]
    Connect { target: String, cause: BridgeError },
    #[error("cannot use the kernel {path}: {cause}")]
    Kernel { path: String, cause: KernelError },
}

/// Connects to the stub (stopping the guest), and with a kernel file checks it against the
/// guest and installs its symbols and types. Dropping the session detaches, leaving the VM
/// as it was found.
pub fn attach(opts: &AttachOptions) -> Result<(Session, Option<Origin>), AttachError> {
    let target = BlockingTarget::connect(&opts.target, opts.connect.clone()).map_err(|cause| {
        AttachError::Connect {
            target: opts.target.clone(),
            cause,
        }
    })?;
    let mut session = Session::new(Box::new(target));
    session.set_writable(opts.connect.writable);
    let mut origin = None;
    if let Some(path) = &opts.kernel {
        let (k, o) = kernel::attach(session.target_mut(), path, opts.cache_root.as_deref())
            .map_err(|cause| AttachError::Kernel {
                path: path.display().to_string(),
                cause,
            })?;
        tracing::debug!(release = ?k.release, slide = k.slide, ?o, "kernel attached");
        session.set_kernel(k);
        origin = Some(o);
    }
    Ok((session, origin))
}
