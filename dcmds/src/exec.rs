//! Running commands: pipelines, counts, dot, and error reporting, as mdb does.
//!
//! The first stage runs with the address given (or dot) `count` times. Its addresses
//! (from [`Sink::addr`]) are collected, and the next stage runs once per address with that
//! address as dot, flagged `DCMD_PIPE`/`DCMD_LOOP` like mdb; and so on. A failure for one
//! address is reported and the others still run. A lost connection stops everything.

use crate::error::DcmdError;
use crate::fmt;
use crate::lang::{eval, parse_expr, parse_line, Arg, Stage, Verb};
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
        self.set_display_end(None);
        let outcome = execute(self, line, out);
        self.remember_line(line);
        outcome
    }
}

pub(crate) fn execute(session: &mut Session, line: &str, out: &mut dyn Output) -> ExecOutcome {
    execute_with(session, line, out, None)
}

/// Where a command given no address (nor a count) runs.
#[derive(Debug, Clone, Copy)]
enum DefaultAddr {
    /// At dot, or not at all.
    Dot,
    /// A dcmd that needs an address runs at this one (a breakpoint callback's).
    Required(VirtAddr),
    /// Every dcmd that takes an address runs at this one, as `addr::dcmd` (`::eval`'s).
    Any(VirtAddr),
}

/// [`execute`], where a dcmd that needs an address and is given none (nor a count) runs at
/// `default_addr`: a breakpoint callback's `::findstack` runs on the stopping CPU's task.
pub(crate) fn execute_with(
    session: &mut Session,
    line: &str,
    out: &mut dyn Output,
    default_addr: Option<VirtAddr>,
) -> ExecOutcome {
    let default = default_addr.map_or(DefaultAddr::Dot, DefaultAddr::Required);
    execute_lines(session, line, out, default)
}

/// [`execute`], where every dcmd that takes an address and is given none (nor a count) runs
/// at `addr`, as if typed `addr::dcmd` (`::eval`'s).
pub(crate) fn execute_at(
    session: &mut Session,
    line: &str,
    out: &mut dyn Output,
    addr: VirtAddr,
) -> ExecOutcome {
    execute_lines(session, line, out, DefaultAddr::Any(addr))
}

fn execute_lines(
    session: &mut Session,
    line: &str,
    out: &mut dyn Output,
    default_addr: DefaultAddr,
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
        session.set_display_end(None);
        let result = cmd.stages.and_then(|stages| match &cmd.shell {
            None => run_pipeline(session, &stages, out, default_addr),
            Some(sh) => run_shell_pipe(session, &stages, sh, out, default_addr),
        });
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

/// `stages ! sh`: runs the pipeline with its text lines kept, then hands them to the shell
/// (see [`crate::shell`]).
fn run_shell_pipe(
    session: &mut Session,
    stages: &[Stage],
    sh: &str,
    out: &mut dyn Output,
    default_addr: DefaultAddr,
) -> Result<bool, DcmdError> {
    if out.structured() {
        return Err(DcmdError::usage(
            "!",
            "the shell pipe works on text output, not with --json",
        ));
    }
    if !session.shell_allowed() {
        return Err(DcmdError::Refused(
            "'!' runs a shell command, which this session does not allow".to_string(),
        ));
    }
    // A command that fails as a whole (an unknown dcmd) runs no shell; one that failed
    // for some items (reported as they came) still gives the shell what it printed.
    let mut feed = crate::shell::ShellFeed::new(&mut *out);
    let ok = run_pipeline(session, stages, &mut feed, default_addr)?;
    let text = feed.into_text();
    let interrupt = session.interrupt_flag();
    Ok(crate::shell::pipe_to_shell(sh, text, out, &interrupt)? && ok)
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
    default_addr: DefaultAddr,
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
    let rule = defs.first().copied().flatten().map(|d| d.address_rule());
    if addr.is_none() && first.count.is_none() {
        addr = match (default_addr, rule) {
            (DefaultAddr::Required(a), Some(AddressRule::Required)) => Some(a.0),
            (DefaultAddr::Any(a), Some(AddressRule::Required | AddressRule::Optional)) => Some(a.0),
            _ => None,
        };
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

/// The arguments with every `$[ expr ]` replaced by its value, as `0x…` (dot is the
/// dcmd's address).
fn evaluate_args(session: &mut Session, args: &[Arg]) -> Result<Vec<Arg>, DcmdError> {
    args.iter()
        .map(|a| {
            if !a.evaluate {
                return Ok(a.clone());
            }
            let e = parse_expr(&a.text)?;
            Ok(Arg::new(format!("{:#x}", eval(&e, session)?)))
        })
        .collect()
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
        Verb::Display(items) => {
            let end = fmt::display(session, addr, repeat, items, sink)?;
            if !flags.pipe && !flags.pipe_out {
                session.set_display_end(Some((end, repeat)));
            }
            Ok(())
        }
        Verb::Value(items) => fmt::format_value(session, addr.0, repeat, items, sink).map(|_| ()),
        Verb::Dcmd { name, args } => {
            let def = def.ok_or_else(|| DcmdError::UnknownDcmd(name.clone()))?;
            def.check_address(name, flags.addrspec)?;
            let evaluated;
            let args = if args.iter().any(|a| a.evaluate) {
                evaluated = evaluate_args(session, args)?;
                &evaluated
            } else {
                args
            };
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
