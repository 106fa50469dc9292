//! [`serve`]: gdb after gdb, and the target between them.

use super::gate::Gate;
use super::session;
use super::threads::ThreadTable;
use super::{ProxyBackend, ProxyError, ProxyOptions};
use crate::error::BridgeError;
use crate::target::RunState;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long the server waits for a gdb before looking at the target and the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Serves gdb on `listener`, one gdb at a time, forwarding to `backend`'s target, until
/// [`ProxyOptions::stop`] is set (`Ok`) or the target is lost.
///
/// While no gdb is connected the VM runs, as it does with QEMU's own gdbstub: it is resumed
/// now if it ran when qmdb attached, and after each gdb goes. A gdb connecting stops it.
/// The listener's address is the caller's choice; see [`super::warn_if_exposed`].
pub fn serve(
    listener: TcpListener,
    backend: &mut dyn ProxyBackend,
    opts: ProxyOptions,
) -> Result<(), ProxyError> {
    let addr = listener.local_addr().map_err(ProxyError::Listen)?;
    let gate = Gate::start(listener).map_err(ProxyError::Listen)?;
    tracing::info!("gdb proxy listening on {addr}");
    let mut threads = ThreadTable::new(opts.threads);
    let status = backend.target().status().map_err(ProxyError::TargetLost)?;
    if status.was_running_at_attach && status.state != RunState::Running {
        tracing::debug!("the VM ran when qmdb attached: it runs until a gdb connects");
        keep(backend.target().resume())?;
    }
    loop {
        if opts
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            tracing::info!("gdb proxy stopping");
            return Ok(());
        }
        match gate.next(IDLE_POLL) {
            Some((stream, peer)) => {
                let r = session::run(stream, peer, backend, &mut threads, &opts);
                gate.release();
                r.map_err(ProxyError::TargetLost)?;
            }
            None => watch(backend)?,
        }
    }
}

/// Between gdbs: notices the target going away, or stopping by itself.
fn watch(backend: &mut dyn ProxyBackend) -> Result<(), ProxyError> {
    let target = backend.target();
    let state = target.status().map_err(ProxyError::TargetLost)?.state;
    if state == RunState::Running {
        if let Some(reason) = keep(target.wait_for_stop(Duration::ZERO))?.flatten() {
            tracing::info!(
                ?reason,
                "the VM stopped while no gdb was connected; it stays stopped"
            );
        }
    }
    Ok(())
}

/// A fatal error ends the server; another is logged.
fn keep<T>(r: Result<T, BridgeError>) -> Result<Option<T>, ProxyError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_fatal() => Err(ProxyError::TargetLost(e)),
        Err(e) => {
            tracing::warn!("{e}");
            Ok(None)
        }
    }
}
