//! Random hole maps: the fake's memory (directly, and over the wire) against a byte-map model.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use proptest::prelude::*;
use qmdb_fakestub::{FakeConfig, FakeStub, Memory, Region};

/// Non-overlapping regions of arbitrary (odd) sizes with arbitrary gaps, starting at `base`.
fn regions(base: u64) -> impl Strategy<Value = Vec<Region>> {
    prop::collection::vec((0u64..40, 1usize..40, any::<u8>()), 0..12).prop_map(move |parts| {
        let mut at = base;
        let mut out = Vec::new();
        for (gap, len, seed) in parts {
            at += gap;
            let data = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
            out.push(Region::new(at, data));
            at += len as u64;
        }
        out
    })
}

fn model(regions: &[Region]) -> HashMap<u64, u8> {
    let mut m = HashMap::new();
    for r in regions {
        for (i, &b) in r.data.iter().enumerate() {
            m.insert(r.start + i as u64, b);
        }
    }
    m
}

fn expect(model: &HashMap<u64, u8>, addr: u64, len: usize) -> Option<Vec<u8>> {
    (0..len as u64)
        .map(|i| addr.checked_add(i).and_then(|a| model.get(&a).copied()))
        .collect()
}

proptest! {
    #[test]
    fn memory_matches_model(
        regs in regions(0x1000),
        reads in prop::collection::vec((0x1000u64..0x1400, 0usize..64), 1..40),
    ) {
        let model = model(&regs);
        let mut mem = Memory::new();
        for r in regs {
            mem.map(r).unwrap();
        }
        for (addr, len) in reads {
            let mut buf = vec![0; len];
            let got = mem.read(addr, &mut buf).then_some(buf);
            prop_assert_eq!(got, expect(&model, addr, len), "read {:#x},{}", addr, len);
        }
    }

    #[test]
    fn memory_near_top_of_address_space(
        regs in regions(u64::MAX - 600),
        reads in prop::collection::vec((u64::MAX - 600.., 0usize..64), 1..20),
    ) {
        let regs: Vec<Region> = regs.into_iter().filter(|r| r.end() <= 1u128 << 64).collect();
        let model = model(&regs);
        let mut mem = Memory::new();
        for r in regs {
            mem.map(r).unwrap();
        }
        for (addr, len) in reads {
            prop_assert_eq!(mem.is_mapped(addr, len), expect(&model, addr, len).is_some());
        }
    }
}

fn frame(body: &str) -> Vec<u8> {
    let sum = body.bytes().fold(0u8, |a, b| a.wrapping_add(b));
    format!("${body}#{sum:02x}").into_bytes()
}

/// Read `n` reply bodies from `s` (acks skipped).
fn replies(s: &mut TcpStream, n: usize) -> Vec<String> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while out.len() < n {
        let mut tmp = [0u8; 8192];
        let k = s.read(&mut tmp).unwrap();
        assert!(k > 0, "closed");
        buf.extend_from_slice(&tmp[..k]);
        while let Some(a) = buf.iter().position(|&b| b == b'$') {
            let Some(h) = buf[a..].iter().position(|&b| b == b'#') else {
                break;
            };
            if buf.len() < a + h + 3 {
                break;
            }
            out.push(String::from_utf8(buf[a + 1..a + h].to_vec()).unwrap());
            buf.drain(..a + h + 3);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Over the wire: each `m` is all-or-nothing, E22 above PacketSize/2, counted once.
    #[test]
    fn wire_reads_match_model(
        regs in regions(0xffff_8880_0000_1000),
        reads in prop::collection::vec((0u64..0x400, 0usize..0x90), 1..24),
        packet_size in prop_oneof![Just(4096usize), Just(256usize), Just(64usize)],
    ) {
        let model = model(&regs);
        let stub = FakeStub::start(FakeConfig {
            running: false,
            regions: regs,
            packet_size,
            ..FakeConfig::default()
        }).unwrap();
        let mut s = TcpStream::connect(stub.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut batch = b"+".to_vec();
        for &(off, len) in &reads {
            batch.extend(frame(&format!("m{:x},{:x}", 0xffff_8880_0000_1000u64 + off, len)));
        }
        s.write_all(&batch).unwrap();
        let got = replies(&mut s, reads.len());
        for (&(off, len), r) in reads.iter().zip(&got) {
            let addr = 0xffff_8880_0000_1000u64 + off;
            let want = if len > packet_size / 2 {
                "E22".to_string()
            } else {
                match expect(&model, addr, len) {
                    Some(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
                    None => "E14".to_string(),
                }
            };
            prop_assert_eq!(r, &want, "m{:x},{:x}", addr, len);
        }
        let st = stub.stats();
        prop_assert_eq!(st.mem_reads, reads.len() as u64);
        let nonzero = reads.iter().filter(|r| r.1 > 0).count() as u64;
        prop_assert_eq!(st.mem_reads_ok + st.mem_reads_e14 + st.mem_reads_e22, nonzero);
    }
}
