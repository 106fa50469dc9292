//! Negative tests: scripted peers that misbehave in the ways a real link or stub can.
//!
//! Each peer is a `std::net::TcpListener` on a thread running a small script over a
//! [`Wire`] (framing done by the bridge's own sans-IO `FrameDecoder`). The peer answers the
//! usual start-up packets like QEMU (see [`standard`]) so that the script only has to say
//! what goes wrong. Every test bounds its time: a misbehaving peer must give one clear error,
//! never a hang or a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use qmdb_bridge::blocking::{BlockingTarget, ConnectOptions};
use qmdb_bridge::client::{Client, ClientOptions};
use qmdb_bridge::rsp::frame::{encode, Event, FrameDecoder};
use qmdb_bridge::{read_exact, read_partial, BridgeError, ChunkError, RunState, StopReason};
use qmdb_bridge::{VcpuId, VirtAddr};
use qmdb_fakestub::pattern_byte;

/// What the peer received, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Ack,
    Nack,
    Interrupt,
    Packet(Vec<u8>),
    Corrupt,
}

/// The peer's end of the connection.
struct Wire {
    s: TcpStream,
    dec: FrameDecoder,
    queue: VecDeque<Event>,
    seen: Vec<Seen>,
}

impl Wire {
    /// The next thing the client sent; `None` when it closed the connection (or after 10 s
    /// of silence, so that a broken test cannot hang the peer thread forever).
    fn event(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                self.seen.push(match &ev {
                    Event::Ack => Seen::Ack,
                    Event::Nack => Seen::Nack,
                    Event::Interrupt => Seen::Interrupt,
                    Event::Packet(b) => Seen::Packet(b.clone()),
                    Event::BadChecksum { .. } | Event::Oversized => Seen::Corrupt,
                });
                return Some(ev);
            }
            let mut buf = [0u8; 4096];
            match self.s.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.dec.feed_slice(&buf[..n], &mut self.queue),
            }
        }
    }

    /// The next packet body, skipping acks and interrupts.
    fn packet(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Event::Packet(b) = self.event()? {
                return Some(b);
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let _ = self.s.write_all(bytes);
    }

    /// Acks the request and sends `body` framed.
    fn reply(&mut self, body: &[u8]) {
        let mut out = b"+".to_vec();
        out.extend_from_slice(&encode(body));
        self.send(&out);
    }
}

/// `body` framed with a checksum that does not match it.
fn corrupt(body: &[u8]) -> Vec<u8> {
    let mut f = encode(body);
    let n = f.len();
    let good = u8::from_str_radix(std::str::from_utf8(&f[n - 2..]).unwrap(), 16).unwrap();
    f.truncate(n - 2);
    f.extend_from_slice(format!("{:02x}", good ^ 0x5a).as_bytes());
    f
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// `m<addr>,<len>` → `(addr, len)`.
fn parse_m(body: &[u8]) -> Option<(u64, usize)> {
    let text = std::str::from_utf8(body.strip_prefix(b"m")?).ok()?;
    let (a, n) = text.split_once(',')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        usize::from_str_radix(n, 16).ok()?,
    ))
}

fn pattern(addr: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| pattern_byte(addr.wrapping_add(i)))
        .collect()
}

/// Answers the packets of a normal session as QEMU 7.2 would (without a target description:
/// the register layout is not under test here). `m` reads succeed everywhere with the fake's
/// pattern. Returns false for anything else (the caller answers it, or it gets "unsupported").
fn standard(w: &mut Wire, body: &[u8]) -> bool {
    let reply: Vec<u8> = if body.starts_with(b"qSupported") {
        b"PacketSize=1000;vContSupported+;multiprocess+".to_vec()
    } else if body == b"?" {
        b"T05thread:p01.01;".to_vec()
    } else if body == b"qqemu.PhyMemMode" {
        b"0".to_vec()
    } else if body == b"qfThreadInfo" {
        b"mp01.01".to_vec()
    } else if body == b"qsThreadInfo" {
        b"l".to_vec()
    } else if body == b"qC" {
        b"QCp01.01".to_vec()
    } else if body.starts_with(b"Hg") || body.starts_with(b"D") {
        b"OK".to_vec()
    } else if body == b"c" {
        // A continue has no reply until the target stops.
        w.send(b"+");
        return true;
    } else if let Some((a, n)) = parse_m(body) {
        hex(&pattern(a, n)).into_bytes()
    } else {
        return false;
    };
    w.reply(&reply);
    true
}

/// Serves a session: `script` sees every packet first and returns true if it answered it;
/// otherwise [`standard`] answers, or the reply is empty ("unsupported").
fn serve(w: &mut Wire, mut script: impl FnMut(&mut Wire, &[u8]) -> bool) {
    while let Some(body) = w.packet() {
        if !script(w, &body) && !standard(w, &body) {
            w.reply(b"");
        }
    }
}

/// A scripted peer listening on loopback, serving one connection.
struct Peer {
    addr: String,
    thread: JoinHandle<Vec<Seen>>,
}

impl Peer {
    fn start(script: impl FnOnce(&mut Wire) + Send + 'static) -> Peer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let thread = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            s.set_nodelay(true).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut w = Wire {
                s,
                dec: FrameDecoder::new(),
                queue: VecDeque::new(),
                seen: Vec::new(),
            };
            script(&mut w);
            w.seen
        });
        Peer { addr, thread }
    }

    /// A peer that serves a normal session with `script` in front.
    fn serving(script: impl FnMut(&mut Wire, &[u8]) -> bool + Send + 'static) -> Peer {
        Peer::start(move |w| serve(w, script))
    }

    /// Waits for the peer's thread (the client must have closed its end) and returns what it
    /// received.
    fn join(self) -> Vec<Seen> {
        self.thread.join().expect("peer thread panicked")
    }
}

fn copts(ms: u64) -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_millis(ms),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn connect(peer: &Peer, cache: bool) -> BlockingTarget {
    let opts = ConnectOptions {
        client: copts(2000),
        cache,
        writable: false,
    };
    BlockingTarget::connect(&peer.addr, opts).expect("connect to the scripted peer")
}

fn count(seen: &[Seen], what: &Seen) -> usize {
    seen.iter().filter(|s| *s == what).count()
}

fn m_requests(seen: &[Seen]) -> Vec<Vec<u8>> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Packet(b) if b.starts_with(b"m") => Some(b.clone()),
            _ => None,
        })
        .collect()
}

/// `Client::connect`, mapping the (non-`Debug`) client to `()` for assertions.
fn try_connect(addr: &str, ms: u64) -> Result<Client, BridgeError> {
    rt().block_on(Client::connect(addr, copts(ms)))
}

// ---------------------------------------------------------------------------------------
// Silence, refusal, hang-ups.

#[test]
fn a_stub_that_never_answers_times_out_within_the_timeout() {
    let peer = Peer::start(|w| while w.event().is_some() {});
    let t0 = Instant::now();
    let r = try_connect(&peer.addr, 300);
    let took = t0.elapsed();
    match r {
        Err(BridgeError::Timeout { after, .. }) => assert_eq!(after, Duration::from_millis(300)),
        Err(e) => panic!("expected a timeout, got {e}"),
        Ok(_) => panic!("connected to a silent stub"),
    }
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(2),
        "{took:?}"
    );
    let seen = peer.join();
    assert!(matches!(&seen[0], Seen::Packet(b) if b.starts_with(b"qSupported")));

    // The same through BlockingTarget.
    let peer = Peer::start(|w| while w.event().is_some() {});
    let t0 = Instant::now();
    let opts = ConnectOptions {
        client: copts(300),
        ..ConnectOptions::default()
    };
    let r = BlockingTarget::connect(&peer.addr, opts);
    assert!(matches!(r, Err(BridgeError::Timeout { .. })));
    assert!(t0.elapsed() < Duration::from_secs(2));
    drop(r);
    peer.join();
}

#[test]
fn a_stub_that_stops_answering_mid_session_times_out_and_the_session_is_over() {
    let peer = Peer::serving(|_, body| body.starts_with(b"m")); // swallow every read
    let opts = ConnectOptions {
        client: copts(300),
        cache: false,
        writable: false,
    };
    let mut t = BlockingTarget::connect(&peer.addr, opts).unwrap();
    let t0 = Instant::now();
    let e = read_exact(&mut t, VirtAddr(0x1000), 16).unwrap_err();
    assert!(matches!(e, BridgeError::Timeout { .. }), "{e}");
    assert!(e.is_fatal());
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // The stream is out of step now: the next request fails at once instead of taking a
    // late reply for its own, and says the session is over (`is_fatal`: "the connection is
    // gone or unusable"), so that script mode stops instead of failing every later command.
    let t0 = Instant::now();
    let e = read_exact(&mut t, VirtAddr(0x1000), 16).unwrap_err();
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    assert!(
        e.is_fatal(),
        "the unusable connection gave a non-fatal error: {e:?}"
    );
    drop(t);
    peer.join();
}

/// A stub that never answers monitor commands: `BlockingTarget::connect` asks `info status`
/// and `info version` and must fail with a fatal error (the stream is out of step once a
/// reply is overdue), in bounded time.
#[test]
fn a_stub_that_ignores_monitor_commands_fails_connect_with_a_fatal_error() {
    let peer = Peer::serving(|w, body| {
        if body.starts_with(b"qRcmd") {
            w.send(b"+");
            return true;
        }
        false
    });
    let opts = ConnectOptions {
        client: copts(300),
        ..ConnectOptions::default()
    };
    let t0 = Instant::now();
    match BlockingTarget::connect(&peer.addr, opts) {
        Err(e) => assert!(e.is_fatal(), "connect failed with a non-fatal error: {e:?}"),
        Ok(_) => panic!("connected although the reply to qRcmd never came"),
    }
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    peer.join();
}

#[test]
fn a_refused_connection_is_a_transport_error() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    match try_connect(&addr, 2000) {
        Err(e @ BridgeError::Transport { .. }) => {
            assert!(e.to_string().contains(&addr), "{e}");
            assert!(e.is_fatal());
        }
        Err(e) => panic!("expected a transport error, got {e}"),
        Ok(_) => panic!("connected to a closed port"),
    }
    let r = BlockingTarget::connect(&addr, ConnectOptions::default());
    assert!(matches!(r, Err(BridgeError::Transport { .. })));
}

fn is_hangup(e: &BridgeError) -> bool {
    matches!(e, BridgeError::Disconnected | BridgeError::Transport { .. })
}

#[test]
fn a_stub_closing_mid_reply_is_a_disconnect() {
    // At connect, halfway through the qSupported reply.
    let peer = Peer::start(|w| {
        w.packet();
        w.send(b"+$PacketSize=10");
    });
    match try_connect(&peer.addr, 2000) {
        Err(e) => assert!(is_hangup(&e), "{e}"),
        Ok(_) => panic!("connected"),
    }
    peer.join();

    // In a session, halfway through a memory reply.
    let peer = Peer::serving(|w, body| {
        if body.starts_with(b"m") {
            w.send(b"+$0102030");
            let _ = w.s.shutdown(std::net::Shutdown::Both);
            return true;
        }
        false
    });
    let mut t = connect(&peer, true);
    let e = read_exact(&mut t, VirtAddr(0x1000), 16).unwrap_err();
    assert!(is_hangup(&e), "{e}");
    assert!(e.is_fatal());
    // Later calls fail cleanly too.
    assert!(read_exact(&mut t, VirtAddr(0x1000), 16).is_err());
    drop(t);
    peer.join();
}

// ---------------------------------------------------------------------------------------
// Checksums and acknowledgements.

#[test]
fn a_bad_checksum_is_answered_with_a_nak_and_the_retransmission_is_taken() {
    let peer = Peer::serving(|w, body| {
        let Some((a, n)) = parse_m(body) else {
            return false;
        };
        let data = hex(&pattern(a, n));
        let mut out = b"+".to_vec();
        out.extend(corrupt(data.as_bytes()));
        w.send(&out);
        // QEMU resends its last packet on `-`.
        if let Some(Event::Nack) = w.event() {
            w.send(&encode(data.as_bytes()));
        }
        true
    });
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(2000)).await.unwrap();
        let r = c.read_memory(&[(VirtAddr(0x1234), 8)]).await.unwrap();
        assert_eq!(r, vec![Ok(pattern(0x1234, 8))]);
        assert_eq!(c.request(b"qC").await.unwrap(), b"QCp01.01");
        c.close(false).await.unwrap();
    });
    let seen = peer.join();
    assert_eq!(count(&seen, &Seen::Nack), 1, "{seen:?}");
}

#[test]
fn always_bad_checksums_give_a_protocol_error_after_bounded_retries() {
    let peer = Peer::serving(|w, body| {
        let Some((a, n)) = parse_m(body) else {
            return false;
        };
        let bad = corrupt(hex(&pattern(a, n)).as_bytes());
        let mut out = b"+".to_vec();
        out.extend_from_slice(&bad);
        w.send(&out);
        // Resend the same corrupt packet for as long as we are asked to (at most 100 times).
        for _ in 0..100 {
            match w.event() {
                Some(Event::Nack) => w.send(&bad),
                Some(Event::Packet(next)) => {
                    // The client gave up and moved on: answer that as usual.
                    if !standard(w, &next) {
                        w.reply(b"");
                    }
                    break;
                }
                Some(_) => break,
                None => break,
            }
        }
        true
    });
    let t0 = Instant::now();
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(2000)).await.unwrap();
        match c.read_memory(&[(VirtAddr(0x1234), 8)]).await {
            Err(BridgeError::Protocol(msg)) => assert!(msg.contains("checksum"), "{msg}"),
            other => panic!("expected a protocol error, got {other:?}"),
        }
        // The stream is still in step.
        assert_eq!(c.request(b"qC").await.unwrap(), b"QCp01.01");
        c.close(false).await.unwrap();
    });
    assert!(t0.elapsed() < Duration::from_secs(2));
    let seen = peer.join();
    let naks = count(&seen, &Seen::Nack);
    assert!((1..=4).contains(&naks), "{naks} NAKs: {seen:?}");
}

#[test]
fn a_nak_from_the_stub_makes_the_client_resend_its_packet() {
    let mut naked = false;
    let peer = Peer::serving(move |w, body| {
        if body.starts_with(b"m") && !naked {
            naked = true;
            w.send(b"-");
            return true;
        }
        false
    });
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(2000)).await.unwrap();
        let r = c.read_memory(&[(VirtAddr(0x40), 4)]).await.unwrap();
        assert_eq!(r, vec![Ok(pattern(0x40, 4))]);
        c.close(false).await.unwrap();
    });
    let seen = peer.join();
    assert_eq!(
        m_requests(&seen),
        vec![b"m40,4".to_vec(), b"m40,4".to_vec()]
    );
}

#[test]
fn a_stub_that_naks_everything_gives_a_protocol_error_after_bounded_resends() {
    let peer = Peer::serving(|w, body| {
        if body.starts_with(b"m") {
            w.send(b"-");
            return true;
        }
        false
    });
    let t0 = Instant::now();
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(1000)).await.unwrap();
        match c.read_memory(&[(VirtAddr(0x40), 4)]).await {
            Err(BridgeError::Protocol(msg)) => assert!(msg.contains("rejected"), "{msg}"),
            other => panic!("expected a protocol error, got {other:?}"),
        }
    });
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    let seen = peer.join();
    let n = m_requests(&seen).len();
    assert!((2..=5).contains(&n), "{n} copies of the request were sent");
}

// ---------------------------------------------------------------------------------------
// Error replies.

#[test]
fn error_replies_to_memory_reads_are_chunk_errors() {
    let peer = Peer::serving(|w, body| match parse_m(body) {
        Some((0x22, _)) => {
            w.reply(b"E22");
            true
        }
        Some((0x14, _)) => {
            w.reply(b"E14");
            true
        }
        Some((0x05, _)) => {
            w.reply(b"E05");
            true
        }
        _ => false,
    });
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(2000)).await.unwrap();
        let r = c
            .read_memory(&[
                (VirtAddr(0x22), 8),
                (VirtAddr(0x14), 8),
                (VirtAddr(0x05), 8),
                (VirtAddr(0x1000), 2),
            ])
            .await
            .unwrap();
        assert_eq!(
            r,
            vec![
                Err(ChunkError::TooLarge),
                Err(ChunkError::NoMapping),
                Err(ChunkError::Errno(5)),
                Ok(pattern(0x1000, 2)),
            ]
        );
        c.close(false).await.unwrap();
    });
    peer.join();
}

/// A stub that refuses reads of the size its PacketSize promises (E22) but serves smaller
/// ones: a read must still return every byte, by splitting, and never a short buffer
/// without a fault.
#[test]
fn e22_on_full_size_chunks_still_reads_the_whole_range() {
    for cache in [false, true] {
        let peer = Peer::serving(|w, body| match parse_m(body) {
            Some((_, n)) if n > 1024 => {
                w.reply(b"E22");
                true
            }
            _ => false,
        });
        let mut t = connect(&peer, cache);
        assert_eq!(qmdb_bridge::TargetMemory::max_request(&t), 2048);
        let r = read_partial(&mut t, VirtAddr(0x10_0000), 4096).unwrap();
        assert!(
            r.data.len() == 4096 || r.fault.is_some(),
            "cache {cache}: {} of 4096 bytes and no fault",
            r.data.len()
        );
        assert_eq!(r.fault, None, "cache {cache}");
        assert_eq!(r.data, pattern(0x10_0000, 4096), "cache {cache}");
        drop(t);
        peer.join();
    }
}

// ---------------------------------------------------------------------------------------
// Malformed replies.

#[test]
fn malformed_connect_replies_are_protocol_errors() {
    for (what, reply) in [
        ("qSupported", &b"PacketSize=zz;multiprocess+"[..]),
        ("?", b"Q05"),
        ("?", b"T05thread:;"),
        ("?", b"*x"),
    ] {
        let peer = Peer::serving(move |w, body| {
            if body.starts_with(what.as_bytes()) {
                w.reply(reply);
                return true;
            }
            false
        });
        let t0 = Instant::now();
        match try_connect(&peer.addr, 2000) {
            Err(BridgeError::Protocol(_)) => {}
            Err(e) => panic!("{what} -> {reply:?}: expected a protocol error, got {e}"),
            Ok(_) => panic!("{what} -> {reply:?}: connected"),
        }
        assert!(t0.elapsed() < Duration::from_secs(1));
        peer.join();
    }
}

#[test]
fn malformed_memory_replies_are_one_clear_error_each() {
    // (reply to `m`, text the error must contain)
    let cases: [(&[u8], &str); 5] = [
        (b"zz11zz11", "1000"),         // not hex; the error names the address
        (b"123", "odd"),               // odd number of digits
        (b"OK", "OK"),                 // not data at all
        (b"ab*", "run-length"),        // a run-length marker without its count
        (b"T05thread:p01.01;", "hex"), // a stop reply while stopped is not memory
    ];
    for (reply, needle) in cases {
        let peer = Peer::serving(move |w, body| {
            if body.starts_with(b"m") {
                w.reply(reply);
                return true;
            }
            false
        });
        let t0 = Instant::now();
        rt().block_on(async {
            let mut c = Client::connect(&peer.addr, copts(1000)).await.unwrap();
            match c.read_memory(&[(VirtAddr(0x1000), 4)]).await {
                Err(BridgeError::Protocol(msg)) => {
                    assert!(msg.contains(needle), "{reply:?}: {msg}")
                }
                other => panic!("{reply:?}: expected a protocol error, got {other:?}"),
            }
            // One reply was consumed for one request: the next request gets its own reply.
            assert_eq!(c.request(b"qC").await.unwrap(), b"QCp01.01", "{reply:?}");
            c.close(false).await.unwrap();
        });
        assert!(t0.elapsed() < Duration::from_secs(1), "{reply:?}");
        peer.join();
    }
}

#[test]
fn a_memory_reply_of_the_wrong_length_is_a_protocol_error() {
    for cache in [false, true] {
        let peer = Peer::serving(|w, body| match parse_m(body) {
            Some((a, n)) => {
                // Half of what was asked.
                w.reply(hex(&pattern(a, n / 2)).as_bytes());
                true
            }
            None => false,
        });
        let mut t = connect(&peer, cache);
        match read_partial(&mut t, VirtAddr(0x2000), 8) {
            Err(BridgeError::Protocol(msg)) => {
                assert!(msg.contains("8 bytes at 2000"), "cache {cache}: {msg}")
            }
            other => panic!("cache {cache}: expected a protocol error, got {other:?}"),
        }
        assert!(read_exact(&mut t, VirtAddr(0x2000), 8).is_err());
        drop(t);
        peer.join();
    }
}

#[test]
fn garbage_without_a_packet_times_out_and_noise_before_a_packet_is_skipped() {
    // Garbage instead of a reply: nothing that parses ever arrives.
    let peer = Peer::serving(|w, body| {
        if body.starts_with(b"m") {
            w.send(b"+garbage\x00\xff\r\n}*#");
            return true;
        }
        false
    });
    let t0 = Instant::now();
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(300)).await.unwrap();
        match c.read_memory(&[(VirtAddr(0x1000), 4)]).await {
            Err(BridgeError::Timeout { .. }) => {}
            other => panic!("expected a timeout, got {other:?}"),
        }
    });
    assert!(t0.elapsed() < Duration::from_secs(2));
    peer.join();

    // Noise between packets is ignored, as gdb does.
    let peer = Peer::serving(|w, body| match parse_m(body) {
        Some((a, n)) => {
            let mut out = b"+noise\r\n".to_vec();
            out.extend(encode(hex(&pattern(a, n)).as_bytes()));
            w.send(&out);
            true
        }
        None => false,
    });
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(1000)).await.unwrap();
        let r = c.read_memory(&[(VirtAddr(0x1000), 4)]).await.unwrap();
        assert_eq!(r, vec![Ok(pattern(0x1000, 4))]);
        c.close(false).await.unwrap();
    });
    peer.join();
}

#[test]
fn a_truncated_packet_followed_by_close_is_a_disconnect() {
    let peer = Peer::serving(|w, body| {
        if body.starts_with(b"m") {
            w.send(b"+$aabbccdd#1");
            let _ = w.s.shutdown(std::net::Shutdown::Both);
            return true;
        }
        false
    });
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(1000)).await.unwrap();
        match c.read_memory(&[(VirtAddr(0x1000), 4)]).await {
            Err(e) => assert!(is_hangup(&e), "{e}"),
            Ok(r) => panic!("got {r:?}"),
        }
        assert!(c.request(b"qC").await.is_err());
    });
    peer.join();
}

// ---------------------------------------------------------------------------------------
// Encodings and asynchronous packets.

#[test]
fn run_length_encoded_replies_are_expanded() {
    let peer = Peer::serving(|w, body| {
        if parse_m(body) == Some((0x1000, 4)) {
            // `0*"` is `0` and 34 - 29 = 5 more: `000000`, then `ff`.
            w.reply(b"0*\"ff");
            return true;
        }
        if body == b"qC" {
            // `p0*!` is `p0` and 33 - 29 = 4 more zeros.
            w.reply(b"QCp0*!.01");
            return true;
        }
        false
    });
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(1000)).await.unwrap();
        let r = c.read_memory(&[(VirtAddr(0x1000), 4)]).await.unwrap();
        assert_eq!(r, vec![Ok(vec![0, 0, 0, 0xff])]);
        assert_eq!(c.request(b"qC").await.unwrap(), b"QCp00000.01");
        c.close(false).await.unwrap();
    });
    peer.join();
}

#[test]
fn console_packets_before_ok_are_collected_for_monitor_commands() {
    let peer = Peer::serving(|w, body| {
        if body.starts_with(b"qRcmd,") {
            let cmd = body.strip_prefix(b"qRcmd,").unwrap();
            assert_eq!(cmd, hex(b"info version").as_bytes());
            let mut out = b"+".to_vec();
            out.extend(encode(format!("O{}", hex(b"7.2.22Debian ")).as_bytes()));
            out.extend(encode(format!("O{}", hex(b"1:7.2+dfsg\r\n")).as_bytes()));
            out.extend(encode(format!("O{}", hex(b"second line\r\n")).as_bytes()));
            out.extend(encode(b"OK"));
            w.send(&out);
            return true;
        }
        false
    });
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(1000)).await.unwrap();
        assert_eq!(
            c.monitor("info version").await.unwrap(),
            "7.2.22Debian 1:7.2+dfsg\r\nsecond line\r\n"
        );
        // Every console packet was one reply: the next request gets its own.
        assert_eq!(c.request(b"qC").await.unwrap(), b"QCp01.01");
        c.close(false).await.unwrap();
    });
    peer.join();
}

/// While the target runs (after our resume), QEMU would take a request's first byte as a
/// request to stop and drop the packet: nothing is sent until it has stopped.
#[test]
fn a_read_while_running_is_refused_without_sending() {
    let peer = Peer::serving(|w, body| match parse_m(body) {
        Some((a, n)) => {
            w.send(&[b"+".to_vec(), encode(hex(&pattern(a, n)).as_bytes())].concat());
            true
        }
        None => false,
    });
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(1000)).await.unwrap();
        c.resume().await.unwrap();
        assert_eq!(c.state(), &RunState::Running);
        match c.read_memory(&[(VirtAddr(0x3000), 8)]).await {
            Err(BridgeError::Running) => {}
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(c.state(), &RunState::Running);
        c.close(true).await.unwrap();
    });
    let seen = peer.join();
    assert!(
        !seen
            .iter()
            .any(|s| matches!(s, Seen::Packet(p) if p.starts_with(b"m"))),
        "a read was sent to a running target: {seen:?}"
    );
}

/// After a request timed out, its reply may still arrive; the connection must not be
/// trusted again. `wait_for_stop` timing out (nothing arrived while it waited) must not make
/// it trusted either, or the late reply is taken as the answer to the next request.
#[test]
fn a_late_reply_after_a_timeout_is_never_taken_for_another_request() {
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let peer = Peer::serving(move |w, body| match parse_m(body) {
        Some(_) => {
            w.send(b"+");
            // Answer only once the client has given up and waited for a stop.
            let _ = go_rx.recv_timeout(Duration::from_secs(5));
            w.send(&encode(b"deadbeef"));
            true
        }
        None => false,
    });
    rt().block_on(async {
        let mut c = Client::connect(&peer.addr, copts(300)).await.unwrap();
        match c.read_memory(&[(VirtAddr(0x1000), 4)]).await {
            Err(BridgeError::Timeout { .. }) => {}
            other => panic!("expected a timeout, got {other:?}"),
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
        let _ = c.wait_for_stop(deadline).await;
        go_tx.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        match c.request(b"qC").await {
            Ok(r) => assert_eq!(
                String::from_utf8_lossy(&r),
                "QCp01.01",
                "the late reply to `m` was taken as the reply to qC"
            ),
            Err(e) => assert!(!matches!(e, BridgeError::Timeout { .. }), "{e}"),
        }
    });
    peer.join();
}

// ---------------------------------------------------------------------------------------
// Run control and writes on the wire.

/// A step is `vCont;s:<vCPU>` when `vCont?` lists `s` (asked once), and its stop reply is
/// the stop; without `vCont` step it is `Hc<vCPU>` then `s`.
#[test]
fn a_step_is_vcont_on_that_vcpu_alone_or_hc_then_s() {
    for vcont in [true, false] {
        let peer = Peer::serving(move |w, body| {
            if body == b"vCont?" {
                w.reply(if vcont { b"vCont;c;C;s;S" } else { b"" });
            } else if body.starts_with(b"Hc") {
                w.reply(b"OK");
            } else if body == b"vCont;s:p1.2" || body == b"s" {
                w.send(b"+");
                w.send(&encode(b"T05thread:p01.02;"));
            } else {
                return false;
            }
            true
        });
        rt().block_on(async {
            let mut c = Client::connect(&peer.addr, copts(1000)).await.unwrap();
            let cpu1 = VcpuId { pid: 1, tid: 2 };
            for _ in 0..2 {
                c.step(cpu1).await.unwrap();
                assert_eq!(c.state(), &RunState::Running);
                let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                let stop = c.wait_for_stop(deadline).await.unwrap();
                assert_eq!(
                    stop,
                    Some(StopReason::Signal {
                        signal: 5,
                        thread: Some(cpu1),
                        info: vec![]
                    })
                );
            }
            // Stepping a running target is refused without sending anything.
            c.resume().await.unwrap();
            assert!(matches!(c.step(cpu1).await, Err(BridgeError::Running)));
            c.close(true).await.unwrap();
        });
        let seen = peer.join();
        let packets: Vec<&[u8]> = seen
            .iter()
            .filter_map(|s| match s {
                Seen::Packet(p) if p.starts_with(b"vCont") || p.starts_with(b"Hc") => {
                    Some(p.as_slice())
                }
                Seen::Packet(p) if p == b"s" => Some(p.as_slice()),
                _ => None,
            })
            .collect();
        let want: Vec<&[u8]> = if vcont {
            vec![b"vCont?", b"vCont;s:p1.2", b"vCont;s:p1.2"]
        } else {
            vec![b"vCont?", b"Hcp1.2", b"s", b"Hcp1.2", b"s"]
        };
        assert_eq!(packets, want, "vCont {vcont}");
    }
}

/// `Z`/`z` as QEMU answers them: `OK`, `E22` (a missing one), empty (a type it lacks).
#[test]
fn breakpoint_replies_map_to_errors() {
    let peer = Peer::serving(|w, body| {
        match body {
            b"Z0,ffffffff81000000,1" | b"z0,ffffffff81000000,1" | b"Z2,ffff888000001000,8" => {
                w.reply(b"OK")
            }
            b"z1,ffffffff81000000,1" => w.reply(b"E22"),
            b"Z4,ffff888000001000,8" => w.reply(b""),
            _ => return false,
        }
        true
    });
    rt().block_on(async {
        use qmdb_bridge::BreakKind;
        let mut c = Client::connect(&peer.addr, copts(1000)).await.unwrap();
        let text = VirtAddr(0xffffffff81000000);
        let data = VirtAddr(0xffff888000001000);
        c.insert_breakpoint(BreakKind::Software, text, 1)
            .await
            .unwrap();
        c.remove_breakpoint(BreakKind::Software, text, 1)
            .await
            .unwrap();
        c.insert_breakpoint(BreakKind::Write, data, 8)
            .await
            .unwrap();
        match c.remove_breakpoint(BreakKind::Hardware, text, 1).await {
            Err(BridgeError::Remote { errno: 0x22, what }) => {
                assert!(what.contains("hardware breakpoint"), "{what}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c.insert_breakpoint(BreakKind::Access, data, 8).await,
            Err(BridgeError::Unsupported(_))
        ));
        c.close(false).await.unwrap();
    });
    peer.join();
}

/// Writes need `-w`: a read-only session refuses them without sending anything; a writable
/// one sends `M` (split at the packet size) and `P`, and names the address that failed.
#[test]
fn writes_are_refused_read_only_and_sent_when_writable() {
    use qmdb_bridge::Target;
    for writable in [false, true] {
        let peer = Peer::serving(|w, body| {
            if body.starts_with(b"Mdead") {
                w.reply(b"E14");
            } else if body.starts_with(b"M") || body.starts_with(b"P") {
                w.reply(b"OK");
            } else {
                return false;
            }
            true
        });
        let opts = ConnectOptions {
            client: copts(2000),
            cache: true,
            writable,
        };
        let mut t = BlockingTarget::connect(&peer.addr, opts).unwrap();
        let data = vec![0xabu8; 3000];
        let r = t.write_memory(VirtAddr(0x1000), &data);
        let p = t.write_register(0x10, &0x1234u64.to_le_bytes());
        let bad = t.write_memory(VirtAddr(0xdead0000), &[1, 2]);
        if writable {
            r.unwrap();
            p.unwrap();
            match bad {
                Err(BridgeError::Remote { errno: 0x14, what }) => {
                    assert!(what.contains("dead0000"), "{what}")
                }
                other => panic!("{other:?}"),
            }
        } else {
            for r in [r, p, bad] {
                assert!(matches!(r, Err(BridgeError::Refused(_))), "{r:?}");
            }
        }
        drop(t);
        let seen = peer.join();
        let writes: Vec<Vec<u8>> = seen
            .iter()
            .filter_map(|s| match s {
                Seen::Packet(p) if p.starts_with(b"M") || p.starts_with(b"P") => Some(p.clone()),
                _ => None,
            })
            .collect();
        if !writable {
            assert!(writes.is_empty(), "{writes:?}");
            continue;
        }
        assert_eq!(writes.len(), 4, "3000 bytes in two M, one P, one M");
        let first = String::from_utf8_lossy(&writes[0]).into_owned();
        assert!(first.starts_with("M1000,7f0:abab"), "{first}");
        assert!(String::from_utf8_lossy(&writes[1]).starts_with("M17f0,3c8:abab"));
        assert_eq!(writes[2], b"P10=3412000000000000");
        assert_eq!(writes[3], b"Mdead0000,2:0102");
    }
}
