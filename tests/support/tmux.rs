//! A real terminal for the end-to-end tests of the UI and the line prompt: a tmux server
//! of the test's own, `send-keys` to type as a person would, `capture-pane` to see what
//! they would see.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A tmux server of its own (`tmux -L qmdb-test-<pid>-<name>`) running one window;
/// killed when dropped, also when the test fails.
pub struct Tmux {
    socket: String,
    /// The server's socket file, removed with it.
    socket_path: Option<String>,
}

impl Tmux {
    /// Starts `command` (a shell command line) in a new detached 120x40 session.
    pub fn start(name: &str, command: &str) -> Tmux {
        Tmux::start_sized(name, command, 120, 40)
    }

    /// Starts `command` in a new detached session of `width` x `height`.
    pub fn start_sized(name: &str, command: &str, width: u16, height: u16) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        if !version.is_ok_and(|o| o.status.success()) {
            panic!(
                "tmux is needed for the terminal tests and is not installed: run \
                 `scripts/guest setup` (it installs tmux with the guest fixture's tools)"
            );
        }
        let mut t = Tmux {
            socket: format!("qmdb-test-{}-{name}", std::process::id()),
            socket_path: None,
        };
        let (w, h) = (width.to_string(), height.to_string());
        t.tmux(&[
            "new-session",
            "-d",
            "-s",
            "qmdb",
            "-x",
            &w,
            "-y",
            &h,
            command,
        ]);
        let path = t.tmux(&["display-message", "-p", "#{socket_path}"]).stdout;
        t.socket_path = Some(String::from_utf8_lossy(&path).trim().to_string());
        t
    }

    pub fn tmux(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            // Not nested in the tmux the tests may run in.
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

    /// Presses keys, in tmux's names (`Enter`, `Tab`, `Escape`, `C-c`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "qmdb"];
        args.extend_from_slice(keys);
        self.tmux(&args);
        // One key at a time, as typed: the UI may redraw between them.
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "qmdb", "-l", text]);
        std::thread::sleep(Duration::from_millis(150));
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "qmdb"]).stdout)
            .into_owned()
    }

    /// Waits until the screen satisfies `ok`; fails showing the last screen.
    pub fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "no {what} after {timeout:?}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until `text` is on the screen.
    pub fn wait_text(&self, text: &str, timeout: Duration) -> String {
        self.wait_for(&format!("{text:?}"), timeout, |s| s.contains(text))
    }

    /// Moves the focus with Tab until the pane titled `title` has it (its border turns
    /// heavy). Typed letters go to the focused pane, and `q` in most panes quits: never type
    /// before this has succeeded.
    pub fn focus(&self, title: &str) {
        let focused = format!("┏ {title}");
        for _ in 0..8 {
            if self.screen().contains(&focused) {
                return;
            }
            self.keys(&["Tab"]);
        }
        self.wait_text(&focused, Duration::ZERO);
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
        if let Some(p) = self.socket_path.as_deref().filter(|p| !p.is_empty()) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Single-quotes `s` for `sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
