//! End-to-end: qmdb on broken guests, with what the kernel printed as the oracle.
//!
//! - *panic* (`scripts/guest boot --scenario panic`: sysrq-c with `panic=0`, 3 vCPUs: the
//!   panicking one, one spinning in user mode, one idle): `::msgbuf` holds the panic line;
//!   `::cpuinfo` names a CPU, task and pid on every vCPU (the stopped ones are offline);
//!   the panicking CPU's stack equals the Call Trace the kernel printed (`?` entries left
//!   out) below `panic`; every other CPU's goes through `stop_this_cpu` from the REBOOT
//!   vector (or NMI) into the context it interrupted, with no guessed frame.
//! - *hung*: two tasks in D on a frozen file system; `::stacks -t D` equals the traces the
//!   hung-task detector printed, `::findstack` equals their `/proc/PID/stack`, `::ps` says D.
//! - *poweroff* and *reboot* under `-no-shutdown`: the halted VM answers, nothing hangs.
//!
//! Each runs on 6.1 and on the newest Debian kernel, KASLR on.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::{shared_guest_with, Guest, GuestOpts, KernelVersion, Scenario};

fn guest(kernel: KernelVersion, scenario: Scenario, smp: u32) -> &'static Guest {
    shared_guest_with(GuestOpts {
        scenario: Some(scenario),
        smp,
        ..GuestOpts::new(kernel)
    })
}

fn data(rec: &Value) -> &Vec<Value> {
    rec["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {rec}"))
}

/// `func+0xoff` of a `::findstack` or `::stacks` frame.
fn frame_name(f: &Value) -> String {
    format!(
        "{}+{:#x}",
        f["symbol"].as_str().unwrap_or("?"),
        f["offset"].as_u64().unwrap_or(0)
    )
}

fn function(frame: &str) -> &str {
    frame.split('+').next().unwrap_or(frame)
}

/// The reliable frames of a record, as `func+0xoff`.
fn frames(rec: &Value) -> Vec<String> {
    rec["frames"]
        .as_array()
        .unwrap_or_else(|| panic!("no frames: {rec}"))
        .iter()
        .filter(|f| f["reliable"] == true)
        .map(frame_name)
        .collect()
}

/// The text of a console line after its `[    1.234567] ` timestamp, if it has one.
fn printk_text(line: &str) -> Option<&str> {
    let line = line.trim_end_matches('\r');
    let rest = line.strip_prefix('[')?;
    let (_, text) = rest.split_once("] ")?;
    Some(text)
}

/// The frames of the first Call Trace printed after the console line containing `after`,
/// as `func+0xoff` (the `/0xlen` dropped), reliable ones only (no `? `). Stops at the
/// `</TASK>` (or a register dump) that ends the task's part.
fn printed_trace(console: &str, after: &str) -> Vec<String> {
    let mut lines = console.lines().filter_map(printk_text);
    lines
        .by_ref()
        .find(|l| l.contains(after))
        .unwrap_or_else(|| panic!("no {after:?} on the console"));
    lines
        .by_ref()
        .find(|l| l.trim() == "Call Trace:")
        .unwrap_or_else(|| panic!("no Call Trace after {after:?}"));
    let mut out = Vec::new();
    for l in lines {
        let t = l.trim();
        if t == "<TASK>" {
            continue;
        }
        if t == "</TASK>" || t.starts_with("RIP:") || t.starts_with("<IRQ>") {
            break;
        }
        if t.starts_with("? ") {
            continue;
        }
        // `func+0x16/0x20` or `func+0x16/0x20 [module]`.
        let Some((name, _len)) = t.split_whitespace().next().and_then(|w| w.split_once('/')) else {
            break;
        };
        out.push(name.to_string());
    }
    assert!(!out.is_empty(), "empty Call Trace after {after:?}");
    out
}

/// The frames after the last one in `func`, or `None` without such a frame.
fn below<'a>(frames: &'a [String], funcs: &[&str]) -> Option<(&'a str, &'a [String])> {
    let i = frames.iter().rposition(|f| funcs.contains(&function(f)))?;
    Some((function(&frames[i]), &frames[i + 1..]))
}

fn check_panic(kernel: KernelVersion) {
    let guest = guest(kernel, Scenario::Panic, 3);
    let console = guest.console();
    // "CPU: 0 PID: 1 Comm: init ..." (6.1) / "CPU: 0 UID: 0 PID: 1 Comm: init ..." (6.12+).
    let who = console
        .lines()
        .filter_map(printk_text)
        .skip_while(|l| !l.contains("Kernel panic - not syncing"))
        .find(|l| l.starts_with("CPU: "))
        .unwrap_or_else(|| panic!("no CPU: line after the panic:\n{console}"));
    let words: Vec<&str> = who.split_whitespace().collect();
    let field = |k: &str| {
        words
            .iter()
            .position(|w| *w == k)
            .and_then(|i| words.get(i + 1))
            .unwrap_or_else(|| panic!("no {k} in {who:?}"))
            .to_string()
    };
    let panic_cpu: u64 = field("CPU:").parse().unwrap();
    let panic_pid: u64 = field("PID:").parse().unwrap();
    let printed = printed_trace(&console, "Kernel panic - not syncing");

    let recs = guest.json_records(&["::msgbuf", "::cpuinfo", "::cpuinfo | ::findstack", "::ps"]);
    for r in &recs {
        assert_eq!(r["ok"], true, "{r}");
    }
    let msgbuf = recs[0]["output"].to_string();
    assert!(
        msgbuf.contains("Kernel panic - not syncing: sysrq triggered crash"),
        "::msgbuf has no panic line: {msgbuf}"
    );

    // Every vCPU: a CPU, a task, a pid; only the panicking CPU is still online.
    let cpus = data(&recs[1]);
    assert_eq!(cpus.len(), 3, "{cpus:?}");
    for c in cpus {
        assert!(c["cpu"].is_u64(), "no CPU: {c}");
        assert!(c["thread"].is_string(), "no task: {c}");
        assert!(c["pid"].is_u64(), "no pid: {c}");
        assert!(c["comm"].is_string(), "no comm: {c}");
        let panicking = c["cpu"] == panic_cpu;
        assert_eq!(
            c["online"], panicking,
            "online is the panicking CPU only: {c}"
        );
        if panicking {
            assert_eq!(c["pid"], panic_pid, "{c}");
        }
    }

    let stacks = data(&recs[2]);
    assert_eq!(stacks.len(), 3, "{stacks:?}");
    let mut interrupted_kernel = 0;
    for rec in stacks {
        assert!(rec["end"].is_null(), "walk did not complete: {rec}");
        let all = rec["frames"].as_array().unwrap();
        assert!(
            all.iter().all(|f| f["reliable"] == true),
            "a guessed frame: {rec}"
        );
        let ours = frames(rec);
        if rec["cpu"] == panic_cpu {
            // The same stack below panic() as the trace panic() printed, and out to user
            // mode (init's write to /proc/sysrq-trigger).
            let (func, want) = below(&printed, &["panic", "vpanic"])
                .unwrap_or_else(|| panic!("no panic frame printed: {printed:?}"));
            let (_, got) =
                below(&ours, &[func]).unwrap_or_else(|| panic!("no {func} frame in {ours:?}"));
            assert_eq!(got, want, "the panicking CPU: {rec}\nprinted: {printed:?}");
            assert!(rec["user_pc"].is_string(), "{rec}");
            continue;
        }
        // A stopped CPU: halted in stop_this_cpu, reached from the REBOOT vector or the
        // NMI handler, then the interrupted context.
        let stop = ours
            .iter()
            .position(|f| function(f) == "stop_this_cpu")
            .unwrap_or_else(|| panic!("no stop_this_cpu: {rec}"));
        let entry = ours[stop..]
            .iter()
            .position(|f| {
                matches!(
                    function(f),
                    "sysvec_reboot" | "asm_sysvec_reboot" | "exc_nmi" | "asm_exc_nmi"
                )
            })
            .unwrap_or_else(|| panic!("stop_this_cpu not reached from REBOOT or NMI: {rec}"));
        if rec["user_pc"].is_string() {
            // Interrupted in user mode (the busy loop, most often): the walk ends at the
            // entry's user registers.
            assert_ne!(rec["pid"], 0, "an idle task in user mode: {rec}");
        } else {
            let regs = all
                .iter()
                .position(|f| f["pt_regs"].is_string())
                .unwrap_or_else(|| panic!("no interrupted context: {rec}"));
            assert!(regs >= stop + entry, "{rec}");
            interrupted_kernel += 1;
            let rest: Vec<&str> = ours[stop + entry..].iter().map(|f| function(f)).collect();
            if rec["pid"] == 0 {
                // An idle CPU: interrupted in its idle loop, walked back to where the CPU
                // started (start_secondary, or start_kernel for CPU 0).
                assert!(rest.contains(&"do_idle"), "{rest:?}: {rec}");
                assert!(rest.contains(&"cpu_startup_entry"), "{rest:?}: {rec}");
                assert!(
                    rest.contains(&"start_secondary") || rest.contains(&"start_kernel"),
                    "{rest:?}: {rec}"
                );
            } else {
                // A task interrupted in the kernel (the busy loop's tick, a kernel
                // thread): walked past the interrupted frame to the bottom of its stack
                // (end is null, checked above), a user task out to user mode.
                assert!(
                    regs + 1 < all.len() || rec["user_pc"].is_string(),
                    "nothing below the interrupted frame: {rec}"
                );
            }
        }
    }
    eprintln!(
        "{kernel:?}: panic on CPU {panic_cpu}; {interrupted_kernel} stopped CPU(s) interrupted in kernel mode"
    );

    // ::ps lists the tasks ::cpuinfo names (no idle task but CPU 0's): the panicking one
    // runs; a stopped CPU's may have been stopped on its way to sleep.
    let ps = data(&recs[3]);
    for c in cpus.iter().filter(|c| c["pid"] != 0) {
        let p = ps
            .iter()
            .find(|p| p["thread"] == c["thread"])
            .unwrap_or_else(|| panic!("{c} not in ::ps"));
        if c["cpu"] == panic_cpu {
            assert_eq!(p["state"], "R", "{p}");
        }
    }
}

#[test]
fn panic_6_1() {
    check_panic(KernelVersion::V6_1);
}

#[test]
fn panic_newest() {
    check_panic(KernelVersion::Newest);
}

fn check_hung(kernel: KernelVersion) {
    let guest = guest(kernel, Scenario::Hung, 2);
    let console = guest.console();
    let hung: Vec<(u32, char)> = support::console_records(&console, "QMDB-HUNG ")
        .iter()
        .map(|r| {
            let mut w = r.split_whitespace();
            let pid = w.next().and_then(|p| p.parse().ok()).expect("pid");
            let state = w.next().and_then(|s| s.chars().next()).expect("state");
            (pid, state)
        })
        .collect();
    assert_eq!(hung.len(), 2, "{console}");

    let recs = guest.json_records(&[
        "__sched_text_start=K",
        "__sched_text_end=K",
        "::stacks -t D -a",
        "::pgrep -x qmdb-hung | ::findstack",
        "::ps",
    ]);
    for r in &recs {
        assert_eq!(r["ok"], true, "{r}");
    }
    let hex = |r: &Value| u64::from_str_radix(r["output"][0].as_str().unwrap().trim(), 16).unwrap();
    let sched = hex(&recs[0])..hex(&recs[1]);
    let groups = data(&recs[2]);
    let tasks = data(&recs[3]);
    let ps = data(&recs[4]);
    let mut d_tasks = 0;
    for &(pid, state) in &hung {
        assert_eq!(state, 'D', "the guest says {pid} is in {state}");
        let task = tasks
            .iter()
            .find(|t| t["pid"] == pid)
            .unwrap_or_else(|| panic!("::pgrep found no {pid}: {tasks:?}"));
        assert_eq!(task["state"], "D", "{task}");
        let p = ps.iter().find(|p| p["pid"] == pid).expect("in ::ps");
        assert_eq!(p["state"], "D", "{p}");

        // ::stacks -t D: the detector's trace, frame for frame.
        let printed = printed_trace(
            &console,
            &format!("task qmdb-hung:{pid} blocked for more than"),
        );
        let group = groups
            .iter()
            .find(|g| g["threads"].as_array().unwrap().contains(&task["thread"]))
            .unwrap_or_else(|| panic!("{pid} in no ::stacks -t D group: {groups:?}"));
        assert_eq!(group["state"], "D", "{group}");
        let got: Vec<String> = group["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(frame_name)
            .collect();
        assert_eq!(
            got, printed,
            "::stacks of {pid} against the hung-task report"
        );

        // ::findstack: /proc/PID/stack, which leaves out .sched.text.
        let want: Vec<String> = support::console_records(&console, "QMDB-HUNGSTACK ")
            .iter()
            .filter_map(|r| r.split_once(' '))
            .filter(|(p, _)| p.parse() == Ok(pid))
            .filter_map(|(_, line)| support::truth::parse_stack_line(line))
            .map(|f| format!("{}+{:#x}", f.func, f.offset))
            .collect();
        assert!(!want.is_empty(), "no /proc stack of {pid}");
        let got: Vec<String> = task["frames"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                let pc =
                    u64::from_str_radix(f["pc"].as_str().unwrap().trim_start_matches("0x"), 16)
                        .unwrap();
                f["reliable"] == true && !sched.contains(&pc)
            })
            .map(frame_name)
            .collect();
        assert_eq!(got, want, "::findstack of {pid} against /proc/{pid}/stack");
        d_tasks += 1;
    }
    // One writer blocked writing a file opened before the freeze, the other opening one.
    let stacks = support::console_records(&console, "QMDB-HUNGSTACK ").join("\n");
    assert!(stacks.contains("vfs_write"), "{stacks}");
    assert!(stacks.contains("openat"), "{stacks}");
    // Nothing else is in D.
    let in_d: usize = groups
        .iter()
        .map(|g| g["threads"].as_array().unwrap().len())
        .sum();
    assert_eq!(in_d, d_tasks, "{groups:?}");
}

#[test]
fn hung_tasks_6_1() {
    check_hung(KernelVersion::V6_1);
}

#[test]
fn hung_tasks_newest() {
    check_hung(KernelVersion::Newest);
}

/// A guest halted for good after `poweroff -f` / `reboot -f` (QEMU keeps it with
/// `-no-shutdown`): qmdb attaches, says where each vCPU is, reads the log, and leaves
/// without hanging.
fn check_halted(kernel: KernelVersion, scenario: Scenario, said: &str) {
    let guest = guest(kernel, scenario, 2);
    let status = guest.monitor("info status");
    assert!(status.contains("shutdown"), "QEMU: {status}");
    let started = Instant::now();
    let recs = guest.json_records(&[
        "::status",
        "::msgbuf",
        "::cpuinfo",
        "::cpuinfo | ::findstack",
    ]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "qmdb took {took:?}");
    for r in &recs {
        assert_eq!(r["ok"], true, "{r}");
    }
    assert!(recs[1]["output"].to_string().contains(said), "{}", recs[1]);
    let cpus = data(&recs[2]);
    assert_eq!(cpus.len(), 2);
    for c in cpus {
        assert!(c["cpu"].is_u64() && c["pid"].is_u64(), "{c}");
    }
    for rec in data(&recs[3]) {
        assert!(rec["end"].is_null(), "walk did not complete: {rec}");
        assert!(
            rec["frames"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["reliable"] == true),
            "a guessed frame: {rec}"
        );
    }
    // Leaving did not end QEMU, and the VM is still halted in its shutdown state.
    assert!(guest.is_alive());
    let status = guest.monitor("info status");
    assert!(status.contains("shutdown"), "QEMU after qmdb: {status}");
}

#[test]
fn halted_after_poweroff_6_1() {
    check_halted(
        KernelVersion::V6_1,
        Scenario::Poweroff,
        "reboot: Power down",
    );
}

#[test]
fn halted_after_poweroff_newest() {
    check_halted(
        KernelVersion::Newest,
        Scenario::Poweroff,
        "reboot: Power down",
    );
}

#[test]
fn halted_after_reboot_6_1() {
    check_halted(
        KernelVersion::V6_1,
        Scenario::Reboot,
        "reboot: Restarting system",
    );
}

#[test]
fn halted_after_reboot_newest() {
    check_halted(
        KernelVersion::Newest,
        Scenario::Reboot,
        "reboot: Restarting system",
    );
}
