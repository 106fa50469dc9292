//! End-to-end: attaching with no kernel file to a guest early in boot. QEMU starts stopped
//! before the first instruction (`-S`): qmdb finds no kernel, says why and what still
//! works. Continued into the middle of boot (the serial console just registered, init not
//! yet started) and halted, the kernel is found in guest memory before `mark_rodata_ro`
//! and before VMCOREINFO exists, and its log and first task are read.

mod support;

use serde_json::Value;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use support::{Guest, GuestOpts, KernelVersion};

fn run(mut cmd: std::process::Command, args: &[&str]) -> Output {
    cmd.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run qmdb")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn early_boot(kernel: KernelVersion) {
    let guest = Guest::boot(GuestOpts {
        paused: true,
        ..GuestOpts::new(kernel)
    });
    let cache = tempfile::tempdir().expect("cache dir");

    // Before the first instruction: real mode, paging off.
    let o = run(guest.qmdb_from_memory(cache.path()), &["-e", "::regs"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}{err}");
    assert!(
        err.contains("no kernel: none found in guest memory: no vCPU has paging on")
            && err.contains("the kernel is not running yet")
            && err.contains("::regs, ::cpus"),
        "{err}"
    );
    assert!(out.contains("%rip = 0x000000000000fff0"), "{out}");
    assert!(guest.monitor("info status").contains("paused"));

    // Into the middle of boot.
    guest.monitor("cont");
    assert!(
        guest.wait_console("console [ttyS0] enabled", Duration::from_secs(120)),
        "the guest's console never registered"
    );
    guest.monitor("stop");
    let console = guest.console();
    assert!(
        !console.contains("Run /init as init process"),
        "halted too late: init already started"
    );

    let started = Instant::now();
    let o = run(
        guest.qmdb_from_memory(cache.path()),
        &[
            "--json",
            "-e",
            "::status",
            "-e",
            "::msgbuf",
            "-e",
            "::walk thread | ::findstack",
        ],
    );
    let secs = started.elapsed().as_secs_f64();
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}{err}");
    let recs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(recs.len(), 3, "{out}{err}");
    let st = &recs[0]["data"][0];
    assert_eq!(st["kernel_release"], guest.release(), "{st}");
    let notes = st["kernel_notes"].to_string();
    assert!(notes.contains("kernel read from guest memory"), "{notes}");
    eprintln!(
        "{}: early-boot cold attach and three commands in {secs:.2} s; {notes}",
        kernel.as_str()
    );

    // The slide agrees with the one the kernel file gives on the same halted guest.
    let with_file = run(guest.qmdb(), &["--json", "-e", "::status"]);
    let file_st: Value = serde_json::from_str(text(&with_file.stdout).trim())
        .unwrap_or_else(|e| panic!("{e}: {}", text(&with_file.stderr)));
    assert_eq!(st["kaslr_slide"], file_st["data"][0]["kaslr_slide"]);

    // The log so far: every record the console printed is in ::msgbuf.
    let msgbuf: Vec<&str> = recs[1]["data"]
        .as_array()
        .expect("::msgbuf data")
        .iter()
        .filter_map(|r| r["text"].as_str())
        .collect();
    assert!(
        msgbuf
            .first()
            .is_some_and(|l| l.starts_with("Linux version")),
        "{:?}",
        msgbuf.first()
    );
    assert!(
        msgbuf.iter().any(|l| l.contains("console [ttyS0] enabled")),
        "{msgbuf:?}"
    );

    // The boot CPU's task, walked to the bottom of its stack.
    let tasks = recs[2]["data"].as_array().expect("::findstack data");
    let swapper = tasks
        .iter()
        .find(|t| t["pid"] == 0 && t["cpu"] == 0)
        .unwrap_or_else(|| panic!("no swapper/0 in {tasks:?}"));
    assert!(swapper["end"].is_null(), "incomplete walk: {swapper}");
    let frames: Vec<&str> = swapper["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .filter_map(|f| f["symbol"].as_str())
        .collect();
    assert!(
        frames
            .last()
            .is_some_and(|f| f.starts_with("secondary_startup_64") || *f == "common_startup_64"),
        "{frames:?}"
    );
}

#[test]
fn early_boot_6_1() {
    early_boot(KernelVersion::V6_1);
}

#[test]
fn early_boot_6_12() {
    early_boot(KernelVersion::V6_12);
}

#[test]
fn early_boot_newest() {
    early_boot(KernelVersion::Newest);
}
