//! Async client to a gdbstub over TCP.
//!
//! Requests are pipelined: [`Client::request_many`] writes every request in one go and then
//! matches the replies in order, which QEMU guarantees. Acks we owe are sent in the same write
//! as the next request (QEMU does not wait for them), and TCP_NODELAY is set: without it each
//! round trip costs tens of milliseconds of Nagle and delayed-ACK waiting.
//!
//! The connection core lives here; each packet family has its own file: `memory` (virtual,
//! physical and written memory), `registers`, `run` (stop, resume, step), `breakpoints`,
//! `threads`, `xfer` (qXfer objects) and `monitor`.

mod breakpoints;
mod memory;
mod monitor;
mod registers;
mod run;
mod threads;
mod xfer;

use crate::error::{BridgeError, Result};
use crate::rsp::encoding::expand_rle;
use crate::rsp::frame::{encode, Event, FrameDecoder};
use crate::rsp::reply::{classify, Reply};
use crate::rsp::resume::VContSupport;
use crate::rsp::sstep::{self, SstepBits};
use crate::rsp::supported::{parse_features, Features, CLIENT_FEATURES};
use crate::rsp::{memory as mem, stop};
use crate::target::RunState;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How many times a packet is sent again after a `-`, or asked again after a bad checksum.
const MAX_RETRANSMITS: u32 = 3;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How long to wait for any one reply.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
        }
    }
}

/// Traffic counters, for benchmarks and `::status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub packets_sent: u64,
    pub packets_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Writes that carried at least one request: one per round trip when pipelining.
    pub round_trips: u64,
    /// `m` requests sent in physical mode (`Qqemu.PhyMemMode:1`).
    pub phys_reads: u64,
    /// Memory requests that faulted through the selected vCPU's page tables and were served
    /// through the kernel page tables instead (Linux PTI, vCPU in user mode). Counted by
    /// [`crate::blocking::BlockingTarget`]; always 0 from [`Client::stats`].
    pub pti_fallback_reads: u64,
}

/// A connection to a gdbstub.
pub struct Client {
    target: String,
    stream: TcpStream,
    decoder: FrameDecoder,
    events: VecDeque<Event>,
    rbuf: Vec<u8>,
    /// Packets received whose `+` we have not yet sent.
    owed_acks: usize,
    /// Framed packets sent and not yet acked, oldest first, for resending on `-`.
    unacked: VecDeque<Vec<u8>>,
    features: Features,
    opts: ClientOptions,
    stats: ClientStats,
    state: RunState,
    /// We resumed the target: while it runs, requests are refused (see `request_many`).
    resumed: bool,
    /// Set when the stream can no longer be trusted to be in step with our requests.
    broken: Option<String>,
    /// The value of `Qqemu.PhyMemMode` found at connect, if we changed it.
    phymem_restore: Option<bool>,
    /// Whether `qqemu.Supported` lists `PhyMemMode`, once asked.
    phymem_supported: Option<bool>,
    /// Stop replies that arrived unasked while a request was pending.
    unsolicited_stops: u64,
    /// Whether the stub reported stopping the target as we connected.
    stopped_on_attach: bool,
    /// What `vCont?` said, once asked.
    vcont: Option<VContSupport>,
    /// Whether single steps may take interrupts and timers (QEMU's `sstep_flags`).
    step_interrupts: bool,
    /// Whether `step_interrupts` is in effect at the stub (applied before the next step).
    sstep_applied: bool,
    /// What `qqemu.sstepbits` listed, once asked (`Some(None)`: the stub has no such packet).
    sstep_bits: Option<Option<SstepBits>>,
    /// QEMU's `sstep_flags` found before we first changed them, restored on close (they are
    /// global to QEMU's gdbstub and survive reconnects, like `PhyMemMode`).
    sstep_restore: Option<u64>,
}

impl Client {
    /// Connects, negotiates features and learns the stop state.
    pub async fn connect(target: &str, opts: ClientOptions) -> Result<Client> {
        let stream = tokio::time::timeout(opts.timeout, TcpStream::connect(target))
            .await
            .map_err(|_| BridgeError::Timeout {
                what: format!("connect to {target}"),
                after: opts.timeout,
            })?
            .map_err(|source| BridgeError::Transport {
                target: target.to_string(),
                what: "failed",
                source,
            })?;
        stream
            .set_nodelay(true)
            .map_err(|source| BridgeError::Transport {
                target: target.to_string(),
                what: "failed to set TCP_NODELAY",
                source,
            })?;
        let mut c = Client {
            target: target.to_string(),
            stream,
            decoder: FrameDecoder::new(),
            events: VecDeque::new(),
            rbuf: vec![0; 64 * 1024],
            owed_acks: 0,
            unacked: VecDeque::new(),
            features: Features::default(),
            opts,
            stats: ClientStats::default(),
            state: RunState::Running,
            resumed: false,
            broken: None,
            phymem_restore: None,
            phymem_supported: None,
            unsolicited_stops: 0,
            stopped_on_attach: false,
            vcont: None,
            step_interrupts: false,
            sstep_applied: false,
            sstep_bits: None,
            sstep_restore: None,
        };
        // The state is unknown until `?` answers, so it starts as Running: a stop reply that
        // arrives first is QEMU reporting that connecting stopped a running VM.
        let reply = c.request(CLIENT_FEATURES).await?;
        c.stopped_on_attach = c.unsolicited_stops > 0;
        c.features = parse_features(&reply).map_err(BridgeError::from)?;
        let reason = c.query_stop().await?;
        c.state = RunState::Stopped(reason);
        c.ensure_virtual_mode().await?;
        Ok(c)
    }

    /// Whether the VM was running until this client connected: QEMU stops a running VM on
    /// connect and says so at once with a stop reply; an already stopped VM gets none.
    pub fn stopped_on_attach(&self) -> bool {
        self.stopped_on_attach
    }

    /// `host:port` of the stub.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// What the stub advertised in `qSupported`.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The stub's packet size (QEMU 7.2: 4096), or a conservative default if it gave none.
    pub fn packet_size(&self) -> usize {
        self.features.packet_size.unwrap_or(400).max(64)
    }

    /// The largest memory read that fits one reply packet.
    pub fn max_read(&self) -> usize {
        mem::max_read(self.packet_size())
    }

    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    pub fn state(&self) -> &RunState {
        &self.state
    }

    fn check_usable(&self) -> Result<()> {
        match &self.broken {
            Some(why) => Err(BridgeError::Unusable(why.clone())),
            None => Ok(()),
        }
    }

    fn wire_error(&self, what: &'static str, source: std::io::Error) -> BridgeError {
        BridgeError::Transport {
            target: self.target.clone(),
            what,
            source,
        }
    }

    /// Writes the acks we owe, then `packets` (already framed), in one write.
    async fn write_packets(&mut self, packets: Vec<Vec<u8>>) -> Result<()> {
        let mut buf = Vec::with_capacity(packets.iter().map(Vec::len).sum::<usize>() + 1);
        buf.extend(std::iter::repeat_n(
            b'+',
            std::mem::take(&mut self.owed_acks),
        ));
        if !packets.is_empty() {
            self.stats.round_trips += 1;
        }
        for p in packets {
            tracing::trace!(packet = %String::from_utf8_lossy(&p), "->");
            buf.extend_from_slice(&p);
            self.stats.packets_sent += 1;
            self.unacked.push_back(p);
        }
        self.write_raw(&buf).await
    }

    async fn write_raw(&mut self, buf: &[u8]) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.stats.bytes_sent += buf.len() as u64;
        let res = tokio::time::timeout(self.opts.timeout, self.stream.write_all(buf)).await;
        match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.broken = Some("write failed".into());
                Err(self.wire_error("lost while writing", e))
            }
            Err(_) => {
                self.broken = Some("write timed out".into());
                Err(BridgeError::Timeout {
                    what: "write".into(),
                    after: self.opts.timeout,
                })
            }
        }
    }

    /// The next wire event, reading from the socket as needed, until `deadline`.
    async fn next_event(&mut self, deadline: Instant, what: &str) -> Result<Event> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Ok(ev);
            }
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut self.rbuf)).await
            {
                Err(_) => {
                    self.broken = Some(format!("timed out waiting for the reply to {what}"));
                    return Err(BridgeError::Timeout {
                        what: what.to_string(),
                        after: self.opts.timeout,
                    });
                }
                Ok(Err(e)) => {
                    self.broken = Some("read failed".into());
                    return Err(self.wire_error("lost while reading", e));
                }
                Ok(Ok(0)) => {
                    self.broken = Some("closed by the stub".into());
                    return Err(BridgeError::Disconnected);
                }
                Ok(Ok(n)) => n,
            };
            self.stats.bytes_received += n as u64;
            let chunk = self.rbuf.get(..n).unwrap_or_default();
            self.decoder.feed_slice(chunk, &mut self.events);
        }
    }

    /// Receives the next packet body (run-length expanded), handling acks and retransmits.
    ///
    /// `lone` says whether this is the only reply outstanding: only then can a corrupt reply be
    /// asked for again with `-` (QEMU resends its last packet, which is only ours if no other
    /// request is queued behind it).
    ///
    /// While the target runs, a stop reply can arrive ahead of the reply we wait for (a
    /// breakpoint hit). Unless `stop_expected`, such a packet updates the run state and the wait
    /// goes on.
    async fn recv_packet(
        &mut self,
        what: &str,
        lone: bool,
        stop_expected: bool,
        deadline: Instant,
    ) -> Result<Vec<u8>> {
        let mut nacks_sent = 0;
        let mut resends = 0;
        loop {
            match self.next_event(deadline, what).await? {
                Event::Ack => {
                    self.unacked.pop_front();
                }
                Event::Nack => {
                    resends += 1;
                    let Some(p) = self.unacked.front().cloned() else {
                        continue;
                    };
                    if resends > MAX_RETRANSMITS {
                        self.broken = Some("the stub keeps rejecting our packets".into());
                        return Err(BridgeError::Protocol(format!(
                            "the stub rejected {what} {resends} times"
                        )));
                    }
                    self.write_raw(&p).await?;
                }
                Event::Interrupt => {}
                Event::Packet(body) => {
                    self.owed_acks += 1;
                    self.stats.packets_received += 1;
                    tracing::trace!(
                        packet = %String::from_utf8_lossy(body.get(..200).unwrap_or(&body)),
                        len = body.len(),
                        "<-"
                    );
                    let body = expand_rle(&body)
                        .map_err(|e| BridgeError::Protocol(format!("reply to {what}: {e}")))?;
                    if !stop_expected
                        && self.state == RunState::Running
                        && stop::is_stop_reply(&body)
                    {
                        if let Ok(reason) = stop::parse_stop(&body) {
                            tracing::debug!(?reason, "target stopped while a request was pending");
                            self.unsolicited_stops += 1;
                            self.state = RunState::Stopped(reason);
                            continue;
                        }
                    }
                    return Ok(body);
                }
                Event::Oversized => {
                    self.owed_acks += 1;
                    return Err(BridgeError::Protocol(format!(
                        "reply to {what} exceeds {} bytes",
                        crate::rsp::frame::MAX_PACKET
                    )));
                }
                Event::BadChecksum { expected, computed } => {
                    nacks_sent += 1;
                    if !lone || nacks_sent > MAX_RETRANSMITS {
                        self.owed_acks += 1;
                        let found = match expected {
                            Some(e) => format!("checksum {e:02x}"),
                            None => "a checksum that is not two hex digits".to_string(),
                        };
                        return Err(BridgeError::Protocol(format!(
                            "reply to {what} has {found}, computed {computed:02x}"
                        )));
                    }
                    self.write_raw(b"-").await?;
                }
            }
        }
    }

    /// Sends one request and returns its reply body.
    pub async fn request(&mut self, body: &[u8]) -> Result<Vec<u8>> {
        let mut replies = self.request_many(&[body.to_vec()]).await?;
        replies
            .pop()
            .ok_or_else(|| BridgeError::Protocol("no reply".into()))
    }

    /// Sends every request in one write, then returns the replies in order.
    ///
    /// A corrupt reply in a pipeline fails the whole call after every reply has been read, so
    /// the stream stays in step.
    pub async fn request_many(&mut self, bodies: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        // QEMU stops a running VM on the first byte it receives and drops the packet it
        // started: the request would never be answered.
        if self.resumed && self.state == RunState::Running {
            return Err(BridgeError::Running);
        }
        self.exchange(bodies, false).await
    }

    async fn exchange(&mut self, bodies: &[Vec<u8>], stop_expected: bool) -> Result<Vec<Vec<u8>>> {
        self.check_usable()?;
        for b in bodies {
            if matches!(
                b.as_slice(),
                [b'k', ..] | [b'v', b'K', b'i', b'l', b'l', ..]
            ) {
                return Err(BridgeError::Refused(
                    "kill requests would terminate QEMU".into(),
                ));
            }
        }
        let what = bodies.first().map(|b| describe(b)).unwrap_or_default();
        self.write_packets(bodies.iter().map(|b| encode(b)).collect())
            .await?;
        let deadline = Instant::now() + self.opts.timeout;
        let mut replies = Vec::with_capacity(bodies.len());
        let mut first_err = None;
        let lone = bodies.len() == 1;
        for b in bodies {
            match self
                .recv_packet(&describe(b), lone, stop_expected, deadline)
                .await
            {
                Ok(r) => replies.push(r),
                Err(e) if !e.is_fatal() => {
                    first_err.get_or_insert(e);
                    replies.push(Vec::new());
                }
                Err(e) => return Err(e),
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => {
                tracing::trace!(n = bodies.len(), first = %what, "pipelined requests answered");
                Ok(replies)
            }
        }
    }

    /// Ends the session: restores `Qqemu.PhyMemMode` (and QEMU's single-step flags), then detaches with `D` (which resumes the
    /// VM) if `resume`, else just closes the connection (which leaves it stopped).
    pub async fn close(mut self, resume: bool) -> Result<()> {
        if self.broken.is_some() {
            return Ok(());
        }
        if self.resumed && self.state == RunState::Running {
            // A running VM takes any packet as a request to stop. Leaving it running needs
            // nothing but closing the socket; anything else must stop it first.
            if resume && self.phymem_restore.is_none() && self.sstep_restore.is_none() {
                let _ = self.stream.shutdown().await;
                return Ok(());
            }
            self.interrupt().await?;
        }
        if let Some(mode) = self.phymem_restore.take() {
            let body = format!("Qqemu.PhyMemMode:{}", u8::from(mode));
            self.request(body.as_bytes()).await?;
        }
        if let Some(flags) = self.sstep_restore.take() {
            let reply = self.request(&sstep::set_request(flags)).await?;
            if let Err(e) = expect_ok(&reply, "restoring QEMU's single-step flags") {
                tracing::debug!("{e}");
            }
        }
        if resume {
            // With multiprocess negotiated QEMU answers a bare `D` with E22 and stays attached.
            let detach: &[u8] = if self.features.has("multiprocess") {
                b"D;1"
            } else {
                b"D"
            };
            let reply = self.request(detach).await?;
            expect_ok(&reply, "detach")?;
        } else {
            let mut buf = Vec::new();
            buf.extend(std::iter::repeat_n(
                b'+',
                std::mem::take(&mut self.owed_acks),
            ));
            self.write_raw(&buf).await?;
        }
        let _ = self.stream.shutdown().await;
        Ok(())
    }
}

fn expect_ok(reply: &[u8], what: &str) -> Result<()> {
    match classify(reply) {
        Reply::Ok => Ok(()),
        Reply::Error(n) => Err(BridgeError::Remote {
            what: what.to_string(),
            errno: n,
        }),
        Reply::Unsupported => Err(BridgeError::Unsupported(what.to_string())),
        Reply::Data(d) => Err(BridgeError::Protocol(format!(
            "unexpected reply {:?} to {what}",
            String::from_utf8_lossy(d.get(..32).unwrap_or(d))
        ))),
    }
}

/// A short name for a request, for error messages.
fn describe(body: &[u8]) -> String {
    let end = body
        .iter()
        .position(|&c| c == b':' || c == b',')
        .unwrap_or(body.len())
        .min(24);
    String::from_utf8_lossy(body.get(..end).unwrap_or(body)).into_owned()
}
