//! Where each part of the screen goes, from the screen size and the panes shown.
//!
//! The output pane fills the left; the side panes stack in a column on the right (the
//! disassembly goes under the output instead when the screen is tall). When the column is
//! too short for every pane, the focused one and then the others in order get room and the
//! rest collapse to their title line. Below everything: the status bar and the command line.
//! Under 60 columns the side panes are not shown.

use super::panes::{Side, SIDES};
use ratatui::layout::Rect;

/// The narrowest screen that shows side panes.
const MIN_WIDTH_FOR_SIDE: u16 = 60;
/// The main area height from which the disassembly goes under the output.
const TALL: u16 = 30;
/// The fewest rows of an expanded pane, borders included.
const MIN_PANE: u16 = 5;
/// The rows a pane needs to be worth expanding beside others.
const COMFORT: u16 = 8;

/// The side panes shown at start, by [`Side::index`]: the memory pane waits for an
/// expression (`:mem EXPR`) and the events pane for the first breakpoint or watchpoint.
pub const DEFAULT_SHOWN: [bool; SIDES] = [true, true, true, false, false, true];

/// A side pane's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaneArea {
    pub rect: Rect,
    /// Only its title line is shown.
    pub collapsed: bool,
}

/// The screen's regions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Regions {
    pub output: Rect,
    /// By [`Side::index`]; `None`: not shown.
    pub panes: [Option<PaneArea>; SIDES],
    pub status: Rect,
    pub command: Rect,
}

impl Regions {
    /// Where a side pane is, if shown.
    pub fn pane(&self, side: Side) -> Option<PaneArea> {
        *side.of(&self.panes)
    }

    /// The rows of content a pane shows (inside its borders); 0 when not shown or collapsed.
    pub fn content_height(&self, side: Side) -> usize {
        match self.pane(side) {
            Some(PaneArea {
                rect,
                collapsed: false,
            }) => rect.height.saturating_sub(2) as usize,
            _ => 0,
        }
    }

    /// The output's rows of text (inside its borders).
    pub fn output_height(&self) -> usize {
        self.output.height.saturating_sub(2) as usize
    }
}

/// What the layout depends on besides the screen size.
#[derive(Debug, Clone, Copy)]
pub struct LayoutInput {
    pub shown: [bool; SIDES],
    /// The side column's share of the width, in percent.
    pub side_pct: u16,
    /// The focused side pane, which gets room first.
    pub focus: Option<Side>,
}

/// How much of the spare height each pane gets.
fn weight(side: Side) -> u32 {
    match side {
        Side::Threads => 3,
        Side::Stack => 3,
        Side::Registers => 2,
        Side::Memory => 2,
        Side::Events => 1,
        Side::Disassembly => 3,
    }
}

/// Lays out the screen.
pub fn compute(screen: Rect, input: LayoutInput) -> Regions {
    let h = screen.height;
    let mut r = Regions {
        command: Rect::new(
            screen.x,
            screen.y + h.saturating_sub(1),
            screen.width,
            h.min(1),
        ),
        status: Rect::new(
            screen.x,
            screen.y + h.saturating_sub(2),
            screen.width,
            h.min(2) - h.min(1),
        ),
        ..Regions::default()
    };
    let main = Rect::new(screen.x, screen.y, screen.width, h.saturating_sub(2));
    if main.width < MIN_WIDTH_FOR_SIDE || main.height < MIN_PANE {
        r.output = main;
        return r;
    }
    let shown = |s: Side| *s.of(&input.shown);
    let dis_below = shown(Side::Disassembly) && main.height >= TALL;
    let column: Vec<Side> = Side::ALL
        .into_iter()
        .filter(|&s| shown(s) && !(s == Side::Disassembly && dis_below))
        .collect();

    let mut left = main;
    if !column.is_empty() {
        let want = (main.width as u32 * input.side_pct as u32 / 100) as u16;
        let side_w = want.clamp(24, main.width - 30);
        left.width -= side_w;
        let col = Rect::new(main.x + left.width, main.y, side_w, main.height);
        stack(col, &column, input.focus, &mut r);
    }
    if dis_below {
        let dh = (left.height * 35 / 100).max(MIN_PANE + 3);
        let out_h = left.height - dh;
        *Side::Disassembly.of_mut(&mut r.panes) = Some(PaneArea {
            rect: Rect::new(left.x, left.y + out_h, left.width, dh),
            collapsed: false,
        });
        left.height = out_h;
    }
    r.output = left;
    r
}

/// Stacks `panes` in `col`, collapsing those that do not fit.
fn stack(col: Rect, panes: &[Side], focus: Option<Side>, r: &mut Regions) {
    let n = panes.len() as u16;
    let mut order: Vec<Side> = focus.filter(|f| panes.contains(f)).into_iter().collect();
    order.extend(panes.iter().copied().filter(|p| Some(*p) != focus));
    let mut expanded: Vec<Side> = Vec::new();
    for p in order {
        let k = expanded.len() as u16 + 1;
        let need = if k == 1 { MIN_PANE } else { k * COMFORT };
        if need + (n - k) > col.height {
            break;
        }
        expanded.push(p);
    }
    let collapsed = n - expanded.len() as u16;
    let spare = col.height - expanded.len() as u16 * MIN_PANE - collapsed;
    let total_w: u32 = expanded.iter().map(|&s| weight(s)).sum::<u32>().max(1);
    let mut given = 0;
    let mut y = col.y;
    let mut last_expanded = None;
    for &p in panes {
        let is_exp = expanded.contains(&p);
        let height = if is_exp {
            let extra = (spare as u32 * weight(p) / total_w) as u16;
            given += extra;
            last_expanded = Some(p);
            MIN_PANE + extra
        } else {
            1
        };
        *p.of_mut(&mut r.panes) = Some(PaneArea {
            rect: Rect::new(col.x, y, col.width, height),
            collapsed: !is_exp,
        });
        y += height;
    }
    // Rounding leftovers go to the last expanded pane; panes below it move down.
    let leftover = spare - given;
    if let Some(last) = last_expanded {
        let mut below = false;
        for &p in panes {
            if let Some(a) = p.of_mut(&mut r.panes).as_mut() {
                if below {
                    a.rect.y += leftover;
                }
                if p == last {
                    a.rect.height += leftover;
                    below = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(shown: [bool; SIDES], focus: Option<Side>) -> LayoutInput {
        LayoutInput {
            shown,
            side_pct: 36,
            focus,
        }
    }

    fn covers_column(r: &Regions) {
        let mut rows: Vec<(u16, u16)> = r
            .panes
            .iter()
            .flatten()
            .filter(|a| a.rect.x != r.output.x)
            .map(|a| (a.rect.y, a.rect.height))
            .collect();
        rows.sort();
        let mut y = 0;
        for (top, h) in rows {
            assert_eq!(top, y, "panes overlap or leave a gap: {r:?}");
            y += h;
        }
        assert_eq!(y, r.status.y, "the column ends at the status bar");
    }

    #[test]
    fn small_screens_collapse_the_unfocused_panes() {
        let r = compute(Rect::new(0, 0, 80, 24), input(DEFAULT_SHOWN, None));
        assert_eq!(r.command, Rect::new(0, 23, 80, 1));
        assert_eq!(r.status, Rect::new(0, 22, 80, 1));
        assert_eq!(r.output.width, 52);
        let collapsed: Vec<bool> = Side::ALL
            .iter()
            .filter_map(|&s| r.pane(s))
            .map(|a| a.collapsed)
            .collect();
        assert_eq!(collapsed, [false, false, true, true]);
        covers_column(&r);
        let r = compute(
            Rect::new(0, 0, 80, 24),
            input(DEFAULT_SHOWN, Some(Side::Disassembly)),
        );
        assert!(!r.pane(Side::Disassembly).unwrap().collapsed);
        assert!(r.pane(Side::Registers).unwrap().collapsed);
        covers_column(&r);
    }

    #[test]
    fn tall_screens_put_the_disassembly_under_the_output() {
        let r = compute(Rect::new(0, 0, 160, 48), input(DEFAULT_SHOWN, None));
        let dis = r.pane(Side::Disassembly).unwrap().rect;
        assert_eq!(dis.x, 0);
        assert_eq!(dis.y, r.output.height);
        assert_eq!(dis.y + dis.height, 46);
        assert!(Side::ALL
            .iter()
            .filter_map(|&s| r.pane(s))
            .all(|a| !a.collapsed));
        covers_column(&r);
        // Every pane on: the column still fits, the focused pane expanded.
        let r = compute(
            Rect::new(0, 0, 160, 48),
            input([true; SIDES], Some(Side::Memory)),
        );
        assert!(!r.pane(Side::Memory).unwrap().collapsed);
        assert!(!r.pane(Side::Events).unwrap().collapsed);
        covers_column(&r);
        let r = compute(
            Rect::new(0, 0, 80, 24),
            input([true; SIDES], Some(Side::Events)),
        );
        assert!(!r.pane(Side::Events).unwrap().collapsed);
        covers_column(&r);
    }

    #[test]
    fn narrow_screens_and_hidden_panes() {
        let r = compute(Rect::new(0, 0, 50, 20), input(DEFAULT_SHOWN, None));
        assert_eq!(r.output, Rect::new(0, 0, 50, 18));
        assert!(r.panes.iter().all(Option::is_none));
        let r = compute(Rect::new(0, 0, 100, 24), input([false; SIDES], None));
        assert_eq!(r.output.width, 100);
        let r = compute(Rect::new(0, 0, 2, 1), input(DEFAULT_SHOWN, None));
        assert_eq!(r.command.height, 1);
        assert_eq!(r.status.height, 0);
    }
}
