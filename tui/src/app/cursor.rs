//! A selection in a list and the list's scroll offset, as the panes keep them.

/// The selected row and the first row shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub selected: usize,
    pub offset: usize,
}

impl Cursor {
    /// Moves the selection by `delta` rows in a list of `len` rows shown `height` at a time,
    /// scrolling as little as needed to keep it in view.
    pub fn move_by(&mut self, delta: isize, len: usize, height: usize) {
        if len == 0 {
            *self = Cursor::default();
            return;
        }
        let max = len as isize - 1;
        self.selected = (self.selected as isize + delta).clamp(0, max) as usize;
        self.offset = visible_offset(self.offset, self.selected, height);
    }

    /// Keeps the selection within a list that now has `len` rows.
    pub fn clamp(&mut self, len: usize, height: usize) {
        self.move_by(0, len, height);
    }
}

/// The first row to show so that `selected` is visible, starting from `offset`.
pub fn visible_offset(offset: usize, selected: usize, height: usize) -> usize {
    let height = height.max(1);
    if selected < offset {
        selected
    } else if selected >= offset + height {
        selected + 1 - height
    } else {
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_clamp_and_scroll_minimally() {
        let mut c = Cursor::default();
        c.move_by(3, 10, 4);
        assert_eq!(
            c,
            Cursor {
                selected: 3,
                offset: 0
            }
        );
        c.move_by(1, 10, 4);
        assert_eq!(
            c,
            Cursor {
                selected: 4,
                offset: 1
            }
        );
        c.move_by(100, 10, 4);
        assert_eq!(
            c,
            Cursor {
                selected: 9,
                offset: 6
            }
        );
        c.move_by(-8, 10, 4);
        assert_eq!(
            c,
            Cursor {
                selected: 1,
                offset: 1
            }
        );
        c.clamp(0, 4);
        assert_eq!(c, Cursor::default());
    }
}
