//! The mouse: the wheel scrolls what is under the pointer, a click focuses (and in a list,
//! selects).

use super::panes::Side;
use super::{App, Focus, Overlay};
use crate::protocol::Request;
use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

/// Lines the wheel scrolls per notch.
const WHEEL: usize = 3;

/// What is at a screen position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spot {
    Output,
    /// A side pane, and the content row under the pointer (`None`: its border or title).
    Pane(Side, Option<usize>),
    CommandLine,
    Elsewhere,
}

/// The content row of `rect` (inside its borders) at screen row `y`.
fn content_row(rect: Rect, y: u16) -> Option<usize> {
    (y > rect.y && y + 1 < rect.y + rect.height).then(|| (y - rect.y - 1) as usize)
}

impl App {
    fn spot(&self, x: u16, y: u16) -> Spot {
        let p = Position { x, y };
        let r = &self.regions;
        if r.output.contains(p) {
            return Spot::Output;
        }
        if r.command.contains(p) {
            return Spot::CommandLine;
        }
        for side in Side::ALL {
            if let Some(a) = r.pane(side).filter(|a| a.rect.contains(p)) {
                let row = if a.collapsed {
                    None
                } else {
                    content_row(a.rect, y)
                };
                return Spot::Pane(side, row);
            }
        }
        Spot::Elsewhere
    }

    /// Takes a mouse event; returns what to ask of the worker (nothing, so far).
    pub fn handle_mouse(&mut self, ev: MouseEvent) -> Vec<Request> {
        if self.overlay != Overlay::None {
            if let Overlay::Help(s) = self.overlay {
                self.overlay = match ev.kind {
                    MouseEventKind::ScrollUp => Overlay::Help(s.saturating_sub(WHEEL)),
                    MouseEventKind::ScrollDown => Overlay::Help(s + WHEEL),
                    _ => Overlay::Help(s),
                };
            }
            return Vec::new();
        }
        let spot = self.spot(ev.column, ev.row);
        let out_h = self.regions.output_height().max(1);
        match (ev.kind, spot) {
            (MouseEventKind::ScrollUp, Spot::Output) => self.output.scroll_up(WHEEL, out_h),
            (MouseEventKind::ScrollDown, Spot::Output) => self.output.scroll_down(WHEEL),
            (MouseEventKind::ScrollUp, Spot::Pane(side, _)) => {
                self.move_side(side, -(WHEEL as isize))
            }
            (MouseEventKind::ScrollDown, Spot::Pane(side, _)) => {
                self.move_side(side, WHEEL as isize)
            }
            (MouseEventKind::Down(MouseButton::Left), spot) => self.click(spot),
            _ => {}
        }
        self.relayout();
        Vec::new()
    }

    fn click(&mut self, spot: Spot) {
        match spot {
            Spot::Output => self.focus = Focus::Output,
            Spot::CommandLine => self.focus = Focus::CommandLine,
            Spot::Pane(side, row) => {
                self.focus = Focus::Side(side);
                let h = self.height(side);
                match (side, row) {
                    (Side::Threads, Some(r)) if r > 0 => {
                        // Row 0 is the column header.
                        let target = self.threads.cursor.offset + r - 1;
                        if target < self.threads.len() {
                            let d = target as isize - self.threads.cursor.selected as isize;
                            self.threads.move_by(d, h);
                        }
                    }
                    (Side::Stack, Some(r)) if r > 0 => {
                        // Row 0 is the stack header.
                        let target = self.stack.cursor.offset + r - 1;
                        if target < self.stack.frames().len() {
                            let d = target as isize - self.stack.cursor.selected as isize;
                            self.stack.move_by(d, h);
                        }
                    }
                    _ => {}
                }
            }
            Spot::Elsewhere => {}
        }
    }
}
