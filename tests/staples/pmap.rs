//! `::pmap` against the guest's own `/proc/PID/maps` (every detailed process of
//! the truth file, line for line), and `::vtop -p PID` against physical memory read by QEMU
//! (the napper's counter, whose value the guest prints on its console), on 6.1, 6.12 and the
//! newest Debian kernel; the vsyscall page on a 6.1 guest booted with `vsyscall=emulate`.

use crate::support::{hex, shared_guest, shared_guest_with, Guest, GuestOpts, KernelVersion};
use serde_json::Value;
use std::time::Duration;

fn output(rec: &Value) -> Vec<String> {
    rec["output"]
        .as_array()
        .unwrap_or_else(|| panic!("no output: {rec}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

fn data(rec: &Value) -> &Vec<Value> {
    assert!(rec["ok"] == true, "{rec}");
    rec["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {rec}"))
}

fn hexv(v: &Value) -> u64 {
    hex(v
        .as_str()
        .unwrap_or_else(|| panic!("not a hex string: {v}")))
}

/// The `/proc/PID/maps` line of one `::pmap` JSON record, formatted as the kernel's
/// `show_map_vma` does (the prefix padded to 72 columns before a name).
fn maps_line(d: &Value) -> String {
    let mut l = format!(
        "{:08x}-{:08x} {} {:08x} {} {} ",
        hexv(&d["start"]),
        hexv(&d["end"]),
        d["perms"].as_str().unwrap(),
        hexv(&d["offset"]),
        d["dev"].as_str().unwrap(),
        d["inode"].as_u64().unwrap()
    );
    if let Some(p) = d["path"].as_str() {
        l = format!("{l:<72} {p}");
    }
    l
}

/// The processes whose maps the truth holds, in its order.
fn detailed_pids(guest: &Guest) -> Vec<u32> {
    let mut pids: Vec<u32> = Vec::new();
    for (p, _) in &guest.truth().maps {
        if !pids.contains(p) {
            pids.push(*p);
        }
    }
    pids
}

/// `::pmap` of every detailed process equals its `/proc/PID/maps`, field by field (JSON) and
/// in text; a task address works as a pid does; pipes carry the VMAs; a kernel thread and a
/// missing pid are errors.
fn check_pmap(guest: &Guest) {
    let truth = guest.truth();
    let pids = detailed_pids(guest);
    // The fixture's promise: pid 1 and every qmdb-* process but the qmdb-extra sleepers.
    let mut want: Vec<u32> = truth
        .processes()
        .filter(|t| t.pid == 1 || (t.comm.starts_with("qmdb-") && t.comm != "qmdb-extra"))
        .map(|t| t.pid)
        .collect();
    want.sort_unstable();
    let mut got = pids.clone();
    got.sort_unstable();
    assert_eq!(got, want, "the truth's detailed processes");
    assert!(pids.len() >= 8, "{pids:?}");

    let mut cmds: Vec<String> = pids.iter().map(|p| format!("0t{p}::pmap")).collect();
    cmds.push("::pgrep -x qmdb-napper | ::pmap".into());
    cmds.push("0t1::pmap | ::print struct vm_area_struct vm_end".into());
    cmds.push("0t2::pmap".into());
    cmds.push("0t4000000::pmap".into());
    let recs = guest.json_records_any(&cmds.iter().map(String::as_str).collect::<Vec<_>>());
    let mut vmas_seen = 0;
    for (pid, rec) in pids.iter().zip(&recs) {
        let theirs = truth.maps_of(*pid);
        assert!(theirs.len() >= 5, "pid {pid}: {theirs:?}");
        let ours: Vec<String> = data(rec).iter().map(maps_line).collect();
        assert_eq!(ours, theirs, "pid {pid}: ::pmap vs /proc/{pid}/maps");
        assert!(
            rec["warnings"].as_array().is_none_or(|w| w.is_empty()),
            "{rec}"
        );
        // Text: the vm_area_struct, then the kernel's line without its final space.
        let text = output(rec);
        assert_eq!(text.len(), theirs.len(), "{text:?}");
        for ((t, l), d) in text.iter().zip(&theirs).zip(data(rec)) {
            let (vma, line) = t.trim_start().split_once(' ').unwrap();
            assert_eq!(hex(vma), hexv(&d["vma"]), "{t}");
            assert!(hex(vma) >= 0xffff_8000_0000_0000, "{t}");
            assert_eq!(line, l.trim_end(), "pid {pid}");
        }
        vmas_seen += theirs.len();
    }
    eprintln!(
        "::pmap matched {vmas_seen} VMAs of {} processes",
        pids.len()
    );
    // The napper through its task_struct, from a pipe.
    let (napper, _) = guest.napper();
    let n = pids.len();
    let ours: Vec<String> = data(&recs[n]).iter().map(maps_line).collect();
    assert_eq!(
        ours,
        truth.maps_of(napper),
        "::pgrep -x qmdb-napper | ::pmap"
    );
    // Piped: one vm_area_struct per VMA, whose vm_end is the map's end.
    let ends: Vec<u64> = output(&recs[n + 1])
        .iter()
        .filter_map(|l| l.trim().strip_prefix("vm_end = "))
        .map(|v| hex(v.split_whitespace().next().unwrap()))
        .collect();
    let want: Vec<u64> = truth
        .maps_of(1)
        .iter()
        .map(|l| hex(l.split(['-', ' ']).nth(1).unwrap()))
        .collect();
    assert_eq!(ends, want, "{:?}", recs[n + 1]);
    // kthreadd has no mm; no task has pid 4000000.
    assert!(recs[n + 2]["ok"] == false, "{}", recs[n + 2]);
    let err = recs[n + 2]["error"].as_str().unwrap();
    assert!(err.contains("pid 2 (kthreadd) has no mm"), "{err}");
    let err = recs[n + 3]["error"].as_str().unwrap();
    assert!(err.contains("no task with pid 4000000"), "{err}");
}

/// Sends `cont` to QEMU when dropped: a failed assertion never leaves the shared guest
/// stopped.
struct Stopped<'a>(&'a Guest);

impl<'a> Stopped<'a> {
    fn new(guest: &'a Guest) -> Stopped<'a> {
        guest.monitor("stop");
        Stopped(guest)
    }
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        self.0.monitor("cont");
    }
}

/// The 8-byte value QEMU reads at physical `pa`.
fn qemu_phys_u64(guest: &Guest, pa: u64) -> u64 {
    let out = guest.monitor(&format!("xp /1gx {pa:#x}"));
    let word = out
        .lines()
        .find_map(|l| l.split_once(": ").map(|(_, w)| w.trim().to_string()))
        .unwrap_or_else(|| panic!("no value in xp output {out:?}"));
    hex(&word)
}

/// The napper's counter, read by QEMU at the physical address `::vtop -p` gives for its
/// user address, equals the count the napper last printed (or is one ahead: stopped
/// between its increment and its print); again one nap later, so the page is the napper's
/// live memory. Kernel addresses translate the same through its page tables as through
/// the vCPU's.
fn check_vtop_p(guest: &Guest) {
    // The guest is shared with the other tests of this binary: none may be attached while
    // this one stops and resumes it through the monitor.
    let _attached = guest.attach_lock();
    let (pid, counter) = guest.napper();
    let c = format!("{counter:x}");
    let pa = {
        let _stopped = Stopped::new(guest);
        let recs = guest.json_records_attached(&[
            &format!("{c}::vtop -p {pid}"),
            &format!("{c}::vtop -p 0t{pid}"),
            &format!("0t{pid}::pmap"),
            &format!("init_task::vtop -p {pid}"),
            "init_task::vtop",
        ]);
        let t = &data(&recs[0])[0];
        assert_eq!(t["pid"], pid, "{t}");
        assert_eq!(t["va"], format!("{counter:#x}"), "{t}");
        assert!(t["user"] == true && t["writable"] == true, "{t}");
        assert_eq!(data(&recs[1])[0]["pa"], t["pa"], "{recs:?}");
        assert!(
            output(&recs[0])[0].contains(&format!("(pid {pid}'s")),
            "{recs:?}"
        );
        // The counter is in a writable private mapping of the napper.
        let vma = data(&recs[2])
            .iter()
            .find(|d| hexv(&d["start"]) <= counter && counter < hexv(&d["end"]))
            .unwrap_or_else(|| panic!("no VMA holds {c}: {:?}", recs[2]));
        assert_eq!(vma["perms"], "rw-p", "{vma}");
        assert_eq!(data(&recs[3])[0]["pa"], data(&recs[4])[0]["pa"], "{recs:?}");
        let pa = hexv(&t["pa"]);
        let value = qemu_phys_u64(guest, pa);
        let nap = guest.last_nap().expect("the napper printed a count");
        assert!(
            value == nap || value == nap + 1,
            "counter at physical {pa:#x} is {value}, the napper last printed {nap}"
        );
        pa
    };
    assert!(
        guest.napper_progresses(2, Duration::from_secs(60)),
        "the napper did not go on"
    );
    let _stopped = Stopped::new(guest);
    let value = qemu_phys_u64(guest, pa);
    let nap = guest.last_nap().unwrap();
    assert!(
        value == nap || value == nap + 1,
        "later, the counter at physical {pa:#x} is {value}, the napper last printed {nap}"
    );
}

/// `::walk maple` over the napper's `mm->mm_mt` emits exactly the VMAs `::pmap` lists, in
/// address order.
fn check_maple_walker(guest: &Guest) {
    let (pid, _) = guest.napper();
    let recs = guest.json_records(&[
        &format!("0t{pid}::pmap"),
        "::pgrep -x qmdb-napper | ::print struct task_struct mm",
        "::offsetof struct mm_struct mm_mt",
    ]);
    let vmas: Vec<u64> = data(&recs[0]).iter().map(|d| hexv(&d["vma"])).collect();
    let mm = hexv(&data(&recs[1])[0]["value"]);
    let off = data(&recs[2])[0]["offset"].as_u64().expect("offset");
    let recs = guest.json_records(&[&format!("{:x}::walk maple", mm + off)]);
    let walked: Vec<u64> = data(&recs[0]).iter().map(hexv).collect();
    assert!(vmas.len() > 5, "{vmas:x?}");
    assert_eq!(walked, vmas, "::walk maple against ::pmap");
}

fn check(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    check_pmap(guest);
    check_maple_walker(guest);
    check_vtop_p(guest);
}

#[test]
fn pmap_and_vtop_p_6_1() {
    check(KernelVersion::V6_1);
}

#[test]
fn pmap_and_vtop_p_6_12() {
    check(KernelVersion::V6_12);
}

#[test]
fn pmap_and_vtop_p_newest() {
    check(KernelVersion::Newest);
}

/// With `vsyscall=emulate`, `/proc/PID/maps` ends with the vsyscall page (the kernel's
/// `gate_vma`, outside the maple tree); Debian's default is `vsyscall=none`.
#[test]
fn pmap_shows_the_vsyscall_page_6_1() {
    let guest = shared_guest_with(GuestOpts {
        append: Some("vsyscall=emulate".into()),
        ..GuestOpts::new(KernelVersion::V6_1)
    });
    let pids = detailed_pids(guest);
    let cmds: Vec<String> = pids.iter().map(|p| format!("0t{p}::pmap")).collect();
    let recs = guest.json_records_any(&cmds.iter().map(String::as_str).collect::<Vec<_>>());
    for (pid, rec) in pids.iter().zip(&recs) {
        let theirs = guest.truth().maps_of(*pid);
        assert!(
            theirs.last().unwrap().ends_with(" [vsyscall]"),
            "pid {pid}: {theirs:?}"
        );
        let ours: Vec<String> = data(rec).iter().map(maps_line).collect();
        assert_eq!(ours, theirs, "pid {pid}");
    }
}
