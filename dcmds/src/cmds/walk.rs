//! `::walk`: run a walker, printing each address or sending it down the pipe.

use crate::args::Arg;
use crate::error::DcmdError;
use crate::registry::{find_walker, DcmdDef, Invocation, Walk, WalkerDef};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;

pub const WALK: DcmdDef = DcmdDef {
    name: "walk",
    aliases: &[],
    usage: "?name [walker-args]",
    description: "walk a data structure, emitting each address",
    help: "Runs the walker NAME (see ::walkers) from the given address, printing the
address of each element, or, in a pipeline, running the next command once
per element: head::walk list | ::print ...

Every walk is bounded (1000000 steps unless the session says otherwise)
and walkers detect cycles. When an element cannot be read, the walk stops
there with an error naming the address; what was found before is kept.",
    run,
};

/// Starts the walker `def`, checking its address rule.
pub fn start(
    session: &mut Session,
    def: &WalkerDef,
    start: Option<VirtAddr>,
    args: &[Arg],
) -> Result<Box<dyn Walk>, DcmdError> {
    if start.is_none() && def.usage.starts_with(':') {
        return Err(DcmdError::usage(
            "::walk",
            format!(
                "walker '{}' needs a start address (usage: {})",
                def.name,
                def.synopsis()
            ),
        ));
    }
    (def.init)(session, start, args)
}

/// Steps `walk` to its end or the session's walk limit, giving each address to `each`.
/// An error of one step ends the walk and is returned as the second value (the walk's own
/// failure); `Err` means the caller must stop (connection lost, output closed).
pub fn drive(
    session: &mut Session,
    name: &str,
    walk: &mut dyn Walk,
    mut each: impl FnMut(&mut Session, VirtAddr) -> Result<(), DcmdError>,
) -> Result<Option<DcmdError>, DcmdError> {
    let limit = session.walk_limit();
    let mut steps = 0u64;
    loop {
        session.check_interrupt()?;
        if steps >= limit {
            return Ok(Some(DcmdError::Corrupt(format!(
                "walk '{name}' stopped after {limit} steps (the walk limit)"
            ))));
        }
        match walk.step(session) {
            Ok(Some(a)) => each(session, a)?,
            Ok(None) => return Ok(None),
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => return Ok(Some(e)),
        }
        steps += 1;
    }
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let Some((name, rest)) = inv.args.split_first() else {
        return Err(inv.usage_error("missing walker name"));
    };
    let def = find_walker(&name.text).ok_or_else(|| DcmdError::UnknownWalker(name.text.clone()))?;
    let from = inv.flags.addrspec.then_some(inv.addr);
    let mut walk = start(session, def, from, rest)?;
    let mut n = 0u64;
    let failure = drive(session, def.name, walk.as_mut(), |_, a| {
        sink.addr(a);
        n += 1;
        if n.is_multiple_of(1024) {
            sink.check_open()?;
        }
        Ok(())
    })?;
    for w in walk.warnings() {
        sink.warn(&w);
    }
    if let Some(e) = failure {
        sink.fail(&e);
    }
    Ok(())
}
