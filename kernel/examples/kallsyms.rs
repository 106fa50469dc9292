//! Benchmark: decode an image's kallsyms, print where the tables were, a few lookups, and
//! how long decoding and a cache round trip took.
//!
//! `cargo run --release -p qmdb-kernel --example kallsyms -- VMLINUZ [NAME...]`
//!
//! Times are the fastest and the median of several runs (the machine may be busy).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_kernel::kallsyms;
use qmdb_kernel::{KernelImage, SymbolTable};
use std::time::{Duration, Instant};

/// Runs `f` `runs` times; its last result, and the fastest and median times in ms.
fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> (T, f64, f64) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        times.push(t.elapsed());
        // The previous result is dropped here, outside the timing.
        last = Some(r);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (last.expect("runs > 0"), ms(times[0]), ms(times[runs / 2]))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: kallsyms VMLINUZ [NAME...]")?;
    let mut names: Vec<String> = args.collect();
    if names.is_empty() {
        names = ["init_task", "linux_banner", "schedule", "_text"]
            .map(String::from)
            .to_vec();
    }

    let t = Instant::now();
    let image = KernelImage::open(path.as_ref())?;
    println!("{path}: loaded in {:.3} s", t.elapsed().as_secs_f64());

    let (k, fast, median) = timed(5, || kallsyms::decode_image(&image));
    let k = k?;
    println!(
        "kallsyms: {} symbols decoded in {fast:.1} ms (median of 5: {median:.1} ms)",
        k.symbols.len(),
    );
    let l = &k.layout;
    println!(
        "  encoding: {}; two-byte name lengths: {}; fits kernel {}",
        l.encoding,
        if l.big_lengths { "used" } else { "not used" },
        l.version_hint()
    );
    for (table, range) in l.tables() {
        println!(
            "  {:<24} {:#x}  {:>8} bytes",
            table.symbol(),
            l.addr_of(range.start),
            range.len()
        );
    }

    let (table, build, build_median) = timed(3, || SymbolTable::from_image(&image));
    let table = table?;
    let bytes = table.to_bytes();
    let (cached, load, load_median) = timed(10, || SymbolTable::from_bytes(&bytes));
    let cached = cached?;
    println!(
        "symbol table ({:?}): built from the image in {build:.1} ms (median {build_median:.1}); \
         cache of {} bytes loaded in {load:.1} ms (median of 10: {load_median:.1} ms)",
        table.source(),
        bytes.len(),
    );
    assert_eq!(cached.len(), table.len());

    for name in &names {
        match table.lookup_name(name) {
            Some(s) => {
                let back = table
                    .lookup_addr(s.addr)
                    .map(|(b, off)| format!("{}+{off:#x}", b.name))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "  {:<16} {:#018x} {}  (back: {back})",
                    s.name, s.addr, s.kind
                );
            }
            None => println!("  {name:<16} not found"),
        }
    }
    Ok(())
}
