//! One gdb connection, from attach to detach.

use super::conn::GdbConn;
use super::event_loop::EventLoop;
use super::target::{Fault, ProxyTarget, PACKET_SIZE};
use super::threads::ThreadTable;
use super::{ProxyBackend, ProxyOptions};
use crate::error::BridgeError;
use gdbstub::stub::{DisconnectReason, GdbStub};
use std::net::{SocketAddr, TcpStream};

/// How many gdbstub sessions one connection may go through (each after a packet gdbstub
/// could not handle) before the proxy gives up on that gdb.
const MAX_RESTARTS: u32 = 10_000;

/// How a gdb session ended.
#[derive(Debug)]
enum End {
    Detached,
    Killed,
    /// gdb closed the connection, or the proxy is stopping.
    Closed(String),
    /// The target is gone.
    Lost,
}

/// Serves the gdb on `stream` until it goes. `Err` only when the target is gone.
pub(crate) fn run(
    stream: TcpStream,
    peer: SocketAddr,
    backend: &mut dyn ProxyBackend,
    threads: &mut ThreadTable,
    opts: &ProxyOptions,
) -> Result<(), BridgeError> {
    tracing::info!("gdb connected from {peer}");
    let conn = match GdbConn::new(stream, PACKET_SIZE, opts.stop.clone()) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("gdb connection from {peer} failed: {e}");
            return Ok(());
        }
    };
    let layout = backend.target().register_layout().clone();
    let description = super::description::load(backend.target(), &layout);
    let mut target = ProxyTarget::new(backend, threads, conn.clone(), description);
    if let Err(e) = target.attach() {
        conn.shutdown();
        if e.is_fatal() {
            return Err(e);
        }
        tracing::warn!("could not stop the target for gdb from {peer}: {e}");
        return Ok(());
    }
    let end = drive(&conn, &mut target);
    match &end {
        End::Detached => tracing::info!("gdb from {peer} detached; the VM runs on"),
        End::Killed => tracing::warn!(
            "gdb from {peer} asked to kill the target: not forwarded (it would terminate \
             QEMU); detached gdb instead, the VM runs on"
        ),
        End::Closed(why) => tracing::info!("gdb from {peer} went away ({why}); the VM runs on"),
        End::Lost => tracing::error!("the target is gone: ended the session of gdb from {peer}"),
    }
    target.finish();
    conn.shutdown();
    match target.take_lost() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Runs gdbstub sessions on `conn` until gdb detaches or goes, starting a new one (with the
/// negotiated state replayed) after a packet gdbstub could not handle.
fn drive<'a>(conn: &GdbConn, target: &mut ProxyTarget<'a>) -> End {
    for _ in 0..MAX_RESTARTS {
        let stub = match GdbStub::builder(conn.clone())
            .packet_buffer_size(PACKET_SIZE)
            .build()
        {
            Ok(s) => s,
            Err(e) => return End::Closed(format!("cannot start gdbstub: {e:?}")),
        };
        let err = match stub.run_blocking::<EventLoop<'a>>(target) {
            Ok(DisconnectReason::Disconnect) => return End::Detached,
            Ok(DisconnectReason::Kill) => {
                conn.answer_kill();
                return End::Killed;
            }
            Ok(DisconnectReason::TargetExited(_) | DisconnectReason::TargetTerminated(_)) => {
                return End::Lost
            }
            Err(e) => e,
        };
        if target.is_lost() {
            return End::Lost;
        }
        if err.is_connection_error() {
            return End::Closed(err.to_string());
        }
        let text = err.to_string();
        let reply: &[u8] = match err.into_target_error() {
            Some(Fault::Lost(_)) => return End::Lost,
            Some(Fault::Refused(msg)) => {
                tracing::warn!("{}", msg.trim_end());
                conn.console(&msg);
                b"E01"
            }
            None => {
                tracing::warn!("bad packet from gdb, answered E22: {text}");
                b"E22"
            }
        };
        // The new gdbstub session starts stopped: so must the target (gdb takes an error
        // reply to a resume as a stop).
        if target.running {
            target.interrupt();
            if target.is_lost() {
                return End::Lost;
            }
        }
        conn.reply_instead(reply);
        conn.start_replay();
    }
    End::Closed(format!("{MAX_RESTARTS} bad packets"))
}
