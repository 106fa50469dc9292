//! End-to-end: mdb's habits against the real guest fixture: the shell pipe (`::ps ! grep`),
//! `::printf` over BTF, `::grep` filtering a walk, `::eval`, `$[ expr ]`, and the blank-line
//! repeat (`Session::repeat_last`, which the line prompt and the TUI call) continuing a
//! display and a step. One shared guest per kernel; each check compares with qmdb's own
//! view of the same stopped guest (`::ps`, a wider display) or with the guest's truth.

use crate::support::{hex, shared_guest, Guest, KernelVersion};
use qmdb_dcmds::attach::{attach, AttachOptions};
use qmdb_dcmds::{CaptureOutput, Session};
use serde_json::Value;
use std::collections::BTreeSet;

/// `PF_KTHREAD`.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Runs `qmdb -e CMD...` in text mode; stdout, after asserting success.
fn text(guest: &Guest, cmds: &[&str]) -> String {
    let mut args = Vec::new();
    for c in cmds {
        args.extend(["-e", c]);
    }
    guest.qmdb_ok(&args)
}

fn output(rec: &Value) -> Vec<String> {
    rec["output"]
        .as_array()
        .unwrap_or_else(|| panic!("no output: {rec}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

fn check_shell_pipe(guest: &Guest) {
    let (napper_pid, _) = guest.napper();
    let out = text(guest, &["::ps", "::ps ! grep qmdb-napper"]);
    let lines: Vec<&str> = out.lines().collect();
    let ps_napper: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("qmdb-napper"))
        .collect();
    // The ::ps lines appear once in the plain listing and once more from grep, last.
    let n = ps_napper.len() / 2;
    assert!(n >= 1, "no qmdb-napper in ::ps:\n{out}");
    let grep = &lines[lines.len() - n..];
    assert_eq!(
        grep,
        &ps_napper[..n],
        "::ps ! grep differs from ::ps:\n{out}"
    );
    assert!(
        grep.iter()
            .any(|l| l.split_whitespace().nth(1) == Some(&napper_pid.to_string())),
        "pid {napper_pid} not in {grep:?}"
    );
    // The shell's exit status is its own; its stderr comes back; --json refuses.
    let out = text(guest, &["::ps ! grep -c qmdb-napper; 1=X ! echo err >&2"]);
    assert_eq!(out, format!("{n}\nerr\n"));
    let recs = guest.json_records_any(&["::ps ! cat"]);
    assert_eq!(recs[0]["ok"], false);
    assert_eq!(
        recs[0]["error"],
        "!: the shell pipe works on text output, not with --json"
    );
}

fn check_printf(guest: &Guest) {
    let out = text(
        guest,
        &[r#"init_task::printf "%s %d\n" task_struct comm pid"#],
    );
    assert_eq!(out, "swapper/0 0\n");
    // Every thread's pid and comm against ::ps -t, and JSON's {addr, text}.
    let recs = guest.json_records(&[
        "::ps -t",
        r#"::walk thread | ::printf "%d %s\n" task_struct pid comm"#,
        r#"init_task::printf "%p %a\n" task_struct . tasks.next"#,
    ]);
    let ps: BTreeSet<String> = recs[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["pid"], r["comm"].as_str().unwrap()))
        .collect();
    let printed: BTreeSet<String> = output(&recs[1]).into_iter().collect();
    assert!(printed.len() > 20, "{printed:?}");
    assert!(
        printed.is_subset(&ps),
        "printf gives threads ::ps -t does not list: {:?}",
        printed.difference(&ps).collect::<Vec<_>>()
    );
    let data = &recs[2]["data"][0];
    let addr = hex(data["addr"].as_str().unwrap());
    let text = data["text"].as_str().unwrap();
    let (p, a) = text.trim_end().split_once(' ').unwrap();
    assert_eq!(hex(p), addr, "%p of . is the address");
    assert!(!a.is_empty(), "{text}");
}

fn check_grep(guest: &Guest) {
    let recs = guest.json_records(&["::offsetof task_struct flags", "::ps -t"]);
    let off_rec = &recs[0]["data"][0];
    let off = off_rec["offset"]
        .as_u64()
        .or_else(|| off_rec["offset"].as_str().map(hex))
        .unwrap_or_else(|| panic!("no offset in {off_rec}"));
    let grep = format!("::walk thread | ::grep '(*(.+0t{off})&{PF_KTHREAD:x})!=0'");
    let recs = guest.json_records(&[
        "::ps -t",
        &format!("{grep} | ::printf \"%d\\n\" task_struct pid"),
        &format!("::walk thread | ::grep '(*(.+0t{off})&{PF_KTHREAD:x})==0' | ::printf \"%d\\n\" task_struct pid"),
        "::walk thread",
    ]);
    let rows = recs[0]["data"].as_array().unwrap();
    let walked: BTreeSet<u64> = recs[3]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| hex(a.as_str().unwrap()))
        .collect();
    let pids = |kthread: bool| -> BTreeSet<String> {
        rows.iter()
            .filter(|r| walked.contains(&hex(r["thread"].as_str().unwrap())))
            .filter(|r| (hex(r["flags"].as_str().unwrap()) & PF_KTHREAD != 0) == kthread)
            .map(|r| r["pid"].to_string())
            .collect()
    };
    let kthreads: BTreeSet<String> = output(&recs[1]).into_iter().collect();
    let users: BTreeSet<String> = output(&recs[2]).into_iter().collect();
    assert!(
        kthreads.len() > 10 && users.len() > 3,
        "{kthreads:?} {users:?}"
    );
    assert_eq!(kthreads, pids(true), "kernel threads");
    assert_eq!(users, pids(false), "user threads");
}

fn check_eval(guest: &Guest) {
    let recs = guest.json_records(&[
        "init_task::print task_struct comm",
        r#"init_task::eval "::print task_struct comm""#,
        "::eval '::walk thread | ::grep .==init_task' | ::printf '%s\\n' task_struct comm",
        "init_task::grep $[ .==init_task ]",
        "init_task::grep $[ .!=init_task ]",
        "init_task=K",
    ]);
    assert_eq!(output(&recs[1]), output(&recs[0]));
    assert_eq!(output(&recs[2]), vec!["swapper/0".to_string()]);
    let init = output(&recs[3]);
    assert_eq!(init.len(), 1);
    assert!(output(&recs[4]).is_empty());
    assert_eq!(output(&recs[5])[0].trim(), init[0]);
}

/// A session of qmdb's library on the guest, as the line prompt and the TUI have one.
fn session(guest: &Guest) -> Session {
    let opts = AttachOptions {
        target: guest.gdb_addr(),
        connect: Default::default(),
        kernel: Some(guest.kernel_path().to_path_buf()),
        cache_root: None,
        progress: None,
        interrupt: None,
    };
    attach(&opts).unwrap_or_else(|e| panic!("{e}")).0
}

/// Runs `line`: its text, and the (address, values) of each displayed line.
fn run(s: &mut Session, line: &str) -> (String, Vec<(u64, Vec<u64>)>) {
    let mut out = CaptureOutput::new();
    let o = s.execute(line, &mut out);
    assert!(o.all_ok, "{line}: {}", out.text());
    shown(out)
}

/// A blank line at the prompt.
fn again(s: &mut Session) -> (String, Vec<(u64, Vec<u64>)>) {
    let mut out = CaptureOutput::new();
    let o = s.repeat_last(&mut out);
    assert!(o.all_ok, "{}", out.text());
    shown(out)
}

fn shown(out: CaptureOutput) -> (String, Vec<(u64, Vec<u64>)>) {
    let lines = out
        .records()
        .iter()
        .flat_map(|r| r.data.iter())
        .filter_map(|d| {
            let addr = hex(d.get("addr")?.as_str()?);
            let values = d["values"]
                .as_array()?
                .iter()
                .map(|v| hex(v.as_str().unwrap()))
                .collect();
            Some((addr, values))
        })
        .collect();
    (out.text().to_string(), lines)
}

fn check_repeat(guest: &Guest) {
    let _attached = guest.attach_lock();
    let mut s = session(guest);
    let (t, wide) = run(&mut s, "init_task,4/X");
    assert_eq!(wide.len(), 1, "{t}");
    let (base, words) = wide[0].clone();
    assert_eq!(words.len(), 4);
    let (_, one) = run(&mut s, "init_task/X");
    assert_eq!(one, vec![(base, vec![words[0]])]);
    for (i, w) in words.iter().enumerate().skip(1) {
        let (t, next) = again(&mut s);
        assert_eq!(next, vec![(base + 4 * i as u64, vec![*w])], "{t}");
        assert_eq!(t.lines().count(), 1, "{t}");
    }
    assert_eq!(s.dot().0, base + 12);
    // With a count, the next count units.
    run(&mut s, "init_task,2/X");
    let (_, next) = again(&mut s);
    assert_eq!(next, vec![(base + 8, words[2..4].to_vec())]);
    // A step steps again: two reports of a step.
    let (first, _) = run(&mut s, ":s");
    assert!(first.starts_with("stopped: step"), "{first}");
    let (second, _) = again(&mut s);
    assert!(second.starts_with("stopped: step"), "{second}");
}

fn check_all(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    check_shell_pipe(guest);
    check_printf(guest);
    check_grep(guest);
    check_eval(guest);
    check_repeat(guest);
}

#[test]
fn habits_on_6_1() {
    check_all(KernelVersion::V6_1);
}

#[test]
fn habits_on_newest() {
    check_all(KernelVersion::Newest);
}
