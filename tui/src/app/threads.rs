//! The threads pane: every task, filtered as the user types, one selected.

use super::cursor::Cursor;
use crate::protocol::ThreadRow;

/// The threads pane's state.
#[derive(Debug, Default)]
pub struct ThreadsPane {
    rows: Vec<ThreadRow>,
    filter: String,
    /// Indices into `rows` of the rows the filter keeps.
    shown: Vec<usize>,
    pub cursor: Cursor,
    pub load: super::panes::Load,
}

/// Whether a row matches a filter: its comm contains it (smart case), its pid starts with
/// it, or its task_struct address (hex) does.
fn keeps(row: &ThreadRow, filter: &str) -> bool {
    filter.is_empty()
        || super::output::matches(&row.comm, filter)
        || row.pid.to_string().starts_with(filter)
        || format!("{:x}", row.thread).starts_with(&filter.to_ascii_lowercase())
}

impl ThreadsPane {
    /// Takes a new list of threads, keeping the selected thread selected if it is still
    /// there.
    pub fn set_rows(&mut self, rows: Vec<ThreadRow>, height: usize) {
        let was = self.selected().map(|r| r.thread);
        self.rows = rows;
        self.refilter(was, height);
        self.load.finish(None);
    }

    /// Applies the filter, keeping thread `keep` selected if it is still shown.
    fn refilter(&mut self, keep: Option<u64>, height: usize) {
        self.shown = (self.rows.iter().enumerate())
            .filter(|(_, r)| keeps(r, &self.filter))
            .map(|(i, _)| i)
            .collect();
        let rows = &self.rows;
        let is = |i: usize, t: u64| rows.get(i).is_some_and(|r| r.thread == t);
        if let Some(pos) = keep.and_then(|t| self.shown.iter().position(|&i| is(i, t))) {
            self.cursor.selected = pos;
        }
        self.cursor.clamp(self.shown.len(), height);
    }

    /// The filter as typed.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Adds a character to the filter; the selected thread stays selected if it matches,
    /// else the first match is.
    pub fn push_filter(&mut self, c: char, height: usize) {
        let was = self.selected().map(|r| r.thread);
        self.filter.push(c);
        self.cursor = Cursor::default();
        self.refilter(was, height);
    }

    /// Removes the last character of the filter.
    pub fn pop_filter(&mut self, height: usize) {
        let was = self.selected().map(|r| r.thread);
        self.filter.pop();
        self.refilter(was, height);
    }

    /// Clears the filter; returns whether there was one.
    pub fn clear_filter(&mut self, height: usize) -> bool {
        let was = self.selected().map(|r| r.thread);
        let had = !self.filter.is_empty();
        self.filter.clear();
        self.refilter(was, height);
        had
    }

    /// Every thread.
    pub fn all(&self) -> &[ThreadRow] {
        &self.rows
    }

    /// How many threads the filter keeps.
    pub fn len(&self) -> usize {
        self.shown.len()
    }

    /// Whether the filter keeps none.
    pub fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }

    /// The `i`-th thread the filter keeps.
    pub fn shown(&self, i: usize) -> Option<&ThreadRow> {
        self.shown.get(i).and_then(|&r| self.rows.get(r))
    }

    /// The selected thread.
    pub fn selected(&self) -> Option<&ThreadRow> {
        self.shown(self.cursor.selected)
    }

    /// Moves the selection.
    pub fn move_by(&mut self, delta: isize, height: usize) {
        self.cursor.move_by(delta, self.shown.len(), height);
    }

    /// The thread at `addr`, filtered or not.
    pub fn find(&self, addr: u64) -> Option<&ThreadRow> {
        self.rows.iter().find(|r| r.thread == addr)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Threads as a small real guest has them.
    pub fn guest_threads() -> Vec<ThreadRow> {
        let t =
            |thread: u64, pid: i64, comm: &str, state: char, cpu: u32, on: Option<u32>| ThreadRow {
                thread,
                pid,
                tgid: pid,
                comm: comm.to_string(),
                state,
                cpu: Some(cpu),
                on_vcpu: on,
            };
        vec![
            t(0xffffffff82a0c940, 0, "swapper/0", 'R', 0, Some(0)),
            t(0xffff8ead40230000, 1, "init", 'S', 1, None),
            t(0xffff8ead40234800, 2, "kthreadd", 'S', 0, None),
            t(0xffff8ead40270000, 15, "rcu_preempt", 'I', 1, None),
            t(0xffff8ead40288000, 17, "migration/0", 'S', 0, None),
            t(0xffff8ead4028c800, 22, "ksoftirqd/1", 'S', 1, None),
            t(0xffff8ead41bf0000, 88, "qmdb-fifo", 'S', 0, None),
            t(0xffff8ead41bf4800, 89, "qmdb-sleeper", 'S', 1, None),
            t(0xffff8ead41d1c000, 97, "qmdb-sleeper", 'S', 1, None),
            t(0xffff8ead41d18000, 98, "qmdb-spinner", 'R', 1, Some(1)),
            t(0xffff8ead41d1e400, 101, "sh", 'S', 0, None),
        ]
    }

    #[test]
    fn filter_by_name_pid_or_address_keeps_the_selection() {
        let mut p = ThreadsPane::default();
        p.set_rows(guest_threads(), 5);
        assert_eq!(p.len(), 11);
        for c in "sleep".chars() {
            p.push_filter(c, 5);
        }
        assert_eq!(p.len(), 2);
        assert_eq!(p.selected().unwrap().pid, 89);
        p.move_by(1, 5);
        assert_eq!(p.selected().unwrap().pid, 97);
        p.set_rows(guest_threads(), 5);
        assert_eq!(p.selected().unwrap().pid, 97, "kept across a refresh");
        p.clear_filter(5);
        assert_eq!(p.selected().unwrap().pid, 97, "kept when the filter goes");
        p.push_filter('9', 5);
        assert_eq!(p.len(), 2, "pid prefix: 97 98");
        p.pop_filter(5);
        for c in "ffff8ead41d1".chars() {
            p.push_filter(c, 5);
        }
        assert_eq!(p.len(), 3, "address prefix");
        for c in "zz".chars() {
            p.push_filter(c, 5);
        }
        assert!(p.is_empty());
        assert!(p.selected().is_none());
    }
}
