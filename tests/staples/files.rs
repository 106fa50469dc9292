//! `::pfiles`, `::mounts` and `addr::whatis` of files, dentries and inodes on
//! the real guests (6.1, 6.12 and the newest Debian kernel), checked against what the
//! guest's kernel said of itself at truth time: `/proc/PID/fd` and `/proc/PID/fdinfo` of
//! pid 1 and the fixture's `qmdb-*` processes, and `/proc/mounts`.

use crate::support::truth::TruthFd;
use crate::support::{shared_guest, Guest, KernelVersion};
use serde_json::Value;
use std::collections::BTreeMap;

/// `O_CLOEXEC`, as fdinfo adds it.
const O_CLOEXEC: u32 = 0o2000000;

fn data(rec: &Value) -> &Vec<Value> {
    assert!(rec["ok"] == true, "{rec}");
    assert!(
        rec["warnings"].as_array().unwrap().is_empty(),
        "warnings: {rec}"
    );
    rec["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {rec}"))
}

/// One descriptor as compared: (path, flags, pos).
type Fd = (String, u32, Option<i64>);

fn truth_fds(fds: &[&TruthFd]) -> BTreeMap<u32, Fd> {
    fds.iter()
        .map(|f| {
            let flags = f.flags.expect("fdinfo flags");
            let pos = f.pos.expect("fdinfo pos") as i64;
            (f.fd, (f.path.clone(), flags, Some(pos)))
        })
        .collect()
}

/// What init's descriptors are now, from the truth taken while init ran
/// `/bin/qmdb-truth ... >/dev/ttyS1 3>&- 4>&-` (scripts/fixture/init): for that
/// command, busybox sh saved fd 1 as fd 11 and fds 3 and 4 as 12 and 13 (close-on-exec),
/// pointed fd 1 at /dev/ttyS1 and closed 3 and 4; it put them back after. Without such a
/// redirection in the truth (no fd 11), the truth is taken as it is. Init reads its script
/// on after the truth: the position of its script's descriptor is not compared.
fn init_now(mut fds: BTreeMap<u32, Fd>) -> BTreeMap<u32, Fd> {
    if fds.contains_key(&11) {
        for (saved, fd) in [(11, 1), (12, 3), (13, 4)] {
            let (path, flags, pos) = fds.remove(&saved).expect("a saved descriptor");
            fds.insert(fd, (path, flags & !O_CLOEXEC, pos));
        }
    }
    for (path, _, pos) in fds.values_mut() {
        if path == "/init" {
            *pos = None;
        }
    }
    fds
}

/// Checks `::pfiles` of every detailed process against the truth; returns the files seen
/// (path, struct file, dentry, inode) for the whatis checks.
fn check_pfiles(guest: &Guest) -> Vec<(String, String, String, String)> {
    let truth = guest.truth();
    let mut pids: Vec<u32> = truth.fds.iter().map(|f| f.pid).collect();
    pids.dedup();
    assert!(pids.contains(&1), "the truth has no fds of init: {pids:?}");
    let named = |c: &str| truth.tasks_named(c).any(|t| pids.contains(&t.pid));
    for comm in ["qmdb-sleeper", "qmdb-fifo", "qmdb-ticker", "qmdb-threads"] {
        assert!(named(comm), "the truth has no fds of {comm}");
    }
    let cmds: Vec<String> = pids.iter().map(|p| format!("0t{p}::pfiles")).collect();
    let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let recs = guest.json_records(&cmds);
    assert_eq!(recs.len(), pids.len());
    let mut seen = Vec::new();
    for (pid, rec) in pids.iter().zip(&recs) {
        let rows = data(rec);
        let mut ours: BTreeMap<u32, Fd> = BTreeMap::new();
        for r in rows {
            assert_eq!(r["pid"].as_u64(), Some(u64::from(*pid)), "{r}");
            assert!(r["note"].is_null(), "{r}");
            let fd = r["fd"].as_u64().unwrap() as u32;
            let path = r["path"].as_str().unwrap().to_string();
            let flags = r["flags"].as_u64().unwrap() as u32;
            let pos = r["pos"].as_i64().unwrap();
            ours.insert(fd, (path.clone(), flags, Some(pos)));
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            seen.push((path, s("file"), s("dentry"), s("inode")));
        }
        let mut theirs = truth_fds(&truth.fds_of(*pid));
        if *pid == 1 {
            theirs = init_now(theirs);
            for (p, _, pos) in ours.values_mut() {
                if p == "/init" {
                    *pos = None;
                }
            }
        }
        assert_eq!(ours, theirs, "pid {pid}: ::pfiles differs from /proc");
        // The text: the process line, the header, one line per descriptor.
        let out: Vec<&str> = rec["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert!(out[0].starts_with(&format!("{pid}: ")), "{out:?}");
        assert!(out[1].contains("FD") && out[1].ends_with("PATH"), "{out:?}");
        assert_eq!(out.len(), 2 + rows.len(), "{out:?}");
    }
    seen
}

/// `::mounts` against `/proc/mounts`: device, mount point and type exactly, in order; the
/// options qmdb prints are the first of the kernel's (it leaves out what filesystems add).
fn check_mounts(guest: &Guest) {
    let truth = guest.truth();
    assert!(truth.mounts.len() >= 5, "{:?}", truth.mounts);
    let recs = guest.json_records(&["::mounts", "::fsinfo", "0t1::mounts"]);
    for rec in &recs {
        let rows = data(rec);
        assert_eq!(rows.len(), truth.mounts.len(), "{rec}");
        for (r, line) in rows.iter().zip(&truth.mounts) {
            let f: Vec<&str> = line.split(' ').collect();
            let ours = [&r["device"], &r["mount_point"], &r["type"]].map(|v| v.as_str().unwrap());
            assert_eq!(ours, [f[0], f[1], f[2]], "{line}");
            let theirs: Vec<&str> = f[3].split(',').collect();
            let opts: Vec<&str> = r["options"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap())
                .collect();
            assert!(
                theirs.starts_with(&opts) && matches!(opts[0], "rw" | "ro"),
                "{opts:?} is not the start of {line}"
            );
            assert!(r["note"].is_null(), "{r}");
        }
    }
    // The text: a header and one line per mount, the struct mount first.
    let out = recs[0]["output"].as_array().unwrap();
    assert!(out[0].as_str().unwrap().contains("MOUNTPOINT"));
    let devtmpfs = out
        .iter()
        .map(|l| l.as_str().unwrap())
        .find(|l| l.contains(" /dev "))
        .expect("a /dev line");
    let mount = data(&recs[0])
        .iter()
        .find(|r| r["mount_point"] == "/dev")
        .unwrap()["mount"]
        .as_str()
        .unwrap()
        .trim_start_matches("0x")
        .to_string();
    assert!(devtmpfs.trim_start().starts_with(&mount), "{devtmpfs}");
}

/// `addr::whatis` of each distinct file's `struct file`, dentry and inode names its path.
fn check_whatis(guest: &Guest, seen: &[(String, String, String, String)]) {
    let mut by_path: BTreeMap<&str, &(String, String, String, String)> = BTreeMap::new();
    for s in seen {
        by_path.entry(s.0.as_str()).or_insert(s);
    }
    assert!(by_path.len() >= 5, "{by_path:?}");
    let mut cmds = Vec::new();
    let mut want = Vec::new();
    for (path, (_, file, dentry, inode)) in &by_path {
        for (what, addr) in [("file", file), ("dentry", dentry), ("inode", inode)] {
            cmds.push(format!("{addr}::whatis"));
            want.push((*path, what, addr.as_str()));
        }
    }
    let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let recs = guest.json_records(&cmds);
    for (rec, (path, what, addr)) in recs.iter().zip(&want) {
        let matches = data(rec)[0]["matches"].as_array().unwrap();
        let hit = matches
            .iter()
            .find(|m| m["kind"] == "path")
            .unwrap_or_else(|| panic!("{addr}::whatis ({what} of {path}) has no path: {rec}"));
        assert_eq!(hit["object_type"], *what, "{rec}");
        assert_eq!(hit["object"], *addr, "{rec}");
        if *what == "inode" && path.starts_with("anon_inode:") {
            // One inode (anon_inode_inode) serves every anonymous file: its path is the
            // name of whichever of their dentries the inode's alias list gives.
            let got = hit["path"].as_str().unwrap();
            assert!(got.starts_with("anon_inode:["), "{rec}");
        } else {
            assert_eq!(hit["path"], *path, "{rec}");
        }
        assert!(hit["note"].is_null(), "{rec}");
    }
}

fn check(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    let seen = check_pfiles(guest);
    check_mounts(guest);
    check_whatis(guest, &seen);
    // In a pipeline, ::pfiles emits the struct files, by descriptor.
    let recs = guest.json_records(&["0t1::pfiles", "0t1::pfiles | ::whatis"]);
    let files: Vec<&Value> = data(&recs[0]).iter().map(|r| &r["file"]).collect();
    let piped: Vec<&Value> = data(&recs[1]).iter().map(|r| &r["addr"]).collect();
    assert!(!files.is_empty());
    assert_eq!(piped, files);
}

#[test]
fn files_match_proc_6_1() {
    check(KernelVersion::V6_1);
}

#[test]
fn files_match_proc_6_12() {
    check(KernelVersion::V6_12);
}

#[test]
fn files_match_proc_newest() {
    check(KernelVersion::Newest);
}
