//! End-to-end: `::kmastat` against the guest's own `/proc/slabinfo` (taken by the fixture at
//! truth time), on 6.1, 6.12 and the newest Debian kernel. One test per kernel, each on its
//! kernel's shared guest.

use crate::support::{shared_guest, KernelVersion};
use serde_json::Value;
use std::collections::HashMap;

/// One line of `/proc/slabinfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SlabLine {
    active: u64,
    total: u64,
    objsize: u64,
    per_slab: u64,
    pages: u64,
    slabs: u64,
}

/// `name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables l b s :
/// slabdata <active_slabs> <num_slabs> <sharedavail>`, the two header lines skipped.
fn slabinfo(lines: &[String]) -> HashMap<String, SlabLine> {
    let mut out = HashMap::new();
    for l in lines {
        if l.starts_with("slabinfo -") || l.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = l.split_whitespace().collect();
        let n = |i: usize| -> u64 {
            f.get(i)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad slabinfo line {l:?}"))
        };
        assert_eq!(f.get(12), Some(&"slabdata"), "{l:?}");
        let line = SlabLine {
            active: n(1),
            total: n(2),
            objsize: n(3),
            per_slab: n(4),
            pages: n(5),
            slabs: n(14),
        };
        assert!(
            out.insert(f[0].to_string(), line).is_none(),
            "{} twice in slabinfo",
            f[0]
        );
    }
    out
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"))
}

fn check(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    let theirs = slabinfo(&guest.truth().slabinfo);
    assert!(theirs.len() > 100, "slabinfo has {} caches", theirs.len());
    let recs = guest.json_records(&["::kmastat", "::kmastat -s"]);
    for r in &recs {
        assert!(r["ok"] == true, "{r}");
        assert!(r["warnings"].as_array().unwrap().is_empty(), "{r}");
    }
    let data = recs[0]["data"].as_array().unwrap();
    let (total, rows) = data.split_last().unwrap();
    let mut ours: HashMap<&str, &Value> = HashMap::new();
    for r in rows {
        let name = r["name"].as_str().unwrap();
        assert!(ours.insert(name, r).is_none(), "{name} twice");
        // Memory is the slabs' pages.
        assert_eq!(
            u(r, "memory"),
            u(r, "slabs") * u(r, "pages_per_slab") * 4096,
            "{r}"
        );
        assert!(u(r, "object_size") <= u(r, "size") && u(r, "active") <= u(r, "total"));
    }
    assert_eq!(u(total, "caches"), rows.len() as u64);
    assert_eq!(
        u(total, "memory"),
        rows.iter().map(|r| u(r, "memory")).sum::<u64>()
    );
    // The same caches both ways: every one of slabinfo, and none it does not know.
    let mut missing: Vec<&String> = theirs
        .keys()
        .filter(|n| !ours.contains_key(n.as_str()))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "caches of slabinfo not in ::kmastat: {missing:?}"
    );
    let mut extra: Vec<&&str> = ours.keys().filter(|n| !theirs.contains_key(**n)).collect();
    extra.sort();
    assert!(extra.is_empty(), "caches not in slabinfo: {extra:?}");
    // Sizes and slab geometry are fixed at cache creation: exact. Counts moved between the
    // truth (read seconds before qmdb attached) and now, as the guest allocated and freed
    // (the truth writer exiting, the napper, the ticker, kworkers): within 10%, or two
    // slabs' worth of objects plus 32 (a small cache gaining a slab is 100% more).
    let mut moved = 0;
    for (name, t) in &theirs {
        let o = ours[name.as_str()];
        assert_eq!(u(o, "size"), t.objsize, "{name}: slot size");
        assert_eq!(u(o, "objects_per_slab"), t.per_slab, "{name}");
        assert_eq!(u(o, "pages_per_slab"), t.pages, "{name}");
        let close =
            |ours: u64, theirs: u64, slack: u64| ours.abs_diff(theirs) <= (theirs / 10).max(slack);
        let slack = 2 * t.per_slab + 32;
        assert!(
            close(u(o, "active"), t.active, slack),
            "{name}: active {o} vs {t:?}"
        );
        assert!(
            close(u(o, "total"), t.total, slack),
            "{name}: total {o} vs {t:?}"
        );
        // Slabs move with the objects: as many slabs as the objects' slack fills, plus the
        // partly used one at each end.
        assert!(
            close(u(o, "slabs"), t.slabs, slack / t.per_slab.max(1) + 2),
            "{name}: slabs {o} vs {t:?}"
        );
        moved += usize::from(u(o, "active") != t.active);
    }
    // -s: the same caches, largest memory first.
    let sorted = recs[1]["data"].as_array().unwrap();
    let (_, sorted) = sorted.split_last().unwrap();
    assert_eq!(sorted.len(), rows.len());
    assert!(sorted
        .windows(2)
        .all(|w| u(&w[0], "memory") >= u(&w[1], "memory")));
    let text = recs[0]["output"].as_array().unwrap();
    assert!(text[0].as_str().unwrap().starts_with("NAME"), "{text:?}");
    assert!(text
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .starts_with("Total: "));
    eprintln!(
        "{}: {} caches, {moved} with a different active count than the truth's",
        kernel.as_str(),
        rows.len()
    );
}

#[test]
fn kmastat_6_1() {
    check(KernelVersion::V6_1);
}

#[test]
fn kmastat_6_12() {
    check(KernelVersion::V6_12);
}

#[test]
fn kmastat_newest() {
    check(KernelVersion::Newest);
}
