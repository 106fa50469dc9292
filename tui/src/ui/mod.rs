//! Drawing the UI state with ratatui. Every function here reads the [`App`] and draws; none
//! changes it. The layout comes from [`crate::app::layout`], computed by the app.

mod bars;
mod lists;
mod memory;
mod output;
mod overlay;
mod regs;
#[cfg(test)]
mod tests;
pub mod theme;

use crate::app::layout::PaneArea;
use crate::app::panes::{Load, Side};
use crate::app::{App, Focus};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};
use ratatui::Frame;
use std::time::Duration;
pub use theme::Theme;

/// Braille spinner frames, one per 100 ms.
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// The spinner frame for work that has run `elapsed`.
pub(crate) fn spinner(elapsed: Duration) -> char {
    let frame = (elapsed.as_millis() / 100) as usize % SPINNER.len();
    SPINNER.get(frame).copied().unwrap_or(' ')
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let r = app.regions().clone();
    output::draw(frame, app, theme, r.output);
    for side in Side::ALL {
        if let Some(area) = r.pane(side) {
            draw_side(frame, app, theme, side, area);
        }
    }
    bars::draw_status(frame, app, theme, r.status);
    bars::draw_command(frame, app, theme, r.command);
    bars::draw_menu(frame, app, theme, r.output);
    overlay::draw(frame, app, theme);
}

fn draw_side(frame: &mut Frame, app: &App, theme: &Theme, side: Side, area: PaneArea) {
    let focused = app.focus() == Focus::Side(side);
    if area.collapsed {
        return collapsed(frame, theme, side, area.rect, focused);
    }
    match side {
        Side::Threads => lists::draw_threads(frame, app, theme, area.rect),
        Side::Stack => lists::draw_stack(frame, app, theme, area.rect),
        Side::Registers => regs::draw_registers(frame, app, theme, area.rect),
        Side::Disassembly => regs::draw_disasm(frame, app, theme, area.rect),
        Side::Memory => memory::draw_memory(frame, app, theme, area.rect),
        Side::Events => memory::draw_events(frame, app, theme, area.rect),
    }
}

/// A pane shrunk to its title line.
fn collapsed(frame: &mut Frame, theme: &Theme, side: Side, rect: Rect, focused: bool) {
    let title = format!("▸ {} ", side.title());
    let fill = (rect.width as usize).saturating_sub(title.chars().count());
    let line = Line::from(vec![
        Span::styled(title, theme.title(focused)),
        Span::styled("─".repeat(fill), theme.border(focused)),
    ]);
    frame.render_widget(Paragraph::new(line), rect);
}

/// A pane's frame: its title (with a spinner while a slow refresh is on its way), and a
/// note at the bottom right.
pub(crate) fn pane_block<'a>(
    app: &App,
    theme: &Theme,
    title: String,
    focused: bool,
    load: &Load,
    bottom: Option<Line<'a>>,
) -> Block<'a> {
    let mut spans = vec![Span::styled(format!(" {title} "), theme.title(focused))];
    if let Some(t) = load.since {
        let e = app.now.saturating_duration_since(t);
        if e >= crate::app::PROGRESS_AFTER {
            spans.push(Span::styled(format!("{} ", spinner(e)), theme.dim()));
        }
    }
    if app.status.running && app.link == crate::app::Link::Connected {
        spans.push(Span::styled("(at last stop) ", theme.dim()));
    }
    let mut block = Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(theme.border(focused))
        .title(Line::from(spans));
    if let Some(b) = bottom {
        block = block.title_bottom(b.right_aligned());
    }
    block
}

/// The content of a pane with nothing to show: why.
pub(crate) fn placeholder(
    app: &App,
    theme: &Theme,
    load: &Load,
    empty: &str,
) -> Paragraph<'static> {
    let (text, style) = if let Some(e) = &load.error {
        (e.clone(), theme.error())
    } else if load.since.is_some() {
        ("reading...".to_string(), theme.dim())
    } else if app.link != crate::app::Link::Connected {
        ("not connected".to_string(), theme.dim())
    } else {
        (empty.to_string(), theme.dim())
    };
    Paragraph::new(Line::styled(text, style)).wrap(Wrap { trim: true })
}

/// `s` cut to `width` columns, with `…` when cut.
pub(crate) fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut t: String = s.chars().take(width - 1).collect();
    t.push('…');
    t
}

/// A span padded or cut to exactly `width` columns.
pub(crate) fn cell(s: &str, width: usize, style: Style) -> Span<'static> {
    Span::styled(format!("{:<width$}", fit(s, width)), style)
}
