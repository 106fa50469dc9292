//! End-to-end: the terminal UI in a real terminal. tmux runs `qmdb --target --kernel` on the
//! real guest; `send-keys` types commands and keys as a person would, and `capture-pane`
//! shows what they would see.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::tmux::{sh_quote, Tmux};
use support::{shared_guest_with, Guest, GuestOpts, KernelVersion};

/// How long to wait for anything on the screen but the thread walk.
const SCREEN_WAIT: Duration = Duration::from_secs(60);
/// `::walk thread | ::findstack -v` of every task, in a debug build over TCG.
const WALK_WAIT: Duration = Duration::from_secs(180);
/// What the wrapping shell prints when qmdb has exited.
const EXITED: &str = "qmdb exited with status";

/// The shell command that runs qmdb on `guest` with its state (history, log) in `state`,
/// then says how it exited and stays, so that the screen can still be read.
fn qmdb_command(guest: &Guest, state: &Path, extra: &[&str]) -> String {
    let mut words = vec![
        "env".to_string(),
        format!("XDG_STATE_HOME={}", sh_quote(&state.display().to_string())),
    ];
    // A test's own start-up file, if it wrote one; never the user's ~/.qmdbrc.
    let rc = state.join("qmdbrc");
    words.push(if rc.is_file() {
        format!("QMDB_RC={}", sh_quote(&rc.display().to_string()))
    } else {
        "QMDB_RC=".to_string()
    });
    words.extend([
        sh_quote(env!("CARGO_BIN_EXE_qmdb")),
        "--target".to_string(),
        sh_quote(&guest.gdb_addr()),
        "--kernel".to_string(),
        sh_quote(&guest.kernel_path().display().to_string()),
    ]);
    words.extend(extra.iter().map(|w| sh_quote(w)));
    format!("{}; echo \"{EXITED} $?\"; sleep 600", words.join(" "))
}

/// Waits (up to 15 s) until the VM runs: a test that failed before this one closed its
/// terminal, and its qmdb may still be detaching.
fn wait_running(guest: &Guest, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !vm_running(guest) {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Quits the UI from the output pane, resuming the guest as it was found: qmdb exits 0 and
/// the VM runs.
fn quit_resuming(t: &Tmux, guest: &Guest) {
    t.focus("Output");
    t.keys(&["q"]);
    t.wait_text("resume the guest and quit", SCREEN_WAIT);
    t.keys(&["r"]);
    let s = t.wait_text(EXITED, SCREEN_WAIT);
    assert!(s.contains(&format!("{EXITED} 0")), "{s}");
    assert!(vm_running(guest), "quitting left the VM stopped");
}

/// Whether the guest's VM runs (not only QEMU): quitting must leave it as it was found.
fn vm_running(guest: &Guest) -> bool {
    guest.monitor("info status").contains("VM status: running")
}

#[test]
fn attach_walk_threads_pick_one_and_quit() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_1));
    let truth = guest.truth();
    let sleeper = truth
        .tasks_named("qmdb-sleeper")
        .next()
        .expect("the workload's qmdb-sleeper");
    // (`/proc/PID/stack` leaves out `.sched.text` functions such as do_nanosleep.)
    assert!(
        sleeper.has_frame("hrtimer_nanosleep"),
        "{:?}",
        sleeper.frame_names()
    );
    let fifo = truth
        .tasks_named("qmdb-fifo")
        .next()
        .expect("the workload's qmdb-fifo");
    assert!(fifo.has_frame("pipe_read"), "{:?}", fifo.frame_names());

    let _attached = guest.attach_lock();
    wait_running(guest, "the guest must run before the test");
    let state = tempfile::tempdir().expect("temp dir");
    let t = Tmux::start("ui", &qmdb_command(guest, state.path(), &[]));

    // Attached: the status bar names the kernel.
    let s = t.wait_text(guest.release(), SCREEN_WAIT);
    let status_bar = s
        .lines()
        .find(|l| l.contains(guest.release()))
        .unwrap_or_default();
    assert!(status_bar.contains(&guest.gdb_addr()), "{s}");

    // Every task's stack, streamed into the output pane.
    t.type_text("::walk thread | ::findstack -v");
    t.keys(&["Enter"]);
    t.wait_for("the end of the thread walk", WALK_WAIT, |s| {
        s.contains("stack pointer for thread") && !s.contains("Ctrl-C cancels")
    });
    // The sleeper's stack is further up: search the output for it.
    t.focus("Output");
    t.type_text("/qmdb-sleeper");
    t.keys(&["Enter"]);
    t.wait_for("the sleeper's stack", SCREEN_WAIT, |s| {
        s.contains("qmdb-sleeper") && s.contains("do_nanosleep") && s.contains("hrtimer_nanosleep")
    });
    t.keys(&["Escape"]);
    // Clear the output, so that `qmdb-fifo` on the screen comes from the threads pane.
    t.keys(&["C-l"]);
    t.wait_for("an empty output pane", SCREEN_WAIT, |s| {
        !s.contains("qmdb-fifo")
    });

    // The threads pane: filter by name as you type, Enter shows the thread's stack.
    t.focus("Threads");
    t.type_text("qmdb-fifo");
    t.wait_text("qmdb-fifo", SCREEN_WAIT);
    t.keys(&["Enter"]);
    let s = t.wait_text("pipe_read", SCREEN_WAIT);
    assert!(
        s.contains(&format!("({} qmdb-fifo)", fifo.tid)),
        "no findstack header for the fifo reader:\n{s}"
    );

    // Quit with `q` from a pane; the guest was running at attach, so resume it if asked.
    t.keys(&["Escape"]);
    t.focus("Output");
    t.keys(&["q"]);
    let s = t.wait_for("the quit dialog or qmdb's exit", SCREEN_WAIT, |s| {
        s.contains(EXITED) || s.contains("resume the guest and quit")
    });
    if !s.contains(EXITED) {
        t.keys(&["r"]);
    }
    let s = t.wait_text(EXITED, SCREEN_WAIT);
    assert!(s.contains(&format!("{EXITED} 0")), "{s}");
    assert!(guest.is_alive(), "QEMU died");
    assert!(vm_running(guest), "quitting left the VM stopped");

    // The history was kept where --help says.
    let history = std::fs::read_to_string(state.path().join("qmdb").join("history"))
        .expect("the UI's history file");
    assert!(
        history.contains("::walk thread | ::findstack -v"),
        "{history}"
    );
}

#[test]
fn no_tui_gives_the_plain_prompt() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_1));
    let _attached = guest.attach_lock();
    let state = tempfile::tempdir().expect("temp dir");
    let t = Tmux::start("plain", &qmdb_command(guest, state.path(), &["--no-tui"]));
    t.wait_for("the prompt", SCREEN_WAIT, |s| {
        s.lines().any(|l| l.trim_end() == ">")
    });
    t.type_text("::status");
    t.keys(&["Enter"]);
    let s = t.wait_text("kaslr slide:", SCREEN_WAIT);
    assert!(s.contains(guest.release()), "{s}");
    assert!(!s.contains("F1 keys"), "the UI opened:\n{s}");
    t.type_text("$q");
    t.keys(&["Enter"]);
    let s = t.wait_text(EXITED, SCREEN_WAIT);
    assert!(s.contains(&format!("{EXITED} 0")), "{s}");
    assert!(vm_running(guest), "quitting left the VM stopped");
}

/// The terminal goes away (SIGHUP): qmdb detaches, leaving the VM running as it found it,
/// instead of dying attached or spinning on the dead terminal.
#[test]
fn closing_the_terminal_detaches() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_1));
    let _attached = guest.attach_lock();
    wait_running(guest, "the guest must run before the test");
    let state = tempfile::tempdir().expect("temp dir");
    let t = Tmux::start("hangup", &qmdb_command(guest, state.path(), &[]));
    t.wait_text(guest.release(), SCREEN_WAIT);
    assert!(!vm_running(guest), "attached, yet the VM runs");
    drop(t);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !vm_running(guest) {
        assert!(
            std::time::Instant::now() < deadline,
            "the VM was left stopped after the terminal closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Execution control in the UI: a breakpoint set from the command line, F5 runs the guest
/// until it hits (the stop reported as in script mode, the panes showing the vCPU and task
/// that stopped), then with the breakpoint gone, Ctrl-C halts the running guest.
#[test]
fn breakpoint_continue_and_ctrl_c() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_1));
    let napper = guest
        .truth()
        .tasks_named("qmdb-napper")
        .next()
        .expect("the workload's qmdb-napper")
        .pid;
    let _attached = guest.attach_lock();
    wait_running(guest, "the guest must run before the test");
    let state = tempfile::tempdir().expect("temp dir");
    let t = Tmux::start("events", &qmdb_command(guest, state.path(), &[]));
    t.wait_text(guest.release(), SCREEN_WAIT);

    t.type_text("hrtimer_nanosleep::bp -p qmdb-napper");
    t.keys(&["Enter"]);
    t.wait_text("breakpoint 1 at hrtimer_nanosleep", SCREEN_WAIT);
    t.keys(&["F5"]);
    // The napper sleeps every second: the breakpoint is hit with it current.
    let s = t.wait_for("the breakpoint's stop", SCREEN_WAIT, |s| {
        s.contains("stopped: breakpoint 1 (hrtimer_nanosleep), hit 1, vCPU")
            && s.contains(&format!("task {napper} qmdb-napper"))
            && s.contains("■ stopped (SIGTRAP on vCPU")
    });
    assert!(s.contains("> :c"), "F5 did not run :c:\n{s}");
    assert!(
        s.contains("hrtimer_nanosleep:"),
        "no instruction line:\n{s}"
    );
    // The status bar, the stack pane and the stop report name the same vCPU.
    let vcpu = s
        .split("■ stopped (SIGTRAP on vCPU ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .expect("the stopped vCPU in the status bar")
        .to_string();
    assert!(s.contains(&format!("Stack · vCPU {vcpu}")), "{s}");
    assert!(
        s.contains(&format!("hit 1, vCPU {vcpu} ")),
        "the report names another vCPU:\n{s}"
    );

    // Without the breakpoint the guest runs until Ctrl-C, which halts and reports.
    t.type_text("::delete 1");
    t.keys(&["Enter"]);
    t.wait_text("deleted event 1", SCREEN_WAIT);
    t.keys(&["F5"]);
    t.wait_text("▶ running", SCREEN_WAIT);
    assert!(
        vm_running(guest),
        "the status bar says running, the VM does not"
    );
    t.keys(&["C-c"]);
    let s = t.wait_for("the Ctrl-C stop", SCREEN_WAIT, |s| {
        s.contains("stopped: interrupted, vCPU") && s.contains("■ stopped (SIGINT on vCPU")
    });
    assert!(!vm_running(guest), "Ctrl-C did not halt the VM:\n{s}");

    quit_resuming(&t, guest);
}

/// mdb's habits in the UI (issue 16): a blank line repeats the last command (`addr/X`
/// walks on to the next word), the registers pane names what rip points into, the memory
/// pane shows init_task's comm ("swapper/0") in hex and ASCII, the events pane lists a
/// breakpoint, and `y` copies an output block with OSC 52 (tmux keeps it as a buffer).
#[test]
fn blank_line_registers_memory_events_and_copy() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_1));
    // The truth: script mode's view of the same words, and where comm is.
    let recs = guest.json_records(&["::offsetof struct task_struct comm"]);
    let comm = &recs[0]["data"][0]["offset"];
    let comm = comm
        .as_u64()
        .or_else(|| comm.as_str().map(support::hex))
        .unwrap_or_else(|| panic!("no offset in {}", recs[0]));
    let script = guest.qmdb_ok(&["-e", "init_task/X", "-e", "init_task+4/X"]);
    let word_line = |label: &str| {
        script
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line in:\n{script}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let second = word_line("init_task+0x4:");

    let _attached = guest.attach_lock();
    wait_running(guest, "the guest must run before the test");
    let state = tempfile::tempdir().expect("temp dir");
    // A start-up file: its variable is set before the first typed command, and its
    // failing line is named by FILE:LINE.
    std::fs::write(
        state.path().join("qmdbrc"),
        "// set by the rc file\n0t4242>rcvalue\n::nosuchdcmd\n",
    )
    .expect("write qmdbrc");
    let t = Tmux::start_sized("habits", &qmdb_command(guest, state.path(), &[]), 200, 50);
    // Applications may set tmux's clipboard (a paste buffer) with OSC 52.
    t.tmux(&["set-option", "-s", "set-clipboard", "on"]);
    t.wait_text(guest.release(), SCREEN_WAIT);

    // The registers pane: rip with the symbol the disassembly pane is centred on. A vCPU
    // stopped in user mode (qmdb-busy spins there) has no kernel symbol: then the other
    // vCPU is selected (only one task spins in user mode, so one of the two is in the
    // kernel).
    // Named, and the same function the disassembly pane shows (the panes refresh one after
    // the other: wait until both show the same stop).
    let rip_named = |s: &str| {
        let func = s
            .split("Disassembly · ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|sym| sym.split('+').next())
            .filter(|f| !f.is_empty() && !f.chars().all(|c| c.is_ascii_hexdigit()));
        func.is_some_and(|f| {
            s.lines()
                .any(|l| l.contains(" rip ") && l.contains("+0x") && l.contains(f))
        })
    };
    let s = t.wait_for("rip in the registers pane", SCREEN_WAIT, |s| {
        s.contains("Disassembly · ") && s.lines().any(|l| l.contains(" rip "))
    });
    let s = if rip_named(&s) {
        s
    } else {
        // Give a vCPU in user mode, or panes caught mid-refresh, a moment; then try the
        // other vCPU.
        std::thread::sleep(Duration::from_secs(2));
        if rip_named(&t.screen()) {
            t.screen()
        } else {
            t.type_text("::cpu 1");
            t.keys(&["Enter"]);
            t.wait_for("rip's symbol on vCPU 1", SCREEN_WAIT, |s| {
                s.contains("vCPU 1 of 2") && rip_named(s)
            })
        }
    };
    // rsp points into the kernel stack: one level of dereference.
    assert!(
        s.lines().any(|l| l.contains(" rsp ") && l.contains("→ ")),
        "no dereference of rsp:\n{s}"
    );

    // ~/.qmdbrc ran after the attach: its failing line 3 is named, and its variable is set.
    t.wait_text("qmdbrc:3: this command failed", SCREEN_WAIT);
    t.type_text("<rcvalue=D");
    t.keys(&["Enter"]);
    // (The rc line's own echo holds "0t4242": the value is a line by itself.)
    t.wait_for("the rc file's variable", SCREEN_WAIT, |s| {
        s.lines().any(|l| l.split('│').any(|c| c.trim() == "4242"))
    });

    // A blank line repeats `init_task/X`, showing the next word.
    t.type_text("init_task/X");
    t.keys(&["Enter"]);
    t.wait_text("init_task:", SCREEN_WAIT);
    t.keys(&["Enter"]);
    let s = t.wait_text("init_task+0x4:", SCREEN_WAIT);
    let shown = s
        .lines()
        .find_map(|l| {
            l.split('│')
                .find(|c| c.trim_start().starts_with("init_task+0x4:"))
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    assert_eq!(
        shown, second,
        "the repeat shows another word than script mode:\n{s}"
    );

    // `y` in the output pane copies the block at its bottom (the repeat's output).
    t.focus("Output");
    t.keys(&["y"]);
    t.wait_text("copied 1 line to the clipboard", SCREEN_WAIT);
    let buffer = String::from_utf8_lossy(&t.tmux(&["show-buffer"]).stdout).into_owned();
    assert_eq!(
        buffer.split_whitespace().collect::<Vec<_>>().join(" "),
        second,
        "tmux's buffer from OSC 52"
    );
    t.keys(&["Escape"]);

    // The memory pane at init_task's comm: "swapper/0" in hex and ASCII.
    t.type_text(&format!(":mem init_task+{comm:#x}"));
    t.keys(&["Enter"]);
    let s = t.wait_text("73 77 61 70 70 65 72 2f 30", SCREEN_WAIT);
    assert!(
        s.lines()
            .any(|l| l.contains("73 77 61 70 70 65 72 2f 30") && l.contains("swapper/0")),
        "no ASCII beside the bytes:\n{s}"
    );
    assert!(
        s.contains(&format!("Memory · init_task+{comm:#x} = ")),
        "{s}"
    );

    // The events pane shows itself with the first breakpoint.
    t.type_text("hrtimer_nanosleep::bp");
    t.keys(&["Enter"]);
    let s = t.wait_text("Events · 1", SCREEN_WAIT);
    // The row under the pane's title (the output pane shares the screen's lines, so
    // only the part right of the title's column counts).
    let lines: Vec<&str> = s.lines().collect();
    let (row, col) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| l.find("Events · 1").map(|c| (i, c)))
        .expect("the events pane's title");
    let first = lines
        .get(row + 1)
        .map(|l| l.get(col.saturating_sub(4)..).unwrap_or(l))
        .unwrap_or_default();
    assert!(
        first.contains("bp") && first.contains("hrtimer_nanosleep"),
        "the events pane's first row is {first:?}:\n{s}"
    );
    t.type_text("::delete 1");
    t.keys(&["Enter"]);
    t.wait_text("Events · 0", SCREEN_WAIT);

    quit_resuming(&t, guest);
}

/// Waits until the screen's last non-empty line is the bare `> ` prompt.
fn wait_prompt(t: &Tmux) -> String {
    t.wait_for("prompt", SCREEN_WAIT, |s| last_line(s) == ">")
}

/// The screen's last non-empty line.
fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_end()
}

/// The shell command running `qmdb --no-tui` on `guest` with its history under `state` and
/// no rc file, then saying how it exited.
fn prompt_command(guest: &Guest, state: &Path) -> String {
    format!(
        "env XDG_STATE_HOME={} HOME={} QMDB_RC= {} --target {} --kernel {} --no-tui; \
         echo \"{EXITED} $?\"; stty -a | grep -o -- '-\\?icanon'; sleep 600",
        sh_quote(&state.display().to_string()),
        sh_quote(&state.display().to_string()),
        sh_quote(env!("CARGO_BIN_EXE_qmdb")),
        sh_quote(&guest.gdb_addr()),
        sh_quote(&guest.kernel_path().display().to_string()),
    )
}

/// The screen lines that start with `label:` (a display's lines).
fn lines_of<'a>(screen: &'a str, label: &str) -> Vec<&'a str> {
    screen
        .lines()
        .filter(|l| l.trim_start().starts_with(label))
        .collect()
}

/// The `--no-tui` prompt (rustyline): a blank line repeats, Up recalls, Ctrl-C gives a
/// fresh prompt, Tab completes, the history is the UI's file, and SIGTERM detaches with the
/// terminal cooked again.
#[test]
fn prompt_repeats_recalls_completes_and_detaches_on_sigterm() {
    let guest = shared_guest_with(GuestOpts::new(KernelVersion::V6_1));
    // What script mode shows for the second word of init_task (a flag word that stays the
    // same while the guest runs its idle workload).
    let expected = guest.qmdb_ok(&["-e", "init_task+4/X"]);
    let expected_second = expected
        .split_whitespace()
        .last()
        .unwrap_or_else(|| panic!("a word: {expected}"))
        .to_string();
    let _attached = guest.attach_lock();
    let state = tempfile::tempdir().unwrap();
    let t = Tmux::start("prompt", &prompt_command(guest, state.path()));
    wait_prompt(&t);

    // `init_task/X`, then an empty line: the next word, labelled init_task+0x4.
    t.type_text("init_task/X");
    t.keys(&["Enter"]);
    t.wait_for("init_task/X's output", SCREEN_WAIT, |s| {
        !lines_of(s, "init_task:").is_empty() && last_line(s) == ">"
    });
    t.keys(&["Enter"]);
    let s = t.wait_for("the repeat's output", SCREEN_WAIT, |s| {
        !lines_of(s, "init_task+0x4:").is_empty() && last_line(s) == ">"
    });
    let second = lines_of(&s, "init_task+0x4:");
    assert!(
        second[0].split_whitespace().nth(1) == Some(expected_second.as_str()),
        "the repeat shows the next word ({expected_second}, as `init_task+4/X` in a \
         script):\n{s}"
    );

    // Up recalls the last command typed (the repeat is not a new history entry).
    t.keys(&["Up"]);
    t.wait_for("the recalled line", SCREEN_WAIT, |s| {
        last_line(s) == "> init_task/X"
    });
    t.keys(&["C-u"]);

    // Ctrl-C: a fresh prompt, the line typed so far dropped.
    t.type_text("::sta");
    t.keys(&["C-c"]);
    wait_prompt(&t);

    // Tab completes a dcmd name (`::stat` is `::status` only).
    t.type_text("::stat");
    t.keys(&["Tab"]);
    t.wait_for("the completed name", SCREEN_WAIT, |s| {
        last_line(s) == "> ::status"
    });
    t.keys(&["Enter"]);
    t.wait_for("::status's output", SCREEN_WAIT, |s| {
        s.contains("target") && last_line(s) == ">"
    });

    // The history is the terminal UI's file, one command a line.
    let history =
        std::fs::read_to_string(state.path().join("qmdb").join("history")).unwrap_or_default();
    assert_eq!(
        history.lines().collect::<Vec<_>>(),
        vec!["init_task/X", "::status"],
        "{history}"
    );

    // SIGTERM at the prompt (the editor holds the terminal in raw mode): qmdb detaches and
    // the terminal is cooked again.
    // qmdb is the only child of the pane's shell until it exits.
    let shell = t
        .tmux(&["list-panes", "-t", "qmdb", "-F", "#{pane_pid}"])
        .stdout;
    let shell = String::from_utf8_lossy(&shell).trim().to_string();
    let pid = Command::new("pgrep")
        .args(["-P", &shell])
        .output()
        .expect("pgrep");
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    assert!(
        !pid.is_empty() && !pid.contains('\n'),
        "qmdb's pid: {pid:?}"
    );
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let s = t.wait_for("qmdb's exit", SCREEN_WAIT, |s| s.contains(EXITED));
    assert!(s.contains("interrupted; detached from"), "{s}");
    assert!(s.contains(&format!("{EXITED} 1")), "{s}");
    let s = t.wait_for("stty's answer", SCREEN_WAIT, |s| {
        s.split(EXITED).nth(1).is_some_and(|a| a.contains("icanon"))
    });
    let after = s.split(EXITED).nth(1).unwrap_or("");
    assert!(
        !after.contains("-icanon"),
        "the terminal is left in raw mode:\n{s}"
    );
    // The guest runs on after the detach.
    assert!(guest.napper_progresses(2, Duration::from_secs(30)));
}
