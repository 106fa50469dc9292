//! End-to-end: execution control on the real guest (6.1, 6.12 and the newest kernel, KASLR on), against the
//! fixture's `qmdb-napper`, which increments a counter and sleeps one second (`nanosleep`),
//! forever.
//! Breakpoints and watchpoints are QEMU's; after qmdb leaves, none remain and the guest runs.

mod support;

use serde_json::Value;
use std::process::{Output, Stdio};
use std::time::Duration;
use support::guest::signal_ok;
use support::{shared_guest, Guest, KernelVersion};

fn qmdb(guest: &Guest, args: &[&str]) -> Output {
    let _attached = guest.attach_lock();
    qmdb_holding_lock(guest, args)
}

/// [`qmdb`] for a caller that holds the guest's attach lock.
fn qmdb_holding_lock(guest: &Guest, args: &[&str]) -> Output {
    let o = guest
        .qmdb()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run qmdb");
    assert!(
        o.status.success(),
        "qmdb {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn json(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The napper's pid (checked against the truth) and the address of its counter.
fn napper(guest: &Guest) -> (u32, u64) {
    let (pid, counter) = guest.napper();
    let t = guest.truth().task(pid).expect("the napper is in the truth");
    assert_eq!(t.comm, "qmdb-napper");
    (pid, counter)
}

/// Checks a `--json` stop record: why it stopped, in which task, and the other `fields`.
fn assert_stop(stop: &Value, why: &str, pid: u32, fields: &[(&str, Value)]) {
    assert_eq!(stop["stop"], why, "{stop}");
    assert_eq!(stop["pid"], pid, "{stop}");
    for (k, v) in fields {
        assert_eq!(&stop[*k], v, "{k} in {stop}");
    }
}

/// A temporary breakpoint on hrtimer_nanosleep stops with the napper current; `::step out`
/// returns to the caller the unwinder named.
fn breakpoint_then_step_out(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    let (pid, _) = napper(guest);
    let o = qmdb(
        guest,
        &[
            "--json",
            "-e",
            "hrtimer_nanosleep::bp -t",
            "-e",
            "::cont -T 30",
            "-e",
            "::events",
            "-e",
            "$c",
            "-e",
            "::step out -T 10",
            "-e",
            "::step",
        ],
    );
    let recs = json(&o);
    assert_eq!(recs.len(), 6, "{recs:?}");
    assert!(recs.iter().all(|r| r["ok"] == true), "{recs:?}");
    assert_stop(
        &recs[1]["data"][0],
        "breakpoint",
        pid,
        &[
            ("symbol", "hrtimer_nanosleep".into()),
            ("offset", 0.into()),
            ("comm", "qmdb-napper".into()),
            ("mode", "kernel".into()),
        ],
    );
    // -t: gone once the target stopped.
    assert_eq!(
        recs[2]["data"].as_array().map(Vec::len),
        Some(0),
        "{}",
        recs[2]
    );
    // The caller, as the unwinder names it, is where `::step out` stops.
    let frames = recs[3]["data"][0]["frames"].as_array().expect("$c frames");
    assert_eq!(frames[0]["symbol"], "hrtimer_nanosleep", "{}", recs[3]);
    let caller = &frames[1];
    let out = &recs[4]["data"][0];
    assert_stop(out, "step-out", pid, &[("pc", caller["pc"].clone())]);
    // One instruction further, in the same task (interrupts held off while stepping).
    let step = &recs[5]["data"][0];
    assert_stop(step, "step", pid, &[]);
    assert_ne!(step["pc"], out["pc"], "{step}");
}

#[test]
fn breakpoint_then_step_out_6_1() {
    breakpoint_then_step_out(KernelVersion::V6_1);
}

#[test]
fn breakpoint_then_step_out_6_12() {
    breakpoint_then_step_out(KernelVersion::V6_12);
}

#[test]
fn breakpoint_then_step_out_newest() {
    breakpoint_then_step_out(KernelVersion::Newest);
}

/// `-p comm` or `-p pid`: a breakpoint on `schedule`, which every sleeping task passes,
/// stops only in the named task.
fn task_filter_stops_only_in_that_task(kernel: KernelVersion, by_pid: bool) {
    let guest = shared_guest(kernel);
    let (pid, _) = napper(guest);
    let bp = if by_pid {
        format!("schedule::bp -p {pid}")
    } else {
        "schedule::bp -p qmdb-napper".to_string()
    };
    let o = qmdb(guest, &["--json", "-e", &bp, "-e", "::cont -T 30"]);
    let recs = json(&o);
    let stop = &recs[1]["data"][0];
    assert_stop(stop, "breakpoint", pid, &[("symbol", "schedule".into())]);
}

#[test]
fn task_filter_stops_only_in_that_task_6_1() {
    task_filter_stops_only_in_that_task(KernelVersion::V6_1, false);
}

#[test]
fn task_filter_by_pid_stops_only_in_that_task_6_12() {
    task_filter_stops_only_in_that_task(KernelVersion::V6_12, true);
}

#[test]
fn task_filter_by_pid_stops_only_in_that_task_newest() {
    task_filter_stops_only_in_that_task(KernelVersion::Newest, true);
}

/// A write watchpoint on the napper's counter fires in the napper, in user mode.
fn write_watchpoint_fires(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    let (pid, counter) = napper(guest);
    let wp = format!("{counter:x}::wp -w -L 8");
    let o = qmdb(guest, &["--json", "-e", &wp, "-e", "::cont -T 30"]);
    let recs = json(&o);
    let stop = &recs[1]["data"][0];
    assert_stop(
        stop,
        "watchpoint",
        pid,
        &[
            ("event", 1.into()),
            ("mode", "user".into()),
            ("watch", format!("{counter:#x}").into()),
        ],
    );
}

#[test]
fn write_watchpoint_fires_6_1() {
    write_watchpoint_fires(KernelVersion::V6_1);
}

#[test]
fn write_watchpoint_fires_6_12() {
    write_watchpoint_fires(KernelVersion::V6_12);
}

#[test]
fn write_watchpoint_fires_newest() {
    write_watchpoint_fires(KernelVersion::Newest);
}

/// `-c '::findstack -v; :c' -n 3`: three stacks, then the event is disabled and the guest
/// runs until the timeout halts it.
#[test]
fn callback_runs_three_times_then_the_guest_runs() {
    let guest = shared_guest(KernelVersion::V6_1);
    let (pid, _) = napper(guest);
    let o = qmdb(
        guest,
        &[
            "-e",
            "hrtimer_nanosleep::bp -c '::findstack -v; :c' -n 3",
            "-e",
            "::cont -T 8",
            "-e",
            "$b",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let stops = out
        .lines()
        .filter(|l| l.starts_with("stopped: breakpoint 1"))
        .count();
    assert_eq!(stops, 3, "{out}");
    let stacks = out
        .lines()
        .filter(|l| {
            l.starts_with("stack pointer for thread ")
                && l.contains(&format!("({pid} qmdb-napper)"))
        })
        .count();
    assert_eq!(stacks, 3, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("stopped: timeout")),
        "{out}"
    );
    let listing = out
        .lines()
        .find(|l| l.contains("hrtimer_nanosleep") && l.contains("-n 3"))
        .unwrap_or_else(|| panic!("$b has no line for the event:\n{out}"));
    let cols: Vec<&str> = listing.split_whitespace().collect();
    assert_eq!(cols.get(1), Some(&"-"), "disabled after 3 hits: {listing}");
    assert_eq!(cols.get(3), Some(&"3"), "3 hits: {listing}");
}

/// After `$q`, no breakpoint is left behind: the napper keeps counting.
#[test]
fn quit_leaves_the_guest_running_freely() {
    let guest = shared_guest(KernelVersion::V6_1);
    // Held throughout: another test attaching would stop the guest.
    let _attached = guest.attach_lock();
    qmdb_holding_lock(
        guest,
        &[
            "-e",
            "hrtimer_nanosleep::bp",
            "-e",
            "schedule::bp",
            "-e",
            "::cont -T 20",
            "-e",
            "$q",
        ],
    );
    assert!(guest.monitor("info status").contains("running"));
    assert!(
        guest.napper_progresses(3, Duration::from_secs(30)),
        "the napper stopped making progress after qmdb quit"
    );
}

/// Ctrl-C while `::cont` waits halts the guest with a stop report; the script ends as
/// interrupted and qmdb detaches, leaving the guest running as it found it.
#[test]
fn ctrl_c_halts_a_waiting_cont() {
    let guest = shared_guest(KernelVersion::V6_1);
    let _attached = guest.attach_lock();
    let child = guest
        .qmdb()
        .args(["-e", "::cont", "-e", "::status"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run qmdb");
    // Running again once ::cont resumed it (after the attach stopped it).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut paused_seen = false;
    loop {
        let st = guest.monitor("info status");
        paused_seen |= st.contains("paused");
        if paused_seen && st.contains("running") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "::cont never resumed the guest"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    signal_ok(child.id(), "-INT");
    let o = child.wait_with_output().expect("qmdb output");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        out.lines().any(|l| l.starts_with("stopped: interrupt")),
        "{out}{err}"
    );
    assert!(
        !out.contains("target:"),
        "the script went on after Ctrl-C: {out}"
    );
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(guest.monitor("info status").contains("running"));
}

/// A vCPU halted in the NMI handler (QEMU's `nmi` injected while the guest runs, the idle
/// task stopped at `exc_nmi`): `$c` unwinds from the NMI stack into the interrupted idle
/// loop and on to where the CPU started, and `::whatis` names the NMI stack.
fn nmi_stack_unwinds_into_the_interrupted_context(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    let _attached = guest.attach_lock();
    let mut child = guest
        .qmdb()
        .args([
            "--json",
            "-e",
            "exc_nmi::bp -p 0",
            "-e",
            "::cont -T 60",
            "-e",
            "$c",
            "-e",
            "<rsp::whatis",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run qmdb");
    // An NMI a second while the guest runs, until qmdb has stopped in one (the first may
    // come before the breakpoint is planted, or hit the busy vCPU, which -p 0 lets
    // through). None is sent while qmdb holds the guest stopped: it would stay pending and
    // reach the shared guest after qmdb leaves.
    let mut sent = 0;
    while child.try_wait().expect("wait for qmdb").is_none() {
        std::thread::sleep(Duration::from_secs(1));
        if sent < 60 && guest.monitor("info status").contains("running") {
            guest.monitor("nmi");
            sent += 1;
        }
    }
    let o = child.wait_with_output().expect("qmdb output");
    assert!(
        o.status.success(),
        "qmdb failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let recs = json(&o);
    assert_eq!(recs[1]["data"][0]["stop"], "breakpoint", "{}", recs[1]);
    let frames: Vec<&str> = recs[2]["data"][0]["frames"]
        .as_array()
        .unwrap_or_else(|| panic!("no $c frames: {}", recs[2]))
        .iter()
        .map(|f| {
            assert_eq!(f["reliable"], true, "a guessed frame: {}", recs[2]);
            f["symbol"].as_str().unwrap_or("?")
        })
        .collect();
    let func = |s: &str| s.split('+').next().unwrap_or(s).to_string();
    let funcs: Vec<String> = frames.iter().map(|f| func(f)).collect();
    assert_eq!(funcs[0], "exc_nmi", "{frames:?}");
    assert!(
        funcs.iter().any(|f| f.contains("nmi") && f != "exc_nmi"),
        "the NMI entry code: {frames:?}"
    );
    for want in ["do_idle", "cpu_startup_entry"] {
        assert!(funcs.iter().any(|f| f == want), "no {want}: {frames:?}");
    }
    let whatis = &recs[3]["data"][0]["matches"][0];
    assert_eq!(whatis["kind"], "exception_stack", "{}", recs[3]);
    assert!(
        whatis["text"].as_str().unwrap_or("").contains("NMI"),
        "{}",
        recs[3]
    );
    eprintln!("{kernel:?}: stopped in an NMI after {sent} NMI(s): {frames:?}");
}

#[test]
fn nmi_stack_unwinds_6_1() {
    nmi_stack_unwinds_into_the_interrupted_context(KernelVersion::V6_1);
}

#[test]
fn nmi_stack_unwinds_newest() {
    nmi_stack_unwinds_into_the_interrupted_context(KernelVersion::Newest);
}
