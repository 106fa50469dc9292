//! `::monitor` / `::qemu`: run a QEMU monitor (HMP) command through the stub.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::MonitorReply;
use crate::session::Session;
use crate::sink::Sink;

pub const MONITOR: DcmdDef = DcmdDef {
    name: "monitor",
    aliases: &["qemu"],
    usage: "command ...",
    description: "run a QEMU monitor command and print its output",
    help: "Passes the words, joined by spaces, to QEMU's human monitor (HMP) through
the stub (qRcmd), and prints what it answers: ::monitor info registers,
::qemu info mtree.

qmdb is read-only unless started with -w, so only commands that cannot
change the VM are passed: info, x, xp, print (p), gva2gpa, gpa2hva,
gpa2hpa, sum and help. Others (stop, cont, system_reset, quit...) are
refused.",
    run,
};

/// HMP commands that only read.
const READ_ONLY: &[&str] = &[
    "info", "i", "x", "xp", "print", "p", "gva2gpa", "gpa2hva", "gpa2hpa", "sum", "help", "?",
];

/// Whether an HMP command line only reads.
pub fn is_read_only(cmd: &str) -> bool {
    cmd.split_whitespace()
        .next()
        .map(|w| w.split('/').next().unwrap_or(w).to_ascii_lowercase())
        .is_some_and(|w| READ_ONLY.contains(&w.as_str()))
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.joined_args();
    if cmd.trim().is_empty() {
        return Err(inv.usage_error("missing monitor command"));
    }
    if !session.writable() && !is_read_only(&cmd) {
        let first = cmd.split_whitespace().next().unwrap_or("");
        return Err(DcmdError::Refused(format!(
            "monitor command '{first}' may change the VM, and qmdb is read-only \
             (see ::help monitor)"
        )));
    }
    let text = session.target_mut().monitor(&cmd)?;
    sink.record(MonitorReply {
        command: cmd,
        output: text,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reading_commands_pass() {
        assert!(is_read_only("info registers"));
        assert!(is_read_only("x/4gx 0xffffffff81000000"));
        assert!(is_read_only("XP /4x 0"));
        assert!(!is_read_only("quit"));
        assert!(!is_read_only("system_reset"));
        assert!(!is_read_only("cont"));
        assert!(!is_read_only(""));
    }
}
