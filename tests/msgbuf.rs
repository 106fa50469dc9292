//! End-to-end: `::msgbuf` against the guest's own `dmesg` (taken by the fixture at truth
//! time), and `addr::vtop` against QEMU's own physical reads (`xp`), on 6.1 and 6.12.
//! Both live in one test binary so that they share the guests.

mod support;

use serde_json::Value;
use support::{shared_guest, Guest, KernelVersion};

/// Runs one qmdb session with `--json` and returns each command's record.
fn json_records(guest: &Guest, cmds: &[&str]) -> Vec<Value> {
    let _attached = guest.attach_lock();
    let mut c = guest.qmdb();
    c.arg("--json");
    for cmd in cmds {
        c.args(["-e", cmd]);
    }
    let o = c
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run qmdb");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn output(rec: &Value) -> Vec<String> {
    rec["output"]
        .as_array()
        .unwrap_or_else(|| panic!("no output: {rec}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// The 64-bit hex words after the `:` of each line (`/K` and HMP `xp /2gx` output).
fn words(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.split_once(':').map(|(_, w)| w))
        .flat_map(|w| w.split_whitespace())
        .map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).unwrap())
        .collect()
}

fn check_msgbuf(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    let theirs = &guest.truth().dmesg;
    assert!(
        theirs.len() > 100,
        "the truth carries too little dmesg output ({} lines): an old initramfs?",
        theirs.len()
    );
    let recs = json_records(guest, &["::msgbuf", "::msgbuf -n 3"]);
    assert!(recs[0]["ok"] == true, "{}", recs[0]);
    let ours = output(&recs[0]);
    // The log may have grown since the truth was taken (and, in principle, lost its oldest
    // records): the guest's lines must appear in ours, in a row, from its first line on.
    let start = ours
        .iter()
        .position(|l| *l == theirs[0])
        .unwrap_or_else(|| panic!("dmesg's first line {:?} is not in ::msgbuf", theirs[0]));
    for (i, want) in theirs.iter().enumerate() {
        assert_eq!(
            ours.get(start + i),
            Some(want),
            "line {i} of the guest's dmesg differs"
        );
    }
    assert!(theirs[0].contains("Linux version"), "{}", theirs[0]);
    // JSON: one record per record, in seq order, with the text of the lines.
    let data = recs[0]["data"].as_array().unwrap();
    assert!(data.len() <= ours.len() && data.len() > 100);
    let seqs: Vec<u64> = data.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs not increasing");
    assert!(ours[0].ends_with(data[0]["text"].as_str().unwrap().lines().next().unwrap()));
    // -n: the last lines.
    let tail = output(&recs[1]);
    assert_eq!(tail.len(), 3);
    assert_eq!(tail[..], ours[ours.len() - 3..]);
}

fn check_vtop(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    let recs = json_records(guest, &["init_task::vtop", "0::vtop"]);
    assert!(recs[0]["ok"] == true, "{}", recs[0]);
    let t = &recs[0]["data"][0];
    let pa = t["pa"].as_str().unwrap().to_string();
    let levels = t["levels"].as_array().unwrap();
    assert!((3..=5).contains(&levels.len()), "{t}");
    assert_eq!(levels[0]["level"], "PGD");
    assert!(output(&recs[0])[0].contains(&format!("physical {pa}")));
    // Unmapped: an error naming the level whose entry is not present.
    assert!(recs[1]["ok"] == false, "{}", recs[1]);
    let err = recs[1]["error"].as_str().unwrap();
    assert!(
        err.contains("not present")
            && ["PGD", "P4D", "PUD", "PMD", "PTE"]
                .iter()
                .any(|l| err.contains(&format!("the {l} entry"))),
        "{err}"
    );
    // QEMU reads the physical address and sees what qmdb reads at init_task (one session:
    // the VM is stopped for both).
    let xp = format!("::monitor xp /2gx {pa}");
    let recs = json_records(guest, &["init_task,2/K", &xp]);
    assert!(recs[0]["ok"] == true && recs[1]["ok"] == true, "{recs:?}");
    let ours = words(&output(&recs[0]));
    let qemu = words(&output(&recs[1]));
    assert_eq!(ours.len(), 2, "{recs:?}");
    assert_eq!(ours, qemu, "init_task at {pa}: {recs:?}");
}

#[test]
fn msgbuf_matches_dmesg_6_1() {
    check_msgbuf(KernelVersion::V6_1);
}

#[test]
fn msgbuf_matches_dmesg_6_12() {
    check_msgbuf(KernelVersion::V6_12);
}

#[test]
fn vtop_matches_qemu_6_1() {
    check_vtop(KernelVersion::V6_1);
}

#[test]
fn vtop_matches_qemu_6_12() {
    check_vtop(KernelVersion::V6_12);
}
