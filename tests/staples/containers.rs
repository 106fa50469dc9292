//! the container walks on the real guests (6.1, 6.12, the newest Debian
//! kernel), each checked against an oracle outside it:
//! - `init_task::list task_struct tasks` is `::walk proc` (the task walker's own list code),
//!   and its pids are the processes of the guest's /proc (the fixture's exactly, kernel
//!   workers loosely: they come and go);
//! - `::idr`/`::walk idr` over `init_pid_ns.idr` gives one struct pid per id, each with
//!   `numbers[0].nr` equal to its id, covering every task id of the truth;
//! - `::walk hlist` over a struct pid's `tasks[0]` yields exactly the task of that id;
//! - `::walk rbtree` over each CPU's monotonic hrtimer tree (`::percpu hrtimer_bases`) is
//!   in expiry order, starts at the tree's cached leftmost node, and holds one
//!   `hrtimer_wakeup` sleeper for each of the fixture's forever-nanosleeping tasks;
//! - `::percpu runqueues` is `runqueues` (from the guest's /proc/kallsyms) plus each
//!   CPU's `__per_cpu_offset`, one per CPU the guest has, and each `struct rq`'s `cpu` is
//!   its index.

use crate::support::{shared_guest, Guest, KernelVersion};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

fn data(rec: &Value) -> &Vec<Value> {
    assert!(rec["ok"] == true, "{rec}");
    rec["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {rec}"))
}

fn hex(v: &Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a hex string: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// The `addr` of each record (`::list`, `::percpu`, bare addresses).
fn addrs(rec: &Value) -> Vec<u64> {
    data(rec)
        .iter()
        .map(|r| hex(r.get("addr").unwrap_or(r)))
        .collect()
}

/// The `value` of each `::print` record whose member is `member`.
fn values<'a>(rec: &'a Value, member: &str) -> Vec<&'a Value> {
    data(rec)
        .iter()
        .filter(|r| r["member"] == member)
        .map(|r| &r["value"])
        .collect()
}

fn num(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().map(|s| hex(&Value::from(s))))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The value an `expr=K` command printed.
fn hex_output(rec: &Value) -> u64 {
    let out = rec["output"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no output: {rec}"));
    u64::from_str_radix(out.trim(), 16).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The error of a command that must fail.
fn error(rec: &Value) -> &str {
    assert!(rec["ok"] == false, "{rec}");
    rec["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {rec}"))
}

/// `::offsetof TYPE MEMBER`'s byte offset.
fn offset(rec: &Value) -> u64 {
    data(rec)[0]["offset"]
        .as_u64()
        .unwrap_or_else(|| panic!("no offset: {rec}"))
}

/// Whether a fixture task (`qmdb-*`): these stay for the guest's life.
fn fixture(comm: &str) -> bool {
    comm.starts_with("qmdb-")
}

/// Kernel workers come and go between the truth and the test: counts agree loosely.
fn about(ours: usize, theirs: usize, what: &str) {
    assert!(
        ours.abs_diff(theirs) <= 10 + theirs / 5,
        "{what}: {ours} here, {theirs} in the truth"
    );
}

/// `init_task::list task_struct tasks` against `::walk proc` and the truth's processes.
fn check_list(guest: &Guest) {
    let truth = guest.truth();
    let recs = guest.json_records(&[
        "init_task::list task_struct tasks",
        "::walk proc",
        "init_task::list task_struct tasks | ::print -d struct task_struct pid comm",
        "modules::list -H module list | ::print struct module name",
        "::lsmod",
    ]);
    let ours = addrs(&recs[0]);
    assert_eq!(ours, addrs(&recs[1]), "::list and ::walk proc differ");
    assert!(
        recs[0]["warnings"].as_array().unwrap().is_empty(),
        "{}",
        recs[0]
    );
    let pids: Vec<u64> = values(&recs[2], "pid").into_iter().map(num).collect();
    let comms: Vec<&str> = values(&recs[2], "comm")
        .into_iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(pids.len(), ours.len());
    assert_eq!((pids[0], comms[0]), (0, "swapper/0"), "init_task first");
    let mine: BTreeMap<u64, &str> = pids.iter().copied().zip(comms.iter().copied()).collect();
    assert_eq!(mine.len(), pids.len(), "a pid twice: {pids:?}");
    let theirs: BTreeMap<u64, &str> = truth
        .processes()
        .map(|t| (u64::from(t.pid), t.comm.as_str()))
        .collect();
    let fx = |m: &BTreeMap<u64, &str>| -> Vec<(u64, String)> {
        m.iter()
            .filter(|(_, c)| fixture(c))
            .map(|(p, c)| (*p, c.to_string()))
            .collect()
    };
    assert!(
        fx(&theirs).len() >= 8,
        "too few fixture processes: {theirs:?}"
    );
    assert_eq!(fx(&mine), fx(&theirs), "the fixture's processes");
    assert_eq!(mine.get(&1), Some(&"init"));
    about(mine.len() - 1, theirs.len(), "processes");
    // -H: a bare head (not a struct module) is not an entry: the modules, as ::lsmod.
    let mut names: Vec<&str> = values(&recs[3], "name")
        .into_iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut lsmod: Vec<&str> = data(&recs[4])
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    lsmod.sort_unstable();
    assert!(!names.is_empty());
    assert_eq!(names, lsmod);
    // Not a list_head member, no such member: refused, nothing walked.
    let recs = guest.json_records_any(&[
        "init_task::list task_struct comm",
        "init_task::list struct task_struct nosuch",
        "init_task::list task_struct",
    ]);
    assert!(
        error(&recs[0]).contains("not a struct list_head"),
        "{}",
        recs[0]
    );
    assert!(error(&recs[1]).contains("nosuch"), "{}", recs[1]);
    assert!(error(&recs[2]).contains("type and a member"), "{}", recs[2]);
}

/// `::percpu runqueues` against `runqueues` from the guest's kallsyms plus the per-CPU
/// offsets; each rq's `cpu` is its index.
fn check_percpu(guest: &Guest) {
    let truth = guest.truth();
    let n = truth.nproc;
    let per_cpu_offset = format!("__per_cpu_offset,0t{n}/K");
    let recs = guest.json_records(&[
        "::percpu runqueues",
        &per_cpu_offset,
        "::percpu runqueues | ::print -d struct rq cpu",
        "runqueues::percpu -c 1",
    ]);
    let rows = data(&recs[0]);
    assert_eq!(rows.len(), n as usize, "one per CPU: {}", recs[0]);
    let runqueues = truth
        .symbol("runqueues")
        .unwrap_or_else(|| panic!("no runqueues in the truth's kallsyms"))
        .addr;
    let offsets: Vec<u64> = data(&recs[1])
        .iter()
        .flat_map(|r| r["values"].as_array().unwrap().iter())
        .map(|v| u64::from_str_radix(v.as_str().unwrap(), 16).unwrap())
        .collect();
    assert_eq!(offsets.len(), n as usize, "{}", recs[1]);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["cpu"], i as u64);
        assert_eq!(
            hex(&r["addr"]),
            runqueues.wrapping_add(offsets[i]),
            "CPU {i}'s runqueues"
        );
    }
    let cpus: Vec<u64> = values(&recs[2], "cpu").into_iter().map(num).collect();
    assert_eq!(cpus, (0..u64::from(n)).collect::<Vec<_>>());
    if n > 1 {
        assert_eq!(data(&recs[3]).len(), 1);
        assert_eq!(data(&recs[3])[0], rows[1]);
    }
    let recs = guest.json_records_any(&["::percpu -c 0t999 runqueues", "::percpu nosuchsym"]);
    assert!(error(&recs[0]).contains("not a possible CPU"));
    assert!(error(&recs[1]).contains("nosuchsym"));
}

/// The pid IDR, and each fixture task's struct pid's `tasks[0]` hlist.
fn check_idr_and_hlist(guest: &Guest) {
    let truth = guest.truth();
    let recs = guest.json_records(&[
        "::offsetof struct pid_namespace idr",
        "::offsetof struct pid tasks[0]",
    ]);
    let (idr_off, tasks_off) = (offset(&recs[0]), offset(&recs[1]));
    let idr = format!("init_pid_ns+{idr_off:x}");
    let recs = guest.json_records(&[
        &format!("{idr}::idr"),
        &format!("{idr}::walk idr"),
        &format!("{idr}::walk idr | ::print -d struct pid numbers[0].nr"),
    ]);
    let entries: Vec<(u64, u64)> = data(&recs[0])
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), hex(&r["entry"])))
        .collect();
    assert!(entries.iter().all(|(_, e)| e & 3 == 0), "only pointers");
    assert!(entries.windows(2).all(|w| w[0].0 < w[1].0), "in id order");
    let walked: Vec<u64> = addrs(&recs[1]);
    assert_eq!(walked, entries.iter().map(|e| e.1).collect::<Vec<_>>());
    let nrs: Vec<u64> = values(&recs[2], "numbers[0].nr")
        .into_iter()
        .map(num)
        .collect();
    let ids: Vec<u64> = entries.iter().map(|e| e.0).collect();
    assert_eq!(nrs, ids, "each struct pid's number is its id");
    let by_id: HashMap<u64, u64> = entries.iter().copied().collect();
    for t in &truth.tasks {
        if fixture(&t.comm) {
            assert!(
                by_id.contains_key(&u64::from(t.tid)),
                "no pid {} ({})",
                t.tid,
                t.comm
            );
        }
    }
    about(ids.len(), truth.tasks.len(), "pids");

    // Each fixture thread's struct pid: its tasks[PIDTYPE_PID] chain holds that task only.
    let fx: Vec<_> = truth.tasks.iter().filter(|t| fixture(&t.comm)).collect();
    let cmds: Vec<String> = fx
        .iter()
        .map(|t| {
            format!(
                "{:x}::walk hlist task_struct pid_links[0] | ::print -d struct task_struct pid comm",
                by_id[&u64::from(t.tid)] + tasks_off
            )
        })
        .collect();
    let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let recs = guest.json_records(&cmds);
    for (t, rec) in fx.iter().zip(&recs) {
        let pids: Vec<u64> = values(rec, "pid").into_iter().map(num).collect();
        let comms: Vec<&Value> = values(rec, "comm");
        assert_eq!(pids, vec![u64::from(t.tid)], "{}: {rec}", t.comm);
        assert_eq!(comms[0].as_str(), Some(t.comm.as_str()));
    }
    // The nodes themselves: one, inside that task.
    let t = fx[0];
    let pid_at = by_id[&u64::from(t.tid)];
    let recs = guest.json_records_any(&[
        &format!("{:x}::walk hlist", pid_at + tasks_off),
        &format!("{:x}::print struct pid tasks[0].first", pid_at),
        &format!("{:x}::walk hlist task_struct", pid_at + tasks_off),
    ]);
    assert_eq!(
        addrs(&recs[0]),
        vec![num(values(&recs[1], "tasks[0].first")[0])]
    );
    assert!(error(&recs[2]).contains("type and a member"), "{}", recs[2]);
}

/// Each CPU's monotonic hrtimer tree: in expiry order, leftmost first, and the fixture's
/// forever-sleepers' `hrtimer_sleeper`s in it.
fn check_rbtree(guest: &Guest) {
    let truth = guest.truth();
    let recs = guest.json_records(&[
        "::offsetof struct hrtimer_cpu_base clock_base[0].active",
        "::percpu hrtimer_bases",
    ]);
    let off = offset(&recs[0]);
    let bases = addrs(&recs[1]);
    assert_eq!(bases.len(), truth.nproc as usize);
    let mut cmds = vec![
        "hrtimer_wakeup=K".to_string(),
        "::walk thread".to_string(),
        "::walk thread | ::print -d struct task_struct pid".to_string(),
    ];
    for b in &bases {
        let root = b + off;
        cmds.push(format!("{root:x}::walk rbtree"));
        cmds.push(format!("{root:x}::print struct rb_root_cached rb_leftmost"));
        cmds.push(format!(
            "{root:x}::walk rbtree hrtimer_sleeper timer.node.node | \
             ::print -d struct hrtimer_sleeper timer.node.expires timer.function task"
        ));
    }
    let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let recs = guest.json_records(&cmds);
    let wakeup = hex_output(&recs[0]);
    let task_pid: HashMap<u64, u64> = addrs(&recs[1])
        .into_iter()
        .zip(values(&recs[2], "pid").into_iter().map(num))
        .collect();
    let mut sleepers = BTreeSet::new();
    for (cpu, r) in recs[3..].chunks(3).enumerate() {
        let nodes = addrs(&r[0]);
        assert!(r[0]["warnings"].as_array().unwrap().is_empty(), "{}", r[0]);
        let leftmost = num(values(&r[1], "rb_leftmost")[0]);
        assert_eq!(nodes.first().copied().unwrap_or(0), leftmost, "CPU {cpu}");
        let expires: Vec<u64> = values(&r[2], "timer.node.expires")
            .into_iter()
            .map(num)
            .collect();
        let funcs: Vec<u64> = values(&r[2], "timer.function")
            .into_iter()
            .map(num)
            .collect();
        let tasks: Vec<u64> = values(&r[2], "task").into_iter().map(num).collect();
        assert_eq!(expires.len(), nodes.len(), "CPU {cpu}");
        assert!(
            expires.windows(2).all(|w| w[0] <= w[1]),
            "CPU {cpu}: {expires:?}"
        );
        for ((e, f), t) in expires.iter().zip(&funcs).zip(&tasks) {
            // The fixture's forever-sleepers ask for 1000000 s; nothing else does.
            if *f == wakeup && *e >= 1_000_000_000_000_000 {
                let pid = task_pid
                    .get(t)
                    .unwrap_or_else(|| panic!("task {t:x} not a task"));
                assert!(sleepers.insert(*pid), "pid {pid} sleeps twice");
            }
        }
    }
    let theirs: BTreeSet<u64> = truth
        .tasks
        .iter()
        .filter(|t| {
            matches!(
                t.comm.as_str(),
                "qmdb-sleeper" | "qmdb-extra" | "qmdb-thr-sleep"
            )
        })
        .map(|t| u64::from(t.tid))
        .collect();
    assert!(theirs.len() >= 5, "{theirs:?}");
    assert_eq!(sleepers, theirs, "the forever-sleepers' timers");
}

fn check(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    check_list(guest);
    check_percpu(guest);
    check_idr_and_hlist(guest);
    check_rbtree(guest);
}

#[test]
fn containers_6_1() {
    check(KernelVersion::V6_1);
}

#[test]
fn containers_6_12() {
    check(KernelVersion::V6_12);
}

#[test]
fn containers_newest() {
    check(KernelVersion::Newest);
}
