//! Booting, sharing and killing real guests through `scripts/guest`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::monitor;
use super::truth::Truth;
use super::{guest_script, qmdb_cmd};

/// The Debian cloud kernels the fixture knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelVersion {
    /// bookworm's `linux-image-cloud-amd64` (the host's own suite).
    V6_1,
    /// trixie's `linux-image-cloud-amd64`.
    V6_12,
    /// sid's `linux-image-cloud-amd64`: the newest kernel Debian ships, resolved when
    /// `scripts/guest setup` runs (7.2 when these tests were written).
    Newest,
}

impl KernelVersion {
    pub const ALL: [KernelVersion; 3] = [
        KernelVersion::V6_1,
        KernelVersion::V6_12,
        KernelVersion::Newest,
    ];

    /// The name `scripts/guest --kernel` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            KernelVersion::V6_1 => "6.1",
            KernelVersion::V6_12 => "6.12",
            KernelVersion::Newest => "newest",
        }
    }
}

/// A broken guest (`scripts/guest boot --scenario`): what the fixture does to the kernel
/// once the truth is written. See `scripts/fixture/init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// `echo c > /proc/sysrq-trigger` with `panic=0`: the panicking CPU spins in
    /// `panic()`, the others are stopped by `smp_send_stop()`.
    Panic,
    /// Two `qmdb-hung` writers in D state on a frozen ext2 on a brd RAM disk, reported by
    /// the hung-task detector (`QMDB-HUNG`/`QMDB-HUNGSTACK` lines on the console).
    Hung,
    /// `poweroff -f` under QEMU's `-no-shutdown`: the VM stays, halted.
    Poweroff,
    /// `reboot -f` under `-no-reboot -no-shutdown`: the VM stays, halted.
    Reboot,
}

impl Scenario {
    /// The name `scripts/guest boot --scenario` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Panic => "panic",
            Scenario::Hung => "hung",
            Scenario::Poweroff => "poweroff",
            Scenario::Reboot => "reboot",
        }
    }
}

/// How to boot a guest. `GuestOpts { nokaslr: true, ..GuestOpts::default() }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuestOpts {
    pub kernel: KernelVersion,
    /// Boot with `nokaslr` (KASLR is on by default, as in the distribution).
    pub nokaslr: bool,
    /// `-smp`.
    pub smp: u32,
    /// Extra sleeping processes (`qmdb-extra`), `qmdb.sleepers=N`.
    pub sleepers: u32,
    /// `-cpu`; `None` is `qemu64` (AMD vendor: no page-table isolation).
    pub cpu: Option<String>,
    /// Start stopped before the first instruction (QEMU `-S`; `scripts/guest boot
    /// --paused`): no truth, the monitor's `cont` starts the boot.
    pub paused: bool,
    /// Break the guest once its truth is written; the boot returns once it is broken.
    pub scenario: Option<Scenario>,
    /// Extra kernel command-line arguments (`--append`, e.g. `vsyscall=emulate`).
    pub append: Option<String>,
}

impl Default for GuestOpts {
    fn default() -> Self {
        GuestOpts {
            kernel: KernelVersion::V6_1,
            nokaslr: false,
            smp: 2,
            sleepers: 5,
            cpu: None,
            paused: false,
            scenario: None,
            append: None,
        }
    }
}

impl GuestOpts {
    /// The defaults, for `kernel`.
    pub fn new(kernel: KernelVersion) -> Self {
        GuestOpts {
            kernel,
            ..GuestOpts::default()
        }
    }
}

/// A running QEMU guest. Dropping it kills QEMU (SIGTERM, SIGKILL after 3 s).
pub struct Guest {
    opts: GuestOpts,
    port: u16,
    pid: u32,
    kernel_path: PathBuf,
    release: String,
    boot_secs: f64,
    dir: Option<tempfile::TempDir>,
    dir_path: PathBuf,
    truth: Truth,
    attach: Mutex<()>,
}

/// Boots are serialised within a test process: each boot keeps a core busy.
static BOOT_LOCK: Mutex<()> = Mutex::new(());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

const SETUP_HINT: &str = "the real guest fixture is not usable here. Set it up with \
     `scripts/guest setup --kernel all` (installs qemu-system-x86, busybox-static, cpio, gcc, \
     gdb, tmux... from Debian and downloads and caches the 6.1 and 6.12 cloud kernels; \
     .ci/run does this)";

impl Guest {
    /// Boots a guest into a fresh temporary directory and waits until its
    /// truth is complete. Panics, naming `scripts/guest setup`, if it cannot.
    pub fn boot(opts: GuestOpts) -> Guest {
        Guest::boot_watching(opts, std::process::id())
    }

    /// Like [`Guest::boot`], but QEMU's watchdog follows `watch_pid` instead
    /// of this test process (for testing the watchdog itself).
    pub fn boot_watching(opts: GuestOpts, watch_pid: u32) -> Guest {
        let dir = tempfile::Builder::new()
            .prefix("qmdb-guest.")
            .tempdir()
            .expect("cannot create a temporary directory for the guest");
        // QMDB_KEEP_GUEST_DIR=1 keeps console.txt, truth.txt... for a post-mortem.
        let keep = std::env::var_os("QMDB_KEEP_GUEST_DIR").is_some();
        let mut cmd = Command::new(guest_script());
        cmd.arg("boot")
            .args(["--kernel", opts.kernel.as_str()])
            .args(["--smp", &opts.smp.to_string()])
            .args(["--sleepers", &opts.sleepers.to_string()])
            .arg("--dir")
            .arg(dir.path())
            .args(["--watch-pid", &watch_pid.to_string()]);
        if !keep {
            // The watchdog removes the directory of a guest nobody dropped.
            cmd.arg("--rm-dir");
        }
        if opts.nokaslr {
            cmd.arg("--nokaslr");
        }
        if let Some(cpu) = &opts.cpu {
            cmd.args(["--cpu", cpu]);
        }
        if opts.paused {
            cmd.arg("--paused");
        }
        if let Some(s) = opts.scenario {
            cmd.args(["--scenario", s.as_str()]);
        }
        if let Some(a) = &opts.append {
            cmd.args(["--append", a]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        let out = {
            let _boot = lock(&BOOT_LOCK);
            cmd.output().unwrap_or_else(|e| {
                panic!("cannot run {}: {e}; {SETUP_HINT}", guest_script().display())
            })
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            panic!(
                "`scripts/guest boot` for {opts:?} failed ({}):\n{stderr}\n{stdout}\n{SETUP_HINT}",
                out.status
            );
        }
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("port="))
            .unwrap_or_else(|| {
                panic!("no `port=` line from scripts/guest boot:\n{stdout}\n{stderr}")
            });
        let kv: HashMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        let field = |k: &str| -> &str {
            kv.get(k)
                .copied()
                .unwrap_or_else(|| panic!("no `{k}=` in boot line {line:?}"))
        };
        let port: u16 = field("port").parse().expect("bad port in boot line");
        let pid: u32 = field("pid").parse().expect("bad pid in boot line");
        // Until the Guest exists, a panic here must still kill QEMU.
        let guard = KillOnDrop(pid);
        let dir_path = PathBuf::from(field("dir"));
        let truth = if opts.paused {
            Truth::default()
        } else {
            Truth::from_file(&dir_path.join("truth.txt"))
                .unwrap_or_else(|e| panic!("bad guest truth: {e}"))
        };
        let guest = Guest {
            port,
            pid,
            kernel_path: PathBuf::from(field("kernel")),
            release: field("release").to_string(),
            boot_secs: kv.get("boot_s").and_then(|s| s.parse().ok()).unwrap_or(0.0),
            dir_path,
            dir: if keep {
                let _ = dir.keep();
                None
            } else {
                Some(dir)
            },
            opts,
            truth,
            attach: Mutex::new(()),
        };
        std::mem::forget(guard);
        eprintln!(
            "guest: booted {} ({}) in {:.1}s: gdb {} pid {} dir {}",
            guest.opts.kernel.as_str(),
            guest.release,
            guest.boot_secs,
            guest.gdb_addr(),
            guest.pid,
            guest.dir_path.display()
        );
        guest
    }

    pub fn opts(&self) -> &GuestOpts {
        &self.opts
    }

    /// The gdbstub's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, for `qmdb --target`.
    pub fn gdb_addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// QEMU's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The vmlinuz (bzImage) the guest runs, for `qmdb --kernel`.
    pub fn kernel_path(&self) -> &Path {
        &self.kernel_path
    }

    /// Its config file (`CONFIG_...=`), next to the vmlinuz.
    pub fn kernel_config_path(&self) -> PathBuf {
        self.kernel_path.with_file_name("config")
    }

    /// The kernel release (`uname -r`).
    pub fn release(&self) -> &str {
        &self.release
    }

    /// Seconds from starting QEMU to a complete truth.
    pub fn boot_secs(&self) -> f64 {
        self.boot_secs
    }

    /// The guest's directory (console.txt, truth.txt, monitor.sock, ...).
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    /// The ground truth the guest wrote after boot.
    pub fn truth(&self) -> &Truth {
        &self.truth
    }

    /// Everything the guest printed on its console (ttyS0) so far.
    pub fn console(&self) -> String {
        let bytes = std::fs::read(self.dir_path.join("console.txt")).unwrap_or_default();
        String::from_utf8_lossy(&bytes).replace('\r', "")
    }

    /// The last `QMDB-TICK <n>` the ticker printed, if any.
    pub fn last_tick(&self) -> Option<u64> {
        self.console()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("QMDB-TICK ")?.trim().parse().ok())
    }

    /// The highest `QMDB-NAP <n>` the napper printed (it prints one each round), if any.
    pub fn last_nap(&self) -> Option<u64> {
        self.console()
            .lines()
            .filter_map(|l| l.trim().strip_prefix("QMDB-NAP "))
            .filter_map(|n| n.parse().ok())
            .max()
    }

    /// The napper's pid and the address of its counter, from its `QMDB-NAPPER pid=P
    /// counter=ADDR` console line; panics if the line is missing or malformed.
    pub fn napper(&self) -> (u32, u64) {
        let console = self.console();
        let line = console
            .lines()
            .find_map(|l| l.trim_end().strip_prefix("QMDB-NAPPER "))
            .expect("no QMDB-NAPPER line on the console");
        let mut pid = None;
        let mut counter = None;
        for kv in line.split_whitespace() {
            match kv.split_once('=') {
                Some(("pid", v)) => pid = v.parse().ok(),
                Some(("counter", v)) => {
                    counter = u64::from_str_radix(v.trim_start_matches("0x"), 16).ok()
                }
                _ => {}
            }
        }
        let pid = pid.unwrap_or_else(|| panic!("no napper pid in {line:?}"));
        (
            pid,
            counter.unwrap_or_else(|| panic!("no counter in {line:?}")),
        )
    }

    /// Waits until the napper has printed `rounds` more `QMDB-NAP` lines than now: the
    /// guest runs freely (no stale breakpoint holds it).
    pub fn napper_progresses(&self, rounds: u64, timeout: Duration) -> bool {
        let before = self.last_nap().unwrap_or(0);
        self.wait_console(&format!("QMDB-NAP {}", before + rounds), timeout)
    }

    /// Waits until the console contains `needle`; false on timeout.
    pub fn wait_console(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.console().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The QEMU HMP monitor socket.
    pub fn monitor_path(&self) -> PathBuf {
        self.dir_path.join("monitor.sock")
    }

    /// Runs an HMP command (`info registers`, `x/2gx 0x...`) on QEMU's
    /// monitor and returns its output.
    pub fn monitor(&self, command: &str) -> String {
        monitor::hmp(&self.monitor_path(), command, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("HMP `{command}` failed: {e}"))
    }

    /// Serialises gdbstub users: QEMU accepts one gdb client at a time, so
    /// tests sharing a guest hold this while attached.
    pub fn attach_lock(&self) -> MutexGuard<'_, ()> {
        lock(&self.attach)
    }

    /// `qmdb --target 127.0.0.1:PORT --kernel VMLINUZ`, ready for more args.
    pub fn qmdb(&self) -> Command {
        let mut c = qmdb_cmd();
        c.arg("--target")
            .arg(self.gdb_addr())
            .arg("--kernel")
            .arg(&self.kernel_path);
        c
    }

    /// `qmdb --target 127.0.0.1:PORT` with no kernel file: qmdb finds the kernel in guest
    /// memory, caching what it derives under `cache` (`QMDB_CACHE`).
    pub fn qmdb_from_memory(&self, cache: &Path) -> Command {
        let mut c = qmdb_cmd();
        c.env("QMDB_CACHE", cache)
            .arg("--target")
            .arg(self.gdb_addr());
        c
    }

    /// Runs `qmdb --kernel` on this guest with `args` (holding the attach lock), asserts it
    /// succeeded, and returns its stdout.
    pub fn qmdb_ok(&self, args: &[&str]) -> String {
        let _attached = self.attach_lock();
        let o = self
            .qmdb()
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run qmdb");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "qmdb {args:?} failed:\n{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    }

    /// Runs one `qmdb --kernel --json` session with `-e` per command (holding the attach
    /// lock), some of whose commands may fail (the session then exits 1: each record says
    /// so), and returns each command's record.
    pub fn json_records_any(&self, cmds: &[&str]) -> Vec<serde_json::Value> {
        let _attached = self.attach_lock();
        self.json_records_attached(cmds)
    }

    /// [`Guest::json_records_any`] for a caller that holds the attach lock already.
    pub fn json_records_attached(&self, cmds: &[&str]) -> Vec<serde_json::Value> {
        let mut c = self.qmdb();
        c.arg("--json");
        for cmd in cmds {
            c.args(["-e", cmd]);
        }
        let o = c
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run qmdb");
        let recs: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(
            recs.len(),
            cmds.len(),
            "{cmds:?}: {recs:?} {}",
            String::from_utf8_lossy(&o.stderr)
        );
        recs
    }

    /// Runs one `qmdb --kernel --json` session with `-e` per command (holding the attach
    /// lock), asserts it succeeded, and returns each command's JSON record.
    pub fn json_records(&self, cmds: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["--json"];
        for c in cmds {
            args.extend(["-e", c]);
        }
        self.qmdb_ok(&args)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Whether QEMU still runs.
    pub fn is_alive(&self) -> bool {
        qemu_alive(self.pid)
    }
}

struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        kill_qemu(self.0);
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        kill_qemu(self.pid);
    }
}

/// Whether `pid` is a live (not zombie) qemu-system process.
pub fn qemu_alive(pid: u32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if !comm.starts_with("qemu-system") {
        return false;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    match stat.rfind(") ") {
        Some(i) => !stat[i + 2..].starts_with('Z'),
        None => false,
    }
}

/// Sends `sig` to `pid` with kill(1), and fails the test if kill does.
pub fn signal_ok(pid: u32, sig: &str) {
    let killed = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success(), "kill {sig} {pid}: {killed}");
}

/// Sends `sig` (`-TERM`, `-INT`...) to `pid`, ignoring failure (it may be gone).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while qemu_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// SIGTERM, then SIGKILL after a 3 s grace; only if `pid` is a QEMU.
pub fn kill_qemu(pid: u32) {
    if !qemu_alive(pid) {
        return;
    }
    signal(pid, "-TERM");
    if !wait_gone(pid, Duration::from_secs(3)) {
        signal(pid, "-KILL");
        wait_gone(pid, Duration::from_secs(5));
    }
}

/// The guest with default options for `kernel`, booted once per test process
/// and shared by every test in it. See the module docs for how it is killed.
pub fn shared_guest(kernel: KernelVersion) -> &'static Guest {
    shared_guest_with(GuestOpts::new(kernel))
}

/// The shared guest for `opts`, booted on first use. Tests that share a guest
/// must leave it running and unchanged (qmdb detaches, resuming the VM), and
/// hold [`Guest::attach_lock`] while talking to its gdbstub.
pub fn shared_guest_with(opts: GuestOpts) -> &'static Guest {
    type Slots = Mutex<HashMap<GuestOpts, &'static OnceLock<Guest>>>;
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    let slot: &'static OnceLock<Guest> = lock(SLOTS.get_or_init(Default::default))
        .entry(opts.clone())
        .or_insert_with(|| Box::leak(Box::new(OnceLock::new())));
    slot.get_or_init(|| Guest::boot(opts))
}
