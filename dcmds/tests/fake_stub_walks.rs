//! The container walks over corrupt kernel data served by the fake gdbstub (a real RSP
//! server built on the `gdbstub` crate), end to end through the bridge: a list whose nodes
//! loop without coming back to its head, and one with a pointer into unmapped memory, each
//! end with a warning naming the node, never a loop, and the session answers afterwards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_bridge::blocking::{BlockingTarget, ConnectOptions};
use qmdb_dcmds::{CaptureOutput, CommandRecord, Session};
use qmdb_fakestub::{FakeConfig, FakeStub, Region};
use qmdb_kernel::Kernel;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/mock_kernel.rs"]
mod synth;

/// Where the test's tasks live: a page of the direct map.
const BASE: u64 = 0xffff_8880_0100_0000;
/// Its `task_struct`s: one every 0x1000 bytes (larger than the synthetic one).
fn task(i: u64) -> u64 {
    BASE + i * 0x1000
}

/// The `tasks` list node of task `i`.
fn node(i: u64) -> u64 {
    task(i) + synth::TASKS
}

fn session(stub: &FakeStub) -> Session {
    let target =
        BlockingTarget::connect(&stub.addr().to_string(), ConnectOptions::default()).unwrap();
    let mut s = Session::new(Box::new(target));
    qmdb_linux::load::install(
        &mut s,
        Kernel {
            release: Some("6.6.0-synthetic".into()),
            banner: None,
            slide: synth::SLIDE,
            symbols: Arc::new(synth::symbols()),
            types: Some(Arc::new(synth::btf())),
            orc: None,
            notes: Vec::new(),
        },
    );
    s
}

fn run(s: &mut Session, line: &str) -> CommandRecord {
    let mut out = CaptureOutput::new();
    s.execute(line, &mut out);
    let (mut records, text) = out.take();
    assert_eq!(records.len(), 1, "{line}: {text}");
    records.remove(0)
}

/// Four tasks: 0 -> 1 -> 2 -> 3, and 3's `next` points back at 1: a cycle that never
/// reaches 0 again. Task 5's `next` points at unmapped memory.
fn corrupt_image() -> Vec<u8> {
    let mut mem = vec![0u8; 0x8000];
    let mut put = |addr: u64, v: u64| {
        let off = (addr - BASE) as usize;
        mem[off..off + 8].copy_from_slice(&v.to_le_bytes());
    };
    for (from, to) in [(0, 1), (1, 2), (2, 3), (3, 1)] {
        put(node(from), node(to));
        put(node(to) + 8, node(from));
    }
    put(node(5), 0xffff_8880_7777_0000);
    mem
}

#[test]
fn corrupt_lists_end_with_a_note_over_the_wire() {
    let stub = FakeStub::start(FakeConfig::default().with_region(Region {
        start: BASE,
        data: corrupt_image(),
    }))
    .unwrap();
    let mut s = session(&stub);
    let started = Instant::now();

    let r = run(&mut s, &format!("{:x}::list task_struct tasks", task(0)));
    assert!(r.ok, "{r:?}");
    let want: Vec<String> = (0..4).map(|i| format!("{:x}", task(i))).collect();
    let got: Vec<String> = r.output.iter().map(|l| l.trim().to_string()).collect();
    assert_eq!(got, want, "{r:?}");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("already visited") && w.contains("cycle")),
        "{r:?}"
    );

    // Through the generic walker and a pipeline too.
    let r = run(
        &mut s,
        &format!("{:x}::walk list | ::print struct list_head next", node(0)),
    );
    assert!(!r.warnings.is_empty() || !r.ok, "{r:?}");

    let r = run(&mut s, &format!("{:x}::list task_struct tasks", task(5)));
    assert!(r.ok, "{r:?}");
    assert_eq!(r.output.len(), 1, "{r:?}");
    assert!(
        r.warnings.iter().any(|w| w.contains("ffff888077770000")),
        "the wild pointer is named: {r:?}"
    );

    // The session still answers, nothing hung, and no packet killed the stub.
    let r = run(&mut s, &format!("{:x}/J", node(3)));
    assert!(r.ok, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(stub.stats().kills, 0);
    drop(s);
    stub.stop();
}
