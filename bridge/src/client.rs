//! Async client to a gdbstub over TCP.
//!
//! Requests are pipelined: [`Client::request_many`] writes every request in one go and then
//! matches the replies in order, which QEMU guarantees. Acks we owe are sent in the same write
//! as the next request (QEMU does not wait for them), and TCP_NODELAY is set: without it each
//! round trip costs tens of milliseconds of Nagle and delayed-ACK waiting.

use crate::error::{BridgeError, ChunkError, Result};
use crate::regs::{RegLayout, RegValues};
use crate::rsp::encoding::{expand_rle, from_hex, from_hex_maybe};
use crate::rsp::frame::{encode, Event, FrameDecoder};
use crate::rsp::reply::{classify, Reply};
use crate::rsp::resume::{self, VContSupport};
use crate::rsp::sstep::{self, SstepBits};
use crate::rsp::supported::{parse_features, Features, CLIENT_FEATURES};
use crate::rsp::threads::{parse_thread_list, ThreadListPage};
use crate::rsp::{breakpoints, memory, monitor, registers, stop, threads, xfer};
use crate::target::{BreakKind, RunState, StopReason, VcpuId};
use crate::VirtAddr;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How many times a packet is sent again after a `-`, or asked again after a bad checksum.
const MAX_RETRANSMITS: u32 = 3;

/// The largest object (`target.xml` and its includes) read over qXfer.
const MAX_XFER_OBJECT: usize = 1 << 20;

/// The most thread-list pages (`qsThreadInfo`) read before giving up.
const MAX_THREAD_PAGES: usize = 4096;

/// The most console (`O`) packets accepted for one monitor command.
const MAX_CONSOLE_PACKETS: usize = 100_000;

/// How many physical reads share one `Qqemu.PhyMemMode:1` ... `:0` bracket (one write).
const PHYS_BATCH: usize = 64;

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
        c.features = parse_features(&reply).map_err(BridgeError::Protocol)?;
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
        memory::max_read(self.packet_size())
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
                        packet = %String::from_utf8_lossy(&body[..body.len().min(200)]),
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

    /// `?`: why the target is stopped.
    async fn query_stop(&mut self) -> Result<StopReason> {
        let reply = self
            .exchange(&[b"?".to_vec()], true)
            .await?
            .pop()
            .unwrap_or_default();
        stop::parse_stop(&reply).map_err(BridgeError::Protocol)
    }

    /// QEMU's `Qqemu.PhyMemMode` is global and survives reconnects: if a previous session left
    /// it on, virtual reads would silently be physical. Turn it off and restore it at the end.
    async fn ensure_virtual_mode(&mut self) -> Result<()> {
        let reply = self.request(b"qqemu.PhyMemMode").await?;
        if reply == b"1" {
            let r = self.request(b"Qqemu.PhyMemMode:0").await?;
            if classify(&r) == Reply::Ok {
                self.phymem_restore = Some(true);
            }
        }
        Ok(())
    }

    /// Reads each `(addr, len)` with one all-or-nothing `m` request, pipelined.
    pub async fn read_memory(
        &mut self,
        reqs: &[(VirtAddr, usize)],
    ) -> Result<Vec<std::result::Result<Vec<u8>, ChunkError>>> {
        let bodies: Vec<Vec<u8>> = reqs
            .iter()
            .map(|&(a, n)| memory::read_request(a, n))
            .collect();
        let replies = self.request_many(&bodies).await?;
        reqs.iter()
            .zip(replies)
            .map(|(&(addr, len), r)| read_reply(&r, len, &addr.to_string()))
            .collect()
    }

    /// Whether the stub can read guest-physical memory: `qqemu.Supported` lists `PhyMemMode`
    /// (QEMU does since 5.0). Asked once per connection.
    pub async fn supports_phys_mem(&mut self) -> Result<bool> {
        if let Some(s) = self.phymem_supported {
            return Ok(s);
        }
        let reply = self.request(b"qqemu.Supported").await?;
        let s = match classify(&reply) {
            Reply::Data(d) => d.split(|&b| b == b';').any(|f| f == b"PhyMemMode"),
            _ => false,
        };
        tracing::debug!(supported = s, "physical memory mode");
        self.phymem_supported = Some(s);
        Ok(s)
    }

    /// Reads each `(physical addr, len)` with one all-or-nothing `m` request in QEMU's
    /// physical mode, pipelined.
    ///
    /// Each batch is one write: `Qqemu.PhyMemMode:1`, the reads, `Qqemu.PhyMemMode:0`. The stub
    /// handles packets in order, so the mode is switched back even if a read fails, and even
    /// if this client stops reading replies (the stub has the whole batch). If a reply cannot
    /// be trusted, `Qqemu.PhyMemMode:0` is sent again on its own; if the stub cannot be
    /// switched back, the connection is marked unusable rather than letting later virtual reads
    /// silently read physical memory. (If the connection dies, the next one switches the mode
    /// off at connect.) Never sent to a stub without `PhyMemMode`: that is
    /// [`BridgeError::Unsupported`].
    pub async fn read_physical(
        &mut self,
        reqs: &[(u64, usize)],
    ) -> Result<Vec<std::result::Result<Vec<u8>, ChunkError>>> {
        if !self.supports_phys_mem().await? {
            return Err(BridgeError::Unsupported(
                "physical memory reads (Qqemu.PhyMemMode)".into(),
            ));
        }
        let mut out = Vec::with_capacity(reqs.len());
        for batch in reqs.chunks(PHYS_BATCH) {
            out.extend(self.read_physical_batch(batch).await?);
        }
        Ok(out)
    }

    async fn read_physical_batch(
        &mut self,
        reqs: &[(u64, usize)],
    ) -> Result<Vec<std::result::Result<Vec<u8>, ChunkError>>> {
        let mut bodies = Vec::with_capacity(reqs.len() + 2);
        bodies.push(b"Qqemu.PhyMemMode:1".to_vec());
        bodies.extend(
            reqs.iter()
                .map(|&(a, n)| memory::read_request(VirtAddr(a), n)),
        );
        bodies.push(b"Qqemu.PhyMemMode:0".to_vec());
        self.stats.phys_reads += reqs.len() as u64;
        let replies = match self.request_many(&bodies).await {
            Ok(r) => r,
            Err(e) => {
                if !e.is_fatal() {
                    // Every reply was read, but we cannot tell whether `:0` was accepted.
                    self.force_virtual_mode().await?;
                }
                return Err(e);
            }
        };
        let on = replies.first().map(|r| classify(r));
        let off = replies.last().map(|r| classify(r));
        if off != Some(Reply::Ok) {
            self.force_virtual_mode().await?;
        }
        if on != Some(Reply::Ok) || replies.len() != reqs.len() + 2 {
            // The reads, if any were answered, were virtual: discard them.
            return Err(BridgeError::Protocol(format!(
                "the stub did not switch to physical memory mode (reply {:?})",
                replies
                    .first()
                    .map(|r| String::from_utf8_lossy(r).into_owned())
                    .unwrap_or_default()
            )));
        }
        reqs.iter()
            .zip(replies.iter().skip(1))
            .map(|(&(addr, len), r)| read_reply(r, len, &format!("physical {addr:#x}")))
            .collect()
    }

    /// Sends `Qqemu.PhyMemMode:0` alone; if the stub does not accept it, no request on this
    /// connection can be trusted to be virtual any more, so the connection becomes unusable.
    async fn force_virtual_mode(&mut self) -> Result<()> {
        match self.request(b"Qqemu.PhyMemMode:0").await {
            Ok(r) if classify(&r) == Reply::Ok => Ok(()),
            Err(e) if e.is_fatal() => Err(e),
            other => {
                let why = "the stub could not be switched back from physical memory mode";
                tracing::warn!(reply = ?other.as_ref().map(|r| String::from_utf8_lossy(r).into_owned()), "{why}");
                self.broken = Some(why.into());
                Err(BridgeError::Unusable(why.into()))
            }
        }
    }

    /// Every vCPU thread, from `qfThreadInfo`/`qsThreadInfo`.
    pub async fn threads(&mut self) -> Result<Vec<VcpuId>> {
        let mut ids = Vec::new();
        let mut req: &[u8] = b"qfThreadInfo";
        for _ in 0..MAX_THREAD_PAGES {
            let reply = self.request(req).await?;
            if classify(&reply) == Reply::Unsupported {
                return Ok(if ids.is_empty() {
                    vec![VcpuId { pid: 1, tid: 1 }]
                } else {
                    ids
                });
            }
            match parse_thread_list(&reply).map_err(BridgeError::Protocol)? {
                ThreadListPage::More(page) => ids.extend(page),
                ThreadListPage::End => return Ok(ids),
            }
            req = b"qsThreadInfo";
        }
        Err(BridgeError::Protocol(format!(
            "thread list did not end after {MAX_THREAD_PAGES} pages"
        )))
    }

    /// `qThreadExtraInfo` for each id, pipelined; empty strings where the stub has none.
    pub async fn thread_extra_info(&mut self, ids: &[VcpuId]) -> Result<Vec<String>> {
        let bodies: Vec<Vec<u8>> = ids
            .iter()
            .map(|&id| threads::extra_info_request(id))
            .collect();
        let replies = self.request_many(&bodies).await?;
        Ok(replies
            .iter()
            .map(|r| match classify(r) {
                Reply::Data(d) => from_hex(d)
                    .map(|t| String::from_utf8_lossy(&t).trim_end().to_string())
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .collect())
    }

    /// `Hg`: selects the vCPU for registers and memory translation.
    pub async fn select_thread(&mut self, id: VcpuId) -> Result<()> {
        let reply = self.request(&threads::select_request(id)).await?;
        expect_ok(&reply, &format!("selecting vCPU {id}"))
    }

    /// Reads a whole qXfer object (for example `features`, `target.xml`).
    pub async fn xfer_read(&mut self, object: &str, annex: &str) -> Result<Vec<u8>> {
        let page = self.packet_size().saturating_sub(8).max(16);
        let mut data = Vec::new();
        loop {
            let reply = self
                .request(&xfer::read_request(object, annex, data.len(), page))
                .await?;
            match classify(&reply) {
                Reply::Error(n) => {
                    return Err(BridgeError::Remote {
                        what: format!("reading {object} {annex}"),
                        errno: n,
                    })
                }
                Reply::Unsupported => {
                    return Err(BridgeError::Unsupported(format!("qXfer:{object}:read")))
                }
                _ => {}
            }
            let p = xfer::parse_page(&reply)
                .map_err(|e| BridgeError::Protocol(format!("{annex}: {e}")))?;
            let progressed = !p.data.is_empty();
            data.extend_from_slice(&p.data);
            if data.len() > MAX_XFER_OBJECT {
                return Err(BridgeError::Protocol(format!(
                    "{annex} is larger than {MAX_XFER_OBJECT} bytes"
                )));
            }
            if p.last {
                return Ok(data);
            }
            if !progressed {
                return Err(BridgeError::Protocol(format!(
                    "{annex}: empty non-final qXfer page at offset {}",
                    data.len()
                )));
            }
        }
    }

    /// Reads the selected vCPU's registers: `g`, then `p` for those the `g` reply left out.
    pub async fn read_registers(&mut self, layout: &RegLayout) -> Result<RegValues> {
        let reply = self.request(b"g").await?;
        if let Reply::Error(n) = classify(&reply) {
            return Err(BridgeError::Remote {
                what: "reading registers".into(),
                errno: n,
            });
        }
        let mut values = RegValues::default();
        let mut off = 0usize;
        let mut rest = Vec::new();
        for desc in &layout.regs {
            let hex_len = (desc.bits as usize).div_ceil(8) * 2;
            match reply.get(off..off + hex_len) {
                Some(h) => {
                    if let Ok(Some(bytes)) = from_hex_maybe(h) {
                        values.values.push((desc.clone(), bytes));
                    }
                    off += hex_len;
                }
                None => {
                    off = reply.len();
                    rest.push(desc.clone());
                }
            }
        }
        if !rest.is_empty() {
            let bodies: Vec<Vec<u8>> = rest
                .iter()
                .map(|d| format!("p{:x}", d.regnum).into_bytes())
                .collect();
            let replies = self.request_many(&bodies).await?;
            for (desc, r) in rest.into_iter().zip(replies) {
                if let Reply::Data(d) = classify(&r) {
                    if let Ok(Some(bytes)) = from_hex_maybe(d) {
                        values.values.push((desc, bytes));
                    }
                }
            }
            values.values.sort_by_key(|(d, _)| d.regnum);
        }
        Ok(values)
    }

    /// Runs `cmd` in the stub's monitor and returns its console output.
    pub async fn monitor(&mut self, cmd: &str) -> Result<String> {
        self.check_usable()?;
        self.write_packets(vec![encode(&monitor::request(cmd))])
            .await?;
        let deadline = Instant::now() + self.opts.timeout;
        let mut text = Vec::new();
        for _ in 0..MAX_CONSOLE_PACKETS {
            let body = self.recv_packet("qRcmd", true, false, deadline).await?;
            if let Some(out) = monitor::console_output(&body) {
                text.extend_from_slice(&out);
                continue;
            }
            return match classify(&body) {
                Reply::Ok => Ok(String::from_utf8_lossy(&text).into_owned()),
                Reply::Unsupported => Err(BridgeError::Unsupported("monitor commands".into())),
                Reply::Error(n) => Err(BridgeError::Remote {
                    what: format!("monitor command {cmd:?}"),
                    errno: n,
                }),
                // Some stubs answer with the hex text directly instead of `O` packets.
                Reply::Data(d) => Ok(from_hex(d)
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_else(|_| String::from_utf8_lossy(d).into_owned())),
            };
        }
        Err(BridgeError::Protocol(format!(
            "monitor command {cmd:?} produced more than {MAX_CONSOLE_PACKETS} packets"
        )))
    }

    /// Stops a running target (`\x03`) and waits for the stop reply. A stopped target is left
    /// alone: QEMU does not answer `\x03` when already stopped.
    pub async fn interrupt(&mut self) -> Result<StopReason> {
        self.check_usable()?;
        if let RunState::Stopped(r) = &self.state {
            return Ok(r.clone());
        }
        let mut buf = Vec::new();
        buf.extend(std::iter::repeat_n(
            b'+',
            std::mem::take(&mut self.owed_acks),
        ));
        buf.push(0x03);
        self.write_raw(&buf).await?;
        self.wait_for_stop(Instant::now() + self.opts.timeout)
            .await?
            .ok_or_else(|| BridgeError::Timeout {
                what: "interrupt".into(),
                after: self.opts.timeout,
            })
    }

    /// Lets the target run (`c`); returns at once.
    pub async fn resume(&mut self) -> Result<()> {
        self.check_usable()?;
        if self.state == RunState::Running {
            return Ok(());
        }
        self.write_packets(vec![encode(resume::CONTINUE)]).await?;
        self.state = RunState::Running;
        self.resumed = true;
        Ok(())
    }

    /// Whether single steps may let interrupts and timers in (`allow`), or step with QEMU's
    /// `NOIRQ|NOTIMER` (the default, so that a step lands on the next instruction rather than
    /// in an interrupt handler). Nothing is sent now: the flags are set before the next step.
    pub fn set_step_interrupts(&mut self, allow: bool) {
        if allow != self.step_interrupts {
            self.step_interrupts = allow;
            self.sstep_applied = false;
        }
    }

    /// Makes the stub's single-step flags what [`Client::set_step_interrupts`] asked for:
    /// `qqemu.sstepbits` (once), `qqemu.sstep`, and `Qqemu.sstep=` if they differ. A stub
    /// without these packets needs nothing.
    async fn apply_step_flags(&mut self) -> Result<()> {
        if self.sstep_applied {
            return Ok(());
        }
        let bits = match self.sstep_bits {
            Some(b) => b,
            None => {
                let reply = self.request(sstep::BITS_QUERY).await?;
                let b = sstep::parse_bits(&reply).map_err(BridgeError::Protocol)?;
                tracing::debug!(?b, "single-step flags the stub offers");
                self.sstep_bits = Some(b);
                b
            }
        };
        let Some(bits) = bits else {
            self.sstep_applied = true;
            return Ok(());
        };
        let reply = self.request(sstep::QUERY).await?;
        let current = sstep::parse_flags(&reply).map_err(BridgeError::Protocol)?;
        let wanted = bits.wanted(self.step_interrupts);
        // Bits the stub did not list (none in QEMU) are kept as found.
        let wanted = current.map_or(wanted, |c| (c & !bits.all()) | wanted);
        if current != Some(wanted) {
            let reply = self.request(&sstep::set_request(wanted)).await?;
            expect_ok(
                &reply,
                &format!("setting QEMU's single-step flags to {wanted:#x} (Qqemu.sstep)"),
            )?;
            if self.sstep_restore.is_none() {
                self.sstep_restore = current;
            }
        }
        tracing::debug!(
            current = ?current,
            wanted = format_args!("{wanted:#x}"),
            interrupts = self.step_interrupts,
            "single-step flags"
        );
        self.sstep_applied = true;
        Ok(())
    }

    /// Single-steps `id` alone (`vCont;s:<id>`, or `Hc<id>` then `s` if the stub has no
    /// `vCont` step); returns at once: [`Client::wait_for_stop`] gives the stop. QEMU resumes
    /// only the vCPUs a `vCont` names, so the others stay stopped.
    pub async fn step(&mut self, id: VcpuId) -> Result<()> {
        self.check_usable()?;
        if self.state == RunState::Running {
            return Err(BridgeError::Running);
        }
        self.apply_step_flags().await?;
        let vcont = match self.vcont {
            Some(v) => v,
            None => {
                let v = resume::parse_vcont_query(&self.request(resume::VCONT_QUERY).await?);
                tracing::debug!(?v, "vCont support");
                self.vcont = Some(v);
                v
            }
        };
        let step = if vcont.step {
            resume::vcont_step_request(id)
        } else {
            let reply = self.request(&resume::select_step_request(id)).await?;
            expect_ok(&reply, &format!("selecting vCPU {id} to step"))?;
            resume::STEP.to_vec()
        };
        self.write_packets(vec![encode(&step)]).await?;
        self.state = RunState::Running;
        self.resumed = true;
        Ok(())
    }

    /// Plants a breakpoint or watchpoint (`Z`).
    pub async fn insert_breakpoint(
        &mut self,
        kind: BreakKind,
        addr: VirtAddr,
        len: u64,
    ) -> Result<()> {
        let reply = self
            .request(&breakpoints::insert_request(kind, addr, len))
            .await?;
        expect_ok(&reply, &format!("planting a {kind} at {addr}"))
    }

    /// Removes a breakpoint or watchpoint (`z`), given as it was planted.
    pub async fn remove_breakpoint(
        &mut self,
        kind: BreakKind,
        addr: VirtAddr,
        len: u64,
    ) -> Result<()> {
        let reply = self
            .request(&breakpoints::remove_request(kind, addr, len))
            .await?;
        expect_ok(&reply, &format!("removing the {kind} at {addr}"))
    }

    /// Writes `data` at `addr` with `M` requests (each within the packet size, pipelined).
    /// The first failure is returned, naming its address; pieces before it were written.
    pub async fn write_memory(&mut self, addr: VirtAddr, data: &[u8]) -> Result<()> {
        let max = memory::max_write(self.packet_size());
        let mut pieces = Vec::with_capacity(data.len() / max + 1);
        for (i, chunk) in data.chunks(max).enumerate() {
            let a = addr.0.checked_add((i * max) as u64).ok_or_else(|| {
                BridgeError::Invalid(format!(
                    "{} bytes at {addr} run past the end of the address space",
                    data.len()
                ))
            })?;
            pieces.push((VirtAddr(a), chunk));
        }
        let bodies: Vec<Vec<u8>> = pieces
            .iter()
            .map(|&(a, chunk)| memory::write_request(a, chunk))
            .collect();
        let replies = self.request_many(&bodies).await?;
        for ((a, chunk), r) in pieces.iter().zip(&replies) {
            expect_ok(r, &format!("writing {} bytes at {a}", chunk.len()))?;
        }
        Ok(())
    }

    /// Sets register `regnum` of the selected vCPU (`P`).
    pub async fn write_register(&mut self, regnum: u32, value: &[u8]) -> Result<()> {
        let reply = self
            .request(&registers::write_request(regnum, value))
            .await?;
        expect_ok(&reply, &format!("writing register {regnum:#x}"))
    }

    /// Waits until `deadline` for a running target to report a stop; `None` if it did not.
    pub async fn wait_for_stop(&mut self, deadline: Instant) -> Result<Option<StopReason>> {
        if let RunState::Stopped(r) = &self.state {
            return Ok(Some(r.clone()));
        }
        self.check_usable()?;
        loop {
            let body = match self.recv_packet("stop reply", true, true, deadline).await {
                Ok(b) => b,
                Err(BridgeError::Timeout { .. }) => {
                    // Nothing arrived: the stream is still in step.
                    self.broken = None;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            if monitor::console_output(&body).is_some() {
                continue;
            }
            let reason = stop::parse_stop(&body).map_err(BridgeError::Protocol)?;
            self.state = RunState::Stopped(reason.clone());
            return Ok(Some(reason));
        }
    }

    /// Removes each `(kind, addr, len)` (`z`), pipelined; one result per point. Fails as a
    /// whole only if the connection does (or the target runs).
    pub async fn remove_breakpoints(
        &mut self,
        points: &[(BreakKind, VirtAddr, u64)],
    ) -> Result<Vec<Result<()>>> {
        if points.is_empty() {
            return Ok(Vec::new());
        }
        let bodies: Vec<Vec<u8>> = points
            .iter()
            .map(|&(k, a, n)| breakpoints::remove_request(k, a, n))
            .collect();
        let replies = match self.request_many(&bodies).await {
            Ok(r) => r,
            Err(e) if e.is_fatal() || matches!(e, BridgeError::Running) => return Err(e),
            // A corrupt reply somewhere: every reply was read; ask again one by one.
            Err(_) => {
                let mut out = Vec::with_capacity(points.len());
                for &(k, a, n) in points {
                    out.push(match self.remove_breakpoint(k, a, n).await {
                        Err(e) if e.is_fatal() => return Err(e),
                        r => r,
                    });
                }
                return Ok(out);
            }
        };
        Ok(points
            .iter()
            .zip(replies)
            .map(|(&(k, a, _), r)| expect_ok(&r, &format!("removing the {k} at {a}")))
            .collect())
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

/// One `m` reply: data, or the chunk error the stub gave; `what` names the address.
fn read_reply(
    r: &[u8],
    len: usize,
    what: &str,
) -> Result<std::result::Result<Vec<u8>, ChunkError>> {
    match classify(r) {
        Reply::Error(0x14) => Ok(Err(ChunkError::NoMapping)),
        Reply::Error(0x22) => Ok(Err(ChunkError::TooLarge)),
        Reply::Error(n) => Ok(Err(ChunkError::Errno(n))),
        Reply::Unsupported => Err(BridgeError::Unsupported("memory reads".into())),
        Reply::Ok => Err(BridgeError::Protocol(format!(
            "OK in reply to a read of {len} bytes at {what}"
        ))),
        Reply::Data(d) => memory::parse_data(d)
            .map(Ok)
            .map_err(|e| BridgeError::Protocol(format!("reply to a read at {what}: {e}"))),
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
            String::from_utf8_lossy(&d[..d.len().min(32)])
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
    String::from_utf8_lossy(&body[..end]).into_owned()
}
