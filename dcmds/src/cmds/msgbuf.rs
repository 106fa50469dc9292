//! `::msgbuf`: the kernel log, from the printk ring buffer.

use crate::args::{getopts, number};
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::LogEntry;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_linux::printk;

pub const MSGBUF: DcmdDef = DcmdDef {
    name: "msgbuf",
    aliases: &["dmesg"],
    usage: "[-n lines]",
    description: "print the kernel log (printk ring buffer)",
    help: "Prints the kernel log from the lockless printk ring buffer (Linux 5.10+),
as the guest's dmesg prints it:
  [    0.000000] Linux version 6.1.0-...
Records still being written or recycled are left out; corrupt ones are
skipped with a warning.

  -n N   only the last N lines (N in mdb's radix: hex, 0t20 is twenty)

With --json, one object per record: {\"seq\",\"ts_nsec\",\"level\",
\"facility\",\"text\"}.",
    run,
};

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "n:")?;
    if !opts.rest.is_empty() {
        return Err(inv.usage_error("unexpected arguments"));
    }
    let last = opts.value('n').map(|v| number(&cmd, v)).transpose()?;
    let btf = crate::cmds::print::kernel_types(session, &cmd)?;
    let log = printk::read_log(session, &btf, &cmd)?;
    for p in &log.problems {
        sink.warn(&format!("{cmd}: {p}"));
    }
    let per_record: Vec<Vec<String>> = log.records.iter().map(|r| r.dmesg_lines()).collect();
    let total: usize = per_record.iter().map(Vec::len).sum();
    // Lines to leave out before the first shown, counted across records.
    let mut skip = last.map_or(0, |n| {
        total.saturating_sub(usize::try_from(n).unwrap_or(usize::MAX))
    });
    for (r, lines) in log.records.iter().zip(per_record) {
        if skip >= lines.len() {
            skip -= lines.len();
            continue;
        }
        sink.check_open()?;
        let shown = lines.into_iter().skip(skip).collect();
        skip = 0;
        sink.record(LogEntry {
            seq: r.seq,
            ts_nsec: r.ts_nsec,
            level: r.level,
            facility: r.facility,
            text: r.text.clone(),
            lines: shown,
        });
    }
    Ok(())
}
