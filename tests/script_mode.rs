//! End-to-end: `qmdb` in script mode against a real QEMU guest (the 6.1 fixture), checked
//! against what stock gdb and QEMU's own monitor report for the same stopped state.

mod support;

use support::gdb::{gdb_reg, gdb_words};
use support::guest::signal_ok;

use serde_json::Value;
use std::process::{Command, Output, Stdio};
use support::{qmdb_cmd, shared_guest, Guest, KernelVersion};

fn qmdb(guest: &Guest, args: &[&str]) -> Output {
    qmdb_cmd()
        .arg("--target")
        .arg(guest.gdb_addr())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run qmdb")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs gdb in batch mode against the guest; the `disconnect` at the end leaves the VM as it is.
fn gdb(guest: &Guest, cmds: &[&str]) -> String {
    let mut c = Command::new("gdb");
    c.args(["-batch", "-nx", "-ex", "set pagination off", "-ex"])
        .arg(format!("target remote {}", guest.gdb_addr()));
    for cmd in cmds {
        c.args(["-ex", cmd]);
    }
    c.args(["-ex", "disconnect"]);
    let o = c
        .stdin(Stdio::null())
        .output()
        .expect("gdb must be installed: run scripts/guest setup");
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(o.status.success(), "gdb failed:\n{text}");
    text
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn hexval(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("not hex: {s}"))
}

fn status(guest: &Guest) -> String {
    guest.monitor("info status")
}

fn ensure_running(guest: &Guest) {
    if !status(guest).contains("running") {
        guest.monitor("cont");
    }
}

/// qmdb reading commands from a pipe.
fn spawn_qmdb(guest: &Guest) -> std::process::Child {
    qmdb_cmd()
        .arg("--target")
        .arg(guest.gdb_addr())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run qmdb")
}

/// Registers and memory read by qmdb equal what gdb reads from the same stopped vCPU, and a
/// VM that was stopped when qmdb attached stays stopped when it leaves.
#[test]
fn registers_and_memory_match_gdb() {
    let guest = shared_guest(KernelVersion::V6_1);
    let _attached = guest.attach_lock();

    // A single step leaves QEMU in its "debug" run state: stopped, and known to be stopped.
    let g = gdb(
        guest,
        &[
            "thread 1",
            "stepi",
            "info registers rip rsp rbp eflags cr3 gs_base",
            "x/4gx $rsp",
        ],
    );
    assert!(status(guest).contains("paused"), "gdb left the VM running");
    let rsp = gdb_reg(&g, "rsp");
    let words = gdb_words(&g);
    assert_eq!(words.len(), 4, "gdb x/4gx output:\n{g}");

    let cmds = format!("::cpu 0; $r; <rsp,4/J; {rsp:x},4/J; ::status");
    let o = qmdb(guest, &["--json", "-e", &cmds]);
    assert!(
        o.status.success(),
        "qmdb failed:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    let recs = json_lines(&stdout(&o));
    assert_eq!(
        recs.len(),
        5,
        "one JSON object per command:\n{}",
        stdout(&o)
    );
    assert!(recs.iter().all(|r| r["ok"] == true), "{}", stdout(&o));

    let regs = &recs[1]["data"][0];
    for name in ["rip", "rsp", "rbp", "cr3", "gs_base"] {
        assert_eq!(
            hexval(&regs[name]),
            gdb_reg(&g, name),
            "{name} differs from gdb"
        );
    }
    assert_eq!(hexval(&regs["eflags"]) & 0xffff_ffff, gdb_reg(&g, "eflags"));

    for rec in [&recs[2], &recs[3]] {
        let values: Vec<u64> = rec["data"]
            .as_array()
            .expect("display records")
            .iter()
            .flat_map(|line| line["values"].as_array().cloned().unwrap_or_default())
            .map(|v| hexval(&Value::String(format!("0x{}", v.as_str().unwrap_or("")))))
            .collect();
        assert_eq!(
            values, words,
            "stack words differ from gdb ({})",
            rec["command"]
        );
    }
    assert_eq!(recs[4]["data"][0]["was_running_at_attach"], false);
    assert!(
        status(guest).contains("paused"),
        "qmdb resumed a VM that was stopped when it attached"
    );

    // QEMU's monitor agrees on the same state.
    let hmp = guest.monitor("info registers");
    assert!(
        hmp.contains(&format!("RSP={rsp:016x}")),
        "HMP info registers disagrees on RSP {rsp:x}:\n{hmp}"
    );
    guest.monitor("cont");
}

/// A failing command prints one error line naming the address, the next command still runs,
/// and the exit status says something failed.
#[test]
fn unreadable_memory_is_one_error_and_the_script_goes_on() {
    let guest = shared_guest(KernelVersion::V6_1);
    let _attached = guest.attach_lock();
    let o = qmdb(
        guest,
        &["-e", "ffffffffffff0000/K; 0t10=X; ::nosuchdcmd; 1+(2=X"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("qmdb: failed to read 8 bytes at ffffffffffff0000: no mapping"),
        "{err}"
    );
    assert!(err.contains("nosuchdcmd"), "{err}");
    assert_eq!(
        err.lines().count(),
        3,
        "one line per failed command:\n{err}"
    );
    assert_eq!(stdout(&o).trim(), "a", "the command after the fault ran");
    assert!(guest.is_alive());
}

/// Commands on stdin, one per line; a VM that was running when qmdb attached runs again after.
#[test]
fn stdin_script_and_detach_resumes_a_running_vm() {
    let guest = shared_guest(KernelVersion::V6_1);
    let _attached = guest.attach_lock();
    ensure_running(guest);
    let mut child = spawn_qmdb(guest);
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "::status").unwrap();
        writeln!(stdin, "::cpus").unwrap();
        writeln!(stdin, "::qemu info version").unwrap();
    }
    let o = child.wait_with_output().expect("qmdb output");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("the VM was running when qmdb attached"),
        "{out}"
    );
    let version = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .expect("qemu version");
    let first = String::from_utf8_lossy(&version.stdout);
    let v = first
        .split_whitespace()
        .nth(3)
        .expect("QEMU emulator version X");
    assert!(
        out.contains(v),
        "::qemu info version should print {v}:\n{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains("CPU#")).count(),
        guest.opts().smp as usize,
        "{out}"
    );
    assert!(
        status(guest).contains("running"),
        "detach did not resume the VM"
    );
    let before = guest.last_tick().unwrap_or(0);
    assert!(
        guest.wait_console(
            &format!("QMDB-TICK {}", before + 2),
            std::time::Duration::from_secs(30)
        ),
        "the guest makes no progress after qmdb detached"
    );
}

/// Ctrl-C or SIGTERM while qmdb waits for input ends the session with a proper detach: the VM,
/// running when qmdb attached, runs again.
#[test]
fn signals_detach_cleanly() {
    let guest = shared_guest(KernelVersion::V6_1);
    let _attached = guest.attach_lock();
    ensure_running(guest);
    for sig in ["-INT", "-TERM"] {
        let mut child = spawn_qmdb(guest);
        let mut stdin = child.stdin.take().expect("stdin");
        {
            use std::io::Write;
            writeln!(stdin, "::status").unwrap();
        }
        // Attached (and the kernel found) once ::status has answered: read stdout as it
        // comes, and signal qmdb while it waits for more input.
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("VM was running") => break,
                Ok(_) => continue,
                Err(e) => panic!("{sig}: qmdb never answered ::status ({e})"),
            }
        }
        assert!(
            status(guest).contains("paused"),
            "{sig}: attached, VM not stopped"
        );
        signal_expecting_detach(guest, child, sig, sig);
        drop(stdin);
        let _ = reader.join();
    }

    // While the kernel is still being read from guest memory (a cold cache), a signal
    // also detaches properly.
    let cache = tempfile::tempdir().expect("cache dir");
    let child = qmdb_cmd()
        .env("QMDB_CACHE", cache.path())
        .arg("--target")
        .arg(guest.gdb_addr())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run qmdb");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !status(guest).contains("paused") {
        assert!(std::time::Instant::now() < deadline, "qmdb never attached");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    signal_expecting_detach(guest, child, "-INT", "while attaching");
}

/// Sends `sig` to a qmdb attached to `guest` and waits for it: it says it was interrupted and
/// detached, exits with 1, and the VM runs again. `what` names the case in failures.
fn signal_expecting_detach(guest: &Guest, child: std::process::Child, sig: &str, what: &str) {
    signal_ok(child.id(), sig);
    let o = child.wait_with_output().expect("qmdb output");
    assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
    assert!(
        stderr(&o).contains("interrupted; detached"),
        "{what}: {}",
        stderr(&o)
    );
    assert!(
        status(guest).contains("running"),
        "{what}: the VM was left stopped"
    );
}
