//! One event specifier: a breakpoint or a watchpoint, with mdb's `::evset` options.

use crate::records::{EventInfo, EventOptionsInfo};
use qmdb_bridge::{BreakKind, VirtAddr};

/// The sizes a hardware watchpoint can watch (x86 debug registers).
pub const WATCH_SIZES: [u64; 4] = [1, 2, 4, 8];

/// What a watchpoint stops on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// `-r`: reads (`Z3`).
    Read,
    /// `-w`: writes (`Z2`).
    Write,
    /// `-rw`: any access (`Z4`).
    Access,
}

impl WatchMode {
    pub fn break_kind(self) -> BreakKind {
        match self {
            WatchMode::Read => BreakKind::Read,
            WatchMode::Write => BreakKind::Write,
            WatchMode::Access => BreakKind::Access,
        }
    }

    /// `r`, `w` or `rw`, as `::wp` takes and `::events` prints it.
    pub fn letters(self) -> &'static str {
        match self {
            WatchMode::Read => "r",
            WatchMode::Write => "w",
            WatchMode::Access => "rw",
        }
    }
}

/// A breakpoint or a watchpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Stops before the instruction at the address runs (`Z0`, kept by QEMU).
    Breakpoint,
    /// Stops after an access to `[addr, addr+len)` (`Z2`-`Z4`).
    Watchpoint { mode: WatchMode, len: u64 },
}

impl EventKind {
    /// The kind and length of the `Z` packet that plants it.
    pub fn planted_as(self) -> (BreakKind, u64) {
        match self {
            EventKind::Breakpoint => (BreakKind::Software, 1),
            EventKind::Watchpoint { mode, len } => (mode.break_kind(), len),
        }
    }

    /// `breakpoint` or `watchpoint`, as stop reports and `--json` name it.
    pub fn word(self) -> &'static str {
        match self {
            EventKind::Breakpoint => "breakpoint",
            EventKind::Watchpoint { .. } => "watchpoint",
        }
    }
}

/// Which task a `-p` event stops for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskFilter {
    /// A thread id (`task_struct.pid`).
    Pid(i32),
    /// A `comm`, compared whole.
    Comm(String),
}

impl TaskFilter {
    /// A number is a pid (decimal, as `ps` prints it), anything else a comm.
    pub fn parse(text: &str) -> TaskFilter {
        match text.parse::<i32>() {
            Ok(pid) => TaskFilter::Pid(pid),
            Err(_) => TaskFilter::Comm(text.to_string()),
        }
    }

    pub fn matches(&self, pid: i32, comm: &str) -> bool {
        match self {
            TaskFilter::Pid(p) => *p == pid,
            TaskFilter::Comm(c) => c == comm,
        }
    }
}

impl std::fmt::Display for TaskFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskFilter::Pid(p) => write!(f, "{p}"),
            TaskFilter::Comm(c) => f.write_str(c),
        }
    }
}

/// mdb's `::evset` properties of an event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventOptions {
    /// `-c`: commands run at each hit.
    pub commands: Option<String>,
    /// `-n`: the hit limit.
    pub limit: Option<u64>,
    /// `-d`: disable at the hit limit.
    pub disable: bool,
    /// `-D`: delete at the hit limit.
    pub delete: bool,
    /// `-t`: delete the next time the target stops.
    pub temporary: bool,
    /// `-T`: sticky: `::delete all` keeps it.
    pub sticky: bool,
    /// `-p`: stop only for this task.
    pub task: Option<TaskFilter>,
}

/// What happens to an event once it has been hit `hits` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitAction {
    Keep,
    Disable,
    Delete,
}

impl EventOptions {
    /// The action at `hits` hits: with `-D` or `-d` the limit is `-n` (or 1); `-n` alone
    /// disables (mdb does nothing at the limit unless `-d`, `-D` or `-s` is given: qmdb
    /// takes `-n` alone to mean `-d -n`).
    pub fn action_at(&self, hits: u64) -> LimitAction {
        let limit = match (self.limit, self.disable || self.delete) {
            (Some(n), _) => n,
            (None, true) => 1,
            (None, false) => return LimitAction::Keep,
        };
        if hits < limit {
            LimitAction::Keep
        } else if self.delete {
            LimitAction::Delete
        } else {
            LimitAction::Disable
        }
    }

    /// The options as `::events` shows them (`-t -n 3 -p 90 -c '...'`).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (on, s) in [
            (self.disable, "-d"),
            (self.delete, "-D"),
            (self.temporary, "-t"),
            (self.sticky, "-T"),
        ] {
            if on {
                parts.push(s.to_string());
            }
        }
        if let Some(n) = self.limit {
            parts.push(format!("-n {n}"));
        }
        if let Some(p) = &self.task {
            parts.push(format!("-p {p}"));
        }
        if let Some(c) = &self.commands {
            parts.push(format!("-c '{c}'"));
        }
        parts.join(" ")
    }
}

/// One entry of the event table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: u32,
    pub kind: EventKind,
    pub addr: VirtAddr,
    /// The address as the user gave it or as a symbol (`hrtimer_nanosleep`, `jiffies+0x8`).
    pub what: String,
    pub enabled: bool,
    pub hits: u64,
    pub opts: EventOptions,
    /// Whether it is in QEMU now.
    pub planted: bool,
}

impl Event {
    /// Whether a stop at `pc`, or a watchpoint stop reporting `watch`, is this event's.
    pub fn matches(&self, pc: u64, watch: Option<u64>) -> bool {
        match self.kind {
            EventKind::Breakpoint => pc == self.addr.0,
            EventKind::Watchpoint { len, .. } => {
                watch.is_some_and(|w| w >= self.addr.0 && w - self.addr.0 < len.max(1))
            }
        }
    }

    /// The event as `::events`, `::bp` and `::wp` give it.
    pub fn info(&self) -> EventInfo {
        let (mode, len) = match self.kind {
            EventKind::Breakpoint => (None, None),
            EventKind::Watchpoint { mode, len } => (Some(mode.letters()), Some(len)),
        };
        EventInfo {
            id: self.id,
            kind: self.kind.word(),
            enabled: self.enabled,
            planted: self.planted,
            addr: self.addr.0,
            symbol: self.what.clone(),
            mode,
            len,
            hits: self.hits,
            options: EventOptionsInfo {
                commands: self.opts.commands.clone(),
                limit: self.opts.limit,
                disable: self.opts.disable,
                delete: self.opts.delete,
                temporary: self.opts.temporary,
                sticky: self.opts.sticky,
                task: self.opts.task.as_ref().map(ToString::to_string),
            },
            kind_text: self.kind_text(),
            options_text: self.opts.describe(),
        }
    }

    /// `bp`, or `wp/` plus the watch mode and size (`wp/w8`), as `::events` shows the kind.
    pub fn kind_text(&self) -> String {
        match self.kind {
            EventKind::Breakpoint => "bp".into(),
            EventKind::Watchpoint { mode, len } => format!("wp/{}{len}", mode.letters()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_evset() {
        let o = EventOptions::default();
        assert_eq!(o.action_at(100), LimitAction::Keep);
        let o = EventOptions {
            limit: Some(3),
            ..EventOptions::default()
        };
        assert_eq!(o.action_at(2), LimitAction::Keep);
        assert_eq!(o.action_at(3), LimitAction::Disable);
        let o = EventOptions {
            delete: true,
            ..EventOptions::default()
        };
        assert_eq!(o.action_at(1), LimitAction::Delete);
        let o = EventOptions {
            disable: true,
            limit: Some(2),
            ..EventOptions::default()
        };
        assert_eq!(o.action_at(1), LimitAction::Keep);
        assert_eq!(o.action_at(2), LimitAction::Disable);
    }

    #[test]
    fn watchpoints_match_their_range() {
        let e = Event {
            id: 1,
            kind: EventKind::Watchpoint {
                mode: WatchMode::Write,
                len: 8,
            },
            addr: VirtAddr(0x1000),
            what: "x".into(),
            enabled: true,
            hits: 0,
            opts: EventOptions::default(),
            planted: false,
        };
        assert!(e.matches(0, Some(0x1007)));
        assert!(!e.matches(0x1000, Some(0x1008)));
        assert!(!e.matches(0x1000, None));
        assert_eq!(TaskFilter::parse("90"), TaskFilter::Pid(90));
        assert_eq!(TaskFilter::parse("sleep"), TaskFilter::Comm("sleep".into()));
    }
}
