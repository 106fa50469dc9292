//! mdb's shell pipe, `cmd ! shell-command`: the text output of a command goes to
//! `sh -c shell-command` on its standard input, and what the shell prints (standard output
//! and standard error, in the order written) comes back as lines of the command's output,
//! so it shows in the TUI as it does on a terminal.
//!
//! Only text has a meaning for a shell: with structured output (`--json`) the pipe is
//! refused, and a session can refuse shell commands altogether
//! ([`crate::Session::set_shell_allowed`]).

use crate::error::DcmdError;
use crate::output::Output;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The longest line of shell output kept whole; longer ones are split, so a shell printing
/// without newlines cannot fill memory.
const MAX_LINE: usize = 64 * 1024;

/// An [`Output`] that keeps a command's text lines for the shell and passes its warnings and
/// errors on to the session's output.
pub(crate) struct ShellFeed<'a> {
    out: &'a mut dyn Output,
    text: String,
}

impl<'a> ShellFeed<'a> {
    pub(crate) fn new(out: &'a mut dyn Output) -> ShellFeed<'a> {
        ShellFeed {
            out,
            text: String::new(),
        }
    }

    /// The text collected, a newline after every line.
    pub(crate) fn into_text(self) -> String {
        self.text
    }
}

impl Output for ShellFeed<'_> {
    fn begin(&mut self, _command: &str) {}

    fn line(&mut self, text: &str) {
        self.text.push_str(text);
        self.text.push('\n');
    }

    fn warning(&mut self, message: &str) {
        self.out.warning(message);
    }

    fn error(&mut self, message: &str) {
        self.out.error(message);
    }

    fn data(&mut self, _value: Value) {}

    fn end(&mut self) {}

    fn is_closed(&self) -> bool {
        self.out.is_closed()
    }

    fn guest_resumed(&mut self) {
        self.out.guest_resumed();
    }
}

/// How often a running shell command looks at the interrupt flag.
const POLL: Duration = Duration::from_millis(100);

/// Runs `sh -c command` with `input` on its standard input, each line it prints going to
/// `out`. `Ok(false)` when the shell could not run the command (status 126 or 127) or was
/// killed by a signal; other exit statuses are the shell command's business (`grep` finding
/// nothing is not an error). When `interrupt` is raised (Ctrl-C, the TUI's interrupt) the
/// shell is killed and the command ends as interrupted.
pub(crate) fn pipe_to_shell(
    command: &str,
    input: String,
    out: &mut dyn Output,
    interrupt: &AtomicBool,
) -> Result<bool, DcmdError> {
    let fail = |what: &str, e: std::io::Error| DcmdError::usage("!", format!("{what}: {e}"));
    let (reader, writer) = std::io::pipe().map_err(|e| fail("cannot make a pipe", e))?;
    let writer2 = writer
        .try_clone()
        .map_err(|e| fail("cannot make a pipe", e))?;
    let mut cmd = Command::new("sh");
    // Its own process group, so that an interrupt ends what it started too (`sleep` in
    // `! sleep 9`); qmdb turns Ctrl-C into the interrupt flag.
    cmd.process_group(0);
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(writer2);
    let mut child = cmd.spawn().map_err(|e| fail("cannot run sh", e))?;
    // The parent's ends of the output pipe must close, or reading never ends.
    drop(cmd);
    let stdin = child.stdin.take();
    std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            // A shell command that does not read its input (or stops early) closes the
            // pipe: not an error.
            let _ = stdin.write_all(input.as_bytes());
        }
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(reader);
        loop {
            let mut buf = Vec::new();
            match Read::take(&mut lines, MAX_LINE as u64).read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    loop {
        match rx.recv_timeout(POLL) {
            Ok(line) => {
                if !out.is_closed() {
                    out.line(&line);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if interrupt.load(Ordering::Relaxed) {
                    if let Ok(pid) = i32::try_from(child.id()) {
                        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(DcmdError::Interrupted);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().map_err(|e| fail("waiting for sh", e))?;
    match status.code() {
        Some(126 | 127) => {
            out.error(&format!("!: sh could not run {command:?} ({status})"));
            Ok(false)
        }
        Some(_) => Ok(true),
        None => {
            out.error(&format!("!: {command:?} ended: {status}"));
            Ok(false)
        }
    }
}
