//! A fake QEMU-like gdbstub for qmdb's tests, built on the [`gdbstub`] crate.
//!
//! [`FakeStub::start`] listens on `127.0.0.1:0` and serves one GDB remote-protocol client at
//! a time from a background thread (then accepts the next), behaving like QEMU 7.2's gdbstub
//! (`-gdb tcp::PORT`) on an x86_64 guest. Every reply below was compared byte for byte with
//! a real `qemu-system-x86_64` 7.2 (`-S -smp 2`):
//!
//! - `qSupported` → `PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+`
//!   (`PacketSize` is the configured [`FakeConfig::packet_size`] in hex). `QStartNoAckMode`
//!   gets an empty reply and acks continue. Replies are never run-length encoded.
//! - vCPUs are threads: `?` → `T05thread:p01.01;`, `qfThreadInfo` → `mp01.01`, each
//!   `qsThreadInfo` the next (`mp01.02`), then `l`; `qC` → `QCp01.01` (without
//!   `multiprocess+`: `01`, `QC01`). `qThreadExtraInfo` → hex of `CPU#0 [running]` /
//!   `CPU#1 [halted ]`. `Hg`/`Hc`/`T` of a vCPU that does not exist → `E22`.
//! - A continue runs until `\x03`, which stops with `T02thread:p01.01;`; `\x03` while stopped
//!   gets no reply at all; a step stops at once with `T05thread:<stepped vCPU>;`.
//! - `m addr,len` is all-or-nothing: any unmapped byte → `E14` for the whole request;
//!   `len > PacketSize / 2` → `E22` (before looking at memory). Holes start and end at any
//!   byte. `M` writes likewise (`E14` if any byte is unmapped). There is no `X`.
//! - Registers: QEMU's layout ([`regs::QEMU_X86_64_REGS`], 608 bytes in `g`).
//!   `qXfer:features:read:target.xml` `xi:include`s `i386-64bit.xml`; both are served verbatim
//!   (chunks of at most `(PacketSize - 5) / 2` bytes, the last one `l<data>`); any other annex
//!   → `E00`. `p`/`P` answer empty until a target description has been read in the session;
//!   `p` past the last register (`p42`) → `E14`.
//! - `qRcmd` runs a tiny HMP: `info version`, `info status`, `info` (a short help);
//!   `unknown command: 'foo'` otherwise; one `O<hex>` packet per `\r\n`-terminated line,
//!   then `OK`; an empty `qRcmd,` → `E22`.
//! - `qqemu.sstepbits` → `ENABLE=1,NOIRQ=2,NOTIMER=4`, `qqemu.sstep` → `0x7` (the flags in
//!   effect: global, they survive reconnects), `Qqemu.sstep=<hex>` → `OK`, or `E22` for a bit
//!   not listed (as QEMU 7.2 under TCG); [`FakeStub::last_step_flags`] tells the flags the
//!   last step used. With [`FakeConfig::sstep_supported`] off, all three answer empty.
//! - `qqemu.Supported`, and
//!   `qqemu.PhyMemMode`/`Qqemu.PhyMemMode:` (reads and writes then go to
//!   [`FakeConfig::phys_regions`]; the mode is global and survives reconnects, as in QEMU).
//!   With [`FakeConfig::phys_mem_mode_supported`] off, the fake is a stub without it: no
//!   `PhyMemMode` in `qqemu.Supported`, empty replies to both packets.
//! - Page-table isolation: [`FakeConfig::pti_hidden`] ranges answer `E14` to `m` while the
//!   selected vCPU is in user mode (`cs & 3 != 0`), as kernel memory does through a Linux PTI
//!   user CR3. The fake does not walk page tables itself: a test that wants the memory found
//!   through the kernel page tables puts the tables and the data in `phys_regions`.
//! - `Z0`..`Z4`/`z0`..`z4` → `OK` (removing a missing one → `E22`); they are dropped when a
//!   client connects (QEMU drops them on `?` and on detach). A continue with a `Z0`/`Z1`
//!   breakpoint planted "reaches" the first one after [`FakeConfig::breakpoint_delay`]: the
//!   rip of vCPU [`FakeConfig::breakpoint_vcpu`] becomes its address and the stop is
//!   `T05thread:<that vCPU>;` (`info status`: `paused (debug)`). Watchpoints never trigger.
//! - `D` in multiprocess mode → `E22` (QEMU wants `D;1`); `D;1` → `OK`, the session ends and
//!   the VM "runs" until the next connection stops it. `k`/`vKill` end the session (QEMU
//!   exits); they are counted in [`Stats::kills`] so tests can assert they never happen.
//!
//! Some of these are answered by the connection layer in front of gdbstub because gdbstub's
//! own answer differs (see `conn.rs`). Known differences from QEMU are listed in the crate's
//! `README.md`.
//!
//! ```no_run
//! use qmdb_fakestub::{FakeConfig, FakeStub, Region};
//! let mut cfg = FakeConfig::default();
//! cfg.regions.push(Region::with_pattern(0xffff_8880_0000_0000, 3 * 4096 + 5));
//! cfg.vcpu_mut(1).regs.rip = 0xffff_ffff_8123_4567;
//! let stub = FakeStub::start(cfg).unwrap();
//! let addr = stub.addr(); // connect the client under test here
//! // ... run the client ...
//! let stats = stub.stats();
//! assert_eq!((stats.kills, stats.mem_writes), (0, 0));
//! ```

#![warn(missing_docs)]

mod conn;
pub mod memory;
pub mod regs;
mod stats;
mod target;

use std::collections::BTreeMap;
use std::io;
use std::io::Write as _;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use gdbstub::stub::{DisconnectReason, GdbStub};

pub use memory::{pattern_byte, MapError, Memory, Region};
pub use regs::{QemuX86_64, QemuX86_64Regs};
pub use stats::Stats;

use target::{lock, EventLoop, FakeTarget, Machine, RunState, Shared};

/// One vCPU's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vcpu {
    /// Its registers, as `g` returns them when the vCPU is selected with `Hg`.
    pub regs: QemuX86_64Regs,
    /// Shown by `qThreadExtraInfo`: `CPU#n [halted ]` when true, `CPU#n [running]` when false.
    pub halted: bool,
}

impl Vcpu {
    /// The default for vCPU `index`: [`QemuX86_64Regs::pattern`]`(index)`, and halted for
    /// every vCPU but the first (as QEMU shows a freshly reset machine).
    pub fn default_for(index: usize) -> Self {
        Vcpu {
            regs: QemuX86_64Regs::pattern(index),
            halted: index != 0,
        }
    }
}

/// How to build the fake. `Default` gives a QEMU 7.2 look-alike with 2 vCPUs, 4 KiB pages,
/// `PacketSize=1000` (4096 bytes) and no memory at all.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Number of vCPUs (threads `p01.01` .. `p01.<n>`). At least 1.
    pub vcpus: usize,
    /// Page size, for the tests' and client's information only: the fake maps memory at
    /// byte granularity.
    pub page_size: u64,
    /// Advertised `PacketSize` in bytes (gdbstub's packet buffer size). Reads longer than
    /// half of it get `E22`. At least 64.
    pub packet_size: usize,
    /// Mapped memory (virtual addresses, what `m` reads normally); must not overlap.
    /// Everything else is a hole.
    pub regions: Vec<Region>,
    /// Physical memory, what `m` reads after `Qqemu.PhyMemMode:1`; must not overlap.
    pub phys_regions: Vec<Region>,
    /// Per-vCPU state, index = vCPU number. Missing entries get [`Vcpu::default_for`];
    /// entries past `vcpus` are ignored. See [`FakeConfig::vcpu_mut`].
    pub cpus: Vec<Vcpu>,
    /// What `info version` prints (before `\r\n`). Real QEMU: `7.2.22Debian 1:7.2+dfsg-...`.
    pub version: String,
    /// Run-length encode replies. QEMU never does; off by default.
    pub rle: bool,
    /// Extra monitor commands: trimmed command line → exact output (sent as one `O` packet).
    pub monitor_extra: BTreeMap<String, String>,
    /// Whether the VM runs until a debugger connects (the default). QEMU then stops it and
    /// sends an unsolicited `T02thread:01;` before reading anything; a VM that was already
    /// stopped gets no such packet.
    pub running: bool,
    /// Virtual ranges hidden from a vCPU in user mode, as kernel memory is under Linux's
    /// page-table isolation: while the vCPU selected with `Hg` has `cs & 3 != 0`, an `m`
    /// request touching one of them answers `E14` (whatever `regions` holds there). In kernel
    /// mode, and in physical mode, they change nothing. Empty by default.
    pub pti_hidden: Vec<Range<u64>>,
    /// Whether the stub has `Qqemu.PhyMemMode` (QEMU 7.2 does; the default). When false,
    /// `qqemu.Supported` leaves it out and `qqemu.PhyMemMode`/`Qqemu.PhyMemMode:` get the
    /// empty (unsupported) reply.
    pub phys_mem_mode_supported: bool,
    /// The vCPU (index) that reaches a planted breakpoint on a continue. 0 by default.
    pub breakpoint_vcpu: usize,
    /// How long a continue runs before reaching a planted breakpoint. Zero by default.
    pub breakpoint_delay: std::time::Duration,
    /// Whether the stub has QEMU's single-step flags (`qqemu.sstepbits`, `qqemu.sstep`,
    /// `Qqemu.sstep=`; the default). When false they get the empty (unsupported) reply and
    /// `qqemu.Supported` leaves them out.
    pub sstep_supported: bool,
    /// How many single steps stop without the vCPU running anything, as QEMU 7.2 (TCG) now
    /// and then answers a step. Any other step moves the stepped vCPU's `rip` by 1. 0 by
    /// default.
    pub stalled_steps: usize,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            vcpus: 2,
            page_size: 4096,
            packet_size: 4096,
            regions: Vec::new(),
            phys_regions: Vec::new(),
            cpus: Vec::new(),
            version: "7.2.0-fake".into(),
            rle: false,
            monitor_extra: BTreeMap::new(),
            running: true,
            pti_hidden: Vec::new(),
            phys_mem_mode_supported: true,
            breakpoint_vcpu: 0,
            breakpoint_delay: std::time::Duration::ZERO,
            sstep_supported: true,
            stalled_steps: 0,
        }
    }
}

impl FakeConfig {
    /// Mutable access to vCPU `index`'s state, filling in defaults up to it.
    pub fn vcpu_mut(&mut self, index: usize) -> &mut Vcpu {
        while self.cpus.len() <= index {
            let i = self.cpus.len();
            self.cpus.push(Vcpu::default_for(i));
        }
        #[allow(clippy::indexing_slicing)] // in bounds: the loop above filled up to `index`.
        &mut self.cpus[index]
    }

    /// Add a mapped region (builder style).
    pub fn with_region(mut self, region: Region) -> Self {
        self.regions.push(region);
        self
    }

    /// Set the number of vCPUs (builder style).
    pub fn with_vcpus(mut self, n: usize) -> Self {
        self.vcpus = n;
        self
    }

    /// Set the packet size (builder style).
    pub fn with_packet_size(mut self, n: usize) -> Self {
        self.packet_size = n;
        self
    }
}

/// A memory write the fake received (`M` packet), in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteRecord {
    /// Target address.
    pub addr: u64,
    /// The bytes written.
    pub data: Vec<u8>,
    /// Whether the whole range was mapped (and so written; otherwise the reply was `E14`).
    pub ok: bool,
    /// Whether it went to physical memory (`Qqemu.PhyMemMode:1` was in effect).
    pub phys: bool,
}

/// A running fake gdbstub. Dropping it (or calling [`FakeStub::stop`]) closes the current
/// connection, stops the server thread and joins it.
pub struct FakeStub {
    addr: SocketAddr,
    shared: Arc<Shared>,
    page_size: u64,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeStub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeStub")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl FakeStub {
    /// Bind `127.0.0.1:0` and start serving in a background thread. Fails on an invalid
    /// configuration (no vCPUs, packet size below 64, overlapping regions).
    pub fn start(cfg: FakeConfig) -> io::Result<FakeStub> {
        if cfg.vcpus == 0 {
            return Err(invalid("vcpus must be at least 1".into()));
        }
        if cfg.packet_size < 64 {
            return Err(invalid("packet_size must be at least 64".into()));
        }
        let mut memory = Memory::new();
        for r in cfg.regions {
            memory.map(r).map_err(|e| invalid(e.to_string()))?;
        }
        let mut phys = Memory::new();
        for r in cfg.phys_regions {
            phys.map(r).map_err(|e| invalid(format!("physical {e}")))?;
        }
        let mut cpus = cfg.cpus;
        cpus.truncate(cfg.vcpus);
        while cpus.len() < cfg.vcpus {
            cpus.push(Vcpu::default_for(cpus.len()));
        }
        let shared = Arc::new(Shared {
            counters: Default::default(),
            machine: Mutex::new(Machine {
                memory,
                phys,
                phys_mem_mode: false,
                sstep_flags: 0x7,
                last_step_flags: None,
                vcpus: cpus,
                pti_hidden: cfg.pti_hidden,
                breakpoints: Vec::new(),
                left_planted: None,
                breakpoint_vcpu: cfg.breakpoint_vcpu,
                breakpoint_delay: cfg.breakpoint_delay,
                stalled_steps: cfg.stalled_steps,
                state: if cfg.running {
                    RunState::Running
                } else {
                    RunState::Paused
                },
            }),
            writes: Mutex::new(Vec::new()),
            monitor_log: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
            stop: AtomicBool::new(false),
            current: Mutex::new(None),
            packet_size: cfg.packet_size,
            rle: cfg.rle,
            version: cfg.version,
            monitor_extra: cfg.monitor_extra,
            phys_mem_mode_supported: cfg.phys_mem_mode_supported,
            sstep_supported: cfg.sstep_supported,
        });
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("qmdb-fakestub-{}", addr.port()))
            .spawn(move || serve(listener, sh))?;
        Ok(FakeStub {
            addr,
            shared,
            page_size: cfg.page_size,
            thread: Some(thread),
        })
    }

    /// Where the fake listens (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configured page size (informational).
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// The advertised packet size in bytes.
    pub fn packet_size(&self) -> usize {
        self.shared.packet_size
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Zero the counters and clear the write and monitor logs.
    pub fn reset_stats(&self) {
        self.shared.counters.reset();
        lock(&self.shared.writes).clear();
        lock(&self.shared.monitor_log).clear();
    }

    /// Memory writes received since the start (or the last reset).
    pub fn writes(&self) -> Vec<WriteRecord> {
        lock(&self.shared.writes).clone()
    }

    /// Monitor command lines received (`qRcmd`, decoded), since the start (or last reset).
    pub fn monitor_log(&self) -> Vec<String> {
        lock(&self.shared.monitor_log).clone()
    }

    /// Why the last session ended on an error, if one did.
    pub fn last_error(&self) -> Option<String> {
        lock(&self.shared.last_error).clone()
    }

    /// Map another region while the fake runs.
    pub fn map_region(&self, region: Region) -> Result<(), MapError> {
        lock(&self.shared.machine).memory.map(region)
    }

    /// Unmap the region that starts exactly at `start`.
    pub fn unmap_region(&self, start: u64) -> Option<Region> {
        lock(&self.shared.machine).memory.unmap(start)
    }

    /// Map another physical region while the fake runs.
    pub fn map_phys_region(&self, region: Region) -> Result<(), MapError> {
        lock(&self.shared.machine).phys.map(region)
    }

    /// Unmap the physical region that starts exactly at `start`.
    pub fn unmap_phys_region(&self, start: u64) -> Option<Region> {
        lock(&self.shared.machine).phys.unmap(start)
    }

    /// Whether `Qqemu.PhyMemMode:1` is in effect. Like QEMU's, the mode is global and
    /// survives reconnects; tests can assert the client restored it.
    pub fn phys_mem_mode(&self) -> bool {
        lock(&self.shared.machine).phys_mem_mode
    }

    /// Read the fake's physical memory directly (all-or-nothing), bypassing the protocol.
    pub fn peek_phys_memory(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0; len];
        lock(&self.shared.machine)
            .phys
            .read(addr, &mut buf)
            .then_some(buf)
    }

    /// Read the fake's memory directly (all-or-nothing, like `m`), bypassing the protocol
    /// and the counters.
    pub fn peek_memory(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0; len];
        lock(&self.shared.machine)
            .memory
            .read(addr, &mut buf)
            .then_some(buf)
    }

    /// vCPU `index`'s current state (registers may have been changed by `G`/`P`).
    pub fn vcpu(&self, index: usize) -> Option<Vcpu> {
        lock(&self.shared.machine).vcpus.get(index).cloned()
    }

    /// Replace vCPU `index`'s state. Returns false if there is no such vCPU.
    pub fn set_vcpu(&self, index: usize, vcpu: Vcpu) -> bool {
        match lock(&self.shared.machine).vcpus.get_mut(index) {
            Some(v) => {
                *v = vcpu;
                true
            }
            None => false,
        }
    }

    /// The breakpoints and watchpoints planted now: `(type 0-4, address, kind or length)`.
    pub fn breakpoints(&self) -> Vec<(u8, u64, u64)> {
        lock(&self.shared.machine).breakpoints.clone()
    }

    /// The breakpoints and watchpoints the last session left planted when it ended (by `D`,
    /// closing the connection or an error), before `D` dropped them. A client that cleans up
    /// leaves none, whichever way it left. The stub sees a closed connection a moment after
    /// the client closed it: this waits up to 5 s for a session to end, then says `None`.
    pub fn planted_at_session_end(&self) -> Option<Vec<(u8, u64, u64)>> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let left = lock(&self.shared.machine).left_planted.clone();
            if left.is_some() || std::time::Instant::now() >= deadline {
                return left;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// QEMU's single-step flags now (`qqemu.sstep`).
    pub fn sstep_flags(&self) -> u64 {
        lock(&self.shared.machine).sstep_flags
    }

    /// Sets the single-step flags, as a previous debugger session could have left them.
    pub fn set_sstep_flags(&self, flags: u64) {
        lock(&self.shared.machine).sstep_flags = flags;
    }

    /// The single-step flags in effect when the last step was acted on; `None` before any.
    pub fn last_step_flags(&self) -> Option<u64> {
        lock(&self.shared.machine).last_step_flags
    }

    /// Whether the fake VM is "running": after a continue not yet interrupted, or after a
    /// detach (`D`) until the next connection.
    pub fn vm_running(&self) -> bool {
        lock(&self.shared.machine).state == RunState::Running
    }

    /// Stop the server and join its thread (same as dropping).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        {
            let cur = lock(&self.shared.current);
            self.shared.stop.store(true, Relaxed);
            if let Some(s) = cur.as_ref() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        // Wake a blocking accept().
        let _ = TcpStream::connect(self.addr);
        let _ = thread.join();
    }
}

impl Drop for FakeStub {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        let stream = {
            let mut cur = lock(&shared.current);
            if shared.stop.load(Relaxed) {
                return;
            }
            let Ok((stream, _)) = accepted else {
                continue;
            };
            match stream.try_clone() {
                Ok(clone) => *cur = Some(clone),
                Err(_) => continue,
            }
            stream
        };
        shared.counters.sessions.fetch_add(1, Relaxed);
        // Connecting stops the VM, as in QEMU, which reports that stop at once (in the
        // pre-multiprocess thread-id form, nothing having been negotiated yet).
        let was_running = {
            let mut m = lock(&shared.machine);
            m.breakpoints.clear();
            std::mem::replace(&mut m.state, RunState::Paused) == RunState::Running
        };
        if was_running {
            let _ = (&stream).write_all(b"$T02thread:01;#04");
        }
        run_session(stream, &shared);
        if let Some(s) = lock(&shared.current).take() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn run_session(stream: TcpStream, shared: &Arc<Shared>) {
    lock(&shared.machine).left_planted = None;
    let patch = conn::ReplyPatch::default();
    let conn = conn::Conn::new(stream, shared.clone(), patch.clone());
    let mut target = FakeTarget::new(shared.clone(), patch);
    let gdb = match GdbStub::<FakeTarget, conn::Conn>::builder(conn)
        .packet_buffer_size(shared.packet_size)
        .build()
    {
        Ok(gdb) => gdb,
        Err(e) => {
            *lock(&shared.last_error) = Some(format!("building the stub: {e:?}"));
            return;
        }
    };
    let ended = gdb.run_blocking::<EventLoop>(&mut target);
    // What is left when the session ends, recorded once its end is handled: a test that
    // waits for it sees the rest of the end too.
    let left = lock(&shared.machine).breakpoints.clone();
    match ended {
        Ok(DisconnectReason::Disconnect) => {
            // `D`: QEMU drops the breakpoints and resumes the VM.
            let mut m = lock(&shared.machine);
            m.breakpoints.clear();
            m.state = RunState::Running;
        }
        Ok(_) => {}
        Err(e) => {
            let text = format!("{e:?}");
            // The client closing the connection is a normal end (QEMU leaves the VM stopped).
            let closed = matches!(
                e.into_connection_error(),
                Some((ref io, _)) if matches!(
                    io.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::BrokenPipe
                )
            );
            if !closed && !shared.stop.load(Relaxed) {
                shared.counters.session_errors.fetch_add(1, Relaxed);
                *lock(&shared.last_error) = Some(text);
            }
        }
    }
    lock(&shared.machine).left_planted = Some(left);
}
