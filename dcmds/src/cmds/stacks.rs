//! `::stacks`: every task's stack, identical stacks grouped, most common first.

use crate::args::getopts;
use crate::dcmd::{DcmdDef, Invocation};
use crate::error::DcmdError;
use crate::records::stack::kernel_frames;
use crate::records::{Frame, StackGroup};
use crate::session::Session;
use crate::sink::Sink;
use qmdb_linux::backtrace::{StackOrigin, TaskBacktrace};
use qmdb_linux::modules::frame_symbol;
use qmdb_linux::state::state_name;
use qmdb_linux::{self, Scope, Task};
use std::collections::HashMap;

pub const STACKS: DcmdDef = DcmdDef {
    name: "stacks",
    aliases: &[],
    usage: "[-a] [-cC func] [-mM mod] [-tT state]",
    description: "group identical task stacks",
    help: "Walks the stack of every task (as ::walk thread | ::findstack) and prints
each distinct stack once, with the number of tasks that have it and one
of them, the largest groups first:
  THREAD           STATE COUNT
  ffff8ead41bf4800 S         3
                   __schedule+0x34d
                   schedule+0x5a
                   do_nanosleep+0x7b
                   ...
Tasks are grouped when they are in the same state and every frame has the
same pc. On a hung guest the odd group out is often the one to look at.

  -a         list every task of each group, not one
  -c func    only stacks with a frame in function FUNC (or module`FUNC)
  -C func    only stacks with no frame in FUNC
  -m module  only stacks with a frame in MODULE (vmlinux is the kernel)
  -M module  only stacks with no frame in MODULE
  -t state   only tasks in STATE: a ps letter (R S D T t X Z P I) or a
             name (running, sleeping, disk, stopped, zombie, parked, idle);
             several may be given, separated by commas
  -T state   only tasks not in STATE

In a pipeline, emits the addresses of the tasks of every group shown.
With --json, one object per group: {\"count\",\"state\",\"state_name\",
\"threads\",\"frames\"}, frames as ::findstack's: {\"sp\",\"pc\",\"symbol\",
\"offset\",\"module\",\"reliable\"} (module is null for the kernel).",
    run,
};

/// Parses `-t`/`-T`: ps letters or names, comma-separated.
fn states(cmd: &str, text: &str) -> Result<Vec<char>, DcmdError> {
    text.split(',')
        .map(|w| {
            let w = w.trim();
            let mut chars = w.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                if "RSDTtXZPI".contains(c) {
                    return Ok(c);
                }
            }
            let lower = w.to_ascii_lowercase();
            let by_name = match lower.as_str() {
                "run" | "running" | "runnable" => Some('R'),
                "sleep" | "sleeping" => Some('S'),
                "disk" | "uninterruptible" | "disk sleep" => Some('D'),
                "stop" | "stopped" => Some('T'),
                "trace" | "traced" | "tracing stop" => Some('t'),
                "dead" => Some('X'),
                "zombie" => Some('Z'),
                "park" | "parked" => Some('P'),
                "idle" => Some('I'),
                _ => None,
            };
            by_name.ok_or_else(|| DcmdError::usage(cmd, format!("unknown task state '{w}'")))
        })
        .collect()
}

struct Group {
    state: char,
    tasks: Vec<Task>,
    bt: TaskBacktrace,
}

/// The group key: the state, every frame's pc, and the note of a stack that could not be
/// walked (it names that task's addresses: such tasks are not grouped under another's
/// note); user-mode tasks on a vCPU group by state alone.
type Key = (char, bool, Vec<u64>, Option<String>);

fn key(t: &Task, bt: &TaskBacktrace) -> Key {
    let user = matches!(bt.origin, StackOrigin::UserMode { .. });
    (
        t.state_letter(),
        user,
        kernel_frames(bt).map(|f| f.pc).collect(),
        if user { None } else { bt.note.clone() },
    )
}

/// The module `pc` is in: its name, `vmlinux` for a kernel symbol, `None` when unknown.
fn module_of(session: &Session, pc: u64) -> Option<String> {
    let hit = frame_symbol(session, pc)?;
    Some(hit.module.unwrap_or_else(|| "vmlinux".to_string()))
}

fn run(session: &mut Session, inv: &Invocation<'_>, sink: &mut Sink<'_>) -> Result<(), DcmdError> {
    let cmd = inv.display_name();
    let opts = getopts(&cmd, inv.args, "ac:C:m:M:t:T:")?;
    if let Some(extra) = opts.rest.first() {
        return Err(inv.usage_error(format!("unexpected argument '{extra}'")));
    }
    let only_states = opts.value('t').map(|t| states(&cmd, t)).transpose()?;
    let not_states = opts.value('T').map(|t| states(&cmd, t)).transpose()?;
    let ctx = qmdb_linux::context(session, &cmd)?;
    let limit = session.walk_limit();
    let list = qmdb_linux::walk_tasks(session, &ctx.layout, Scope::Threads, limit)?;
    for p in &list.problems {
        sink.warn(p);
    }
    let (setup, problems) = qmdb_linux::stack_setup(session, &ctx)?;
    for p in &problems {
        sink.warn(p);
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Key, usize> = HashMap::new();
    for t in &list.tasks {
        session.check_interrupt()?;
        let letter = t.state_letter();
        if only_states.as_ref().is_some_and(|s| !s.contains(&letter))
            || not_states.as_ref().is_some_and(|s| s.contains(&letter))
        {
            continue;
        }
        let bt = setup.backtrace(session, &ctx.layout, t)?;
        let k = key(t, &bt);
        match index.get(&k) {
            Some(&i) => {
                if let Some(g) = groups.get_mut(i) {
                    g.tasks.push(t.clone());
                }
            }
            None => {
                index.insert(k, groups.len());
                groups.push(Group {
                    state: letter,
                    tasks: vec![t.clone()],
                    bt,
                });
            }
        }
    }
    let has_func = |g: &Group, func: &str| {
        kernel_frames(&g.bt).any(|f| {
            frame_symbol(session, f.pc).is_some_and(|h| {
                h.name == func
                    || h.module
                        .is_some_and(|m| func.split_once('`') == Some((m.as_str(), &h.name)))
            })
        })
    };
    let has_module = |g: &Group, m: &str| {
        kernel_frames(&g.bt).any(|f| module_of(session, f.pc).is_some_and(|x| x == m))
    };
    let mut shown: Vec<&Group> = groups
        .iter()
        .filter(|g| opts.value('c').is_none_or(|f| has_func(g, f)))
        .filter(|g| opts.value('C').is_none_or(|f| !has_func(g, f)))
        .filter(|g| opts.value('m').is_none_or(|m| has_module(g, m)))
        .filter(|g| opts.value('M').is_none_or(|m| !has_module(g, m)))
        .collect();
    shown.sort_by(|a, b| {
        b.tasks.len().cmp(&a.tasks.len()).then(
            a.tasks
                .first()
                .map(|t| t.addr)
                .cmp(&b.tasks.first().map(|t| t.addr)),
        )
    });
    if sink.pipe_out() {
        for g in &shown {
            for t in &g.tasks {
                sink.addr(t.addr.0);
            }
        }
        return Ok(());
    }
    if inv.flags.header() {
        sink.line(&format!("{:<16} {:<5} {:>5}", "THREAD", "STATE", "COUNT"));
    }
    for g in &shown {
        let trailer = if let StackOrigin::UserMode { .. } = g.bt.origin {
            Some("running in user mode".to_string())
        } else if let Some(note) = g.bt.note.as_ref() {
            Some(note.clone())
        } else {
            g.bt.backtrace
                .as_ref()
                .and_then(|b| b.end.note())
                .map(|n| format!("walk ended: {n}"))
        };
        sink.record(StackGroup {
            count: g.tasks.len(),
            state: g.state.to_string(),
            state_name: state_name(g.state).to_string(),
            threads: g.tasks.iter().map(|t| t.addr.0 .0).collect(),
            frames: kernel_frames(&g.bt)
                .map(|f| Frame::new(session, f))
                .collect(),
            trailer,
            all: opts.flag('a'),
        });
    }
    Ok(())
}
