//! What is drawn over the screen: the key help (generated from the key table) and the
//! dialog asking how to quit.

use super::Theme;
use crate::app::keys::{Scope, BINDINGS};
use crate::app::{App, Overlay};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use ratatui::Frame;

/// The key help's lines: each scope's title, then its keys.
pub(crate) fn help_lines(theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut scope: Option<Scope> = None;
    for b in BINDINGS {
        if scope != Some(b.scope) {
            if scope.is_some() {
                lines.push(Line::raw(""));
            }
            scope = Some(b.scope);
            lines.push(Line::styled(b.scope.title().to_string(), theme.title(true)));
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<21}", b.label()), theme.header()),
            Span::raw(b.help),
        ]));
    }
    lines
}

/// A `w`x`h` rectangle centred in `outer`.
fn centred(outer: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(outer.width);
    let h = h.min(outer.height);
    Rect::new(
        outer.x + (outer.width - w) / 2,
        outer.y + (outer.height - h) / 2,
        w,
        h,
    )
}

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    match app.overlay {
        Overlay::None => {}
        Overlay::Help(scroll) => draw_help(frame, theme, scroll),
        Overlay::QuitDialog => draw_quit(frame, theme),
    }
}

/// Where to split the help into two columns: at the blank line between two scopes that
/// best balances them. Returns the blank line's index.
fn split_point(lines: &[Line]) -> usize {
    (lines.iter().enumerate())
        .filter(|(_, l)| l.width() == 0)
        .map(|(i, _)| i)
        .min_by_key(|&i| i.max(lines.len() - i - 1))
        .unwrap_or(lines.len() / 2)
}

fn draw_help(frame: &mut Frame, theme: &Theme, scroll: usize) {
    let lines = help_lines(theme);
    let screen = frame.area();
    let two = screen.width >= 156;
    let (left, right) = if two {
        let at = split_point(&lines);
        let mut l = lines;
        let r = l.split_off(at + 1);
        l.pop();
        (l, r)
    } else {
        (lines, Vec::new())
    };
    let width = if two { 154 } else { 78 };
    let total = left.len().max(right.len());
    let area = centred(screen, width, (total as u16 + 2).min(screen.height));
    let inner_h = area.height.saturating_sub(2) as usize;
    let max = total.saturating_sub(inner_h);
    let first = scroll.min(max);
    let more = if max > 0 {
        let last = (first + inner_h).min(total);
        format!(" {}-{last} of {total} · ↑↓ PgUp PgDn ", first + 1)
    } else {
        String::new()
    };
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.border(true))
        .title(Span::styled(" Keys · Esc closes ", theme.title(true)))
        .title_bottom(Line::styled(more, theme.dim()).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let page = |v: Vec<Line<'static>>| -> Paragraph<'static> {
        Paragraph::new(v.into_iter().skip(first).take(inner_h).collect::<Vec<_>>())
    };
    if two {
        let half = inner.width / 2;
        let l = Rect::new(inner.x, inner.y, half, inner.height);
        let r = Rect::new(inner.x + half, inner.y, inner.width - half, inner.height);
        frame.render_widget(page(left), l);
        frame.render_widget(page(right), r);
    } else {
        frame.render_widget(page(left), inner);
    }
}

fn draw_quit(frame: &mut Frame, theme: &Theme) {
    let area = centred(frame.area(), 50, 9);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.border(true))
        .title(Span::styled(" Quit qmdb ", theme.title(true)));
    let key = |k: &'static str| Span::styled(format!("  {k:<5}"), theme.header());
    let lines = vec![
        Line::raw(" The guest was running when qmdb attached"),
        Line::raw(" and is halted now."),
        Line::raw(""),
        Line::from(vec![key("r"), Span::raw("resume the guest and quit")]),
        Line::from(vec![key("h"), Span::raw("quit, leaving the guest halted")]),
        Line::from(vec![key("Esc"), Span::raw("do not quit")]),
    ];
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
