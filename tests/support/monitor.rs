//! A tiny client for QEMU's human monitor (HMP) on the guest's
//! `monitor.sock`: an independent witness of guest state (`info registers`,
//! `x/4gx ADDR`, `info version`), next to what qmdb reads through the gdbstub.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

const PROMPT: &str = "(qemu) ";

/// Runs one HMP command and returns its output (without the echoed command
/// line, the prompt, carriage returns or terminal escape sequences).
pub fn hmp(socket: &Path, command: &str, timeout: Duration) -> std::io::Result<String> {
    let mut s = UnixStream::connect(socket)?;
    let deadline = Instant::now() + timeout;
    read_until_prompt(&mut s, deadline)?;
    s.write_all(command.as_bytes())?;
    s.write_all(b"\n")?;
    let raw = read_until_prompt(&mut s, deadline)?;
    let text = clean(&raw);
    // The first line is the monitor's echo of what we typed.
    let body = match text.find('\n') {
        Some(i) if text[..i].trim_end().ends_with(command.trim()) => &text[i + 1..],
        _ => &text[..],
    };
    Ok(body.to_string())
}

fn read_until_prompt(s: &mut UnixStream, deadline: Instant) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(rest) = buf.strip_suffix(PROMPT.as_bytes()) {
            return Ok(String::from_utf8_lossy(rest).into_owned());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no HMP prompt; got {:?}",
                    String::from_utf8_lossy(&buf)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ),
            ));
        }
        s.set_read_timeout(Some(left))?;
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "HMP socket closed",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Drops `\r` and ANSI escape sequences (HMP's readline redraws the line).
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // parameters, then one final byte in @..~
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}
