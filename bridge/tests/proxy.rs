//! The gdb proxy against the fake stub: a fake kernel backend with two tasks over a
//! `BlockingTarget` connected to the fake, and, as "gdb", qmdb's own `BlockingTarget`
//! connected to the proxy (it speaks RSP as a gdb does) or a raw packet writer for what qmdb
//! never sends (`k`, malformed packets).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use qmdb_bridge::blocking::{BlockingTarget, ConnectOptions};
use qmdb_bridge::client::ClientOptions;
use qmdb_bridge::proxy::{
    serve, BackendError, ProxyBackend, ProxyError, ProxyOptions, ProxyThread, SavedRegisters,
    ThreadKey, ThreadsMode,
};
use qmdb_bridge::rsp::encoding::{expand_rle, from_hex, to_hex};
use qmdb_bridge::rsp::frame::{encode, Event, FrameDecoder};
use qmdb_bridge::{read_exact, read_partial, BreakKind, StopReason, Target, VcpuId, VirtAddr};
use qmdb_fakestub::{pattern_byte, FakeConfig, FakeStub, QemuX86_64Regs, Region};

const SLEEPER: u64 = 0xffff_8880_0010_0000;
const RUNNER: u64 = 0xffff_8880_0010_4000;
const SLEEPER_RIP: u64 = 0xffff_ffff_81ab_cdef;
const SLEEPER_RSP: u64 = 0xffff_c900_0001_3e40;
const CPU1: VcpuId = VcpuId { pid: 1, tid: 2 };
/// The gdb thread ids the proxy hands out, in the backend's order at the first stop.
const T_SLEEPER: u32 = 1;
const T_RUNNER: u32 = 2;
const T_IDLE0: u32 = 3;
const DATA: u64 = 0xffff_8880_0000_0000;
const TEXT: u64 = 0xffff_ffff_8120_0000;

/// Two tasks: one asleep (saved registers), one running on vCPU 1; vCPU 0 is idle.
struct FakeKernel {
    target: BlockingTarget,
}

impl ProxyBackend for FakeKernel {
    fn target(&mut self) -> &mut dyn Target {
        &mut self.target
    }

    fn threads(&mut self) -> Result<Vec<ProxyThread>, BackendError> {
        // A real backend reads guest memory here: it must only be asked while stopped.
        read_exact(&mut self.target, VirtAddr(DATA), 8)?;
        let mut out = vec![
            ProxyThread {
                key: ThreadKey::Task(SLEEPER),
                extra: "pid 42 sleeper S".into(),
                vcpu: None,
            },
            ProxyThread {
                key: ThreadKey::Task(RUNNER),
                extra: "pid 43 runner R (CPU 1)".into(),
                vcpu: Some(CPU1),
            },
        ];
        for v in self.target.vcpus().map_err(|e| e.to_string())? {
            if v.id != CPU1 {
                out.push(ProxyThread {
                    key: ThreadKey::Vcpu(v.id),
                    extra: format!("idle (CPU {})", v.id.cpu_index()),
                    vcpu: Some(v.id),
                });
            }
        }
        Ok(out)
    }

    fn saved_registers(&mut self, thread: ThreadKey) -> Result<SavedRegisters, BackendError> {
        match thread {
            ThreadKey::Task(SLEEPER) => Ok(vec![("rip", SLEEPER_RIP), ("rsp", SLEEPER_RSP)]),
            other => Err(format!("{other:?} saved nothing").into()),
        }
    }

    fn monitor(&mut self, line: &str, out: &mut dyn FnMut(&str)) -> bool {
        match line {
            "help" => {
                out("::ps - list tasks");
                out("qemu CMD - QEMU's monitor");
                true
            }
            "::ps" => {
                for l in ["PID COMM", "42 sleeper", "43 runner"] {
                    out(l);
                }
                true
            }
            l if l.starts_with("qemu ") => match self.target.monitor(&l[5..]) {
                Ok(text) => {
                    text.lines().for_each(&mut *out);
                    true
                }
                Err(e) => {
                    out(&format!("qemu: {e}"));
                    false
                }
            },
            other => {
                out(&format!("mdb: unknown command {other:?}"));
                false
            }
        }
    }
}

/// A fake stub, and the proxy in front of it on a thread.
struct Proxy {
    addr: String,
    stub: Option<FakeStub>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), ProxyError>>>,
}

fn fake() -> FakeConfig {
    let mut cfg = FakeConfig::default()
        .with_region(Region::with_pattern(DATA, 0x3000))
        .with_region(Region::with_pattern(TEXT, 0x1000));
    cfg.breakpoint_vcpu = 1;
    cfg.breakpoint_delay = Duration::from_millis(150);
    cfg
}

fn opts(ms: u64) -> ConnectOptions {
    ConnectOptions {
        client: ClientOptions {
            timeout: Duration::from_millis(ms),
        },
        cache: false,
        writable: false,
    }
}

impl Proxy {
    fn start(cfg: FakeConfig, threads: ThreadsMode) -> Proxy {
        let stub = FakeStub::start(cfg).unwrap();
        let stub_addr = stub.addr().to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let target = BlockingTarget::connect(&stub_addr, opts(5000)).expect("proxy to fake");
            let mut backend = FakeKernel { target };
            ready_tx.send(()).unwrap();
            let options = ProxyOptions {
                threads,
                stop: Some(flag),
            };
            serve(listener, &mut backend, options)
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        Proxy {
            addr,
            stub: Some(stub),
            stop,
            thread: Some(thread),
        }
    }

    fn stub(&self) -> &FakeStub {
        self.stub.as_ref().unwrap()
    }

    /// A "gdb": qmdb's own client, connected to the proxy.
    fn gdb(&self) -> BlockingTarget {
        BlockingTarget::connect(&self.addr, opts(5000)).expect("gdb to the proxy")
    }

    /// Waits (at most 5 s) for `what` to hold.
    fn wait(&self, what: impl Fn(&FakeStub) -> bool) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if what(self.stub()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Stops the proxy and returns how `serve` ended.
    fn finish(mut self) -> Result<(), ProxyError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().expect("proxy thread")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn tid(n: u32) -> VcpuId {
    VcpuId { pid: 1, tid: n }
}

/// The signal and thread of a stop.
fn signal_of(stop: &StopReason) -> (u8, Option<VcpuId>, Vec<String>) {
    match stop {
        StopReason::Signal {
            signal,
            thread,
            info,
        } => (
            *signal,
            *thread,
            info.iter().map(|(k, _)| k.clone()).collect(),
        ),
        other => panic!("not a signal stop: {other:?}"),
    }
}

/// A gdb that writes packets by hand.
struct Raw {
    s: TcpStream,
    dec: FrameDecoder,
    q: VecDeque<Event>,
    eof: bool,
}

impl Raw {
    fn connect(addr: &str) -> Raw {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Raw {
            s,
            dec: FrameDecoder::new(),
            q: VecDeque::new(),
            eof: false,
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    fn send(&mut self, body: &[u8]) {
        self.send_raw(&encode(body));
    }

    /// The next event from the proxy; `None` once it closed the connection.
    fn event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.q.pop_front() {
                return Some(e);
            }
            let mut buf = [0u8; 8192];
            match self.s.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    return None;
                }
                Err(e) => {
                    self.eof = e.kind() == std::io::ErrorKind::ConnectionReset;
                    return None;
                }
                Ok(n) => self.dec.feed_slice(&buf[..n], &mut self.q),
            }
        }
    }

    /// The next packet (acked), skipping acks.
    fn packet(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Event::Packet(b) = self.event()? {
                let _ = self.s.write_all(b"+");
                return Some(expand_rle(&b).expect("valid run-length encoding"));
            }
        }
    }

    fn ask(&mut self, body: &[u8]) -> Vec<u8> {
        self.send(body);
        self.packet().expect("a reply")
    }

    /// Whether the proxy closes the connection (within the read timeout), after any packets.
    fn closed(&mut self) -> bool {
        while let Some(e) = self.event() {
            if let Event::Packet(_) = e {
                let _ = self.s.write_all(b"+");
            }
        }
        self.eof
    }
}

fn pattern(addr: u64, len: u64) -> Vec<u8> {
    (0..len).map(|i| pattern_byte(addr + i)).collect()
}

/// A `g` reply's `rip` (register 16, after sixteen 8-byte registers).
fn rip_of_g(reply: &[u8]) -> u64 {
    let bytes = from_hex(&reply[256..272]).unwrap();
    u64::from_le_bytes(bytes.try_into().unwrap())
}

#[test]
fn threads_registers_memory_and_monitor() {
    let proxy = Proxy::start(fake(), ThreadsMode::Tasks);
    let mut gdb = proxy.gdb();
    // The thread on the vCPU that stopped comes first; every thread keeps its id.
    let threads = gdb.vcpus().unwrap();
    let ids: Vec<u32> = threads.iter().map(|t| t.id.tid).collect();
    assert_eq!(ids, [T_IDLE0, T_SLEEPER, T_RUNNER]);
    assert_eq!(threads[1].extra, "pid 42 sleeper S");
    assert_eq!(threads[2].extra, "pid 43 runner R (CPU 1)");

    // The description is QEMU's, so the layout is QEMU's.
    assert_eq!(gdb.register_layout().regs.len(), 66);
    gdb.select_vcpu(tid(T_SLEEPER)).unwrap();
    let regs = gdb.read_registers().unwrap();
    assert_eq!(regs.get_u64("rip"), Some(SLEEPER_RIP));
    assert_eq!(regs.get_u64("rsp"), Some(SLEEPER_RSP));
    assert_eq!(regs.get_u64("rax"), Some(0));
    gdb.select_vcpu(tid(T_RUNNER)).unwrap();
    let regs = gdb.read_registers().unwrap();
    let cpu1 = QemuX86_64Regs::pattern(1);
    assert_eq!(regs.get_u64("rip"), Some(cpu1.rip));
    assert_eq!(regs.get_u64("cr3"), Some(cpu1.cr3));

    // Memory is forwarded.
    let data = read_exact(&mut gdb, VirtAddr(DATA + 100), 5000).unwrap();
    let want: Vec<u8> = (0..5000).map(|i| pattern_byte(DATA + 100 + i)).collect();
    assert_eq!(data, want);
    let hole = read_partial(&mut gdb, VirtAddr(DATA + 0x3000), 64).unwrap();
    assert!(hole.data.is_empty() && hole.fault.is_some());

    // `monitor` streams the backend's lines; `qemu CMD` reaches the fake's monitor.
    assert_eq!(
        gdb.monitor("::ps").unwrap(),
        "PID COMM\n42 sleeper\n43 runner\n"
    );
    assert_eq!(gdb.monitor("qemu info version").unwrap(), "7.2.0-fake\n");
    assert!(gdb.monitor("help").unwrap().contains("qemu CMD"));
    // Writes are refused: the target session is read-only.
    assert!(gdb.write_memory(VirtAddr(DATA), &[0]).is_err());
    drop(gdb);

    let stats = proxy.stub().stats();
    assert_eq!((stats.kills, stats.mem_writes, stats.reg_writes), (0, 0, 0));
    proxy.finish().unwrap();
}

#[test]
fn breakpoints_steps_and_ctrl_c_are_forwarded() {
    let proxy = Proxy::start(fake(), ThreadsMode::Tasks);
    let mut gdb = proxy.gdb();
    // A breakpoint the fake reaches on vCPU 1: the stop is the runner's, as a swbreak.
    gdb.insert_breakpoint(BreakKind::Software, VirtAddr(TEXT + 0x40), 1)
        .unwrap();
    assert_eq!(proxy.stub().breakpoints(), [(0, TEXT + 0x40, 1)]);
    gdb.resume().unwrap();
    let stop = (0..100)
        .find_map(|_| gdb.wait_for_stop(Duration::from_millis(100)).unwrap())
        .expect("the breakpoint is reached");
    assert_eq!(
        signal_of(&stop),
        (5, Some(tid(T_RUNNER)), vec!["swbreak".to_string()])
    );
    gdb.select_vcpu(tid(T_RUNNER)).unwrap();
    assert_eq!(
        gdb.read_registers().unwrap().get_u64("rip"),
        Some(TEXT + 0x40)
    );
    gdb.remove_breakpoint(BreakKind::Software, VirtAddr(TEXT + 0x40), 1)
        .unwrap();
    assert!(proxy.stub().breakpoints().is_empty());

    // A step steps the runner's vCPU.
    gdb.step(tid(T_RUNNER)).unwrap();
    let stop = gdb.wait_for_stop(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(signal_of(&stop), (5, Some(tid(T_RUNNER)), vec![]));

    // Watchpoints go through too.
    gdb.insert_breakpoint(BreakKind::Write, VirtAddr(DATA), 8)
        .unwrap();
    gdb.remove_breakpoint(BreakKind::Write, VirtAddr(DATA), 8)
        .unwrap();

    // Ctrl-C while running: SIGINT, on the thread of the vCPU QEMU names (the fake: the
    // one that stopped last, vCPU 1).
    gdb.resume().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(proxy.stub().vm_running());
    let stop = gdb.interrupt().unwrap();
    assert_eq!(signal_of(&stop), (2, Some(tid(T_RUNNER)), vec![]));
    assert!(!proxy.stub().vm_running());
    drop(gdb);

    let stats = proxy.stub().stats();
    assert_eq!((stats.steps, stats.breakpoint_hits, stats.kills), (1, 1, 0));
    proxy.finish().unwrap();
}

/// QEMU now and then stalls a step (nothing runs): gdb's one `vCont;s` still moves the vCPU.
#[test]
fn a_stalled_step_is_sent_again_for_gdb() {
    let proxy = Proxy::start(
        FakeConfig {
            stalled_steps: 1,
            ..fake()
        },
        ThreadsMode::Tasks,
    );
    let mut gdb = Raw::connect(&proxy.addr);
    gdb.ask(b"qSupported:multiprocess+;swbreak+");
    let runner = format!("p1.{T_RUNNER:x}");
    assert_eq!(gdb.ask(format!("Hg{runner}").as_bytes()), b"OK");
    let before = rip_of_g(&gdb.ask(b"g"));
    let stop = gdb.ask(format!("vCont;s:{runner}").as_bytes());
    assert!(
        stop.starts_with(b"T05"),
        "{}",
        String::from_utf8_lossy(&stop)
    );
    assert_eq!(gdb.ask(format!("Hg{runner}").as_bytes()), b"OK");
    assert_eq!(rip_of_g(&gdb.ask(b"g")), before + 1);
    assert_eq!(proxy.stub().stats().steps, 2);
    drop(gdb);
    proxy.finish().unwrap();
}

#[test]
fn a_sleeping_thread_cannot_be_stepped_and_the_session_goes_on() {
    let proxy = Proxy::start(fake(), ThreadsMode::Tasks);
    let mut gdb = Raw::connect(&proxy.addr);
    gdb.ask(b"qSupported:multiprocess+;swbreak+");
    assert_eq!(gdb.ask(b"Hgp1.1"), b"OK");
    gdb.send(b"vCont;s:p1.1");
    let msg = gdb.packet().unwrap();
    let text = String::from_utf8(from_hex(&msg[1..]).unwrap()).unwrap();
    assert!(text.contains("not running on a vCPU"), "{text}");
    assert!(text.contains("pid 42 sleeper"), "{text}");
    assert_eq!(gdb.packet().unwrap(), b"E01");
    // Nothing ran, and the thread selection survived.
    assert_eq!(proxy.stub().stats().steps, 0);
    let g = gdb.ask(b"g");
    assert!(g.len() > 272, "{}", String::from_utf8_lossy(&g));
    assert_eq!(rip_of_g(&g), SLEEPER_RIP);
    drop(gdb);
    proxy.finish().unwrap();
}

#[test]
fn kill_is_not_forwarded_and_the_next_gdb_is_served() {
    let proxy = Proxy::start(fake(), ThreadsMode::Tasks);
    // gdb with multiprocess sends vKill and waits for OK.
    let mut gdb = Raw::connect(&proxy.addr);
    gdb.ask(b"qSupported:multiprocess+");
    assert!(proxy.wait(|s| !s.vm_running()));
    assert_eq!(gdb.ask(b"vKill;1"), b"OK");
    assert!(gdb.closed());
    assert!(proxy.wait(|s| s.vm_running()), "the VM runs on after kill");
    // Plain `k` gets no reply.
    let mut gdb = Raw::connect(&proxy.addr);
    gdb.ask(b"qSupported:xmlRegisters=i386");
    gdb.send(b"k");
    assert!(gdb.closed());
    assert!(proxy.wait(|s| s.vm_running()));
    // The next gdb works.
    let mut gdb = proxy.gdb();
    assert_eq!(gdb.vcpus().unwrap().len(), 3);
    drop(gdb);
    assert_eq!(proxy.stub().stats().kills, 0);
    proxy.finish().unwrap();
}

#[test]
fn a_second_gdb_is_refused_and_detach_lets_the_next_one_in() {
    let proxy = Proxy::start(fake(), ThreadsMode::Tasks);
    let mut first = proxy.gdb();
    first
        .insert_breakpoint(BreakKind::Hardware, VirtAddr(TEXT), 1)
        .unwrap();
    let mut second = Raw::connect(&proxy.addr);
    second.send(b"qSupported:multiprocess+");
    let reply = String::from_utf8(second.packet().unwrap()).unwrap();
    assert!(
        reply.starts_with("E.qmdb proxy: another gdb is already connected"),
        "{reply}"
    );
    assert!(second.closed());
    // The first is unaffected.
    assert_eq!(first.vcpus().unwrap().len(), 3);
    // Detach (`D;1`): its breakpoints go, the VM runs.
    first.close(true).unwrap();
    assert!(proxy.wait(|s| s.vm_running()));
    assert!(proxy.stub().breakpoints().is_empty());
    // Reconnecting stops the VM again.
    let mut again = proxy.gdb();
    assert!(!proxy.stub().vm_running());
    again.select_vcpu(tid(T_SLEEPER)).unwrap();
    assert_eq!(
        again.read_registers().unwrap().get_u64("rip"),
        Some(SLEEPER_RIP)
    );
    drop(again);
    proxy.finish().unwrap();
}

#[test]
fn malformed_packets_get_errors_and_the_session_goes_on() {
    let proxy = Proxy::start(fake(), ThreadsMode::Tasks);
    let mut gdb = Raw::connect(&proxy.addr);
    let features = String::from_utf8(gdb.ask(b"qSupported:multiprocess+")).unwrap();
    for f in [
        "PacketSize=4000",
        "swbreak+",
        "hwbreak+",
        "qXfer:features:read+",
    ] {
        assert!(features.contains(f), "{features}");
    }
    assert_eq!(gdb.ask(b"Hgp1.1"), b"OK");
    for bad in [
        &b"mzz,4"[..],
        b"qSupported:a;;b",
        b"vCont;s",
        b"Hgzz",
        b"Z0,zz,1",
        b"qRcmd,zz",
    ] {
        assert_eq!(gdb.ask(bad), b"E22", "{}", String::from_utf8_lossy(bad));
    }
    // Unknown packets are unsupported (empty).
    assert_eq!(gdb.ask(b"qFooBar"), b"");
    // A bad checksum is asked again; an oversized packet is refused.
    gdb.send_raw(b"$g#00");
    assert_eq!(gdb.event(), Some(Event::Nack));
    let big = vec![b'a'; 20_000];
    assert_eq!(gdb.ask(&big), b"E22");
    // gdb's `-` gets the last packet again.
    let g = gdb.ask(b"g");
    gdb.send_raw(b"-");
    assert_eq!(gdb.packet().unwrap(), g);
    // The thread selection survived every restart.
    assert_eq!(rip_of_g(&g), SLEEPER_RIP);
    let m = gdb.ask(format!("m{:x},4", DATA).as_bytes());
    assert_eq!(m, to_hex(&pattern(DATA, 4)).as_bytes());
    // A read running into a hole gives what is mapped (as gdbserver does); then E0e.
    let end = DATA + 0x3000;
    let m = gdb.ask(format!("m{:x},40", end - 10).as_bytes());
    assert_eq!(m, to_hex(&pattern(end - 10, 10)).as_bytes());
    assert_eq!(gdb.ask(format!("m{end:x},40").as_bytes()), b"E0e");
    // Longer than a reply can hold: refused whole.
    assert_eq!(gdb.ask(format!("m{:x},2001", DATA).as_bytes()), b"E16");
    drop(gdb);
    assert_eq!(proxy.stub().stats().kills, 0);
    proxy.finish().unwrap();
}

#[test]
fn threads_can_be_the_vcpus() {
    let proxy = Proxy::start(fake(), ThreadsMode::Vcpus);
    let mut gdb = proxy.gdb();
    let threads = gdb.vcpus().unwrap();
    let ids: Vec<u32> = threads.iter().map(|t| t.id.tid).collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(threads[0].extra, "CPU#0 [running]");
    gdb.select_vcpu(tid(2)).unwrap();
    let rip = gdb.read_registers().unwrap().get_u64("rip");
    assert_eq!(rip, Some(QemuX86_64Regs::pattern(1).rip));
    drop(gdb);
    proxy.finish().unwrap();
}

#[test]
fn qemu_going_away_while_running_is_a_terminated_stop() {
    let mut proxy = Proxy::start(fake(), ThreadsMode::Tasks);
    let mut gdb = Raw::connect(&proxy.addr);
    gdb.ask(b"qSupported:multiprocess+");
    gdb.send(b"vCont;c");
    // The resume is acked at once (gdb resends a packet not acked within 2 s).
    gdb.s
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert_eq!(gdb.event(), Some(Event::Ack));
    gdb.s
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(proxy.wait(|s| s.vm_running()));
    proxy.stub.take().unwrap().stop();
    let msg = gdb.packet().expect("a console message");
    let text = String::from_utf8(from_hex(&msg[1..]).unwrap()).unwrap();
    assert!(text.contains("lost the connection to the target"), "{text}");
    assert_eq!(gdb.packet().unwrap(), b"X09");
    assert!(gdb.closed());
    assert!(matches!(proxy.finish(), Err(ProxyError::TargetLost(_))));
}

#[test]
fn qemu_going_away_while_stopped_is_an_error_then_a_close() {
    let mut proxy = Proxy::start(fake(), ThreadsMode::Tasks);
    let mut gdb = Raw::connect(&proxy.addr);
    gdb.ask(b"qSupported:multiprocess+");
    assert_eq!(gdb.ask(b"Hgp1.2"), b"OK");
    proxy.stub.take().unwrap().stop();
    let t0 = Instant::now();
    assert_eq!(gdb.ask(b"g"), b"E05");
    assert!(gdb.closed());
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(matches!(proxy.finish(), Err(ProxyError::TargetLost(_))));
}

#[test]
fn a_bad_packet_while_running_stops_the_target_with_the_error() {
    let proxy = Proxy::start(fake(), ThreadsMode::Tasks);
    let mut gdb = Raw::connect(&proxy.addr);
    gdb.ask(b"qSupported:multiprocess+");
    gdb.send(b"vCont;c");
    assert!(proxy.wait(|s| s.vm_running()));
    // Not something gdb sends while the target runs, but it must not leave the proxy
    // believing one thing and the target another.
    assert_eq!(gdb.ask(b"mzz,4"), b"E22");
    assert!(proxy.wait(|s| !s.vm_running()));
    assert_eq!(
        gdb.ask(format!("m{DATA:x},2").as_bytes()),
        to_hex(&pattern(DATA, 2)).as_bytes()
    );
    drop(gdb);
    assert!(proxy.wait(|s| s.vm_running()), "detaching lets it run");
    proxy.finish().unwrap();
}
