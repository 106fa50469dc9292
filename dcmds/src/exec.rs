//! Running commands: pipelines, counts, dot, and error reporting, as mdb does.
//!
//! The first stage runs with the address given (or dot) `count` times. Its addresses
//! (from [`Sink::addr`]) are collected, and the next stage runs once per address with that
//! address as dot, flagged `DCMD_PIPE`/`DCMD_LOOP` like mdb; and so on. A failure for one
//! address is reported and the others still run. A lost connection stops everything.

use crate::error::DcmdError;
use crate::fmt;
use crate::lang::{eval, parse_line, Stage, Verb};
use crate::output::Output;
use crate::registry::{display_name, find_dcmd, AddressRule, DcmdDef, DcmdFlags, Invocation};
use crate::session::{ExecOutcome, Session};
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;

/// The largest `,count`.
pub const MAX_COUNT: u64 = 1 << 20;

impl Session {
    /// Runs every command of `line` (commands are separated by `;` or newlines), reporting
    /// each command's results and errors to `out`. A failing command does not stop the next
    /// one; a lost connection, `$q`, or a closed output does.
    pub fn execute(&mut self, line: &str, out: &mut dyn Output) -> ExecOutcome {
        self.program_mut().clear_interrupt();
        execute(self, line, out)
    }
}

pub(crate) fn execute(session: &mut Session, line: &str, out: &mut dyn Output) -> ExecOutcome {
    execute_with(session, line, out, None)
}

/// [`execute`], where a dcmd that needs an address and is given none (nor a count) runs at
/// `default_addr`: a breakpoint callback's `::findstack` runs on the stopping CPU's task.
pub(crate) fn execute_with(
    session: &mut Session,
    line: &str,
    out: &mut dyn Output,
    default_addr: Option<VirtAddr>,
) -> ExecOutcome {
    let mut outcome = ExecOutcome {
        all_ok: true,
        quit: false,
        fatal: false,
        interrupted: false,
    };
    for cmd in parse_line(line) {
        if out.is_closed() {
            break;
        }
        out.begin(&cmd.source);
        session.clear_command_cache();
        let result = cmd
            .stages
            .and_then(|stages| run_pipeline(session, &stages, out, default_addr));
        let ok = match result {
            Ok(ok) => ok,
            Err(DcmdError::OutputClosed) => false,
            Err(DcmdError::Interrupted) => {
                out.error("interrupted");
                outcome.interrupted = true;
                false
            }
            Err(e) => {
                out.error(&e.to_string());
                outcome.fatal |= e.is_fatal();
                false
            }
        };
        out.end();
        outcome.all_ok &= ok;
        if session.take_quit() {
            outcome.quit = true;
            break;
        }
        if outcome.fatal || outcome.interrupted {
            break;
        }
    }
    outcome
}

/// Reports a per-item error and goes on, unless it ends everything.
fn report(out: &mut dyn Output, e: DcmdError) -> Result<(), DcmdError> {
    if e.ends_command() {
        return Err(e);
    }
    out.error(&e.to_string());
    Ok(())
}

/// Runs one command. `Ok(false)` means failures were reported along the way.
fn run_pipeline(
    session: &mut Session,
    stages: &[Stage],
    out: &mut dyn Output,
    default_addr: Option<VirtAddr>,
) -> Result<bool, DcmdError> {
    let Some((first, rest)) = stages.split_first() else {
        return Ok(true);
    };
    let defs = stages
        .iter()
        .map(|s| match &s.verb {
            Verb::Dcmd { name, .. } => find_dcmd(name)
                .map(Some)
                .ok_or_else(|| DcmdError::UnknownDcmd(name.clone())),
            _ => Ok(None),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut addr = first.addr.as_ref().map(|e| eval(e, session)).transpose()?;
    let needs_addr = defs
        .first()
        .copied()
        .flatten()
        .is_some_and(|d| d.address_rule() == AddressRule::Required);
    if addr.is_none() && first.count.is_none() && needs_addr {
        addr = default_addr.map(|a| a.0);
    }
    let count = match &first.count {
        Some(e) => eval(e, session)?,
        None => 1,
    };
    if count > MAX_COUNT {
        return Err(DcmdError::usage(
            ",count",
            format!("{count:#x} is more than the limit of {MAX_COUNT:#x}"),
        ));
    }
    if let Some(a) = addr {
        session.set_dot(VirtAddr(a));
    }
    let dot = session.dot();
    let mut ok = true;
    let mut input = Vec::new();
    let last = rest.is_empty();
    let flags = DcmdFlags {
        addrspec: addr.is_some(),
        looping: count > 1,
        loop_first: true,
        pipe: false,
        pipe_out: !last,
    };
    let def = defs.first().copied().flatten();
    let (r, failed) = {
        let mut sink = Sink::new(&mut *out, (!last).then_some(&mut input));
        let r = run_stage(session, first, def, dot, count, flags, &mut sink);
        (r, sink.failed())
    };
    ok &= !failed;
    if let Err(e) = r {
        if last {
            return Err(e);
        }
        report(out, e)?;
        ok = false;
    }
    for (j, stage) in rest.iter().enumerate() {
        let last = j + 1 == rest.len();
        let def = defs.get(j + 1).copied().flatten();
        let inputs = std::mem::take(&mut input);
        let n = inputs.len();
        for (i, a) in inputs.into_iter().enumerate() {
            if out.is_closed() {
                return Err(DcmdError::OutputClosed);
            }
            session.check_interrupt()?;
            session.set_dot(a);
            let flags = DcmdFlags {
                addrspec: true,
                looping: n > 1,
                loop_first: i == 0,
                pipe: true,
                pipe_out: !last,
            };
            let (r, failed) = {
                let mut sink = Sink::new(&mut *out, (!last).then_some(&mut input));
                let r = run_stage(session, stage, def, a, 1, flags, &mut sink);
                (r, sink.failed())
            };
            ok &= !failed;
            if let Err(e) = r {
                report(out, e)?;
                ok = false;
            }
            if session.quit_requested() {
                return Ok(ok);
            }
        }
    }
    Ok(ok)
}

/// Runs one stage at `addr`: a dcmd `repeat` times, or a format over `repeat` repetitions.
fn run_stage(
    session: &mut Session,
    stage: &Stage,
    def: Option<&'static DcmdDef>,
    addr: VirtAddr,
    repeat: u64,
    flags: DcmdFlags,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    match &stage.verb {
        Verb::None => {
            if flags.pipe_out {
                sink.addr(addr);
            }
            Ok(())
        }
        Verb::Assign(name) => session.set_variable(name, addr.0),
        Verb::Display(items) => fmt::display(session, addr, repeat, items, sink).map(|_| ()),
        Verb::Value(items) => fmt::format_value(session, addr.0, repeat, items, sink).map(|_| ()),
        Verb::Dcmd { name, args } => {
            let def = def.ok_or_else(|| DcmdError::UnknownDcmd(name.clone()))?;
            def.check_address(name, flags.addrspec)?;
            for i in 0..repeat {
                session.check_interrupt()?;
                let inv = Invocation {
                    def,
                    name,
                    addr,
                    flags: DcmdFlags {
                        looping: flags.looping || repeat > 1,
                        loop_first: flags.loop_first && i == 0,
                        ..flags
                    },
                    args,
                    exec: execute_with,
                };
                (def.run)(session, &inv, sink).map_err(|e| e.in_command(&display_name(name)))?;
                sink.check_open()?;
                if session.quit_requested() {
                    break;
                }
            }
            Ok(())
        }
    }
}
