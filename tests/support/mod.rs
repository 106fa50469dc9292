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
pub mod truth;

pub use guest::{shared_guest, shared_guest_with, Guest, GuestOpts, KernelVersion};
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
