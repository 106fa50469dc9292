//! End-to-end: `::lsmod`, `::modinfo`, module symbols and stacks through module code on the
//! real guests (6.1 and 6.12, KASLR on), checked against what the guest printed of itself:
//! the fixture's init loads `qemu_fw_cfg` and `evdev` and prints `/proc/modules` as
//! `QMDB-MODULE <line>` and the modules' lines of `/proc/kallsyms` as `QMDB-MODSYM <line>`
//! on the console; `qmdb-evdev` sleeps in `evdev_read`, and the truth holds its
//! `/proc/PID/stack`.

mod support;

use serde_json::Value;
use support::{
    console_records, hex, module_text_symbol, shared_guest_with, GuestOpts, KernelVersion,
};

/// `name size refs deps state addr` from `/proc/modules`.
struct ProcModule {
    name: String,
    size: u64,
    addr: u64,
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
    let (fn_addr, fn_name) = module_text_symbol(&console, "qemu_fw_cfg", "fw_cfg_");

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

#[test]
fn lsmod_and_module_symbols_newest() {
    check_modules(KernelVersion::Newest);
}

/// `(addr, type, name)` of every symbol of `module` in the guest's `/proc/kallsyms`.
fn proc_module_symbols(console: &str, module: &str) -> Vec<(u64, String, String)> {
    let tag = format!("[{module}]");
    let mut v: Vec<(u64, String, String)> = console_records(console, "QMDB-MODSYM ")
        .into_iter()
        .filter(|l| l.trim_end().ends_with(&tag))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (a, t, n) = (it.next()?, it.next()?, it.next()?);
            Some((hex(a), t.to_string(), n.to_string()))
        })
        .collect();
    v.sort();
    v
}

/// The evdev reader, asleep in module code: `::findstack -v` gives the kernel's own
/// `/proc/PID/stack` frame for frame, offsets included, through the module's frame (named
/// ``evdev`evdev_read``, with `"module":"evdev"` in JSON) and the kernel frames below it,
/// which only the module's ORC table can reach; `::stacks -m evdev` finds it; `::nm` lists
/// every evdev symbol at the address and with the type `/proc/kallsyms` gives.
fn check_module_stack(kernel: KernelVersion) {
    let guest = shared_guest_with(GuestOpts::new(kernel));
    let truth = guest.truth();
    let reader = truth
        .tasks_named("qmdb-evdev")
        .next()
        .expect("the fixture has qmdb-evdev (evdev loaded, /dev/input/event0 read)");
    let want = reader.stack_offsets();
    assert_eq!(
        reader.stack.first().and_then(|f| f.module.as_deref()),
        Some("evdev"),
        "the guest's stack of qmdb-evdev starts in evdev: {reader:?}"
    );
    let proc_syms = proc_module_symbols(&guest.console(), "evdev");
    let (read_addr, read_type, _) = proc_syms
        .iter()
        .find(|(_, _, n)| n == "evdev_read")
        .expect("evdev_read in the guest's /proc/kallsyms")
        .clone();

    let out = guest.qmdb_ok(&[
        "--json",
        "-e",
        "__sched_text_start=K",
        "-e",
        "__sched_text_end=K",
        "-e",
        "::pgrep -x qmdb-evdev | ::findstack -v",
        "-e",
        "::stacks -m evdev",
        "-e",
        "::nm evdev_read",
        "-e",
        "::nm -m evdev",
    ]);
    let recs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(recs.len(), 6, "{out}");
    let k = |r: &Value| hex(r["output"][0].as_str().unwrap().trim());
    let sched = k(&recs[0])..k(&recs[1]);

    let stack = &recs[2]["data"][0];
    assert_eq!(stack["pid"], reader.tid, "{stack}");
    assert!(stack["end"].is_null(), "incomplete walk: {stack}");
    assert!(stack["user_pc"].is_string(), "ends in user mode: {stack}");
    let frames = stack["frames"].as_array().unwrap();
    assert!(frames.iter().all(|f| f["reliable"] == true), "{stack}");
    let ours: Vec<&Value> = frames
        .iter()
        .filter(|f| !sched.contains(&hex(f["pc"].as_str().unwrap())))
        .collect();
    let got: Vec<String> = ours
        .iter()
        .map(|f| {
            format!(
                "{}+{:#x}",
                f["symbol"].as_str().unwrap(),
                f["offset"].as_u64().unwrap()
            )
        })
        .collect();
    assert_eq!(got, want, "{stack}");
    let modules: Vec<Option<&str>> = ours.iter().map(|f| f["module"].as_str()).collect();
    let want_modules: Vec<Option<&str>> =
        reader.stack.iter().map(|f| f.module.as_deref()).collect();
    assert_eq!(modules, want_modules, "{stack}");
    let text = recs[2]["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let first = &reader.stack[0];
    assert!(
        text.contains(&format!(" evdev`evdev_read+{:#x}() ", first.offset)),
        "{text}"
    );

    let groups = recs[3]["data"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{}", recs[3]);
    assert_eq!(
        groups[0]["threads"],
        serde_json::json!([stack["thread"]]),
        "{}",
        recs[3]
    );

    let nm = recs[4]["data"].as_array().unwrap();
    let hit = nm
        .iter()
        .find(|r| r["module"] == "evdev")
        .unwrap_or_else(|| panic!("::nm evdev_read lists no evdev symbol: {}", recs[4]));
    assert_eq!(hex(hit["addr"].as_str().unwrap()), read_addr, "{hit}");
    assert_eq!(hit["type"], read_type.as_str(), "{hit}");
    let mut listed: Vec<(u64, String, String)> = recs[5]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                hex(r["addr"].as_str().unwrap()),
                r["type"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed, proc_syms,
        "::nm -m evdev vs the guest's /proc/kallsyms"
    );
}

#[test]
fn module_stack_and_symbols_6_1() {
    check_module_stack(KernelVersion::V6_1);
}

#[test]
fn module_stack_and_symbols_6_12() {
    check_module_stack(KernelVersion::V6_12);
}

#[test]
fn module_stack_and_symbols_newest() {
    check_module_stack(KernelVersion::Newest);
}
