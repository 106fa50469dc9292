//! End-to-end: `--kernel` against real guests: the file is checked against the running kernel
//! and the KASLR slide found, on 6.1 and 6.12, with KASLR on and off.

mod support;

use serde_json::Value;
use std::process::Stdio;
use support::{qmdb_cmd, shared_guest_with, Guest, GuestOpts, KernelVersion};

fn status_record(guest: &Guest) -> Value {
    let _attached = guest.attach_lock();
    let o = guest
        .qmdb()
        .args(["--json", "-e", "::status"])
        .stdin(Stdio::null())
        .output()
        .expect("run qmdb");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
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
    if nokaslr {
        assert_eq!(slide, 0);
    } else {
        assert_ne!(slide, 0, "KASLR on, yet _text is at its link address");
    }
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
