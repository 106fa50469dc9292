//! The listening socket: one gdb at a time, and a clear refusal for the others.
//!
//! A thread accepts connections. The first one while no gdb is connected goes to the
//! server; any other is answered, after its first packet (or [`REFUSAL_WAIT`]), with
//! `E.<message>` (gdb prints "Remote failure reply: `E.<message>`") and closed.

use crate::rsp::frame::{encode, Event, FrameDecoder};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the accepting thread looks at the socket and the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// How long a refused connection is given to send its first packet.
const REFUSAL_WAIT: Duration = Duration::from_secs(2);

/// What a second gdb is told.
pub(crate) const REFUSAL: &str =
    "qmdb proxy: another gdb is already connected (one at a time); try again once it has detached";

/// Warns (log and stderr) when `addr` is not a loopback address: whoever can reach a gdbstub
/// controls the VM. Returns whether it warned.
pub fn warn_if_exposed(addr: SocketAddr) -> bool {
    if addr.ip().is_loopback() {
        return false;
    }
    let msg = format!(
        "the gdb proxy listens on {addr}, which is not a loopback address: anyone who can \
         reach it gets full control of the VM, without authentication"
    );
    tracing::warn!("{msg}");
    eprintln!("qmdb proxy: WARNING: {msg}");
    true
}

/// The accepting thread and what it hands over.
pub(crate) struct Gate {
    rx: Receiver<(TcpStream, SocketAddr)>,
    busy: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Gate {
    /// Starts accepting on `listener`.
    pub(crate) fn start(listener: TcpListener) -> std::io::Result<Gate> {
        listener.set_nonblocking(true)?;
        let (tx, rx) = mpsc::channel();
        let busy = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (busy.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("qmdb-proxy-accept".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, peer)) => {
                            let free = b
                                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                                .is_ok();
                            if !free {
                                refuse(stream, peer);
                            } else if tx.send((stream, peer)).is_err() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(ACCEPT_POLL)
                        }
                        Err(e) => {
                            tracing::warn!("accepting a gdb connection: {e}");
                            std::thread::sleep(ACCEPT_POLL);
                        }
                    }
                }
            })?;
        Ok(Gate {
            rx,
            busy,
            stop,
            thread: Some(thread),
        })
    }

    /// The next gdb, waiting at most `timeout`. The gate stays closed to others until
    /// [`Gate::release`].
    pub(crate) fn next(&self, timeout: Duration) -> Option<(TcpStream, SocketAddr)> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The gdb is gone: the next one may come.
    pub(crate) fn release(&self) {
        self.busy.store(false, Ordering::Release);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Tells a connection that arrived while a gdb is connected why it is closed.
fn refuse(mut stream: TcpStream, peer: SocketAddr) {
    tracing::warn!("refused a second gdb connection from {peer}: a gdb is already connected");
    let _ = stream.set_nonblocking(false);
    let deadline = Instant::now() + REFUSAL_WAIT;
    let mut decoder = FrameDecoder::new();
    let mut events = Vec::new();
    let mut buf = [0u8; 4096];
    'wait: while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .is_err()
        {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                decoder.feed_slice(buf.get(..n).unwrap_or_default(), &mut events);
                if events
                    .iter()
                    .any(|e| !matches!(e, Event::Ack | Event::Nack))
                {
                    break 'wait;
                }
            }
        }
    }
    let mut reply = b"+".to_vec();
    reply.extend_from_slice(&encode(format!("E.{REFUSAL}").as_bytes()));
    let _ = stream.write_all(&reply);
    let _ = stream.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_beyond_loopback_warn() {
        assert!(!warn_if_exposed("127.0.0.1:2345".parse().unwrap()));
        assert!(!warn_if_exposed("[::1]:2345".parse().unwrap()));
        assert!(warn_if_exposed("0.0.0.0:2345".parse().unwrap()));
        assert!(warn_if_exposed("192.168.1.2:2345".parse().unwrap()));
    }
}
