//! End-to-end: qmdb on broken guests, with what the kernel printed as the oracle.
//!
//! - *panic* (`scripts/guest boot --scenario panic`: sysrq-c with `panic=0`, 3 vCPUs: the
//!   panicking one, one spinning in user mode, one idle): `::msgbuf` holds the panic line;
//!   `::cpuinfo` names a CPU, task and pid on every vCPU (the stopped ones are offline);
//!   the panicking CPU's stack equals the Call Trace the kernel printed (`?` entries left
//!   out) below `panic`; every other CPU's goes through `stop_this_cpu` from the REBOOT
//!   vector (or NMI) into the context it interrupted, with no guessed frame.
//!   `::panicinfo` gives the panic line's message and time, the CPU, pid and comm the
//!   kernel printed with it, and its taint.
//! - *hung*: four tasks in D on a frozen file system, two of them a lock chain (a pipe
//!   writer waits for the pipe's mutex, held by a reader blocked in `page_mkwrite`);
//!   `::stacks -t D` equals the traces the hung-task detector printed, `::findstack` equals
//!   their `/proc/PID/stack`, `::ps` says D; `::hung` lists exactly them, blocked since a
//!   time the detector's reports bound, with the mutex's owner (on the newest kernel the
//!   same the kernel's own blocker tracking printed) and the chain.
//! - *poweroff* and *reboot* under `-no-shutdown`: the halted VM answers, nothing hangs.
//!
//! Each runs on 6.1 and on the newest Debian kernel (panic and hung also on 6.12), KASLR on.

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

/// The console without the ticker's "QMDB-TICK <n>" lines: the ticker writes each with one
/// write() to the console, which can land in the middle of a kernel line and split it.
fn without_ticks(console: &str) -> String {
    let mut out = String::with_capacity(console.len());
    let mut rest = console;
    while let Some(i) = rest.find("QMDB-TICK ") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + "QMDB-TICK ".len()..];
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let tail = &tail[digits..];
        rest = tail
            .strip_prefix("\r\n")
            .or_else(|| tail.strip_prefix('\n'))
            .unwrap_or(tail);
    }
    out.push_str(rest);
    out
}

#[test]
fn ticks_are_cut_out_of_kernel_lines() {
    let c = "[    1.0] entry_SYSCQMDB-TICK 12\r\nALL_64+0x6e/0xd8\nQMDB-TICK 13\n[    1.1] x\n";
    assert_eq!(
        without_ticks(c),
        "[    1.0] entry_SYSCALL_64+0x6e/0xd8\n[    1.1] x\n"
    );
}

/// The frames of the first Call Trace printed after the console line containing `after`,
/// as `func+0xoff` (the `/0xlen` dropped), reliable ones only (no `? `). Stops at the
/// `</TASK>` (or the user-mode register dump) that ends the task's part; a kernel-mode
/// exception's `RIP:` is the interrupted frame.
fn printed_trace(console: &str, after: &str) -> Vec<String> {
    let console = without_ticks(console);
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
        if t == "</TASK>" || t.starts_with("<IRQ>") {
            break;
        }
        // An exception taken in the kernel (a fault in copy_to_user): its frame is the
        // interrupted function, then the register dump, then the trace goes on. User mode
        // (`RIP: 0033:`) ends the task's part.
        if let Some(rip) = t.strip_prefix("RIP: 0010:") {
            if let Some((name, _)) = rip.split_once('/') {
                out.push(name.to_string());
            }
            continue;
        }
        if t.starts_with("RIP:") {
            break;
        }
        let register_dump = t.split_whitespace().next().is_some_and(|w| {
            w == "Code:"
                || w.ends_with(':')
                    && w.trim_end_matches(':')
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        });
        if register_dump {
            continue;
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

/// `::panicinfo` against what the kernel printed: the panic line (message and timestamp),
/// the `CPU: N ... PID: P Comm: C [Not tainted | Tainted: LETTERS] RELEASE` line after it,
/// and `::cpuinfo`'s view of the vCPUs.
fn check_panicinfo(console: &str, who: &str, info: &Value, cpus: &[Value]) {
    let words: Vec<&str> = who.split_whitespace().collect();
    let after = |k: &str| {
        let i = words.iter().position(|w| *w == k).unwrap();
        words[i + 1]
    };
    assert_eq!(info["panicked"], true, "{info}");
    assert_eq!(info["message"], "sysrq triggered crash", "{info}");
    assert_eq!(info["cpu"].as_u64(), after("CPU:").parse().ok(), "{info}");
    assert_eq!(info["pid"].as_u64(), after("PID:").parse().ok(), "{info}");
    assert_eq!(info["comm"], after("Comm:"), "{info}");
    // The timestamp of the panic line, to the microsecond printk shows.
    let line = console
        .lines()
        .find(|l| l.contains("Kernel panic - not syncing: sysrq triggered crash"))
        .unwrap();
    let printed = line
        .trim_start_matches('[')
        .split(']')
        .next()
        .unwrap()
        .trim();
    let at = info["panicked_at_ns"].as_u64().unwrap();
    assert_eq!(
        format!("{}.{:06}", at / 1_000_000_000, at % 1_000_000_000 / 1000),
        printed,
        "{info}"
    );
    assert!(info["uptime_ns"].as_u64().unwrap() >= at, "{info}");
    // Taint: "Not tainted", or the letters after "Tainted:" up to the release.
    if who.contains("Not tainted") {
        assert_eq!(info["tainted_mask"], "0x0", "{info}");
        assert_eq!(info["taint"], "", "{info}");
    } else {
        let letters: String = who
            .split("Tainted:")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .take_while(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
            .flat_map(|w| w.chars())
            .filter(|c| c.is_ascii_uppercase() && *c != 'G')
            .collect();
        assert_eq!(info["taint"], letters.as_str(), "{who} / {info}");
    }
    // Every vCPU, as ::cpuinfo sees it; the panicking one marked.
    let stops = info["cpus"].as_array().unwrap();
    assert_eq!(stops.len(), cpus.len(), "{info}");
    for c in cpus {
        let s = stops.iter().find(|s| s["cpu"] == c["cpu"]).unwrap();
        assert_eq!(s["online"], c["online"], "{s} / {c}");
        assert_eq!(s["pid"], c["pid"], "{s} / {c}");
        assert_eq!(s["panicking"], c["cpu"] == info["cpu"], "{s}");
    }
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

    let recs = guest.json_records(&[
        "::msgbuf",
        "::cpuinfo",
        "::cpuinfo | ::findstack",
        "::ps",
        "::panicinfo",
    ]);
    for r in &recs {
        assert_eq!(r["ok"], true, "{r}");
    }
    check_panicinfo(&console, who, &data(&recs[4])[0], data(&recs[1]));
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
fn panic_6_12() {
    check_panic(KernelVersion::V6_12);
}

#[test]
fn panic_newest() {
    check_panic(KernelVersion::Newest);
}

/// The console's printk timestamp (seconds) of the first line containing `needle`.
fn printk_time(console: &str, needle: &str) -> Option<f64> {
    console
        .lines()
        .find(|l| l.contains(needle))
        .and_then(|l| l.trim_start_matches('[').split(']').next())
        .and_then(|t| t.trim().parse().ok())
}

/// The uptime of a `QMDB-STAGE <name> <uptime>` line.
fn stage_time(console: &str, name: &str) -> f64 {
    support::console_records(console, "QMDB-STAGE ")
        .iter()
        .find_map(|r| r.strip_prefix(&format!("{name} ")))
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no QMDB-STAGE {name}"))
}

fn check_hung(kernel: KernelVersion) {
    let guest = guest(kernel, Scenario::Hung, 2);
    let console = guest.console();
    // (pid, state, comm): two writers on the frozen file system, and the lock chain: a
    // pipe reader blocked in page_mkwrite holding the pipe's mutex, a writer waiting for it.
    let hung: Vec<(u32, char, String)> = support::console_records(&console, "QMDB-HUNG ")
        .iter()
        .map(|r| {
            let mut w = r.split_whitespace();
            let pid = w.next().and_then(|p| p.parse().ok()).expect("pid");
            let state = w.next().and_then(|s| s.chars().next()).expect("state");
            (pid, state, w.next().expect("comm").to_string())
        })
        .collect();
    assert_eq!(hung.len(), 4, "{console}");
    let lock = support::console_records(&console, "QMDB-HUNGLOCK ");
    let [lock] = lock.as_slice() else {
        panic!("no QMDB-HUNGLOCK: {console}")
    };
    let lock: Vec<&str> = lock.split_whitespace().collect();
    let (waiter, owner): (u32, u32) = (lock[0].parse().unwrap(), lock[2].parse().unwrap());
    assert_eq!(lock[1], "mutex");

    let recs = guest.json_records(&[
        "__sched_text_start=K",
        "__sched_text_end=K",
        "::stacks -t D -a",
        "::pgrep -x qmdb-hung | ::findstack",
        "::ps",
        "::hung",
        "::hung -s 100000",
        "::pgrep qmdb-pipe- | ::findstack",
        "__lock_text_start=K",
        "__lock_text_end=K",
    ]);
    for r in &recs {
        assert_eq!(r["ok"], true, "{r}");
    }
    let hex = |r: &Value| u64::from_str_radix(r["output"][0].as_str().unwrap().trim(), 16).unwrap();
    // What /proc/PID/stack leaves out: the kernel's in_sched_functions().
    let sched = [hex(&recs[0])..hex(&recs[1]), hex(&recs[8])..hex(&recs[9])];
    let groups = data(&recs[2]);
    let tasks: Vec<Value> = data(&recs[3])
        .iter()
        .chain(data(&recs[7]))
        .cloned()
        .collect();
    let ps = data(&recs[4]);
    let blocked = data(&recs[5]);
    assert!(data(&recs[6]).is_empty(), "-s 100000: {}", recs[6]);
    // ::hung lists exactly the tasks in D.
    let mut listed: Vec<u64> = blocked.iter().map(|b| b["pid"].as_u64().unwrap()).collect();
    listed.sort_unstable();
    let mut want: Vec<u64> = hung.iter().map(|h| u64::from(h.0)).collect();
    want.sort_unstable();
    assert_eq!(
        listed, want,
        "::hung against the hung-task reports: {blocked:?}"
    );
    let scenario_start = stage_time(&console, "truth-written");
    let mut d_tasks = 0;
    for (pid, state, comm) in &hung {
        let pid = *pid;
        assert_eq!(*state, 'D', "the guest says {pid} is in {state}");
        let task = tasks
            .iter()
            .find(|t| t["pid"] == pid)
            .unwrap_or_else(|| panic!("::pgrep found no {pid}: {tasks:?}"));
        assert_eq!(task["state"], "D", "{task}");
        let p = ps.iter().find(|p| p["pid"] == pid).expect("in ::ps");
        assert_eq!(p["state"], "D", "{p}");

        // ::stacks -t D: the detector's trace, frame for frame.
        let report = format!("task {comm}:{pid} blocked for more than");
        let printed = printed_trace(&console, &report);
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
                f["reliable"] == true && !sched.iter().any(|r| r.contains(&pc))
            })
            .map(frame_name)
            .collect();
        assert_eq!(got, want, "::findstack of {pid} against /proc/{pid}/stack");

        // ::hung: where it waits is the first frame /proc shows; it went to sleep after the
        // scenario began and, as the detector found it blocked for 2 s at its report, at
        // least 2 s before that.
        let b = blocked.iter().find(|b| b["pid"] == pid).unwrap();
        assert_eq!(b["comm"], comm.as_str(), "{b}");
        assert_eq!(b["wait"], want[0].as_str(), "{b}");
        let since = b["blocked_since_ns"].as_u64().expect("blocked_since_ns") as f64 / 1e9;
        let reported = printk_time(&console, &report).expect("report time");
        assert!(
            since >= scenario_start - 0.1 && since <= reported - 2.0 + 0.1,
            "{pid} blocked since {since}: not in [{scenario_start}, {reported} - 2]: {b}"
        );
        let blocked_ns = b["blocked_ns"].as_u64().unwrap();
        assert!(blocked_ns >= 2_000_000_000, "{b}");

        // The lock: the pipe's mutex for the writer, held by the reader; the superblock's
        // freeze protection (a percpu rwsem held for writing by no task) for the others.
        let l = &b["lock"];
        if pid == waiter {
            assert_eq!(l["kind"], "mutex", "{b}");
            assert_eq!(l["held"], "task", "{b}");
            assert_eq!(l["owner_pid"], owner, "{b}");
            let owner_thread = tasks.iter().find(|t| t["pid"] == owner).unwrap();
            assert_eq!(l["owner"], owner_thread["thread"], "{b}");
            // The chain: writer -> mutex -> reader -> frozen superblock.
            let chain = &b["chain"];
            let steps = chain["steps"].as_array().expect("a lock chain");
            assert_eq!(steps.len(), 2, "{chain}");
            assert_eq!(steps[0]["pid"], waiter);
            assert_eq!(steps[1]["pid"], owner);
            assert_eq!(steps[1]["waits_for"]["kind"], "percpu_rwsem", "{chain}");
            assert_eq!(chain["end"], "no_owner", "{chain}");
        } else {
            assert_eq!(l["kind"], "percpu_rwsem", "{b}");
            assert_eq!(l["held"], "write_held", "{b}");
            assert!(b["chain"].is_null(), "{b}");
        }
        d_tasks += 1;
    }
    // Both the reader's and the writers' percpu rwsems are the same superblock's: the
    // writers' is freeze level SB_FREEZE_WRITE, the reader's SB_FREEZE_PAGEFAULT.
    let sem = |pid: u32| {
        let b = blocked.iter().find(|b| b["pid"] == pid).unwrap();
        u64::from_str_radix(
            b["lock"]["lock"].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap()
    };
    let writers: Vec<u32> = hung
        .iter()
        .filter(|h| h.2 == "qmdb-hung")
        .map(|h| h.0)
        .collect();
    assert_eq!(sem(writers[0]), sem(writers[1]));
    assert!(sem(owner) > sem(writers[0]) && sem(owner) - sem(writers[0]) < 0x100);
    // Where the kernel has its own blocker tracking, it named the same owner.
    if kernel == KernelVersion::Newest {
        let said = format!("task qmdb-pipe-w:{waiter} is blocked on a mutex likely owned by task qmdb-pipe-r:{owner}");
        assert!(console.contains(&said), "no {said:?} on the console");
        let b = blocked.iter().find(|b| b["pid"] == waiter).unwrap();
        assert_eq!(b["lock"]["found_by"], "blocker", "{b}");
    }
    // One writer blocked writing a file opened before the freeze, the other opening one.
    let stacks = support::console_records(&console, "QMDB-HUNGSTACK ").join("\n");
    assert!(stacks.contains("vfs_write"), "{stacks}");
    assert!(stacks.contains("openat"), "{stacks}");
    assert!(stacks.contains("page_mkwrite"), "{stacks}");
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
fn hung_tasks_6_12() {
    check_hung(KernelVersion::V6_12);
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
