//! Benchmark: read guest memory through the client, one request at a time and pipelined.
//!
//! `cargo run --release -p qmdb-bridge --example read_bench -- HOST:PORT [ADDR] [BYTES]`
//! ADDR defaults to the start of the kernel text of a `nokaslr` guest; BYTES to 4 MiB.

use qmdb_bridge::blocking::{BlockingTarget, ConnectOptions};
use qmdb_bridge::client::{Client, ClientOptions, ClientStats};
use qmdb_bridge::{read_partial, VirtAddr};
use std::time::Instant;

fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, mult) = match s.strip_suffix(['M', 'm']) {
        Some(d) => (d, 1 << 20),
        None => match s.strip_suffix(['K', 'k']) {
            Some(d) => (d, 1 << 10),
            None => (s, 1),
        },
    };
    let v = match digits.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None if mult == 1 => u64::from_str_radix(digits, 16).ok()?,
        None => digits.parse().ok()?,
    };
    v.checked_mul(mult)
}

fn report(label: &str, bytes: usize, secs: f64, before: ClientStats, after: ClientStats) {
    println!(
        "{label:<28} {:>8.1} MB/s  {:>6} packets  {:>5} round trips  {:>8.3} s  ({} bytes)",
        bytes as f64 / secs / 1e6,
        after.packets_sent - before.packets_sent,
        after.round_trips - before.round_trips,
        secs,
        bytes
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = args
        .first()
        .ok_or("usage: read_bench HOST:PORT [ADDR] [BYTES]")?;
    let addr = args
        .get(1)
        .and_then(|a| parse_num(a))
        .unwrap_or(0xffff_ffff_8100_0000);
    let len = args.get(2).and_then(|a| parse_num(a)).unwrap_or(4 << 20) as usize;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut c = Client::connect(target, ClientOptions::default()).await?;
        let max = c.max_read();
        println!(
            "target {target}: PacketSize {} -> {max}-byte reads",
            c.packet_size()
        );
        let reqs: Vec<(VirtAddr, usize)> = (0..len.div_ceil(max))
            .map(|i| {
                let off = i * max;
                (VirtAddr(addr + off as u64), max.min(len - off))
            })
            .collect();
        for depth in [1usize, 8, 64, 256] {
            let before = c.stats();
            let t = Instant::now();
            let mut got = 0;
            for batch in reqs.chunks(depth) {
                for r in c.read_memory(batch).await? {
                    got += r.map_err(|e| format!("read failed: {e}"))?.len();
                }
            }
            let secs = t.elapsed().as_secs_f64();
            report(
                &format!("client, {depth} in flight"),
                got,
                secs,
                before,
                c.stats(),
            );
        }
        c.close(false).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;

    let opts = ConnectOptions {
        cache: false,
        ..Default::default()
    };
    let mut t = BlockingTarget::connect(target, opts)?;
    let before = t.stats();
    let start = Instant::now();
    let r = read_partial(&mut t, VirtAddr(addr), len)?;
    report(
        "read_partial (no cache)",
        r.data.len(),
        start.elapsed().as_secs_f64(),
        before,
        t.stats(),
    );
    if let Some((at, e)) = r.fault {
        println!("  stopped at {at}: {e}");
    }
    t.close(false)?;
    Ok(())
}
