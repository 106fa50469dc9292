//! End-to-end: `::lsmod`, `::modinfo` and module symbols on the real guests (6.1 and 6.12,
//! KASLR on), checked against what the guest printed of itself: the fixture's init loads
//! `qemu_fw_cfg` and prints `/proc/modules` as `QMDB-MODULE <line>` and the modules' lines
//! of `/proc/kallsyms` as `QMDB-MODSYM <line>` on the console.

mod support;

use serde_json::Value;
use support::{shared_guest_with, GuestOpts, KernelVersion};

/// `name size refs deps state addr` from `/proc/modules`.
struct ProcModule {
    name: String,
    size: u64,
    addr: u64,
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn console_records<'a>(console: &'a str, tag: &str) -> Vec<&'a str> {
    console
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').strip_prefix(tag))
        .collect()
}

fn check_modules(kernel: KernelVersion) {
    let guest = shared_guest_with(GuestOpts::new(kernel));
    let console = guest.console();
    let proc_modules: Vec<ProcModule> = console_records(&console, "QMDB-MODULE ")
        .into_iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            ProcModule {
                name: f[0].to_string(),
                size: f[1].parse().unwrap(),
                addr: hex(f[5]),
            }
        })
        .collect();
    assert!(
        proc_modules.iter().any(|m| m.name == "qemu_fw_cfg"),
        "the fixture did not load qemu_fw_cfg (console has no QMDB-MODULE line for it)"
    );
    // A module function, with its address from /proc/kallsyms.
    let (fn_addr, fn_name) = console_records(&console, "QMDB-MODSYM ")
        .into_iter()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (a, t, n) = (it.next()?, it.next()?, it.next()?);
            (t.eq_ignore_ascii_case("t") && n.starts_with("fw_cfg_") && l.contains("[qemu_fw_cfg]"))
                .then(|| (hex(a), n.to_string()))
        })
        .next()
        .expect("no fw_cfg_* text symbol of qemu_fw_cfg in /proc/kallsyms");

    let cmd_sym = format!("{fn_addr:x}=p");
    let cmd_name = format!("{fn_name}=K");
    let cmd_dis = format!("{:x}/i", fn_addr);
    let out = guest.qmdb_ok(&[
        "--json",
        "-e",
        "::lsmod",
        "-e",
        "::modinfo qemu_fw_cfg",
        "-e",
        &cmd_sym,
        "-e",
        &cmd_name,
        "-e",
        &cmd_dis,
    ]);
    let recs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(recs.len(), 5, "{out}");
    let lsmod = recs[0]["data"].as_array().expect("::lsmod data");
    for pm in &proc_modules {
        let m = lsmod
            .iter()
            .find(|m| m["name"] == pm.name.as_str())
            .unwrap_or_else(|| panic!("::lsmod lacks {}: {out}", pm.name));
        assert_eq!(hex(m["base"].as_str().unwrap()), pm.addr, "{}", pm.name);
        assert_eq!(m["size"].as_u64(), Some(pm.size), "{}", pm.name);
    }
    assert_eq!(lsmod.len(), proc_modules.len(), "{out}");
    let info = &recs[1]["data"][0];
    assert_eq!(info["name"], "qemu_fw_cfg", "{out}");
    let text = |r: &Value| {
        r["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let want = format!("qemu_fw_cfg`{fn_name}");
    assert_eq!(text(&recs[2]).trim(), want, "{out}");
    assert_eq!(hex(text(&recs[3]).trim()), fn_addr, "{out}");
    assert!(text(&recs[4]).contains(&want), "{out}");
}

#[test]
fn lsmod_and_module_symbols_6_1() {
    check_modules(KernelVersion::V6_1);
}

#[test]
fn lsmod_and_module_symbols_6_12() {
    check_modules(KernelVersion::V6_12);
}
