//! `addr::bp` / `addr:b` (breakpoints) and `addr::wp` (hardware watchpoints).

use crate::args::{getopts, number, Opts};
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::events::event::WATCH_SIZES;
use crate::events::{EventKind, EventOptions, TaskFilter, WatchMode};
use crate::lang::{eval, parse_line, Verb};
use crate::records::NewEvent;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;

pub const BP: DcmdDef = DcmdDef {
    name: "bp",
    aliases: &[":b"],
    usage: "?[-dDtT] [-c cmd] [-n N] [-p task] [sym...]",
    description: "set a breakpoint",
    help: "  addr::bp [opts]     a breakpoint at addr (addr:b is the same)
  ::bp [opts] sym ... one at each symbol or expression (schedule+0x10)

QEMU plants it (Z0): nothing is written to guest memory. The guest stops
before the instruction at the address runs, on any vCPU; ::cont reports it.
Options, with mdb's ::evset meanings where mdb has them:
  -c 'cmds'  run the dcmds at each hit, as if typed (dot is the pc, the
             variable 'hits' the hit count; a dcmd that needs an address
             and has none gets the task current on the stopping CPU, so
             ::findstack -v and ::task work). A continue dcmd in them (:c,
             ::cont, :s, ::step) does not run the guest at once: it says to
             go on once the callbacks are done, so put it last:
             -c '::findstack -v; :c' prints a stack at each hit and goes on.
  -n N       the hit limit (mdb radix: hex unless 0t): at N hits the event
             is disabled (deleted with -D). mdb needs -d with -n; in qmdb
             -n alone disables.
  -d         disable at the hit limit (1 without -n)
  -D         delete at the hit limit (1 without -n)
  -t         temporary: deleted the next time the guest stops, whatever
             stops it
  -T         sticky: ::delete all leaves it
  -p task    qmdb's own: stop only when the task current on the stopping
             CPU has this pid (decimal) or comm; for any other task the
             guest goes on silently and the hit is not counted. Needs a
             kernel.
Prints 'breakpoint ID at SYMBOL (ADDR)'. See ::events, ::delete, ::cont.
With --json: the ::events record of each new event.",
    run: run_bp,
};

pub const WP: DcmdDef = DcmdDef {
    name: "wp",
    aliases: &[],
    usage: ":-r|-w|-rw [-L size] [-dDtT] [-c cmd] [-n N] [-p pid]",
    description: "set a watchpoint",
    help: "  addr::wp -w [-L size]   stop after a write to [addr, addr+size)
  addr::wp -r             after a read
  addr::wp -rw            after any access

QEMU plants it (Z2, Z3, Z4; under TCG): nothing is written to guest
memory. size is 1, 2, 4 or 8 (decimal; 8 if not given) and addr must be
aligned to it. The guest stops after the accessing instruction, so the pc
reported is the next one; the stop names the address accessed. The other
options are those of ::bp (-c, -n, -d, -D, -t, -T, -p).
Prints 'watchpoint ID at SYMBOL (ADDR), write, 8 bytes'.",
    run: run_wp,
};

const COMMON_OPTS: &str = "dDtTc:n:p:";

/// The `::evset`-style options shared by `::bp` and `::wp`.
fn event_options(session: &Session, cmd: &str, opts: &Opts<'_>) -> Result<EventOptions, DcmdError> {
    let limit = opts.value('n').map(|n| number(cmd, n)).transpose()?;
    if limit == Some(0) {
        return Err(DcmdError::usage(cmd, "-n needs a count of at least 1"));
    }
    let task = opts.value('p').map(TaskFilter::parse);
    if task.is_some() && session.kernel().is_none() {
        return Err(DcmdError::usage(
            cmd,
            format!(
                "-p needs the kernel to find the current task: {}",
                session.kernel_missing()
            ),
        ));
    }
    if opts.flag('d') && opts.flag('D') {
        return Err(DcmdError::usage(cmd, "-d and -D exclude each other"));
    }
    Ok(EventOptions {
        commands: opts.value('c').map(str::to_string),
        limit,
        disable: opts.flag('d'),
        delete: opts.flag('D'),
        temporary: opts.flag('t'),
        sticky: opts.flag('T'),
        task,
    })
}

/// An operand of `::bp`: a symbol or an expression.
fn operand(session: &mut Session, cmd: &str, text: &str) -> Result<VirtAddr, DcmdError> {
    let mut cmds = parse_line(text);
    let expr = match (cmds.len(), cmds.pop()) {
        (1, Some(c)) => match c.stages {
            Ok(mut stages) if stages.len() == 1 => {
                let stage = stages.remove(0);
                match (stage.addr, stage.verb, stage.count) {
                    (Some(e), Verb::None, None) => Some(e),
                    _ => None,
                }
            }
            Ok(_) => None,
            Err(e) => return Err(e),
        },
        _ => None,
    };
    let expr = expr
        .ok_or_else(|| DcmdError::usage(cmd, format!("{text:?} is not a symbol or an address")))?;
    Ok(VirtAddr(eval(&expr, session)?))
}

/// Adds the event and plants it; one that cannot be planted is taken out again.
fn create(
    session: &mut Session,
    sink: &mut Sink<'_>,
    kind: EventKind,
    addr: VirtAddr,
    opts: EventOptions,
) -> Result<(), DcmdError> {
    let what = session.symbolize(addr);
    let id = session.events_mut().add(kind, addr, what.clone(), opts)?;
    let (table, target) = session.events_and_target();
    if let Err(e) = table.sync(target) {
        if table.get(id).is_some_and(|e| !e.enabled) {
            let _ = table.delete(target, id);
            return Err(e);
        }
        sink.warn(&e.to_string());
    }
    match session.events().get(id) {
        Some(e) => sink.record(NewEvent(e.info())),
        // Not reached: the event stays in the table unless planting it failed above.
        None => sink.line(&format!("{} {id} at {what} ({addr})", kind.word())),
    }
    Ok(())
}

fn run_bp(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, COMMON_OPTS)?;
    let eopts = event_options(session, &cmd, &opts)?;
    let mut addrs = Vec::new();
    if inv.flags.addrspec {
        addrs.push(inv.addr);
    }
    for text in &opts.rest {
        addrs.push(operand(session, &cmd, text)?);
    }
    if addrs.is_empty() {
        return Err(inv.usage_error("needs an address or a symbol"));
    }
    for addr in addrs {
        create(session, sink, EventKind::Breakpoint, addr, eopts.clone())?;
    }
    Ok(())
}

fn run_wp(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, &format!("rwL:{COMMON_OPTS}"))?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument {extra:?}")));
    }
    let mode = match (opts.flag('r'), opts.flag('w')) {
        (true, true) => WatchMode::Access,
        (true, false) => WatchMode::Read,
        (false, true) => WatchMode::Write,
        (false, false) => return Err(inv.usage_error("say what to watch: -r, -w or -rw")),
    };
    let len = match opts.value('L') {
        Some(t) => t
            .parse::<u64>()
            .map_err(|_| DcmdError::usage(&cmd, format!("bad size {t:?}")))?,
        None => 8,
    };
    if !WATCH_SIZES.contains(&len) {
        return Err(DcmdError::usage(&cmd, "the size must be 1, 2, 4 or 8"));
    }
    if !inv.addr.0.is_multiple_of(len) {
        return Err(DcmdError::usage(
            &cmd,
            format!("{} is not aligned to {len} bytes", inv.addr),
        ));
    }
    let eopts = event_options(session, &cmd, &opts)?;
    create(
        session,
        sink,
        EventKind::Watchpoint { mode, len },
        inv.addr,
        eopts,
    )
}
