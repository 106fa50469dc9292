//! End-to-end: stock gdb (Debian's) against `qmdb proxy` in front of the real 6.1 guest:
//! kernel tasks as gdb threads, a sleeping task's saved registers, dcmds through
//! `monitor`, breakpoints, continue and Ctrl-C forwarded to QEMU, `kill` that leaves QEMU
//! running, reconnection, and a second gdb refused. With Debian's debug vmlinux
//! (`scripts/guest dbg-vmlinux`): symbols placed at the KASLR slide by `qOffsets` alone,
//! backtraces as `::findstack`'s, and the kernel's own gdb scripts (`scripts/guest
//! gdb-scripts`: lx-ps, lx-dmesg, lx-lsmod, `$lx_current`).
//!
//! Every test holds the guest's attach lock while its proxy runs (the proxy is QEMU's one
//! gdb client); every process started is killed if the test fails.

mod support;

use support::gdb::{
    findstack_frames, gdb_frames, gdb_machine_frames, gdb_reg, same_function, GdbFrame,
};
use support::guest::signal;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{guest_script, qmdb_cmd, shared_guest, Guest, KernelVersion};

/// How long a proxy may take to attach and print its `listening` line.
const PROXY_START: Duration = Duration::from_secs(120);
/// How long one gdb run may take.
const GDB_TIMEOUT: Duration = Duration::from_secs(180);

fn guest() -> &'static Guest {
    shared_guest(KernelVersion::V6_1)
}

/// Fails (never skips) when gdb is missing.
fn require_gdb() {
    match Command::new("gdb")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`gdb --version` failed ({}): install gdb with `scripts/guest setup`",
            o.status
        ),
        Err(e) => panic!("gdb is not installed ({e}): run `scripts/guest setup`"),
    }
}

/// Waits at most `timeout` for `child` to exit.
fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `qmdb proxy`. Dropping it ends it: SIGTERM (it detaches, leaving the VM
/// running for the next test), SIGKILL if it does not exit.
struct Proxy {
    child: Option<Child>,
    /// `127.0.0.1:PORT`, from its `listening on` line.
    addr: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Proxy {
    /// Starts `qmdb proxy` on a free loopback port in front of `guest`, and waits for its
    /// `listening` line.
    fn start(guest: &Guest, extra: &[&str]) -> Proxy {
        let mut child = qmdb_cmd()
            .arg("proxy")
            .args(["--listen", "127.0.0.1:0", "--target"])
            .arg(guest.gdb_addr())
            .arg("--kernel")
            .arg(guest.kernel_path())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run qmdb proxy");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let log = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                log.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let err = child.stderr.take().expect("stderr");
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut err = err;
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut proxy = Proxy {
            child: Some(child),
            addr: String::new(),
            stdout,
            stderr,
        };
        let deadline = Instant::now() + PROXY_START;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("qmdb proxy: listening on ") {
                        let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                        assert!(
                            line.ends_with(&format!("for gdb (target remote {addr})")),
                            "{line}"
                        );
                        assert!(
                            addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
                            "the actual port is printed: {line}"
                        );
                        proxy.addr = addr;
                        return proxy;
                    }
                }
                Err(_) => panic!(
                    "qmdb proxy printed no `listening` line in {PROXY_START:?}:\n{}",
                    proxy.logs()
                ),
            }
        }
    }

    fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn logs(&self) -> String {
        format!(
            "--- proxy stdout:\n{}--- proxy stderr:\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    /// SIGTERM, and its exit status and stderr once it has exited.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "-TERM");
        let status = match wait_timeout(&mut child, Duration::from_secs(20)) {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("qmdb proxy did not exit on SIGTERM:\n{}", self.logs());
            }
        };
        // Let the reader threads take the last bytes.
        std::thread::sleep(Duration::from_millis(200));
        (status, self.stderr.lock().unwrap().clone())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "-TERM");
            if wait_timeout(&mut c, Duration::from_secs(10)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// A gdb process; killed when dropped.
struct Gdb {
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl Gdb {
    /// Starts `gdb -batch -nx` connected to `addr`, then running `cmds`; stdout and stderr
    /// go, interleaved as gdb wrote them, to one file.
    fn spawn(addr: &str, cmds: &[&str]) -> Gdb {
        Gdb::spawn_with(None, addr, cmds)
    }

    /// [`Gdb::spawn`], loading the symbol file `file` (`file FILE`) before `target remote`
    /// when given.
    fn spawn_with(file: Option<&Path>, addr: &str, cmds: &[&str]) -> Gdb {
        let log = tempfile::NamedTempFile::new().expect("temporary file");
        // One open file description (one offset) for both, as `2>&1` does.
        let out = log.as_file().try_clone().expect("dup log");
        let err = log.as_file().try_clone().expect("dup log");
        let mut c = Command::new("gdb");
        c.args(["-batch", "-nx", "-ex", "set pagination off"]);
        if let Some(f) = file {
            c.arg("-ex").arg(format!("file {}", f.display()));
        }
        c.arg("-ex").arg(format!("target remote {addr}"));
        for cmd in cmds {
            c.args(["-ex", cmd]);
        }
        let child = c
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run gdb ({e}): run `scripts/guest setup`"));
        Gdb {
            child: Some(child),
            log,
        }
    }

    /// What gdb printed so far.
    fn output(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits until gdb printed `needle`; false on timeout or if gdb exited first.
    fn wait_output(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.output().contains(needle) {
                return true;
            }
            let exited = self
                .child
                .as_mut()
                .is_none_or(|c| !matches!(c.try_wait(), Ok(None)));
            if exited || Instant::now() >= deadline {
                return self.output().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for gdb to exit; its output. Panics (killing gdb) on a timeout or a failure.
    fn finish(mut self, proxy: &Proxy) -> String {
        let mut child = self.child.take().expect("running");
        let status = wait_timeout(&mut child, GDB_TIMEOUT);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let text = self.output();
        match status {
            Some(s) if s.success() => text,
            Some(s) => panic!("gdb failed ({s}):\n{text}\n{}", proxy.logs()),
            None => panic!(
                "gdb did not finish in {GDB_TIMEOUT:?}:\n{text}\n{}",
                proxy.logs()
            ),
        }
    }
}

impl Drop for Gdb {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs gdb with `cmds` to the end; its output.
fn gdb(proxy: &Proxy, cmds: &[&str]) -> String {
    Gdb::spawn(&proxy.addr, cmds).finish(proxy)
}

/// The text between `echo @@name` markers: `@@from\n ... @@to`.
fn section<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text
        .find(&format!("@@{from}\n"))
        .unwrap_or_else(|| panic!("no marker @@{from}:\n{text}"))
        + from.len()
        + 3;
    let end = text[start..]
        .find(&format!("@@{to}\n"))
        .map_or(text.len(), |i| start + i);
    &text[start..end]
}

/// `echo @@name\n`, as a gdb command.
fn mark(name: &str) -> String {
    format!("echo @@{name}\\n")
}

/// The rows of gdb's `info threads`: (gdb id, target id and extra info, whole line).
fn thread_rows(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start().trim_start_matches("* ").trim_start();
            let (id, rest) = l.split_once(char::is_whitespace)?;
            let id = id.parse().ok()?;
            rest.trim_start()
                .starts_with("Thread ")
                .then(|| (id, rest.trim().to_string()))
        })
        .collect()
}

/// The frame lines of `::findstack -v` output (`[ sp func+off() ] pc X start`, `  sp ...`).
fn frame_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("[ ") || l.starts_with("  "))
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// Prints the selected thread's extra info (`thread` does not show it), as `@@details ...`.
const PRINT_DETAILS: &str = "python gdb.write('@@details %s\\n' % gdb.selected_thread().details)";

/// Selects the gdb thread whose extra info contains `needle` (a Python one-liner).
fn select_thread(needle: &str) -> String {
    format!(
        "python ts = [t for t in gdb.selected_inferior().threads() if '{needle}' in \
         (t.details or '')]; gdb.write('@@selected %d\\n' % len(ts)); ts[0].switch()"
    )
}

/// `info threads` lists every task `::walk thread` finds; `::findstack` through `monitor`
/// is script mode's; a sleeping task's registers are its saved ones.
#[test]
fn tasks_are_threads_with_their_saved_registers() {
    tasks_are_threads(guest());
}

#[test]
fn tasks_are_threads_with_their_saved_registers_newest() {
    tasks_are_threads(shared_guest(KernelVersion::Newest));
}

fn tasks_are_threads(guest: &Guest) {
    require_gdb();
    let truth = guest.truth();
    let fifo = truth
        .tasks_named("qmdb-fifo")
        .next()
        .expect("the fixture has qmdb-fifo");
    // Script mode first (it takes the lock itself).
    let script = guest.qmdb_ok(&["-e", "::pgrep -x qmdb-fifo | ::findstack -v"]);
    let want_frames = frame_lines(&script);
    assert!(
        want_frames.len() >= 3 && want_frames[0].contains("__schedule+0x"),
        "{script}"
    );
    let header_sp = script
        .lines()
        .next()
        .and_then(|h| h.rsplit(": ").next())
        .and_then(|sp| u64::from_str_radix(sp.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no stack pointer in {script}"));
    let first_pc = want_frames[0]
        .rsplit("pc ")
        .next()
        .and_then(|p| p.split_whitespace().next())
        .and_then(|p| u64::from_str_radix(p, 16).ok())
        .unwrap_or_else(|| panic!("no pc in {}", want_frames[0]));

    let _attached = guest.attach_lock();
    let proxy = Proxy::start(guest, &[]);
    let text = gdb(
        &proxy,
        &[
            &mark("threads"),
            "info threads",
            &mark("walk"),
            "monitor ::walk thread",
            &mark("findstack"),
            "monitor ::pgrep -x qmdb-fifo | ::findstack -v",
            &mark("select"),
            &select_thread(&format!("pid {} qmdb-fifo ", fifo.tid)),
            PRINT_DETAILS,
            "info registers rip rsp cs ss",
            &mark("bt"),
            "bt 3",
            &mark("help"),
            "monitor help",
            &mark("end"),
            "detach",
        ],
    );
    let threads = thread_rows(section(&text, "threads", "walk"));
    let walk: Vec<&str> = section(&text, "walk", "findstack")
        .lines()
        .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_hexdigit()))
        .collect();
    assert!(
        walk.len() > 50,
        "::walk thread found too few tasks:\n{text}"
    );
    assert_eq!(
        threads.len(),
        walk.len(),
        "info threads lists one thread per task of ::walk thread:\n{text}"
    );
    // The fixture's sleepers are there, by pid and comm.
    for t in truth.tasks_named("qmdb-sleeper") {
        let needle = format!("(pid {} qmdb-sleeper S", t.tid);
        assert!(
            threads.iter().any(|(_, row)| row.contains(&needle)),
            "{needle} not in info threads:\n{text}"
        );
    }
    // The tasks on a vCPU say so, one per vCPU.
    let on_vcpu = threads
        .iter()
        .filter(|(_, r)| r.contains(" on vCPU "))
        .count();
    assert_eq!(on_vcpu as u32, truth.nproc, "{text}");

    // ::findstack through monitor is script mode's.
    let got = frame_lines(section(&text, "findstack", "select"));
    assert_eq!(got, want_frames, "monitor ::findstack:\n{text}");

    // The fifo's thread: its saved pc (ret_addr, in __schedule) and stack pointer.
    let sel = section(&text, "select", "bt");
    assert!(sel.contains("@@selected 1"), "{text}");
    assert!(
        sel.contains(&format!("@@details pid {} qmdb-fifo S\n", fifo.tid)),
        "{text}"
    );
    assert_eq!(gdb_reg(sel, "rip"), first_pc, "{text}");
    assert_eq!(
        gdb_reg(sel, "rsp"),
        header_sp + 0x38,
        "rsp is thread.sp + sizeof(struct inactive_task_frame):\n{text}"
    );
    assert_eq!(gdb_reg(sel, "cs"), 0x10, "{text}");
    assert_eq!(gdb_reg(sel, "ss"), 0x18, "{text}");
    let bt = section(&text, "bt", "help");
    assert!(
        bt.contains(&format!("#0  0x{first_pc:016x}")),
        "bt starts at the saved pc:\n{text}"
    );
    let help = section(&text, "help", "end");
    assert!(
        help.contains("monitor qemu") && help.contains("findstack"),
        "{text}"
    );
    let (status, stderr) = proxy.stop();
    assert!(status.success(), "{status}: {stderr}");
}

/// A breakpoint on a kernel function the ticker reaches every second is hit and reported
/// against that task; Ctrl-C stops the VM; after `delete` and `detach` it runs on.
#[test]
fn breakpoints_continue_and_ctrl_c() {
    require_gdb();
    let guest = guest();
    let truth = guest.truth();
    let ticker = truth
        .tasks_named("qmdb-ticker")
        .next()
        .expect("the fixture has qmdb-ticker");
    // The ticker's `read -t 1` polls: __x64_sys_poll, once a second.
    let out = guest.qmdb_ok(&["-e", "__x64_sys_poll=K"]);
    let poll = u64::from_str_radix(out.trim(), 16).unwrap_or_else(|e| panic!("{e}: {out}"));

    let _attached = guest.attach_lock();
    let proxy = Proxy::start(guest, &[]);
    let brk = format!("break *{poll:#x}");
    let text = gdb(
        &proxy,
        &[
            &brk,
            // dcmds at each stop: the breakpoint's commands run one through `monitor`.
            "python gdb.breakpoints()[0].commands = 'monitor $c'",
            &mark("refused"),
            "monitor ::cont -T 1",
            "monitor ::step",
            "monitor ::status ! touch /tmp/qmdb-proxy-shell-ran",
            &mark("cont"),
            "continue",
            &mark("hit"),
            PRINT_DETAILS,
            "info registers rip",
            &mark("delete"),
            "delete",
            "detach",
        ],
    );
    let hit = section(&text, "hit", "delete");
    // gdb runs the guest: qmdb's continue and step are refused, saying what to use instead.
    let refused = section(&text, "refused", "cont");
    for cmd in ["::cont", "::step"] {
        assert!(
            refused.contains(&format!("refused: {cmd}: gdb runs the guest in proxy mode")),
            "{text}"
        );
    }
    // Nor does a `monitor` command get a shell on the proxy's machine.
    assert!(
        refused.contains("refused: '!' runs a shell command"),
        "{text}"
    );
    assert!(
        !std::path::Path::new("/tmp/qmdb-proxy-shell-ran").exists(),
        "the proxy ran a shell command"
    );
    let cont = section(&text, "cont", "hit");
    assert!(cont.contains("hit Breakpoint 1"), "{text}");
    assert!(
        cont.lines().any(|l| l.starts_with("__x64_sys_poll(")),
        "no `monitor $c` of the stopped vCPU after the hit:\n{text}"
    );
    assert_eq!(gdb_reg(hit, "rip"), poll, "{text}");
    assert!(
        hit.contains(&format!(
            "@@details pid {} qmdb-ticker R on vCPU ",
            ticker.tid
        )),
        "the stop is reported against the ticker's task:\n{text}\n{}",
        proxy.logs()
    );
    // Detached: the VM runs, the ticker ticks.
    let tick = guest.last_tick().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while guest.last_tick().unwrap_or(0) <= tick {
        assert!(
            Instant::now() < deadline,
            "the guest does not run after detach:\n{text}\n{}",
            proxy.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Ctrl-C while continuing: gdb sends it, the VM stops, gdb gets control back.
    let mut g = Gdb::spawn(
        &proxy.addr,
        &[
            &mark("cont"),
            "continue",
            &mark("stopped"),
            "info registers rip",
            &mark("end"),
            "detach",
        ],
    );
    assert!(
        g.wait_output("@@cont", Duration::from_secs(60)),
        "{}",
        g.output()
    );
    std::thread::sleep(Duration::from_secs(2));
    signal(g.pid(), "-INT");
    let text = g.finish(&proxy);
    assert!(
        section(&text, "cont", "stopped").contains("received signal SIGINT"),
        "{text}"
    );
    gdb_reg(section(&text, "stopped", "end"), "rip");
    let (status, stderr) = proxy.stop();
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        guest.monitor("info status").contains("running"),
        "the proxy left the VM running"
    );
}

/// gdb's `kill` never kills QEMU: the proxy detaches (the VM runs on) and takes the next
/// gdb.
#[test]
fn kill_leaves_qemu_running_and_gdb_can_reconnect() {
    require_gdb();
    let guest = guest();
    let _attached = guest.attach_lock();
    let mut proxy = Proxy::start(guest, &[]);
    let text = gdb(&proxy, &["info threads", &mark("kill"), "kill"]);
    assert!(section(&text, "kill", "none").contains("killed"), "{text}");
    std::thread::sleep(Duration::from_secs(1));
    assert!(guest.is_alive(), "QEMU died on gdb's kill:\n{text}");
    let status = guest.monitor("info status");
    assert!(status.contains("running"), "{status}\n{}", proxy.logs());
    assert!(proxy.is_running(), "the proxy ended:\n{}", proxy.logs());

    // The next gdb gets the same service.
    let text = gdb(
        &proxy,
        &[
            &mark("threads"),
            "info threads",
            &mark("status"),
            "monitor qemu info status",
            &mark("end"),
            "detach",
        ],
    );
    assert!(
        thread_rows(section(&text, "threads", "status")).len() > 50,
        "{text}"
    );
    assert!(
        section(&text, "status", "end").contains("VM status: paused"),
        "the VM is stopped while gdb is attached:\n{text}"
    );
    let (status, stderr) = proxy.stop();
    assert!(status.success(), "{status}: {stderr}");
    assert!(guest.is_alive());
}

/// While one gdb is attached, a second is refused with a message saying why; the first
/// keeps working.
#[test]
fn a_second_gdb_is_refused() {
    require_gdb();
    let guest = guest();
    let _attached = guest.attach_lock();
    let proxy = Proxy::start(guest, &["--threads", "vcpus"]);
    // The first gdb stays connected for a while (`shell sleep`), then works on.
    let mut first = Gdb::spawn(
        &proxy.addr,
        &[
            &mark("connected"),
            "shell sleep 8",
            &mark("threads"),
            "info threads",
            &mark("end"),
            "detach",
        ],
    );
    assert!(
        first.wait_output("@@connected", Duration::from_secs(60)),
        "{}\n{}",
        first.output(),
        proxy.logs()
    );
    let second = Gdb::spawn(&proxy.addr, &[&mark("after"), "info threads"]);
    let text2 = second.finish(&proxy);
    let lower = text2.to_lowercase();
    assert!(
        lower.contains("another gdb") || lower.contains("already"),
        "no clear refusal for the second gdb:\n{text2}\n{}",
        proxy.logs()
    );
    assert!(
        thread_rows(section(&text2, "after", "none")).is_empty(),
        "the second gdb got threads:\n{text2}"
    );
    let text1 = first.finish(&proxy);
    let threads = thread_rows(section(&text1, "threads", "end"));
    assert_eq!(
        threads.len() as u32,
        guest.truth().nproc,
        "--threads vcpus: one thread per vCPU:\n{text1}"
    );
    let (status, stderr) = proxy.stop();
    assert!(status.success(), "{status}: {stderr}");
}

/// Events set with `monitor ::bp` are honoured by gdb's `continue`: `-p` filters, the
/// callbacks' output reaches gdb's console, `:c` goes on unseen by gdb, `-n` disables; an
/// event without callbacks stops gdb in the right task; gdb's detach deletes them all.
#[test]
fn qmdb_events_under_gdb_continue() {
    require_gdb();
    let guest = guest();
    let (napper, counter) = guest.napper();
    let out = guest.qmdb_ok(&["-e", "do_nanosleep=K"]);
    let do_nanosleep = u64::from_str_radix(out.trim(), 16).unwrap_or_else(|e| panic!("{e}: {out}"));
    let _attached = guest.attach_lock();
    let proxy = Proxy::start(guest, &[]);
    // Each hit prints the napper's round counter: two hits are two rounds, not one
    // breakpoint hit again at once because the guest resumed on top of it.
    let bp =
        format!("monitor hrtimer_nanosleep::bp -p qmdb-napper -c '{counter:x}/E; $c; :c' -n 2");
    let mut g = Gdb::spawn(
        &proxy.addr,
        &[
            &bp,
            &mark("cont"),
            "continue",
            &mark("interrupted"),
            "monitor $b",
            "monitor do_nanosleep::bp -p qmdb-napper",
            &mark("cont2"),
            "continue",
            &mark("hit"),
            PRINT_DETAILS,
            "info registers rip",
            &mark("end"),
            "detach",
        ],
    );
    // The napper sleeps every second: two hits, each reported with its stack, while gdb
    // still waits for its continue to stop.
    let hit = |n: u32| format!("stopped: breakpoint 1 (hrtimer_nanosleep), hit {n}, vCPU");
    assert!(
        g.wait_output(&hit(2), Duration::from_secs(60)),
        "{}\n{}",
        g.output(),
        proxy.logs()
    );
    std::thread::sleep(Duration::from_secs(2));
    let running = g.output();
    assert!(
        !running.contains("@@interrupted"),
        "gdb saw a stop of qmdb's event:\n{running}"
    );
    signal(g.pid(), "-INT");
    let text = g.finish(&proxy);
    let cont = section(&text, "cont", "interrupted");
    for n in [1, 2] {
        let report = cont
            .lines()
            .find(|l| l.starts_with(&hit(n)))
            .unwrap_or_else(|| panic!("no hit {n}:\n{text}"));
        assert!(
            report.contains(&format!("pid {napper} (qmdb-napper)")),
            "-p let another task through: {report}"
        );
    }
    assert!(!cont.contains(&hit(3)), "-n 2 did not disable:\n{text}");
    let rounds: Vec<&str> = cont
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{counter:x}:")))
        .map(str::trim)
        .collect();
    assert_eq!(rounds.len(), 2, "{text}");
    assert_ne!(rounds[0], rounds[1], "hit twice in one round:\n{text}");
    assert!(
        cont.lines().any(|l| l.starts_with("hrtimer_nanosleep(")),
        "no $c from the callback:\n{text}"
    );
    assert!(cont.contains("received signal SIGINT"), "{text}");
    let listing = section(&text, "interrupted", "cont2");
    let row = listing
        .lines()
        .find(|l| l.contains("hrtimer_nanosleep"))
        .unwrap_or_else(|| panic!("$b lists no event 1:\n{text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols.get(1), Some(&"-"), "disabled after 2 hits: {row}");
    assert_eq!(cols.get(3), Some(&"2"), "2 hits: {row}");
    // An event without callbacks stops gdb, in the napper's thread.
    let hit2 = section(&text, "hit", "end");
    assert!(
        section(&text, "cont2", "hit").contains("stopped: breakpoint 2 (do_nanosleep), hit 1"),
        "{text}"
    );
    assert!(
        hit2.contains(&format!("@@details pid {napper} qmdb-napper")),
        "{text}"
    );
    assert_eq!(gdb_reg(hit2, "rip"), do_nanosleep, "{text}");
    // Detached: no event is left, the napper keeps sleeping and waking.
    drop(proxy);
    assert!(
        guest.napper_progresses(3, Duration::from_secs(30)),
        "the napper stopped after gdb detached: an event was left planted"
    );
}

/// The file `scripts/guest CMD --kernel 6.1` prints the path of (fetched by setup).
fn cached_file(cmd: &str) -> PathBuf {
    let o = Command::new(guest_script())
        .args([cmd, "--kernel", "6.1"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run scripts/guest {cmd}: {e}"));
    let path = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        o.status.success() && Path::new(&path).is_file(),
        "scripts/guest {cmd} failed ({}): run `scripts/guest setup`:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    PathBuf::from(path)
}

/// The 6.1 kernel's debug vmlinux (`scripts/guest dbg-vmlinux`).
fn dbg_vmlinux() -> PathBuf {
    cached_file("dbg-vmlinux")
}

/// gdb's machine frames (inlined frames folded) match `::findstack -v`'s, pc for pc
/// and function for function, as far as the kernel stack goes; `what` names the stack.
fn assert_same_stack(gdb: &[GdbFrame], findstack: &[(u64, String)], what: &str, text: &str) {
    let machine = gdb_machine_frames(gdb);
    assert!(
        !findstack.is_empty() && machine.len() >= findstack.len(),
        "{what}: gdb has {} frames, ::findstack {}:\n{text}",
        machine.len(),
        findstack.len()
    );
    for (i, ((pc, func), (want_pc, sym))) in machine.iter().zip(findstack).enumerate() {
        assert!(
            same_function(sym, func),
            "{what}: frame {i} is {func} in gdb, {sym} in ::findstack:\n{text}"
        );
        // gdb prints no pc for frame 0 at the start of a line.
        if let Some(pc) = pc {
            assert_eq!(pc, want_pc, "{what}: frame {i} ({func}):\n{text}");
        }
    }
}

/// What one gdb with the debug vmlinux does: symbols placed by `qOffsets` alone, a sleeping
/// task's and a running task's backtraces, `frame 1` + `info locals`, and a variable.
const DBG_SCRIPT: &str = r#"
import gdb
def marker(name):
    gdb.write('@@%s\n' % name)
threads = gdb.selected_inferior().threads()
marker('fifo')
fifo = [t for t in threads if ' qmdb-fifo S' in (t.details or '')]
gdb.write('@@selected %d %s\n' % (len(fifo), fifo[0].details if fifo else ''))
fifo[0].switch()
gdb.execute('bt')
marker('frame')
gdb.execute('frame 1')
gdb.execute('info locals')
marker('comm')
gdb.execute('p init_task.comm')
marker('running')
# A task running in the kernel on a vCPU (the idle task, or one in an interrupt), its
# task_struct from ::cpuinfo, and ::findstack of it in the same stop.
run = [t for t in threads if ' on vCPU ' in (t.details or '') and 'user mode' not in t.details]
if run:
    t = run[0]
    t.switch()
    vcpu = t.details.split(' on vCPU ')[1].split()[0]
    cpus = gdb.execute('monitor ::cpuinfo', to_string=True)
    addr = [l.split()[2] for l in cpus.splitlines() if l.split()[:1] == [vcpu]][0]
    gdb.write('@@task %s %s\n' % (addr, t.details))
    gdb.execute('bt')
    marker('findstack')
    gdb.execute('monitor 0x%s::findstack -v' % addr)
else:
    gdb.write('@@none: every vCPU is in user mode\n')
marker('end')
"#;

/// Stock gdb with Debian's debug vmlinux: `file vmlinux` + `target remote` and nothing
/// else places the symbols at the KASLR slide the proxy answers `qOffsets` with (the one
/// it prints, and `::status`'s): a sleeping task's `bt` is `::findstack`'s (and
/// /proc/PID/stack's), a running task's too, `p init_task.comm` reads the running kernel,
/// and `frame 1` + `info locals` break nothing.
#[test]
fn gdb_places_the_debug_vmlinux_at_the_slide() {
    require_gdb();
    let vmlinux = dbg_vmlinux();
    let guest = guest();
    let truth = guest.truth();
    let fifo = truth
        .tasks_named("qmdb-fifo")
        .next()
        .expect("the fixture has qmdb-fifo");
    let status = guest.json_records(&["::status"]);
    let slide = status[0]["data"][0]["kaslr_slide"]
        .as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("::status has no slide: {status:?}"));
    assert_eq!(Some(slide), truth.kaslr_slide(), "::status's slide");
    let script = guest.qmdb_ok(&["-e", "::pgrep -x qmdb-fifo | ::findstack -v"]);
    let want_fifo = findstack_frames(&script);
    assert!(want_fifo.len() >= 5, "{script}");

    let py = tempfile::Builder::new()
        .suffix(".py")
        .tempfile()
        .expect("temporary file");
    std::fs::write(py.path(), DBG_SCRIPT).expect("write the gdb script");
    let source = format!("source {}", py.path().display());
    let _attached = guest.attach_lock();
    let proxy = Proxy::start(guest, &[]);
    let said = proxy.stdout.lock().unwrap().clone();
    assert!(
        said.contains(&format!(
            "qmdb proxy: KASLR slide {slide:#x}: gdb is told it"
        )),
        "the proxy prints ::status's slide:\n{said}"
    );
    assert!(
        said.contains(&format!(
            "add-symbol-file vmlinux -o {slide:#x} -s .data..percpu 0\n"
        )),
        "{said}"
    );
    // A vCPU in the kernel is likely, not certain (qmdb-busy spins in user mode, the
    // other vCPU may run a task's user code): a few tries.
    let mut text = String::new();
    for _ in 0..4 {
        let started = Instant::now();
        let cmds = [
            &mark("qoffsets"),
            "maint packet qOffsets",
            &source,
            "detach",
        ];
        text = Gdb::spawn_with(Some(&vmlinux), &proxy.addr, &cmds).finish(&proxy);
        eprintln!(
            "gdb with the debug vmlinux ({} MB): {:.1} s",
            std::fs::metadata(&vmlinux).map_or(0, |m| m.len() >> 20),
            started.elapsed().as_secs_f64()
        );
        if !text.contains("@@none") {
            break;
        }
    }

    // The reply: where the image's first segment (_text) now is; gdb moves every section
    // by as much as that one moved.
    let text_at = truth.symbol("_text").expect("the truth has _text").addr;
    assert!(
        section(&text, "qoffsets", "fifo").contains(&format!("received: \"TextSeg={text_at:x}\"")),
        "{text}"
    );

    // The sleeping fifo reader: its saved registers, unwound by gdb with the DWARF of
    // the vmlinux placed at the slide, give the frames ::findstack gives.
    let sel = section(&text, "fifo", "frame");
    assert!(
        sel.contains(&format!("@@selected 1 pid {} qmdb-fifo S", fifo.tid)),
        "{text}"
    );
    let bt = gdb_frames(sel);
    assert_same_stack(&bt, &want_fifo, "qmdb-fifo", &text);
    // ... and /proc/PID/stack's (which leaves out the scheduler's frames), in order.
    let names: Vec<String> = gdb_machine_frames(&bt).into_iter().map(|f| f.1).collect();
    let mut rest = names.iter();
    for want in fifo.frame_names() {
        assert!(
            rest.any(|g| same_function(want, g)),
            "/proc/{}/stack's {want} is not in gdb's bt, in order:\n{text}",
            fifo.tid
        );
    }

    // frame 1 + info locals: gdb prints the locals of __schedule (some optimized out).
    let frame = section(&text, "frame", "comm");
    assert!(
        frame.contains("#1  ") && frame.contains("__schedule"),
        "{text}"
    );
    assert!(frame.contains("prev = 0x"), "{text}");

    let comm = section(&text, "comm", "running");
    assert!(comm.contains(r#"= "swapper/0\000"#), "{text}");

    // A task running in the kernel: gdb unwinds the vCPU's registers as ::findstack does.
    let running = section(&text, "running", "end");
    assert!(
        !running.contains("@@none"),
        "no vCPU was in the kernel in 4 tries:\n{text}"
    );
    let (bt, findstack) = running
        .split_once("@@findstack\n")
        .unwrap_or_else(|| panic!("{text}"));
    let task = bt.lines().next().unwrap_or_default();
    let want = findstack_frames(findstack);
    assert!(
        findstack.contains("running on vCPU"),
        "{task}: ::findstack of a running task:\n{text}"
    );
    assert_same_stack(&gdb_frames(bt), &want, task, &text);

    let (status, stderr) = proxy.stop();
    assert!(status.success(), "{status}: {stderr}");
}

/// With `--threads vcpus` gdb sees QEMU as it is: no `qOffsets` answer (the proxy still
/// prints the slide and the `add-symbol-file` line), so a vmlinux stays at its link
/// address, as attached to QEMU directly.
#[test]
fn threads_vcpus_does_not_move_the_symbols() {
    require_gdb();
    let guest = guest();
    let _attached = guest.attach_lock();
    let proxy = Proxy::start(guest, &["--threads", "vcpus"]);
    let said = proxy.stdout.lock().unwrap().clone();
    let slide = guest.truth().kaslr_slide().expect("the truth has _text");
    assert!(
        said.contains(&format!(
            "KASLR slide {slide:#x}: gdb is not told it with --threads vcpus"
        )),
        "{said}"
    );
    let text = gdb(
        &proxy,
        &[
            &mark("offsets"),
            "maint packet qOffsets",
            &mark("end"),
            "detach",
        ],
    );
    let reply = section(&text, "offsets", "end");
    assert!(reply.contains("received: \"\""), "{text}");
    let (status, stderr) = proxy.stop();
    assert!(status.success(), "{status}: {stderr}");
}

/// The string gdb printed for `p EXPR` of a `char[]` (`$1 = "init", '\000' <repeats..`
/// or `$1 = "swapper/0\000\000"`): up to the first NUL.
fn gdb_string(line: &str) -> &str {
    line.split_once("= \"")
        .map(|(_, s)| s.split(['"', '\\']).next().unwrap_or(""))
        .unwrap_or_else(|| panic!("no string in {line:?}"))
}

/// The kernel's own gdb scripts (`scripts/guest gdb-scripts`: scripts/gdb of the 6.1
/// source, constants.py generated) through the proxy. With `file vmlinux` (qOffsets):
/// `lx-ps` lists the tasks `::ps -t` finds (but other CPUs' idle tasks), `lx-lsmod` the modules of `::lsmod`,
/// `lx-dmesg` the log the guest printed, `$lx_task_by_pid`, `lx-version`. Per-CPU
/// variables need the proxy's `add-symbol-file` line (KASLR does not move them, qOffsets
/// moves every section): with it, `$lx_current(cpu)` is each CPU's task of `::cpuinfo`.
#[test]
fn the_kernels_gdb_scripts_through_the_proxy() {
    require_gdb();
    let vmlinux = dbg_vmlinux();
    let scripts = cached_file("gdb-scripts");
    let guest = guest();
    let truth = guest.truth();
    let init = truth.task(1).expect("the truth has pid 1");
    let _attached = guest.attach_lock();
    let proxy = Proxy::start(guest, &[]);
    let source = format!("source {}", scripts.display());
    let text = Gdb::spawn_with(
        Some(&vmlinux),
        &proxy.addr,
        &[
            &source,
            &mark("ps"),
            "lx-ps",
            &mark("walk"),
            "monitor ::ps -t",
            &mark("lsmod"),
            "lx-lsmod",
            &mark("modules"),
            "monitor ::lsmod",
            &mark("dmesg"),
            "lx-dmesg",
            &mark("init"),
            "p $lx_task_by_pid(1).comm",
            &mark("version"),
            "lx-version",
            &mark("end"),
            "detach",
        ],
    )
    .finish(&proxy);
    // lx-ps: `0xTASK PID COMM`; ::ps -t: `S PID PPID TGID FLAGS THREAD CPU COMM`.
    let rows = |part: &str, cols: [usize; 3]| -> BTreeSet<(u64, i64, String)> {
        part.lines()
            .filter_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let addr = w.get(cols[0])?.trim_start_matches("0x");
                Some((
                    u64::from_str_radix(addr, 16).ok()?,
                    w.get(cols[1])?.parse().ok()?,
                    w.get(cols[2])?.to_string(),
                ))
            })
            .collect()
    };
    let lx_ps = rows(section(&text, "ps", "walk"), [0, 1, 2]);
    let ps = rows(section(&text, "walk", "lsmod"), [5, 1, 7]);
    assert!(ps.len() > 50, "{text}");
    // The same tasks, but for the idle tasks of the other CPUs, which are on no list
    // lx-ps walks (init_task's and each thread group's).
    assert!(
        lx_ps.is_subset(&ps),
        "lx-ps lists the tasks of ::ps -t:\n{text}"
    );
    for (addr, pid, comm) in ps.difference(&lx_ps) {
        assert!(
            *pid == 0 && comm.starts_with("swapper/"),
            "lx-ps misses {addr:x} {pid} {comm}:\n{text}"
        );
    }
    let names = |part: &str| -> Vec<String> {
        let mut v: Vec<String> = part
            .lines()
            .filter(|l| l.starts_with("0x") || l.starts_with("ffff"))
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect();
        v.sort();
        v
    };
    let lsmod = names(section(&text, "lsmod", "modules"));
    assert!(lsmod.contains(&"evdev".to_string()), "{text}");
    assert_eq!(lsmod, names(section(&text, "modules", "dmesg")), "{text}");
    // Every line the guest's dmesg printed, by its text (lx-dmesg rounds the time stamp
    // to the microsecond, dmesg truncates it).
    let message = |l: &str| l.split_once("] ").map(|(_, m)| m.trim_end().to_string());
    let dmesg: BTreeSet<String> = section(&text, "dmesg", "init")
        .lines()
        .filter_map(message)
        .collect();
    for line in &truth.dmesg {
        let Some(m) = message(line) else { continue };
        assert!(dmesg.contains(&m), "lx-dmesg has no {line:?}:\n{text}");
    }
    let comm = section(&text, "init", "version");
    assert_eq!(gdb_string(comm), init.comm, "{text}");
    assert!(
        section(&text, "version", "end").contains(truth.banner.trim_end()),
        "{text}"
    );

    // Per-CPU variables: the proxy's add-symbol-file line, with the path of the vmlinux.
    let said = proxy.stdout.lock().unwrap().clone();
    let line = said
        .lines()
        .find_map(|l| {
            l.split_once(": add-symbol-file vmlinux ")
                .map(|(_, rest)| rest)
        })
        .unwrap_or_else(|| panic!("no add-symbol-file line:\n{said}"));
    let add = format!("add-symbol-file {} {line}", vmlinux.display());
    let text = gdb(
        &proxy,
        &[
            &add,
            &source,
            &mark("cpus"),
            "monitor ::cpuinfo",
            &mark("current"),
            "p $lx_current(0).comm",
            "p $lx_current(1).comm",
            &mark("end"),
            "detach",
        ],
    );
    let cpus: Vec<(u32, String)> = section(&text, "cpus", "current")
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some((w.get(1)?.parse().ok()?, w.get(4)?.to_string()))
        })
        .collect();
    let current: Vec<&str> = section(&text, "current", "end")
        .lines()
        .filter(|l| l.starts_with('$'))
        .map(gdb_string)
        .collect();
    assert_eq!(cpus.len(), 2, "{text}");
    for (cpu, comm) in &cpus {
        assert_eq!(
            current.get(*cpu as usize).copied(),
            Some(comm.as_str()),
            "$lx_current({cpu}).comm is ::cpuinfo's:\n{text}"
        );
    }
    let (status, stderr) = proxy.stop();
    assert!(status.success(), "{status}: {stderr}");
}
