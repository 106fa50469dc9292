//! `::events` / `$b`, `::delete` / `:d` / `:z`, `::enable`, `::disable`.

use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::events::EventTable;
use crate::records::EventRow;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::Target;

pub const EVENTS: DcmdDef = DcmdDef {
    name: "events",
    aliases: &["$b"],
    usage: "",
    description: "list breakpoints and watchpoints",
    help: "One line per event, by id:
  ID S KIND     HITS ADDR             WHAT                 OPTIONS
   1 + bp          3 ffffffffa51c0d40 hrtimer_nanosleep    -n 3 -c ':c'
S is + (enabled) or - (disabled); KIND is bp, or wp/ with the watch mode
(r, w, rw) and size (wp/w8); OPTIONS are those given to ::bp or ::wp.
With --json: one record per event: {\"id\", \"kind\", \"enabled\",
\"planted\", \"addr\", \"symbol\", \"mode\", \"len\", \"hits\", \"options\":
{\"commands\", \"limit\", \"disable\", \"delete\", \"temporary\", \"sticky\",
\"task\"}}.",
    run: run_events,
};

pub const DELETE: DcmdDef = DcmdDef {
    name: "delete",
    aliases: &[":d", ":z"],
    usage: "id ...|all",
    description: "delete events",
    help: "Deletes the events with these ids (see ::events), removing them from
QEMU. 'all' (or :z) deletes every event except sticky ones (-T).",
    run: run_delete,
};

pub const ENABLE: DcmdDef = DcmdDef {
    name: "enable",
    aliases: &[],
    usage: "id ...|all",
    description: "enable events",
    help: "Enables the events with these ids, or all: QEMU holds them again.",
    run: run_enable,
};

pub const DISABLE: DcmdDef = DcmdDef {
    name: "disable",
    aliases: &[],
    usage: "id ...|all",
    description: "disable events",
    help: "Disables the events with these ids, or all: they stay in the table
(::events) but are removed from QEMU until ::enable.",
    run: run_disable,
};

fn run_events(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    if !inv.args.is_empty() {
        return Err(inv.usage_error("takes no arguments"));
    }
    let events = session.events().events().to_vec();
    if events.is_empty() {
        sink.line("no events");
        return Ok(());
    }
    sink.line(&EventRow::header());
    for e in &events {
        sink.record(EventRow(e.info()));
    }
    Ok(())
}

/// The ids named (every one for `all` and `:z`; `all_skips_sticky`: but sticky ones).
fn ids(
    session: &Session,
    inv: &Invocation<'_>,
    all_skips_sticky: bool,
) -> Result<Vec<u32>, DcmdError> {
    let all = inv.name == ":z" || inv.args.iter().any(|a| a.text == "all");
    if all {
        if inv.args.len() > usize::from(inv.name != ":z") {
            return Err(inv.usage_error("'all' takes no ids with it"));
        }
        return Ok(session
            .events()
            .events()
            .iter()
            .filter(|e| !(all_skips_sticky && e.opts.sticky))
            .map(|e| e.id)
            .collect());
    }
    if inv.args.is_empty() {
        return Err(inv.usage_error("needs event ids or 'all'"));
    }
    inv.args
        .iter()
        .map(|a| {
            let t = a.text.trim_start_matches('#');
            t.parse::<u32>()
                .map_err(|_| inv.usage_error(format!("{:?} is not an event id", a.text)))
        })
        .collect()
}

/// Applies `change` to each event the arguments name (`all_skips_sticky`: as for
/// ::delete), printing `verb event N` for each; an unknown id or a failed change fails the
/// command after the others were done.
fn for_each_event(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
    all_skips_sticky: bool,
    verb: &str,
    change: impl Fn(&mut EventTable, &mut dyn Target, u32) -> Result<(), DcmdError>,
) -> Result<(), DcmdError> {
    for id in ids(session, inv, all_skips_sticky)? {
        if session.events().get(id).is_none() {
            sink.fail(&DcmdError::usage(
                inv.display_name(),
                format!("no event {id}"),
            ));
            continue;
        }
        let (table, target) = session.events_and_target();
        match change(table, target, id) {
            Ok(()) => sink.line(&format!("{verb} event {id}")),
            Err(e) if e.ends_command() => return Err(e),
            Err(e) => sink.fail(&e),
        }
    }
    Ok(())
}

fn run_delete(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    for_each_event(session, inv, sink, true, "deleted", |table, target, id| {
        table.delete(target, id).map(|_| ())
    })
}

fn set(
    session: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
    enabled: bool,
) -> Result<(), DcmdError> {
    let verb = if enabled { "enabled" } else { "disabled" };
    for_each_event(session, inv, sink, false, verb, |table, target, id| {
        table.set_enabled(target, id, enabled)
    })
}

fn run_enable(s: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    set(s, inv, sink, true)
}

fn run_disable(
    s: &mut Session,
    inv: &Invocation<'_>,
    sink: &mut Sink<'_>,
) -> Result<(), DcmdError> {
    set(s, inv, sink, false)
}
