//! `parse_description` and `build_layout` on fuzz-made target descriptions.
//!
//! Input layout: documents separated by NUL bytes (decoded lossily as UTF-8). The first is
//! `target.xml`; an `xi:include` of any href is answered with the next document in turn
//! (cycling, so include loops are easy to reach), or with an error when the href is
//! `missing.xml`. `build_layout` must terminate (at most `MAX_INCLUDES` fetches) and what it
//! returns must be sorted and well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qmdb_bridge::regs::{build_layout, parse_description, DescItem, MAX_INCLUDES};

fuzz_target!(|data: &[u8]| {
    let docs: Vec<String> = data
        .split(|&b| b == 0)
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    let root = &docs[0];

    for doc in &docs {
        if let Ok(items) = parse_description(doc) {
            for item in items {
                if let DescItem::Reg { bits, .. } = item {
                    assert!(bits > 0 && bits <= 4096, "bitsize {bits}");
                }
            }
        }
    }

    let mut fetches = 0usize;
    let result = build_layout(root, |href| {
        fetches += 1;
        assert!(fetches <= MAX_INCLUDES, "fetch called {fetches} times");
        if href == "missing.xml" {
            return Err(format!("{href}: no such annex"));
        }
        Ok(docs[fetches % docs.len()].clone())
    });
    if let Ok(layout) = result {
        assert!(
            layout.regs.windows(2).all(|w| w[0].regnum <= w[1].regnum),
            "registers not sorted by regnum"
        );
        for r in &layout.regs {
            assert!(r.bits > 0 && r.bits <= 4096);
            assert!(layout.find(&r.name).is_some());
        }
    }
});
