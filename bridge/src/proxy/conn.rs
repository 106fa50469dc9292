//! The connection to gdb, as handed to gdbstub.
//!
//! Incoming bytes go through the shared [`FrameDecoder`] first, so that what gdbstub would
//! treat as the end of the session is answered here instead: a bad checksum gets `-`, gdb's
//! `-` gets our last packet again, an oversized packet gets `E22`. Whole packets are passed
//! on re-framed; the `qSupported` and `Hg`/`Hc` packets are remembered so that a new
//! gdbstub session can be brought to the same state ([`GdbConn::start_replay`]).
//! Replies are written in one write per flush, with TCP_NODELAY.
//!
//! The handle is shared (`Rc`) between gdbstub, the event loop and the session.

use crate::rsp::encoding::to_hex;
use crate::rsp::frame::{encode, Event, FrameDecoder};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a blocking read waits before looking at the stop flags again.
const READ_SLICE: Duration = Duration::from_millis(100);

/// The gdb connection (a cheap handle).
#[derive(Clone)]
pub(crate) struct GdbConn(Rc<RefCell<Inner>>);

struct Inner {
    stream: TcpStream,
    decoder: FrameDecoder,
    events: VecDeque<Event>,
    /// Bytes ready for gdbstub.
    ready: VecDeque<u8>,
    /// Replayed packets for a new gdbstub session; their replies are discarded.
    inject: VecDeque<u8>,
    replaying: bool,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// The last packet we sent, for a `-`.
    last_sent: Option<Vec<u8>>,
    /// The largest packet body gdbstub can take.
    max_body: usize,
    /// The state packets (`qSupported`, `Hg`, `Hc`) gdbstub handled, for a replay.
    state: [Option<Vec<u8>>; 3],
    /// For each packet passed on and not yet started by gdbstub: its state slot, if any.
    queued: VecDeque<Option<(usize, Vec<u8>)>>,
    /// The state packet gdbstub is handling now: kept once it asks for the next packet,
    /// dropped if it ends the session on it.
    current: Option<(usize, Vec<u8>)>,
    /// The last packet was `vKill` (answered `OK` by us, see [`GdbConn::answer_kill`]).
    last_vkill: bool,
    /// Set when the session must end after the current reply (the target is gone).
    closing: Option<String>,
    stop: Option<Arc<AtomicBool>>,
}

impl GdbConn {
    /// Wraps an accepted connection; `packet_size` is what gdbstub advertises.
    pub(crate) fn new(
        stream: TcpStream,
        packet_size: usize,
        stop: Option<Arc<AtomicBool>>,
    ) -> io::Result<GdbConn> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_SLICE))?;
        Ok(GdbConn(Rc::new(RefCell::new(Inner {
            stream,
            decoder: FrameDecoder::new(),
            events: VecDeque::new(),
            ready: VecDeque::new(),
            inject: VecDeque::new(),
            replaying: false,
            rbuf: vec![0; 16 * 1024],
            wbuf: Vec::with_capacity(8 * 1024),
            last_sent: None,
            max_body: packet_size.saturating_sub(4),
            state: [None, None, None],
            queued: VecDeque::new(),
            current: None,
            last_vkill: false,
            closing: None,
            stop,
        }))))
    }

    /// Whether the proxy was asked to stop.
    pub(crate) fn stop_requested(&self) -> bool {
        self.0.borrow().stop_requested()
    }

    /// Ends the session after the reply being written (the target is gone).
    pub(crate) fn close_after_reply(&self, why: &str) {
        self.0.borrow_mut().closing = Some(why.to_string());
    }

    /// Sends `text` to gdb at once as console output (an `O` packet), which gdb prints while
    /// it waits for a stop or a `monitor` reply.
    pub(crate) fn console(&self, text: &str) {
        let packet = encode(format!("O{}", to_hex(text.as_bytes())).as_bytes());
        let mut inner = self.0.borrow_mut();
        if let Err(e) = inner.stream.write_all(&packet) {
            tracing::debug!("console output to gdb failed: {e}");
        }
    }

    /// Replaces whatever gdbstub left unsent with an ack and the reply `body` (after a
    /// gdbstub session ended on a packet it could not handle).
    pub(crate) fn reply_instead(&self, body: &[u8]) {
        let mut inner = self.0.borrow_mut();
        inner.wbuf.clear();
        inner.wbuf.push(b'+');
        inner.wbuf.extend_from_slice(&encode(body));
        if let Err(e) = inner.flush_out() {
            tracing::debug!("reply to gdb failed: {e}");
        }
    }

    /// Makes the next gdbstub session see the `qSupported`, `Hg` and `Hc` gdb sent to the
    /// last one (their replies are dropped), so that it uses the same thread ids and threads.
    pub(crate) fn start_replay(&self) {
        let mut inner = self.0.borrow_mut();
        // The packet the last session ended on is not replayed.
        inner.current = None;
        let packets: Vec<Vec<u8>> = inner.state.iter().flatten().map(|b| encode(b)).collect();
        inner.inject = packets.concat().into();
        inner.replaying = !inner.inject.is_empty();
    }

    /// After gdbstub ended the session on `k`/`vKill`: sends the ack it left unsent, and
    /// `OK` for a `vKill` (gdb waits for one).
    pub(crate) fn answer_kill(&self) {
        let mut inner = self.0.borrow_mut();
        if inner.last_vkill {
            inner.wbuf.extend_from_slice(&encode(b"OK"));
        }
        if let Err(e) = inner.flush_out() {
            tracing::debug!("answering gdb's kill failed: {e}");
        }
    }

    /// Closes the connection.
    pub(crate) fn shutdown(&self) {
        let inner = self.0.borrow();
        let _ = inner.stream.shutdown(Shutdown::Both);
    }
}

impl Inner {
    fn stop_requested(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Reads what the socket has (waiting up to [`READ_SLICE`] if `block`) and turns it into
    /// bytes for gdbstub. `Ok(false)` if nothing came.
    fn fill(&mut self, block: bool) -> io::Result<bool> {
        if !block {
            self.stream.set_nonblocking(true)?;
        }
        let r = self.stream.read(&mut self.rbuf);
        if !block {
            self.stream.set_nonblocking(false)?;
        }
        let n = match r {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(e),
        };
        let chunk = self.rbuf.get(..n).unwrap_or_default().to_vec();
        self.decoder.feed_slice(&chunk, &mut self.events);
        while let Some(ev) = self.events.pop_front() {
            self.on_event(ev)?;
        }
        Ok(true)
    }

    fn on_event(&mut self, ev: Event) -> io::Result<()> {
        match ev {
            // gdbstub needs no acks.
            Event::Ack => {}
            Event::Nack => {
                if let Some(p) = self.last_sent.clone() {
                    tracing::debug!("gdb asked for our last packet again");
                    self.stream.write_all(&p)?;
                }
            }
            Event::Interrupt => {
                tracing::debug!("gdb sent an interrupt (Ctrl-C)");
                self.ready.push_back(0x03)
            }
            Event::BadChecksum { .. } => {
                tracing::debug!("packet from gdb with a bad checksum: asking again");
                self.stream.write_all(b"-")?;
            }
            Event::Oversized => self.refuse_oversized()?,
            Event::Packet(body) if body.len() > self.max_body => self.refuse_oversized()?,
            Event::Packet(body) => {
                tracing::trace!(packet = %String::from_utf8_lossy(body.get(..200).unwrap_or(&body)), "gdb ->");
                let slot = match body.get(..2) {
                    Some(b"qS") if body.starts_with(b"qSupported") => Some(0),
                    Some(b"Hg") => Some(1),
                    Some(b"Hc") => Some(2),
                    _ => None,
                };
                self.queued.push_back(slot.map(|s| (s, body.clone())));
                self.last_vkill = body.starts_with(b"vKill");
                self.ready.extend(encode(&body));
            }
        }
        Ok(())
    }

    fn refuse_oversized(&mut self) -> io::Result<()> {
        tracing::warn!("packet from gdb larger than the advertised PacketSize: answered E22");
        let mut out = b"+".to_vec();
        out.extend_from_slice(&encode(b"E22"));
        self.stream.write_all(&out)
    }

    fn flush_out(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        if let Some(start) = self.wbuf.iter().rposition(|&b| b == b'$') {
            let tail = self.wbuf.get(start..).unwrap_or_default();
            if let Some(hash) = tail.iter().position(|&b| b == b'#') {
                if let Some(frame) = tail.get(..hash + 3) {
                    self.last_sent = Some(frame.to_vec());
                }
            }
        }
        let r = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
        r
    }
}

impl gdbstub::conn::Connection for GdbConn {
    type Error = io::Error;

    fn write(&mut self, byte: u8) -> io::Result<()> {
        let mut inner = self.0.borrow_mut();
        if !inner.replaying {
            inner.wbuf.push(byte);
        }
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut inner = self.0.borrow_mut();
        if !inner.replaying {
            inner.wbuf.extend_from_slice(buf);
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut inner = self.0.borrow_mut();
        if inner.replaying {
            inner.wbuf.clear();
            return Ok(());
        }
        inner.flush_out()
    }

    fn on_session_start(&mut self) -> io::Result<()> {
        self.0.borrow().stream.set_nodelay(true)
    }
}

impl gdbstub::conn::ConnectionExt for GdbConn {
    fn read(&mut self) -> io::Result<u8> {
        let mut inner = self.0.borrow_mut();
        if let Some(b) = inner.inject.pop_front() {
            return Ok(b);
        }
        if inner.replaying {
            // gdbstub handled every replayed packet before asking for more.
            inner.replaying = false;
            inner.wbuf.clear();
        }
        loop {
            if let Some(why) = &inner.closing {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    why.clone(),
                ));
            }
            if inner.stop_requested() {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "the proxy is stopping",
                ));
            }
            if let Some(b) = inner.ready.pop_front() {
                if b == b'$' {
                    // gdbstub starts the next packet: it handled the last one.
                    if let Some((slot, body)) = inner.current.take() {
                        if let Some(s) = inner.state.get_mut(slot) {
                            *s = Some(body);
                        }
                    }
                    inner.current = inner.queued.pop_front().flatten();
                }
                return Ok(b);
            }
            inner.fill(true)?;
        }
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        let mut inner = self.0.borrow_mut();
        if let Some(&b) = inner.inject.front() {
            return Ok(Some(b));
        }
        if inner.ready.is_empty() {
            inner.fill(false)?;
        }
        Ok(inner.ready.front().copied())
    }
}
