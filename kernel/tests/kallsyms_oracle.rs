//! The kernel as the oracle: boot each Debian kernel once with `nokaslr` (runtime addresses
//! are then link-time addresses), and check every `/proc/kallsyms` line the guest sampled
//! (`kallsyms <addr> <type> <name>` in its truth file) against the symbols decoded from the
//! image: name → address (and type), and for text symbols address → name at offset 0.
//! Module, BPF and ftrace symbols (`\t[module]` lines) are not in the image and are left
//! out. Missing QEMU or kernels fail the test, naming `scripts/guest setup --kernel all`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qmdb_bridge::VirtAddr;
use qmdb_kernel::symbols::{SymbolHit, SymbolLookup};
use qmdb_kernel::symtab::SlidSymbols;
use qmdb_kernel::{KernelImage, SymbolTable};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const SETUP: &str = "set up the real guest fixture with `scripts/guest setup --kernel all`";

/// One guest at a time: the machine has two cores and TCG keeps one busy per guest.
static GUEST: Mutex<()> = Mutex::new(());

fn guest_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("guest")
}

/// A booted guest; stopped when dropped (and by the script's watchdog if this process dies).
struct Guest {
    dir: String,
    kernel: PathBuf,
    truth: String,
}

impl Guest {
    fn boot(version: &str, nokaslr: bool) -> Guest {
        let mut cmd = Command::new(guest_script());
        cmd.args(["boot", "--kernel", version, "--sleepers", "0"])
            .args(["--watch-pid", &std::process::id().to_string(), "--rm-dir"])
            .stdin(Stdio::null());
        if nokaslr {
            cmd.arg("--nokaslr");
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run scripts/guest: {e}; {SETUP}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "scripts/guest boot --kernel {version} failed: {}\n{stdout}\n{SETUP}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("port="))
            .unwrap_or_else(|| panic!("no boot line from scripts/guest: {stdout}"));
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                .unwrap_or_else(|| panic!("no {k}= in {line:?}"))
                .to_string()
        };
        let mut guest = Guest {
            dir: field("dir"),
            kernel: PathBuf::from(field("kernel")),
            truth: String::new(),
        };
        guest.truth = std::fs::read_to_string(Path::new(&guest.dir).join("truth.txt"))
            .unwrap_or_else(|e| panic!("no truth.txt in {}: {e}", guest.dir));
        guest
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = Command::new(guest_script())
            .args(["stop", "--dir", &self.dir])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A `/proc/kallsyms` sample line: address, type, name.
struct Line {
    addr: u64,
    kind: char,
    name: String,
}

/// The kernel's own symbols from the truth, without module symbols.
fn sample(truth: &str) -> (Vec<Line>, usize) {
    let mut lines = Vec::new();
    let mut modules = 0;
    for l in truth.lines() {
        let Some(rest) = l.strip_prefix("kallsyms ") else {
            continue;
        };
        let rest = rest.trim_end_matches('\r');
        if rest.contains('\t') {
            modules += 1;
            continue;
        }
        let mut f = rest.splitn(3, ' ');
        let (Some(a), Some(k), Some(n)) = (f.next(), f.next(), f.next()) else {
            panic!("bad truth line {l:?}");
        };
        lines.push(Line {
            addr: u64::from_str_radix(a, 16).unwrap_or_else(|_| panic!("bad address in {l:?}")),
            kind: k.chars().next().unwrap(),
            name: n.to_string(),
        });
    }
    (lines, modules)
}

/// Checks every sample line against `table` seen through `slide`; returns the number of
/// lines checked, panicking with every mismatch.
fn compare(version: &str, table: Arc<SymbolTable>, lines: &[Line], slide: u64) -> usize {
    let slid = SlidSymbols::new(table.clone(), slide);
    let mut bad = Vec::new();
    let mut text = 0;
    let mut dups = 0;
    for l in lines {
        let named: Vec<_> = table.lookup_name_all(&l.name).collect();
        if named.len() > 1 {
            dups += 1;
        }
        // name → address (one of the symbols of that name, for names like __key.0).
        let hit = named
            .iter()
            .any(|s| slid.runtime(s) == l.addr && s.kind == l.kind);
        if !hit {
            bad.push(format!(
                "{:016x} {} {}: qmdb has {:?}",
                l.addr,
                l.kind,
                l.name,
                named
                    .iter()
                    .map(|s| format!("{:x} {}", slid.runtime(s), s.kind))
                    .collect::<Vec<_>>()
            ));
            continue;
        }
        // A unique name is what the name lookup returns.
        if named.len() == 1 && slid.lookup_name(&l.name) != Some(VirtAddr(l.addr)) {
            bad.push(format!("{}: lookup_name disagrees", l.name));
        }
        // address → name for text: a symbol at exactly this address, offset 0, one of
        // whose aliases is the sampled name.
        if matches!(l.kind, 'T' | 't' | 'W' | 'w') {
            text += 1;
            let link = l.addr.wrapping_sub(slide);
            let aliases: Vec<&str> = table
                .symbols_in(link..link + 1)
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            match slid.lookup_addr(VirtAddr(l.addr)) {
                Some(SymbolHit { name, offset: 0 })
                    if aliases.contains(&name.as_str()) && aliases.contains(&l.name.as_str()) => {}
                other => bad.push(format!(
                    "{:016x} {}: address lookup gives {other:?}, aliases {aliases:?}",
                    l.addr, l.name
                )),
            }
        }
    }
    eprintln!(
        "{version}: {}/{} /proc/kallsyms sample lines match ({text} text symbols also by \
         address; {dups} names shared by several symbols; slide {slide:#x})",
        lines.len() - bad.len(),
        lines.len()
    );
    assert!(bad.is_empty(), "{version}: mismatches:\n{}", bad.join("\n"));
    lines.len()
}

fn oracle(version: &str, nokaslr: bool) {
    let _one = GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let guest = Guest::boot(version, nokaslr);
    let (lines, modules) = sample(&guest.truth);
    assert!(
        lines.len() > 500,
        "{version}: only {} kallsyms lines in the truth",
        lines.len()
    );
    let image = KernelImage::open(&guest.kernel).expect("the guest's kernel loads");
    let table = Arc::new(SymbolTable::from_image(&image).expect("symbols decode"));
    // With KASLR, the slide is _text's runtime address minus its link address.
    let slide = if nokaslr {
        0
    } else {
        let text = lines
            .iter()
            .find(|l| l.name == "_text")
            .expect("_text sampled");
        let slide = text
            .addr
            .wrapping_sub(table.lookup_name("_text").unwrap().addr);
        assert_eq!(slide % (2 << 20), 0, "{version}: slide {slide:#x}");
        slide
    };
    let n = compare(version, table, &lines, slide);
    eprintln!("{version}: {modules} module lines left out; {n} checked");
}

#[test]
fn proc_kallsyms_of_6_1_matches() {
    oracle("6.1", true);
}

#[test]
fn proc_kallsyms_of_6_12_matches() {
    oracle("6.12", true);
}

/// With KASLR on, every sampled address is its link address plus one slide, except the
/// absolute per-CPU symbols, which do not move ([`SlidSymbols`]).
#[test]
fn proc_kallsyms_of_6_1_with_kaslr_matches_through_the_slide() {
    oracle("6.1", false);
}
