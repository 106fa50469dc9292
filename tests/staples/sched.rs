//! End-to-end: `::runq` (and `::cpuinfo -v`), `::ps -m` and `::ptree` on the real guests
//! (6.1, 6.12 and the newest Debian kernel), checked against `::cpuinfo`, `::ps -t`, the
//! run queues' own counts, a breakpoint where the kernel has just queued a task, the
//! fixture's stage times, and the guest's own process table (the truth's ppids).
//! One test per kernel, each on its kernel's shared guest.

use crate::support::{hex, shared_guest, Guest, KernelVersion};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

fn data(rec: &Value) -> &Vec<Value> {
    assert!(rec["ok"] == true, "command failed: {rec}");
    rec["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {rec}"))
}

/// The uptime (s) of the fixture's `QMDB-STAGE name` line.
fn stage(guest: &Guest, name: &str) -> f64 {
    let console = guest.console();
    let tag = format!("QMDB-STAGE {name} ");
    console
        .lines()
        .find_map(|l| l.trim().strip_prefix(&tag)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{tag}` line on the console"))
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("no string {k} in {v}"))
}

/// The queued task entries of a run queue record (tasks, readable or not; not groups or
/// deadline servers).
fn queued_tasks(rq: &Value) -> Vec<&Value> {
    rq["queued"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["kind"] == "task" || q["kind"] == "unreadable")
        .collect()
}

/// What is wrong with one stop's `::runq`, beside `::cpuinfo` and `::ps -t` of the same
/// stop; empty when all holds.
fn runq_problems(guest: &Guest, rqs: &[Value], cpus: &[Value], ps: &[Value]) -> Vec<String> {
    let mut bad = Vec::new();
    assert_eq!(
        rqs.len() as u32,
        guest.truth().nproc,
        "one run queue per possible CPU"
    );
    let by_cpu: HashMap<u64, &Value> = rqs
        .iter()
        .map(|r| (r["cpu"].as_u64().unwrap(), r))
        .collect();
    // The current task of each CPU is ::cpuinfo's (both read rq->curr of the same stop).
    for c in cpus {
        let cpu = c["cpu"].as_u64().expect("cpuinfo matched every vCPU");
        let rq = by_cpu[&cpu];
        assert_eq!(rq["curr_thread"], c["thread"], "CPU {cpu}: {rq}\n{c}");
        assert_eq!(rq["curr"]["pid"], c["pid"], "CPU {cpu}");
    }
    let state: HashMap<&str, &str> = ps
        .iter()
        .map(|t| (str_of(t, "thread"), str_of(t, "state")))
        .collect();
    let mut busy = false;
    for rq in rqs {
        let cpu = &rq["cpu"];
        let tasks = queued_tasks(rq);
        // nr_running counts every runnable task of the CPU: the current one (unless it is
        // the idle task, which is never counted) and each queued one, whatever its class;
        // group entities and the deadline server are not tasks. A 6.12+ task in delayed
        // dequeue is still queued and still counted. While the run queue's lock is held,
        // the counts may be mid-update (a task dequeued, nr_running not yet lowered, or
        // the current task already dequeued on its way to sleep): that CPU is not checked.
        let running = tasks.len() as u64 + u64::from(rq["idle"] == false);
        if rq["lock_held"] != true && rq["nr_running"].as_u64() != Some(running) {
            bad.push(format!(
                "CPU {cpu}: nr_running {} but {} queued + current: {rq}",
                rq["nr_running"],
                tasks.len()
            ));
        }
        // A queued task is runnable (R); only a delayed-dequeue one sleeps. ::ps -t agrees
        // (same stop).
        for q in &tasks {
            let t = &q["task"];
            if t.is_null() {
                bad.push(format!("CPU {cpu}: unreadable queued task {q}"));
                continue;
            }
            let thread = str_of(t, "thread");
            if q["delayed"] == false && t["state"] != "R" {
                bad.push(format!("CPU {cpu}: queued task not runnable: {q}"));
            }
            assert_eq!(
                state.get(thread).copied(),
                Some(str_of(t, "state")),
                "::ps -t and ::runq disagree on {thread}"
            );
        }
        busy |= rq["curr"]["comm"] == "qmdb-busy"
            || tasks.iter().any(|q| q["task"]["comm"] == "qmdb-busy");
    }
    if !busy {
        bad.push("qmdb-busy (always runnable) is on no run queue".into());
    }
    bad
}

fn check_runq(guest: &Guest) {
    // A stop can catch a CPU between two steps of the scheduler (qmdb-busy migrating between
    // run queues, off both for a few instructions; a task preempted between setting its
    // sleeping state and calling schedule()): a fresh stop is taken, up to 3 times.
    let mut last = Vec::new();
    for attempt in 1..=3 {
        let recs = guest.json_records(&[
            "::runq",
            "::cpuinfo",
            "::ps -t",
            "::cpuinfo -v",
            "::runq -c 1",
        ]);
        let (rqs, cpus, ps) = (data(&recs[0]), data(&recs[1]), data(&recs[2]));
        // ::runq -c 1: CPU 1's run queue alone, as ::runq gives it (the same stop).
        let one: Vec<&Value> = rqs.iter().filter(|r| r["cpu"] == 1).collect();
        assert_eq!(one.len(), 1, "{}", recs[0]);
        assert_eq!(
            data(&recs[4]).iter().collect::<Vec<_>>(),
            one,
            "::runq -c 1"
        );
        // ::cpuinfo -v: the table's rows, then the same run queues.
        let v = data(&recs[3]);
        assert_eq!(v.len(), cpus.len() + rqs.len(), "{}", recs[3]);
        assert_eq!(&v[cpus.len()..], &rqs[..], "::cpuinfo -v's run queues");
        let out = recs[3]["output"].as_array().unwrap();
        assert!(
            out.iter()
                .any(|l| l.as_str().unwrap().starts_with("CPU 0 RUNQUEUE")),
            "{out:?}"
        );
        last = runq_problems(guest, rqs, cpus, ps);
        if last.is_empty() {
            eprintln!("::runq consistent on stop {attempt}");
            return;
        }
        eprintln!("stop {attempt}: {last:#?}");
    }
    panic!("::runq inconsistent on 3 stops: {last:#?}");
}

/// Stops where the kernel has just queued a woken task (`sym(rq, p, flags)`, called under
/// the run queue's lock after the enqueue) and finds `p` queued on `rq`: the walks of the
/// real kernel's trees and lists, not only of an idle guest's empty ones.
fn check_wakeup(guest: &Guest, sym: &str) {
    for _ in 0..3 {
        let bp = format!("{sym}::bp");
        let recs = guest.json_records(&[&bp, "::cont -T 60", "<rdi=K", "<rsi=K", "::runq"]);
        let rq = hex(str_of(&data(&recs[2])[0], "value"));
        let p = hex(str_of(&data(&recs[3])[0], "value"));
        let rqs = data(&recs[4]);
        let r = rqs
            .iter()
            .find(|r| hex(str_of(r, "rq")) == rq)
            .unwrap_or_else(|| panic!("{sym}'s rq {rq:x} is no CPU's: {rqs:?}"));
        assert_eq!(r["lock_held"], true, "{sym} runs under the rq lock: {r}");
        let tasks = queued_tasks(r);
        let q = tasks
            .iter()
            .find(|q| q["thread"].as_str().map(hex) == Some(p))
            .unwrap_or_else(|| panic!("the woken task {p:x} is not queued on its rq: {r}"));
        assert_eq!(q["task"]["state"], "R", "{q}");
        // The guest goes on once qmdb leaves (the breakpoint is removed).
        assert!(
            guest.napper_progresses(2, Duration::from_secs(60)),
            "the guest did not run on after the breakpoint"
        );
        let class = str_of(q, "class").to_string();
        eprintln!("{sym}: {p:x} queued on {rq:x} ({class})");
        if class == "fair" || class == "rt" {
            return;
        }
    }
    panic!("3 wake-ups at {sym}, none of a fair or real-time task");
}

fn check_ps_m(guest: &Guest) {
    let recs = guest.json_records(&["::ps -m", "::ps"]);
    let (m, plain) = (data(&recs[0]), data(&recs[1]));
    assert_eq!(m.len(), plain.len());
    // Plain ::ps keeps its schema: no last_ran_ns.
    assert!(plain.iter().all(|t| t.get("last_ran_ns").is_none()));
    let out = recs[0]["output"].as_array().unwrap();
    assert!(out[0].as_str().unwrap().contains("LAST RAN"), "{out:?}");
    let ago = |comm: &str| -> Vec<f64> {
        m.iter()
            .filter(|t| t["comm"] == comm)
            .map(|t| t["last_ran_ns"].as_u64().unwrap_or_else(|| panic!("{t}")) as f64 / 1e9)
            .collect()
    };
    // The idle task never arrives (sched_info is not kept for it).
    assert!(
        m[0]["pid"] == 0 && m[0]["last_ran_ns"].is_null(),
        "{}",
        m[0]
    );
    // The sleepers last ran before the fixture's `settled` stage (it waits until each is
    // asleep, and nothing wakes them), and qmdb attaches after `truth-written`: they last
    // ran at least truth-written - settled ago. Stage times are /proc/uptime, last_ran is
    // on the scheduler's clock; the two agree to well under a second over a boot, hence
    // the 1 s slack.
    let least = stage(guest, "truth-written") - stage(guest, "settled") - 1.0;
    let sleepers = ago("qmdb-sleeper");
    assert_eq!(sleepers.len(), 3);
    for s in &sleepers {
        assert!(
            *s > least,
            "a sleeper last ran {s:.3} s ago: not before {least:.3} s"
        );
    }
    // The napper wakes every second: it ran within 3 s (its 1 s period, the console
    // write it makes each round, and the timer slack of a TCG guest on a loaded host).
    let napper = ago("qmdb-napper");
    assert_eq!(napper.len(), 1);
    assert!(
        napper[0] < 3.0,
        "the napper last ran {:.3} s ago",
        napper[0]
    );
    eprintln!("ps -m: sleepers {sleepers:?} s ago (> {least:.3}), napper {napper:?} s ago");
}

fn check_ptree(guest: &Guest) {
    let truth = guest.truth();
    let napper_pid = guest.napper().0;
    let recs = guest.json_records(&["::ptree", "::pgrep -x qmdb-napper", "::pgrep -x init"]);
    let tree = data(&recs[0]);
    let by_pid: HashMap<i64, (usize, &Value)> = tree
        .iter()
        .enumerate()
        .map(|(i, r)| (r["pid"].as_i64().unwrap(), (i, r)))
        .collect();
    assert_eq!(by_pid.len(), tree.len(), "a process printed twice");
    // Every record is under its parent: the nearest record above it one level up.
    for (i, r) in tree.iter().enumerate() {
        let depth = r["depth"].as_u64().unwrap();
        if depth == 0 {
            continue;
        }
        let parent = tree[..i]
            .iter()
            .rev()
            .find(|p| p["depth"].as_u64().unwrap() < depth)
            .unwrap();
        assert_eq!(parent["depth"].as_u64().unwrap() + 1, depth, "{r}");
        assert_eq!(parent["pid"], r["ppid"], "{r} is not under its parent");
    }
    // init, kthreadd and every fixture process, as the guest's /proc said.
    let mut checked = 0;
    for t in truth.tasks.iter().filter(|t| t.is_leader()) {
        if !(t.pid <= 2 || t.comm.starts_with("qmdb-")) {
            continue;
        }
        let (_, r) = by_pid
            .get(&i64::from(t.pid))
            .unwrap_or_else(|| panic!("pid {} ({}) is not in ::ptree", t.pid, t.comm));
        assert_eq!(r["ppid"].as_u64(), Some(u64::from(t.ppid)), "{r} vs {t:?}");
        assert_eq!(r["comm"].as_str(), Some(t.comm.as_str()), "{r}");
        if t.pid <= 2 {
            assert_eq!(r["depth"], 0, "{r}");
        }
        checked += 1;
    }
    assert!(checked > 10, "only {checked} processes checked");
    // No thread that is not its process's leader.
    let threads: Vec<u32> = truth
        .tasks
        .iter()
        .filter(|t| !t.is_leader())
        .map(|t| t.tid)
        .collect();
    assert!(
        !threads.is_empty(),
        "the fixture has threads (qmdb-threads)"
    );
    for tid in threads {
        assert!(
            !by_pid.contains_key(&i64::from(tid)),
            "thread {tid} in ::ptree"
        );
    }
    // ADDR::ptree: the napper's ancestors (init), then it (it has no children); init's is
    // init's whole tree.
    let napper = str_of(&data(&recs[1])[0], "thread");
    let init = str_of(&data(&recs[2])[0], "thread");
    let recs = guest.json_records(&[&format!("{napper}::ptree"), &format!("{init}::ptree")]);
    let one: Vec<(i64, u64)> = data(&recs[0])
        .iter()
        .map(|r| (r["pid"].as_i64().unwrap(), r["depth"].as_u64().unwrap()))
        .collect();
    assert_eq!(one, [(1, 0), (i64::from(napper_pid), 1)]);
    let init_tree = data(&recs[1]);
    let (start, _) = by_pid[&1];
    let end = tree[start + 1..]
        .iter()
        .position(|r| r["depth"] == 0)
        .map_or(tree.len(), |e| start + 1 + e);
    let pids = |v: &[Value]| -> Vec<i64> { v.iter().map(|r| r["pid"].as_i64().unwrap()).collect() };
    assert_eq!(pids(init_tree), pids(&tree[start..end]));
    eprintln!(
        "ptree: {} processes, {checked} checked against the truth",
        tree.len()
    );
}

fn check(kernel: KernelVersion, wakeup: &str) {
    let guest = shared_guest(kernel);
    check_runq(guest);
    check_ps_m(guest);
    check_ptree(guest);
    check_wakeup(guest, wakeup);
}

#[test]
fn sched_6_1() {
    // 6.1 calls it check_preempt_curr; 6.6 renamed it wakeup_preempt.
    check(KernelVersion::V6_1, "check_preempt_curr");
}

#[test]
fn sched_6_12() {
    check(KernelVersion::V6_12, "wakeup_preempt");
}

#[test]
fn sched_newest() {
    check(KernelVersion::Newest, "wakeup_preempt");
}
