//! End-to-end: `--kernel` against real guests: the file is checked against the running kernel
//! and the KASLR slide found, on 6.1 and 6.12, with KASLR on and off.

mod support;

use serde_json::Value;
use std::process::Stdio;
use support::{qmdb_cmd, shared_guest_with, Guest, GuestOpts, KernelVersion};

fn status_record(guest: &Guest) -> Value {
    let out = guest.qmdb_ok(&["--json", "-e", "::status"]);
    let rec: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    rec["data"][0].clone()
}

fn check(kernel: KernelVersion, nokaslr: bool) {
    let guest = shared_guest_with(GuestOpts {
        nokaslr,
        ..GuestOpts::new(kernel)
    });
    let truth = guest.truth();
    let st = status_record(guest);
    assert_eq!(st["kernel_release"], truth.release.as_str(), "{st}");
    let slide = truth.kaslr_slide().expect("the truth has _text");
    assert_eq!(st["kaslr_slide"], format!("{slide:#x}"), "{st}");
    truth.assert_kaslr(!nokaslr);
}

#[test]
fn slide_and_release_6_1_kaslr() {
    check(KernelVersion::V6_1, false);
}

#[test]
fn slide_and_release_6_1_nokaslr() {
    check(KernelVersion::V6_1, true);
}

#[test]
fn slide_and_release_6_12_kaslr() {
    check(KernelVersion::V6_12, false);
}

#[test]
fn slide_and_release_newest_kaslr() {
    check(KernelVersion::Newest, false);
}

/// The 6.12 file against the 6.1 guest: refused, naming the file's banner; nothing runs.
#[test]
fn another_kernels_file_is_refused() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_1));
    let other = shared_guest_with(GuestOpts::new(KernelVersion::V6_12));
    let _attached = guest.attach_lock();
    let o = qmdb_cmd()
        .arg("--target")
        .arg(guest.gdb_addr())
        .arg("--kernel")
        .arg(other.kernel_path())
        .args(["-e", "0t10=X"])
        .stdin(Stdio::null())
        .output()
        .expect("run qmdb");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("does not hold this file's linux_banner"),
        "{err}"
    );
    assert!(err.contains(&other.truth().release), "{err}");
    assert!(o.stdout.is_empty(), "no command ran");
    assert!(guest.is_alive());
}

/// Every `/proc/kallsyms` line the guest printed (module symbols aside) is found by `::nm`
/// at the same address: names may be shared by static functions, so the guest's address must
/// be among those `::nm NAME` lists.
fn kallsyms_sample_matches(kernel: KernelVersion, nokaslr: bool) {
    let guest = shared_guest_with(GuestOpts {
        nokaslr,
        ..GuestOpts::new(kernel)
    });
    kallsyms_sample_matches_with(
        guest,
        guest.qmdb(),
        if nokaslr { "nokaslr" } else { "kaslr" },
    );
}

/// The kallsyms sample check, running `qmdb` (a command naming the guest, with or without
/// `--kernel`).
fn kallsyms_sample_matches_with(guest: &Guest, mut qmdb: std::process::Command, what: &str) {
    let kernel = guest.opts().kernel;
    let sample: Vec<_> = guest
        .truth()
        .kallsyms
        .iter()
        .filter(|e| e.module.is_none())
        .collect();
    assert!(sample.len() > 500, "the truth has a kallsyms sample");
    let script: String = sample
        .iter()
        .map(|e| format!("::nm {}\n", e.name))
        .collect();
    let file = std::env::temp_dir().join(format!(
        "qmdb-nm-{}-{}-{what}.txt",
        std::process::id(),
        kernel.as_str()
    ));
    std::fs::write(&file, script).expect("write script");
    let _attached = guest.attach_lock();
    let o = qmdb
        .arg("--json")
        .arg("-f")
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("run qmdb");
    let _ = std::fs::remove_file(&file);
    let out = String::from_utf8_lossy(&o.stdout);
    let recs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        recs.len(),
        sample.len(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut bad = Vec::new();
    for (entry, rec) in sample.iter().zip(&recs) {
        let addrs: Vec<u64> = rec["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d["addr"].as_str())
                    .filter_map(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                    .collect()
            })
            .unwrap_or_default();
        if !addrs.contains(&entry.addr) {
            bad.push(format!(
                "{} {:x}: qmdb has {addrs:x?}",
                entry.name, entry.addr
            ));
        }
    }
    eprintln!(
        "{} kallsyms {what}: {}/{} sample symbols match",
        kernel.as_str(),
        sample.len() - bad.len(),
        sample.len()
    );
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn kallsyms_6_1_kaslr() {
    kallsyms_sample_matches(KernelVersion::V6_1, false);
}

#[test]
fn kallsyms_6_1_nokaslr() {
    kallsyms_sample_matches(KernelVersion::V6_1, true);
}

#[test]
fn kallsyms_6_12_kaslr() {
    kallsyms_sample_matches(KernelVersion::V6_12, false);
}

#[test]
fn kallsyms_newest_kaslr() {
    kallsyms_sample_matches(KernelVersion::Newest, false);
}

/// `linux_banner/s` is the banner the guest printed (its /proc/version), and symbols work in
/// expressions and as `/a` labels.
fn banner_and_symbols(kernel: KernelVersion) {
    let guest = shared_guest_with(GuestOpts::new(kernel));
    let out = guest.qmdb_ok(&[
        "-e",
        "linux_banner/s; init_task=a; linux_banner+3=a; schedule::dis -n 3; <rip/i",
    ]);
    let banner = format!("{}\\n", guest.truth().banner);
    assert!(
        out.lines().any(|l| l.ends_with(&banner)),
        "linux_banner/s should end with {banner:?}:\n{out}"
    );
    assert!(out.contains("init_task:"), "{out}");
    assert!(out.contains("linux_banner+0x3:"), "{out}");
    // Code read from the guest, labelled by symbol: schedule's first instructions, and the
    // instruction at the stopped vCPU's pc.
    let dis: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("schedule:") || l.starts_with("schedule+"))
        .collect();
    assert_eq!(dis.len(), 3, "{out}");
    assert!(
        dis.iter().all(|l| l.split_whitespace().count() >= 2),
        "{out}"
    );
    assert!(!out.contains("(bad)"), "{out}");
}

#[test]
fn banner_and_symbols_6_1() {
    banner_and_symbols(KernelVersion::V6_1);
}

#[test]
fn banner_and_symbols_6_12() {
    banner_and_symbols(KernelVersion::V6_12);
}

#[test]
fn banner_and_symbols_newest() {
    banner_and_symbols(KernelVersion::Newest);
}

/// Types from the image's BTF print the guest's own data: `init_task` is `swapper/0`, pid 0.
fn init_task_prints(kernel: KernelVersion) {
    let guest = shared_guest_with(GuestOpts::new(kernel));
    let out = guest.qmdb_ok(&[
        "-e",
        "init_task::print task_struct comm pid; ::sizeof task_struct",
    ]);
    assert!(out.contains("comm = [ \"swapper/0\" ]"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "pid = 0"), "{out}");
    assert!(out.contains("sizeof (struct task_struct) = 0x"), "{out}");
}

#[test]
fn init_task_prints_6_1() {
    init_task_prints(KernelVersion::V6_1);
}

#[test]
fn init_task_prints_6_12() {
    init_task_prints(KernelVersion::V6_12);
}

#[test]
fn init_task_prints_newest() {
    init_task_prints(KernelVersion::Newest);
}

/// With no `--kernel`: the kernel found in guest memory gives the guest's release and slide,
/// every sampled `/proc/kallsyms` symbol at its address, and `init_task`'s types; a second
/// attach recognises the kernel from the cache with two small reads.
fn zero_config(kernel: KernelVersion) {
    let guest = shared_guest_with(GuestOpts::new(kernel));
    let truth = guest.truth();
    let cache = tempfile::tempdir().expect("cache dir");

    // Cold: read from guest memory (the sample run is the first attach).
    kallsyms_sample_matches_with(guest, guest.qmdb_from_memory(cache.path()), "memory");
    let entries = std::fs::read_dir(cache.path().join("images"))
        .expect("the kernel was cached")
        .count();
    assert_eq!(entries, 1, "one cache entry, named by build id");

    let status = |expect_note: &str| {
        let _attached = guest.attach_lock();
        let o = guest
            .qmdb_from_memory(cache.path())
            .args([
                "--json",
                "-e",
                "::status",
                "-e",
                "init_task::print task_struct comm pid",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run qmdb");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let recs: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let st = &recs[0]["data"][0];
        assert_eq!(st["kernel_release"], truth.release.as_str(), "{st}");
        let slide = truth.kaslr_slide().expect("the truth has _text");
        truth.assert_kaslr(true);
        assert_eq!(st["kaslr_slide"], format!("{slide:#x}"), "{st}");
        let notes = st["kernel_notes"].to_string();
        assert!(notes.contains(expect_note), "{notes}");
        assert!(!notes.contains("no VMCOREINFO"), "{notes}");
        let print = recs[1].to_string();
        assert!(print.contains("swapper/0"), "{print}");
    };
    // The sample run cached it: now recognised.
    status("recognised in guest memory, loaded from the cache");
    // Cold again, with VMCOREINFO's KERNELOFFSET agreeing with the page tables.
    std::fs::remove_dir_all(cache.path().join("images")).expect("empty the cache");
    status("kernel read from guest memory");
}

#[test]
fn zero_config_6_1() {
    zero_config(KernelVersion::V6_1);
}

#[test]
fn zero_config_6_12() {
    zero_config(KernelVersion::V6_12);
}

#[test]
fn zero_config_newest() {
    zero_config(KernelVersion::Newest);
}
