//! End-to-end: `::msgbuf` against the guest's own `dmesg` (taken by the fixture at truth
//! time), `addr::vtop` against QEMU's own physical reads (`xp`), and `addr::whatis` against
//! the guest's own `/proc` (stacks, kallsyms, modules), on 6.1 and 6.12.
//! All live in one test binary so that they share the guests.

mod support;

use serde_json::Value;
use support::{hex, module_text_symbol, shared_guest, Guest, KernelVersion};

/// Runs one qmdb session with `--json` and returns each command's record.
fn json_records(guest: &Guest, cmds: &[&str]) -> Vec<Value> {
    let _attached = guest.attach_lock();
    let mut c = guest.qmdb();
    c.arg("--json");
    for cmd in cmds {
        c.args(["-e", cmd]);
    }
    let o = c
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run qmdb");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn output(rec: &Value) -> Vec<String> {
    rec["output"]
        .as_array()
        .unwrap_or_else(|| panic!("no output: {rec}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// The 64-bit hex words after the `:` of each line (`/K` and HMP `xp /2gx` output).
fn words(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.split_once(':').map(|(_, w)| w))
        .flat_map(|w| w.split_whitespace())
        .map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).unwrap())
        .collect()
}

fn check_msgbuf(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    let theirs = &guest.truth().dmesg;
    assert!(
        theirs.len() > 100,
        "the truth carries too little dmesg output ({} lines): an old initramfs?",
        theirs.len()
    );
    let recs = json_records(guest, &["::msgbuf", "::msgbuf -n 3"]);
    assert!(recs[0]["ok"] == true, "{}", recs[0]);
    let ours = output(&recs[0]);
    // The log may have grown since the truth was taken (and, in principle, lost its oldest
    // records): the guest's lines must appear in ours, in a row, from its first line on.
    let start = ours
        .iter()
        .position(|l| *l == theirs[0])
        .unwrap_or_else(|| panic!("dmesg's first line {:?} is not in ::msgbuf", theirs[0]));
    for (i, want) in theirs.iter().enumerate() {
        assert_eq!(
            ours.get(start + i),
            Some(want),
            "line {i} of the guest's dmesg differs"
        );
    }
    assert!(theirs[0].contains("Linux version"), "{}", theirs[0]);
    // JSON: one record per record, in seq order, with the text of the lines.
    let data = recs[0]["data"].as_array().unwrap();
    assert!(data.len() <= ours.len() && data.len() > 100);
    let seqs: Vec<u64> = data.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs not increasing");
    assert!(ours[0].ends_with(data[0]["text"].as_str().unwrap().lines().next().unwrap()));
    // -n: the last lines.
    let tail = output(&recs[1]);
    assert_eq!(tail.len(), 3);
    assert_eq!(tail[..], ours[ours.len() - 3..]);
}

fn check_vtop(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    let recs = json_records(guest, &["init_task::vtop", "0::vtop"]);
    assert!(recs[0]["ok"] == true, "{}", recs[0]);
    let t = &recs[0]["data"][0];
    let pa = t["pa"].as_str().unwrap().to_string();
    let levels = t["levels"].as_array().unwrap();
    assert!((3..=5).contains(&levels.len()), "{t}");
    assert_eq!(levels[0]["level"], "PGD");
    assert!(output(&recs[0])[0].contains(&format!("physical {pa}")));
    // Unmapped: an error naming the level whose entry is not present.
    assert!(recs[1]["ok"] == false, "{}", recs[1]);
    let err = recs[1]["error"].as_str().unwrap();
    assert!(
        err.contains("not present")
            && ["PGD", "P4D", "PUD", "PMD", "PTE"]
                .iter()
                .any(|l| err.contains(&format!("the {l} entry"))),
        "{err}"
    );
    // QEMU reads the physical address and sees what qmdb reads at init_task (one session:
    // the VM is stopped for both).
    let xp = format!("::monitor xp /2gx {pa}");
    let recs = json_records(guest, &["init_task,2/K", &xp]);
    assert!(recs[0]["ok"] == true && recs[1]["ok"] == true, "{recs:?}");
    let ours = words(&output(&recs[0]));
    let qemu = words(&output(&recs[1]));
    assert_eq!(ours.len(), 2, "{recs:?}");
    assert_eq!(ours, qemu, "init_task at {pa}: {recs:?}");
}

/// The matches of one `addr::whatis` record, and its text.
fn whatis_matches(rec: &Value) -> (Vec<Value>, String) {
    assert!(rec["ok"] == true, "{rec}");
    let m = rec["data"][0]["matches"].as_array().unwrap().clone();
    (m, output(rec).join("\n"))
}

fn find_kind<'a>(matches: &'a [Value], kind: &str, text: &str) -> &'a Value {
    matches
        .iter()
        .find(|m| m["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} match in:\n{text}"))
}

/// `name = 0x...` from `::print` output.
fn printed(lines: &[String], name: &str) -> u64 {
    let l = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix(&format!("{name} = ")))
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"));
    hex(l.split_whitespace().next().unwrap())
}

/// `addr::whatis` on a sleeper's stack, its task_struct, its `mm` and `cred` (slab
/// objects), a kernel function and a module function. `cred_cache`: the name the kernel
/// gives the cred cache (`cred_jar` on 6.1, `cred` on 6.12), `None` to leave it unchecked.
fn check_whatis(kernel: KernelVersion, cred_cache: Option<&str>) {
    let guest = shared_guest(kernel);
    let truth = guest.truth();
    let sleeper = truth
        .tasks_named("qmdb-sleeper")
        .find(|t| t.has_frame("hrtimer_nanosleep"))
        .expect("no qmdb-sleeper in hrtimer_nanosleep in the truth");
    let pid = sleeper.tid;
    let recs = json_records(
        guest,
        &[
            "::walk thread | ::findstack",
            "::offsetof struct task_struct comm",
        ],
    );
    assert!(recs[0]["ok"] == true, "{}", recs[0]);
    let st = recs[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pid"] == pid)
        .unwrap_or_else(|| panic!("no findstack record of pid {pid}"))
        .clone();
    let task = hex(st["thread"].as_str().unwrap());
    let frames = st["frames"].as_array().unwrap();
    let i = frames
        .iter()
        .position(|f| f["symbol"] == "hrtimer_nanosleep")
        .unwrap_or_else(|| panic!("pid {pid}: no hrtimer_nanosleep frame: {st}"));
    let (sp, next_sp) = (
        hex(frames[i]["sp"].as_str().unwrap()),
        hex(frames[i + 1]["sp"].as_str().unwrap()),
    );
    assert!(sp < next_sp, "{st}");
    let in_frame = sp + (next_sp - sp) / 2;
    let comm_off = output(&recs[1])[0]
        .split_once("= ")
        .map(|(_, r)| hex(r.split(',').next().unwrap()))
        .unwrap();
    let recs = json_records(
        guest,
        &[&format!("{task:x}::print struct task_struct mm cred")],
    );
    let print = output(&recs[0]);
    let (mm, cred) = (printed(&print, "mm"), printed(&print, "cred"));
    let func = truth
        .symbol("hrtimer_nanosleep")
        .expect("hrtimer_nanosleep in the truth's kallsyms sample");
    let console = guest.console();
    let (mod_fn, mod_name) = module_text_symbol(&console, "qemu_fw_cfg", "fw_cfg_");

    let cmds = [
        format!("{in_frame:x}::whatis"),
        format!("{:x}::whatis", task + comm_off + 2),
        format!("{mm:x}::whatis"),
        format!("{:x}::whatis", cred + 8),
        format!("{:x}::whatis", func.addr + 0x10),
        format!("{:x}::whatis", mod_fn + 1),
        "1000::whatis".to_string(),
        format!("{mm:x}::vtop"),
        "::help whatis".to_string(),
    ];
    let recs = json_records(guest, &cmds.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(recs.len(), cmds.len(), "{recs:?}");

    // The stack: the task, the offset in its stack, the frame.
    let (m, text) = whatis_matches(&recs[0]);
    assert_eq!(m[0]["kind"], "stack", "{text}");
    assert_eq!(m[0]["pid"], pid, "{text}");
    assert_eq!(hex(m[0]["thread"].as_str().unwrap()), task, "{text}");
    assert_eq!(m[0]["frame"], i, "{text}");
    assert!(
        m[0]["function"]
            .as_str()
            .unwrap()
            .starts_with("hrtimer_nanosleep+"),
        "{text}"
    );
    let stack = hex(m[0]["stack"].as_str().unwrap());
    assert_eq!(m[0]["offset"], in_frame - stack, "{text}");
    assert!(
        text.contains(&format!("pid {pid} qmdb-sleeper"))
            && text.contains(&format!("frame #{i} hrtimer_nanosleep+")),
        "{text}"
    );

    // The task_struct: the task and its member comm; the task_struct slab object.
    let (m, text) = whatis_matches(&recs[1]);
    let t = find_kind(&m, "task", &text);
    assert_eq!(t["pid"], pid, "{text}");
    assert_eq!(t["member"], "comm", "{text}");
    assert_eq!(t["member_offset"], 2, "{text}");
    let s = find_kind(&m, "slab", &text);
    assert_eq!(s["cache"], "task_struct", "{text}");
    assert_eq!(hex(s["object"].as_str().unwrap()), task, "{text}");
    assert_eq!(s["offset"], comm_off + 2, "{text}");
    assert_eq!(s["state"], "allocated", "{text}");

    // mm and cred: slab objects of their caches; the direct map agrees with the page tables.
    let (m, text) = whatis_matches(&recs[2]);
    let s = find_kind(&m, "slab", &text);
    assert_eq!(s["cache"], "mm_struct", "{text}");
    assert_eq!(hex(s["object"].as_str().unwrap()), mm, "{text}");
    assert_eq!(s["state"], "allocated", "{text}");
    let pa = hex(find_kind(&m, "direct_map", &text)["pa"].as_str().unwrap());
    assert!(recs[7]["ok"] == true, "{}", recs[7]);
    assert_eq!(
        hex(recs[7]["data"][0]["pa"].as_str().unwrap()),
        pa,
        "{text}"
    );
    let (m, text) = whatis_matches(&recs[3]);
    let s = find_kind(&m, "slab", &text);
    if let Some(name) = cred_cache {
        assert_eq!(s["cache"], name, "{text}");
    }
    assert_eq!(hex(s["object"].as_str().unwrap()), cred, "{text}");
    assert_eq!(s["offset"], 8, "{text}");
    assert_eq!(s["state"], "allocated", "{text}");

    // A kernel function, by the guest's own kallsyms.
    let (m, text) = whatis_matches(&recs[4]);
    assert_eq!(m[0]["kind"], "symbol", "{text}");
    assert_eq!(m[0]["symbol"], "hrtimer_nanosleep", "{text}");
    assert_eq!(m[0]["offset"], 0x10, "{text}");
    assert_eq!(m[0]["section"], "text", "{text}");
    assert!(
        text.contains("is hrtimer_nanosleep+0x10, in kernel text"),
        "{text}"
    );

    // A module function.
    let (m, text) = whatis_matches(&recs[5]);
    assert_eq!(m[0]["kind"], "module", "{text}");
    assert_eq!(m[0]["module"], "qemu_fw_cfg", "{text}");
    assert_eq!(m[0]["symbol"], mod_name.as_str(), "{text}");
    assert_eq!(m[0]["offset"], 1, "{text}");
    assert!(
        text.contains(&format!("[qemu_fw_cfg] {mod_name}+0x1")),
        "{text}"
    );

    let (m, text) = whatis_matches(&recs[6]);
    assert_eq!(m[0]["kind"], "user", "{text}");
    assert!(
        output(&recs[8]).join("\n").contains("addr::whatis"),
        "{}",
        recs[8]
    );
}

/// Stopped in `hrtimer_interrupt` (the timer interrupt) while a CPU ran its idle task, the
/// kernel has switched to that CPU's hard IRQ stack (`call_on_irqstack`): `rsp` is on it,
/// in frame #0 of the idle task's backtrace.
fn check_whatis_irq_stack(kernel: KernelVersion) {
    let guest = shared_guest(kernel);
    let recs = json_records(
        guest,
        &[
            "hrtimer_interrupt::bp -t -p 0",
            // An idle CPU may see no timer for seconds (timers migrate to busy CPUs; the
            // soft-lockup watchdog's fires every 4 s), more so on a loaded host.
            "::cont -T 90",
            "<rsp::whatis",
        ],
    );
    assert_eq!(recs.len(), 3, "{recs:?}");
    let stop = &recs[1]["data"][0];
    assert_eq!(
        (&stop["stop"], &stop["pid"], &stop["mode"]),
        (&"breakpoint".into(), &0.into(), &"kernel".into()),
        "{stop}"
    );
    let (m, text) = whatis_matches(&recs[2]);
    let irq = find_kind(&m, "irq_stack", &text);
    assert_eq!(irq["cpu"], stop["cpu"], "{text}");
    assert_eq!(irq["frame"], 0, "{text}");
    assert_eq!(irq["function"], "hrtimer_interrupt", "{text}");
    assert_eq!(irq["pid"], 0, "{text}");
    assert!(text.contains("IRQ stack"), "{text}");
}

#[test]
fn whatis_irq_stack_6_1() {
    check_whatis_irq_stack(KernelVersion::V6_1);
}

#[test]
fn whatis_irq_stack_6_12() {
    check_whatis_irq_stack(KernelVersion::V6_12);
}

#[test]
fn whatis_irq_stack_newest() {
    check_whatis_irq_stack(KernelVersion::Newest);
}

#[test]
fn whatis_6_1() {
    check_whatis(KernelVersion::V6_1, Some("cred_jar"));
}

#[test]
fn whatis_6_12() {
    check_whatis(KernelVersion::V6_12, Some("cred"));
}

#[test]
fn whatis_newest() {
    // 7.2 merges the cred cache into another of the same size (`pid` on 7.2.13), whose
    // name the kernel and qmdb give.
    check_whatis(KernelVersion::Newest, None);
}

#[test]
fn msgbuf_matches_dmesg_6_1() {
    check_msgbuf(KernelVersion::V6_1);
}

#[test]
fn msgbuf_matches_dmesg_6_12() {
    check_msgbuf(KernelVersion::V6_12);
}

#[test]
fn msgbuf_matches_dmesg_newest() {
    check_msgbuf(KernelVersion::Newest);
}

#[test]
fn vtop_matches_qemu_6_1() {
    check_vtop(KernelVersion::V6_1);
}

#[test]
fn vtop_matches_qemu_6_12() {
    check_vtop(KernelVersion::V6_12);
}

#[test]
fn vtop_matches_qemu_newest() {
    check_vtop(KernelVersion::Newest);
}

/// 7.x keeps freed objects in per-CPU sheaves (no `kmem_cache_cpu` any more): the first
/// object of a CPU's main `task_struct` sheaf is free, and `::whatis` says where it is.
#[test]
fn whatis_free_in_a_sheaf_newest() {
    let guest = shared_guest(KernelVersion::Newest);
    let off = |member: &str| {
        let recs = json_records(guest, &[&format!("::offsetof slab_sheaf {member}")]);
        recs[0]["data"][0]["offset"]
            .as_u64()
            .unwrap_or_else(|| panic!("{}", recs[0]))
    };
    let (size, objects) = (off("size"), off("objects"));
    let mut checked = 0;
    for cpu in 0..guest.truth().nproc {
        // per_cpu(task_struct_cachep->cpu_sheaves, cpu)->main
        let main = format!("*(**task_struct_cachep + *(__per_cpu_offset+8*{cpu}) + 8)");
        let recs = json_records(
            guest,
            &[
                &format!("{main}+{size:#x}/X"),
                &format!("*({main}+{objects:#x})::whatis"),
            ],
        );
        let n = recs[0]["data"][0]["values"][0]
            .as_str()
            .map(|v| u64::from_str_radix(v, 16).unwrap())
            .unwrap_or_else(|| panic!("{}", recs[0]));
        if n == 0 {
            continue;
        }
        let (m, text) = whatis_matches(&recs[1]);
        let slab = find_kind(&m, "slab", &text);
        assert_eq!(slab["cache"], "task_struct", "{text}");
        assert_eq!(slab["state"], "free", "{text}");
        assert!(text.contains(&format!("in CPU {cpu}'s sheaf")), "{text}");
        checked += 1;
    }
    assert!(checked > 0, "every CPU's task_struct sheaf was empty");
}
