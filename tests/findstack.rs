//! End-to-end: `::walk thread | ::findstack`, `::stacks`, `::ps`, `::cpuinfo` and `$c` on the
//! real guests, checked against what the guest's kernel said of itself (`/proc/PID/stack`,
//! `/proc/PID/stat`), on 6.1, 6.12 and the newest Debian kernel with KASLR on, and 6.1 with it off.

mod support;

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use support::{shared_guest_with, Guest, GuestOpts, KernelVersion, TruthTask};

/// Where qmdb gets the kernel from.
#[derive(Debug, Clone, Copy)]
enum KernelFrom<'a> {
    /// `--kernel VMLINUZ`.
    File,
    /// No `--kernel`: guest memory, cached in this directory.
    Memory(&'a Path),
}

/// Runs one qmdb session with `--json` and returns each command's record.
fn json_records(guest: &Guest, cmds: &[&str]) -> Vec<Value> {
    json_records_from(guest, KernelFrom::File, cmds)
}

fn json_records_from(guest: &Guest, from: KernelFrom<'_>, cmds: &[&str]) -> Vec<Value> {
    let mut args = vec!["--json"];
    for c in cmds {
        args.push("-e");
        args.push(c);
    }
    let out = match from {
        KernelFrom::File => return guest.json_records(cmds),
        KernelFrom::Memory(cache) => {
            let _attached = guest.attach_lock();
            let o = guest
                .qmdb_from_memory(cache)
                .args(&args)
                .stdin(std::process::Stdio::null())
                .output()
                .expect("run qmdb");
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "qmdb {args:?} failed:\n{out}{err}");
            assert!(!err.contains("no kernel"), "{err}");
            out
        }
    };
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn data(rec: &Value) -> &Vec<Value> {
    rec["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {rec}"))
}

fn hex(v: &Value) -> u64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a hex string: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// The value an `expr=K` command printed.
fn hex_output(rec: &Value) -> u64 {
    let out = rec["output"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no output: {rec}"));
    u64::from_str_radix(out.trim(), 16).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Workload tasks whose stacks do not change while the guest runs: they sleep in one
/// system call for the whole test.
fn is_stable_workload(t: &TruthTask) -> bool {
    t.comm == "qmdb-sleeper"
        || t.comm == "qmdb-extra"
        || t.comm == "qmdb-fifo"
        || t.comm == "qmdb-evdev"
        || t.comm.starts_with("qmdb-thr-")
}

/// Our frames as `/proc/PID/stack` shows them: `func+0xoff`, without `.sched.text`
/// functions (which the kernel leaves out) and without unreliable frames.
fn proc_view(rec: &Value, sched: &std::ops::Range<u64>) -> Vec<String> {
    rec["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["reliable"] == true && !sched.contains(&hex(&f["pc"])))
        .map(|f| {
            format!(
                "{}+{:#x}",
                f["symbol"].as_str().unwrap_or("?"),
                f["offset"].as_u64().unwrap_or(0)
            )
        })
        .collect()
}

fn check_findstack(kernel: KernelVersion, nokaslr: bool, from: KernelFrom<'_>) {
    let guest = shared_guest_with(GuestOpts {
        nokaslr,
        ..GuestOpts::new(kernel)
    });
    let truth = guest.truth();
    assert!(
        truth.settled,
        "the workload had not settled when the truth was written"
    );
    let recs = json_records_from(
        guest,
        from,
        &[
            "__sched_text_start=K",
            "__sched_text_end=K",
            "::walk thread | ::findstack",
            "::cpuinfo",
        ],
    );
    let sched = hex_output(&recs[0])..hex_output(&recs[1]);
    assert!(recs[2]["ok"] == true, "{}", recs[2]);
    let stacks = data(&recs[2]);
    let by_pid: HashMap<i64, &Value> = stacks
        .iter()
        .map(|r| (r["pid"].as_i64().unwrap(), r))
        .collect();

    // Every task the guest listed is found (but kernel workers that came or went since).
    let ours: HashSet<i64> = by_pid.keys().copied().collect();
    let missing: Vec<&TruthTask> = truth
        .tasks
        .iter()
        .filter(|t| !ours.contains(&i64::from(t.tid)))
        .collect();
    assert!(
        missing.iter().all(|t| t.comm.starts_with("kworker")),
        "tasks the guest has but ::walk thread did not find: {missing:?}"
    );
    // Each CPU's idle task (pid 0) is there too.
    let idle = stacks.iter().filter(|r| r["pid"] == 0).count();
    assert_eq!(idle as u32, truth.nproc, "one idle task per CPU");

    // The workload's sleepers: exactly the kernel's own stack.
    let mut compared = 0;
    for t in truth.tasks.iter().filter(|t| is_stable_workload(t)) {
        let rec = by_pid
            .get(&i64::from(t.tid))
            .unwrap_or_else(|| panic!("no stack for {t:?}"));
        let want = t.stack_offsets();
        assert!(!want.is_empty(), "the guest gave no stack for {t:?}");
        assert_eq!(proc_view(rec, &sched), want, "{} {}: {rec}", t.tid, t.comm);
        assert_eq!(rec["comm"], t.comm.as_str());
        assert_eq!(rec["state"], t.state.to_string());
        assert!(rec["end"].is_null(), "incomplete walk: {rec}");
        assert!(
            rec["user_pc"].is_string(),
            "a task in a system call ends in user mode: {rec}"
        );
        compared += 1;
    }
    assert!(
        compared >= 3 + 5 + 1 + 1 + 3,
        "only {compared} workload tasks compared"
    );

    // Every other task: the walk reaches the bottom of its stack, and where the task is
    // still in the state the guest saw, mostly with the guest's frames.
    let mut same = 0;
    let mut comparable = 0;
    for r in stacks {
        let on_vcpu_user = r["vcpu"].is_number() && r["frames"].as_array().unwrap().is_empty();
        assert!(
            r["end"].is_null() || on_vcpu_user,
            "walk of {} ({}) did not complete: {r}",
            r["pid"],
            r["comm"]
        );
        let Some(t) = truth.task(r["pid"].as_u64().unwrap() as u32) else {
            continue;
        };
        if t.stack.is_empty() || r["vcpu"].is_number() {
            continue;
        }
        comparable += 1;
        let want = t.stack_offsets();
        if proc_view(r, &sched) == want {
            same += 1;
        }
    }
    eprintln!("{kernel:?}: {same}/{comparable} tasks have the guest's /proc stack");
    assert!(
        same * 10 >= comparable * 8,
        "only {same} of {comparable} stacks match the guest's"
    );

    // Tasks on a vCPU are walked from its registers, and say so.
    let cpus = data(&recs[3]);
    assert_eq!(cpus.len() as u32, truth.nproc, "{cpus:?}");
    for c in cpus {
        let thread = c["thread"].as_str().expect("current task found");
        let rec = stacks
            .iter()
            .find(|r| r["thread"] == thread)
            .unwrap_or_else(|| panic!("current task {thread} not walked"));
        assert_eq!(rec["vcpu"], c["vcpu"], "{rec}");
        assert_eq!(rec["cpu"], c["cpu"], "{rec}");
        if c["mode"] == "kernel" {
            let first = &rec["frames"][0];
            assert_eq!(first["pc"], c["pc"], "first frame is the vCPU's pc: {rec}");
        } else {
            assert_eq!(rec["user_pc"], c["pc"], "{rec}");
        }
    }
}

#[test]
fn findstack_matches_proc_6_1() {
    check_findstack(KernelVersion::V6_1, false, KernelFrom::File);
}

#[test]
fn findstack_matches_proc_6_1_nokaslr() {
    check_findstack(KernelVersion::V6_1, true, KernelFrom::File);
}

#[test]
fn findstack_matches_proc_6_12() {
    check_findstack(KernelVersion::V6_12, false, KernelFrom::File);
}

#[test]
fn findstack_matches_proc_newest() {
    check_findstack(KernelVersion::Newest, false, KernelFrom::File);
}

/// With no `--kernel` (kernel, kallsyms, BTF and ORC read from guest memory, cold): the
/// same /proc stacks.
#[test]
fn findstack_matches_proc_without_kernel_file_6_1() {
    let cache = tempfile::tempdir().expect("cache dir");
    check_findstack(KernelVersion::V6_1, false, KernelFrom::Memory(cache.path()));
}

#[test]
fn findstack_matches_proc_without_kernel_file_6_12() {
    let cache = tempfile::tempdir().expect("cache dir");
    check_findstack(
        KernelVersion::V6_12,
        false,
        KernelFrom::Memory(cache.path()),
    );
}

#[test]
fn findstack_matches_proc_without_kernel_file_newest() {
    let cache = tempfile::tempdir().expect("cache dir");
    check_findstack(
        KernelVersion::Newest,
        false,
        KernelFrom::Memory(cache.path()),
    );
}

/// `::findstack` text, as mdb prints it, for a sleeper.
#[test]
fn findstack_text_output() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_1));
    let out = guest.qmdb_ok(&["-e", "::pgrep -x qmdb-fifo | ::findstack -v"]);
    let fifo = guest.truth().tasks_named("qmdb-fifo").next().unwrap();
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("stack pointer for thread ")
            && header.contains(&format!("({} qmdb-fifo): ", fifo.tid)),
        "{out}"
    );
    let sp = header.rsplit(": ").next().unwrap();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with(&format!("[ {sp} __schedule+0x")),
        "first frame at the thread's sp: {out}"
    );
    assert!(out.contains(" pipe_read+0x"), "{out}");
    assert!(out.contains("user mode: pc "), "{out}");
    // -v shows the registers saved at system call entry: read(2) is system call 0.
    assert!(out.contains("    orig_ax 0  di "), "{out}");
}

/// `::stacks` groups the identical sleepers; `-c` and `-t` filter; in a pipe it emits
/// every task of the groups.
#[test]
fn stacks_groups_sleepers() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_12));
    let truth = guest.truth();
    let nanosleepers = truth
        .tasks
        .iter()
        .filter(|t| t.has_frame("hrtimer_nanosleep"))
        .count();
    let recs = json_records(
        guest,
        &[
            "::stacks -c do_nanosleep",
            "::stacks -c do_nanosleep | ::print task_struct pid",
            "::stacks -t D -T D",
            "::stacks",
        ],
    );
    let groups = data(&recs[0]);
    let total: u64 = groups.iter().map(|g| g["count"].as_u64().unwrap()).sum();
    assert!(
        total as usize >= nanosleepers,
        "{total} tasks in do_nanosleep, the guest had {nanosleepers}: {groups:?}"
    );
    let biggest = &groups[0];
    assert_eq!(biggest["state"], "S");
    assert!(biggest["frames"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["symbol"] == "do_nanosleep"));
    let piped = recs[1]["output"].as_array().unwrap().len();
    assert_eq!(
        piped as u64, total,
        "the pipe gets every task of the groups"
    );
    assert!(data(&recs[2]).is_empty(), "-t D -T D leaves nothing");
    let all = data(&recs[3]);
    let counts: Vec<u64> = all.iter().map(|g| g["count"].as_u64().unwrap()).collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "most common first: {counts:?}"
    );
}

/// `::ps` agrees with the guest's /proc; `::pgrep` finds by regular expression.
#[test]
fn ps_matches_proc() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_1));
    let truth = guest.truth();
    let recs = json_records(
        guest,
        &["::ps", "::ps -t", "::pgrep -x 'qmdb-(sleeper|fifo)'"],
    );
    let procs = data(&recs[0]);
    let threads = data(&recs[1]);
    assert!(threads.len() > procs.len());
    for t in truth.tasks.iter().filter(|t| t.comm.starts_with("qmdb-")) {
        let list = if t.is_leader() { procs } else { threads };
        let p = list
            .iter()
            .find(|p| p["pid"] == t.tid)
            .unwrap_or_else(|| panic!("{t:?} not in ::ps"));
        assert_eq!(p["comm"], t.comm.as_str());
        assert_eq!(p["tgid"], t.pid);
        assert_eq!(p["ppid"], t.ppid);
    }
    let found: Vec<&str> = data(&recs[2])
        .iter()
        .map(|p| p["comm"].as_str().unwrap())
        .collect();
    let want = truth
        .tasks
        .iter()
        .filter(|t| t.is_leader() && (t.comm == "qmdb-sleeper" || t.comm == "qmdb-fifo"))
        .count();
    assert_eq!(found.len(), want, "{found:?}");
}

/// `$c` walks the selected vCPU.
#[test]
fn dollar_c_walks_the_selected_vcpu() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_12));
    let recs = json_records(guest, &["::cpuinfo", "$c", "$C"]);
    let cpu0 = &data(&recs[0])[0];
    let c = &data(&recs[1])[0];
    assert_eq!(c["thread"], cpu0["thread"]);
    if cpu0["mode"] == "kernel" {
        assert_eq!(c["frames"][0]["pc"], cpu0["pc"]);
        let text = recs[2]["output"].as_array().unwrap();
        assert!(text.len() >= 2, "{text:?}");
    }
}

/// Under page-table isolation (Intel CPU model), a vCPU stopped in user mode maps almost no
/// kernel memory; with one vCPU spinning in user space no vCPU is in kernel mode. Every
/// stack must still be read (through the kernel's page tables and physical reads).
#[test]
fn findstack_under_pti_from_user_mode() {
    let guest = shared_guest_with(GuestOpts {
        smp: 1,
        cpu: Some("qemu64,vendor=GenuineIntel".to_string()),
        ..GuestOpts::new(KernelVersion::V6_1)
    });
    assert!(
        guest
            .console()
            .contains("Kernel/User page tables isolation: enabled"),
        "PTI is not on in this guest"
    );
    pti_stacks(guest, KernelFrom::File);
    // Without a kernel file, the kernel is found through the kernel PGD twin of the user
    // CR3 (cold each time: the cache is emptied).
    let cache = tempfile::tempdir().expect("cache dir");
    pti_stacks(guest, KernelFrom::Memory(cache.path()));
}

fn pti_stacks(guest: &Guest, from: KernelFrom<'_>) {
    let truth = guest.truth();
    // The busy loop keeps the only vCPU in user mode nearly all the time; attach until it
    // is found there.
    for attempt in 1..=20 {
        if let KernelFrom::Memory(cache) = from {
            let _ = std::fs::remove_dir_all(cache.join("images"));
        }
        let recs = json_records_from(
            guest,
            from,
            &[
                "::cpuinfo",
                "<cr3=K",
                "__sched_text_start=K",
                "__sched_text_end=K",
                "::walk thread | ::findstack",
            ],
        );
        let cpu = &data(&recs[0])[0];
        if cpu["mode"] != "user" {
            eprintln!("attempt {attempt}: the vCPU was in kernel mode; again");
            continue;
        }
        let cr3 = hex_output(&recs[1]);
        assert_ne!(cr3 & 0x1000, 0, "a user-mode CR3 under PTI has bit 12 set");
        let sched = hex_output(&recs[2])..hex_output(&recs[3]);
        assert!(recs[4]["ok"] == true, "{}", recs[4]);
        let stacks = data(&recs[4]);
        for t in truth.tasks.iter().filter(|t| is_stable_workload(t)) {
            let rec = stacks
                .iter()
                .find(|r| r["pid"] == t.tid)
                .unwrap_or_else(|| panic!("no stack for {t:?}"));
            let want = t.stack_offsets();
            assert_eq!(proc_view(rec, &sched), want, "{rec}");
        }
        return;
    }
    panic!("the vCPU was never stopped in user mode in 20 attaches");
}
