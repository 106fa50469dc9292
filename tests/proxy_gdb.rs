//! End-to-end: stock gdb (Debian's) against `qmdb proxy` in front of the real 6.1 guest:
//! kernel tasks as gdb threads, a sleeping task's saved registers, dcmds through
//! `monitor`, breakpoints, continue and Ctrl-C forwarded to QEMU, `kill` that leaves QEMU
//! running, reconnection, and a second gdb refused.
//!
//! Every test holds the guest's attach lock while its proxy runs (the proxy is QEMU's one
//! gdb client); every process started is killed if the test fails.

mod support;

use support::gdb::gdb_reg;
use support::guest::signal;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{qmdb_cmd, shared_guest, Guest, KernelVersion};

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
        let log = tempfile::NamedTempFile::new().expect("temporary file");
        // One open file description (one offset) for both, as `2>&1` does.
        let out = log.as_file().try_clone().expect("dup log");
        let err = log.as_file().try_clone().expect("dup log");
        let mut c = Command::new("gdb");
        c.args(["-batch", "-nx", "-ex", "set pagination off", "-ex"])
            .arg(format!("target remote {addr}"));
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
