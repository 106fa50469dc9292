//! End-to-end: the `> ` prompt of `--no-tui` in a real terminal (tmux) on the real 6.1 guest:
//! an empty line repeats the last command (a display shows the next units), Up recalls the
//! history (kept in the terminal UI's file), Tab completes dcmd names, Ctrl-C gives a fresh
//! prompt, and SIGTERM at the prompt detaches, leaving the terminal sane.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::{shared_guest_with, Guest, GuestOpts, KernelVersion};

/// How long to wait for anything on the screen.
const SCREEN_WAIT: Duration = Duration::from_secs(90);
/// What the wrapping shell prints when qmdb has exited.
const EXITED: &str = "qmdb exited with status";

/// A tmux server of its own running one 120x40 window; killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, command: &str) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "tmux is needed for the line prompt test: run `scripts/guest setup`"
        );
        let t = Tmux {
            socket: format!("qmdb-prompt-{}-{name}", std::process::id()),
        };
        t.tmux(&[
            "new-session",
            "-d",
            "-s",
            "qmdb",
            "-x",
            "120",
            "-y",
            "40",
            command,
        ]);
        t
    }

    fn tmux(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .env_remove("TMUX")
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "qmdb"];
        args.extend_from_slice(keys);
        self.tmux(&args);
        std::thread::sleep(Duration::from_millis(200));
    }

    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "qmdb", "-l", text]);
        std::thread::sleep(Duration::from_millis(200));
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "qmdb"]).stdout)
            .into_owned()
    }

    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                start.elapsed() < SCREEN_WAIT,
                "no {what} after {SCREEN_WAIT:?}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the screen's last non-empty line is the bare prompt.
    fn wait_prompt(&self) -> String {
        self.wait_for("prompt", |s| last_line(s) == ">")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .env_remove("TMUX")
            .arg("kill-server")
            .output();
    }
}

fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim_end()
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
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
    t.wait_prompt();

    // `init_task/X`, then an empty line: the next word, labelled init_task+0x4.
    t.type_text("init_task/X");
    t.keys(&["Enter"]);
    t.wait_for("init_task/X's output", |s| {
        !lines_of(s, "init_task:").is_empty() && last_line(s) == ">"
    });
    t.keys(&["Enter"]);
    let s = t.wait_for("the repeat's output", |s| {
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
    t.wait_for("the recalled line", |s| last_line(s) == "> init_task/X");
    t.keys(&["C-u"]);

    // Ctrl-C: a fresh prompt, the line typed so far dropped.
    t.type_text("::sta");
    t.keys(&["C-c"]);
    t.wait_prompt();

    // Tab completes a dcmd name (`::stat` is `::status` only).
    t.type_text("::stat");
    t.keys(&["Tab"]);
    t.wait_for("the completed name", |s| last_line(s) == "> ::status");
    t.keys(&["Enter"]);
    t.wait_for("::status's output", |s| {
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
    let s = t.wait_for("qmdb's exit", |s| s.contains(EXITED));
    assert!(s.contains("interrupted; detached from"), "{s}");
    assert!(s.contains(&format!("{EXITED} 1")), "{s}");
    let s = t.wait_for("stty's answer", |s| {
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
