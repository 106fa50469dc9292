//! Run the fake stub by hand: `cargo run -p qmdb-fakestub --example serve [vcpus]`.
//! Prints the address, then serves until killed. Memory: 3 pages + 5 bytes of pattern at
//! 0xffff888000000000 and 64 KiB of zeros at 0 (like the start of a fresh QEMU's RAM).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_fakestub::{FakeConfig, FakeStub, Region};

fn main() -> std::io::Result<()> {
    let vcpus = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    let cfg = FakeConfig::default()
        .with_vcpus(vcpus)
        .with_region(Region::new(0, vec![0; 0x10000]))
        .with_region(Region::with_pattern(0xffff_8880_0000_0000, 3 * 4096 + 5));
    let stub = FakeStub::start(cfg)?;
    println!("{}", stub.addr());
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
