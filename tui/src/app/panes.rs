//! The stack, registers, memory, events and disassembly panes' state, and what every
//! guest-filled pane shares: whether a refresh is on its way and the last error.

use super::cursor::Cursor;
use crate::protocol::{DisasmRow, EventRow, FrameRow, MemoryView, RegisterRow, StackView};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// The side panes, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Threads,
    Stack,
    Registers,
    Memory,
    Events,
    Disassembly,
}

/// How many side panes there are.
pub const SIDES: usize = 6;

impl Side {
    /// All of them, in focus and layout order.
    pub const ALL: [Side; SIDES] = [
        Side::Threads,
        Side::Stack,
        Side::Registers,
        Side::Memory,
        Side::Events,
        Side::Disassembly,
    ];

    /// The pane's title.
    pub fn title(self) -> &'static str {
        match self {
            Side::Threads => "Threads",
            Side::Stack => "Stack",
            Side::Registers => "Registers",
            Side::Memory => "Memory",
            Side::Events => "Events",
            Side::Disassembly => "Disassembly",
        }
    }

    /// Its index in [`Side::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its entry in `per_side`, which is in [`Side::ALL`] order.
    pub fn of<T>(self, per_side: &[T; SIDES]) -> &T {
        let [threads, stack, registers, memory, events, disassembly] = per_side;
        match self {
            Side::Threads => threads,
            Side::Stack => stack,
            Side::Registers => registers,
            Side::Memory => memory,
            Side::Events => events,
            Side::Disassembly => disassembly,
        }
    }

    /// Its entry in `per_side`, which is in [`Side::ALL`] order, to change.
    pub fn of_mut<T>(self, per_side: &mut [T; SIDES]) -> &mut T {
        let [threads, stack, registers, memory, events, disassembly] = per_side;
        match self {
            Side::Threads => threads,
            Side::Stack => stack,
            Side::Registers => registers,
            Side::Memory => memory,
            Side::Events => events,
            Side::Disassembly => disassembly,
        }
    }
}

/// A refresh in flight and the last failure.
#[derive(Debug, Default, Clone)]
pub struct Load {
    /// When the refresh on its way was asked for.
    pub since: Option<Instant>,
    pub error: Option<String>,
}

impl Load {
    /// A refresh was asked for.
    pub fn start(&mut self, now: Instant) {
        self.since.get_or_insert(now);
    }

    /// The data (`error: None`) or an error arrived.
    pub fn finish(&mut self, error: Option<String>) {
        self.since = None;
        self.error = error;
    }
}

/// The stack pane: the frames of a thread or of the selected vCPU.
#[derive(Debug, Default)]
pub struct StackPane {
    pub view: Option<StackView>,
    pub cursor: Cursor,
    pub load: Load,
}

impl StackPane {
    /// Takes a new stack; the selection goes to the innermost frame unless it is the same
    /// stack again.
    pub fn set(&mut self, view: StackView, height: usize) {
        let same = self.view.as_ref().is_some_and(|v| v.thread == view.thread);
        if !same {
            self.cursor = Cursor::default();
        }
        self.cursor.clamp(view.frames.len(), height);
        self.view = Some(view);
        self.load.finish(None);
    }

    /// The frames shown.
    pub fn frames(&self) -> &[FrameRow] {
        self.view.as_ref().map_or(&[], |v| &v.frames)
    }

    /// The selected frame.
    pub fn selected(&self) -> Option<&FrameRow> {
        self.frames().get(self.cursor.selected)
    }

    /// Moves the selection.
    pub fn move_by(&mut self, delta: isize, height: usize) {
        let len = self.frames().len();
        self.cursor.move_by(delta, len, height);
    }
}

/// The registers pane: values, and which changed since the previous stop.
#[derive(Debug, Default)]
pub struct RegistersPane {
    pub rows: Vec<RegisterRow>,
    /// The values at the previous stop.
    baseline: HashMap<String, u64>,
    /// The stop the rows belong to.
    stop: Option<u64>,
    pub changed: HashSet<String>,
    /// The first row of registers shown.
    pub offset: usize,
    pub load: Load,
}

impl RegistersPane {
    /// Takes the registers read at stop number `stop`. The first rows of a new stop become
    /// compared with the rows of the stop before; more rows of the same stop are compared
    /// with that same baseline.
    pub fn set(&mut self, rows: Vec<RegisterRow>, stop: u64) {
        if self.stop != Some(stop) {
            self.baseline = self
                .rows
                .iter()
                .map(|r| (r.name.clone(), r.value))
                .collect();
            self.stop = Some(stop);
        }
        self.changed = rows
            .iter()
            .filter(|r| self.baseline.get(&r.name).is_some_and(|&v| v != r.value))
            .map(|r| r.name.clone())
            .collect();
        self.rows = rows;
        self.load.finish(None);
    }

    /// Forgets the baseline (another vCPU was selected: nothing to compare with).
    pub fn forget(&mut self) {
        self.rows.clear();
        self.baseline.clear();
        self.changed.clear();
        self.stop = None;
    }
}

/// The disassembly pane.
#[derive(Debug, Default)]
pub struct DisasmPane {
    pub rows: Vec<DisasmRow>,
    /// The first row shown, once the user scrolled; `None`: centred on the current row.
    pub offset: Option<usize>,
    pub load: Load,
}

impl DisasmPane {
    /// Takes new instructions, centred on the current one.
    pub fn set(&mut self, rows: Vec<DisasmRow>) {
        self.rows = rows;
        self.offset = None;
        self.load.finish(None);
    }

    /// The first row to show in a pane `height` rows high.
    pub fn first_row(&self, height: usize) -> usize {
        let max = self.rows.len().saturating_sub(height);
        match self.offset {
            Some(o) => o.min(max),
            None => {
                let cur = self.rows.iter().position(|r| r.current).unwrap_or(0);
                cur.saturating_sub(height / 3).min(max)
            }
        }
    }

    /// Scrolls by `delta` rows.
    pub fn scroll(&mut self, delta: isize, height: usize) {
        let max = self.rows.len().saturating_sub(height) as isize;
        let first = self.first_row(height) as isize;
        self.offset = Some((first + delta).clamp(0, max) as usize);
    }
}

/// The memory pane: the bytes at an expression, read again at each stop and command.
#[derive(Debug, Default)]
pub struct MemoryPane {
    /// The expression followed (`:mem EXPR`); `None` until one is set.
    pub expr: Option<String>,
    pub view: Option<MemoryView>,
    /// The first line of bytes shown.
    pub offset: usize,
    pub load: Load,
}

impl MemoryPane {
    /// Takes new bytes; the scroll stays when the expression is the same.
    pub fn set(&mut self, view: MemoryView) {
        if self.view.as_ref().is_none_or(|v| v.expr != view.expr) {
            self.offset = 0;
        }
        self.view = Some(view);
        self.load.finish(None);
    }

    /// Scrolls by `delta` lines of `per_line` bytes, in a pane `height` lines high.
    pub fn scroll(&mut self, delta: isize, per_line: usize, height: usize) {
        let len = self.view.as_ref().map_or(0, |v| v.bytes.len());
        let lines = len.div_ceil(per_line.max(1));
        let max = lines.saturating_sub(height) as isize;
        self.offset = (self.offset as isize + delta).clamp(0, max.max(0)) as usize;
    }
}

/// The events pane: the session's breakpoints and watchpoints.
#[derive(Debug, Default)]
pub struct EventsPane {
    pub rows: Vec<EventRow>,
    /// The first row shown.
    pub offset: usize,
    pub load: Load,
}

impl EventsPane {
    /// Takes the table as the worker sent it.
    pub fn set(&mut self, rows: Vec<EventRow>) {
        self.offset = self.offset.min(rows.len().saturating_sub(1));
        self.rows = rows;
        self.load.finish(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs(vals: &[(&str, u64)]) -> Vec<RegisterRow> {
        vals.iter()
            .map(|(n, v)| RegisterRow {
                name: n.to_string(),
                value: *v,
                ..RegisterRow::default()
            })
            .collect()
    }

    #[test]
    fn changed_registers_are_those_that_differ_from_the_previous_stop() {
        let mut p = RegistersPane::default();
        p.set(regs(&[("rax", 1), ("rip", 0x10)]), 1);
        assert!(
            p.changed.is_empty(),
            "nothing to compare with at the first stop"
        );
        p.set(regs(&[("rax", 1), ("rip", 0x20)]), 2);
        assert_eq!(p.changed, HashSet::from(["rip".to_string()]));
        // Refreshed again at the same stop: still compared with stop 1.
        p.set(regs(&[("rax", 1), ("rip", 0x20)]), 2);
        assert_eq!(p.changed, HashSet::from(["rip".to_string()]));
        p.set(regs(&[("rax", 2), ("rip", 0x20)]), 3);
        assert_eq!(p.changed, HashSet::from(["rax".to_string()]));
        p.forget();
        p.set(regs(&[("rax", 9), ("rip", 0x20)]), 4);
        assert!(p.changed.is_empty());
    }

    #[test]
    fn disassembly_is_centred_then_scrolls() {
        let mut d = DisasmPane::default();
        d.set(
            (0..20)
                .map(|i| DisasmRow {
                    addr: 0x1000 + i,
                    symbol: None,
                    bytes: String::new(),
                    text: "nop".into(),
                    current: i == 12,
                })
                .collect(),
        );
        assert_eq!(d.first_row(6), 10);
        d.scroll(-3, 6);
        assert_eq!(d.first_row(6), 7);
        d.scroll(100, 6);
        assert_eq!(d.first_row(6), 14);
    }
}
