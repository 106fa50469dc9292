//! Support for qmdb's end-to-end tests: the real guest fixture of
//! `scripts/guest` (a Debian cloud kernel under QEMU/TCG with a known
//! workload), the ground truth the guest reports about itself, and the
//! `qmdb` binary under test.
//!
//! Use it from an integration test with `mod support;`:
//!
//! ```ignore
//! mod support;
//! use support::{shared_guest, KernelVersion};
//!
//! #[test]
//! fn banner_matches() {
//!     let guest = shared_guest(KernelVersion::V6_1);
//!     let _gdb = guest.attach_lock(); // one gdb client at a time
//!     let out = guest.qmdb().args(["-e", "linux_banner/s"]).output().unwrap();
//!     assert!(String::from_utf8_lossy(&out.stdout).contains(&guest.truth().banner));
//! }
//! ```
//!
//! Guests: [`Guest::boot`] boots a private guest that is killed when the
//! `Guest` is dropped (also while a test panics). [`shared_guest`] and
//! [`shared_guest_with`] boot one guest per configuration per test binary and
//! hand out `&'static Guest`s; statics are never dropped, so every guest is
//! started with a watchdog (`scripts/guest boot --watch-pid <test pid>`) that
//! kills QEMU within about a second of the test process exiting, however it
//! exits. Boots within a process are serialised (the machine has two cores).
//!
//! Run guest tests with `cargo test` (test binaries run one after another), not
//! with many test processes at once: each process boots its own guests.
//! A missing QEMU or kernel is a test failure whose message says to run
//! `scripts/guest setup --kernel all`; nothing is skipped silently.

// Each test binary uses only part of this module.
#![allow(dead_code, unused_imports)]

pub mod gdb;
pub mod guest;
pub mod monitor;
pub mod tmux;
pub mod truth;

pub use guest::{shared_guest, shared_guest_with, Guest, GuestOpts, KernelVersion, Scenario};
pub use truth::{KallsymsEntry, StackFrame, Truth, TruthTask};

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (where `Cargo.toml` and `scripts/` are).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/guest` of this repository.
pub fn guest_script() -> PathBuf {
    repo_root().join("scripts").join("guest")
}

/// A `Command` for the `qmdb` binary built for these tests.
pub fn qmdb_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_qmdb"))
}

/// A hex number, with or without `0x`; panics naming it if it is not one.
pub fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// The console lines tagged `tag` (the fixture's `QMDB-MODULE `, `QMDB-MODSYM `...), without
/// the tag.
pub fn console_records<'a>(console: &'a str, tag: &str) -> Vec<&'a str> {
    console
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix(tag))
        .collect()
}

/// The first text symbol of `module` named `prefix*` among the console's `QMDB-MODSYM`
/// lines (the guest's `/proc/kallsyms` module lines): its address and name.
pub fn module_text_symbol(console: &str, module: &str, prefix: &str) -> (u64, String) {
    let tag = format!("[{module}]");
    console_records(console, "QMDB-MODSYM ")
        .into_iter()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            let (a, t, n) = (it.next()?, it.next()?, it.next()?);
            (t.eq_ignore_ascii_case("t") && n.starts_with(prefix) && l.contains(&tag))
                .then(|| (hex(a), n.to_string()))
        })
        .unwrap_or_else(|| panic!("no {prefix}* text symbol of {module} in QMDB-MODSYM lines"))
}
