//! The memory pane (hex and ASCII at the expression it follows) and the events pane
//! (breakpoints and watchpoints, as `::events` lists them).

use super::{fit, pane_block, placeholder, Theme};
use crate::app::memory::{dump_line, layout_for};
use crate::app::panes::Side;
use crate::app::{App, Focus};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub(super) fn draw_memory(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let p = &app.memory;
    let focused = app.focus() == Focus::Side(Side::Memory);
    let title = match (&p.expr, &p.view) {
        (Some(e), Some(v)) => format!("Memory · {e} = {:x}", v.addr),
        (Some(e), None) => format!("Memory · {e}"),
        (None, _) => "Memory".to_string(),
    };
    // A failed refresh keeps the bytes of the last one: say why they are old.
    let bottom = match (&p.load.error, p.view.as_ref().and_then(|v| v.note.as_ref())) {
        (Some(e), _) if p.view.is_some() => {
            Some(Line::styled(format!(" {} ", fit(e, 40)), theme.error()))
        }
        (_, Some(n)) => Some(Line::styled(format!(" {} ", fit(n, 40)), theme.warning())),
        _ => None,
    };
    let block = pane_block(app, theme, title, focused, &p.load, bottom);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(view) = p.view.as_ref().filter(|v| !v.bytes.is_empty()) else {
        let empty = if p.expr.is_none() {
            ":mem EXPR shows memory (:mem <rsp)"
        } else {
            "no readable bytes"
        };
        return frame.render_widget(placeholder(app, theme, &p.load, empty), inner);
    };
    let layout = layout_for(inner.width as usize);
    let lines: Vec<Line> = view
        .bytes
        .chunks(layout.per_line)
        .enumerate()
        .skip(p.offset)
        .take(inner.height as usize)
        .map(|(i, chunk)| {
            let (label, hex, ascii) = dump_line(view.addr, i * layout.per_line, chunk, layout);
            Line::from(vec![
                Span::styled(format!("{label} "), theme.dim()),
                Span::raw(format!("{hex} ")),
                Span::styled(ascii, theme.header()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

pub(super) fn draw_events(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let p = &app.events;
    let focused = app.focus() == Focus::Side(Side::Events);
    let title = format!("Events · {}", p.rows.len());
    let block = pane_block(app, theme, title, focused, &p.load, None);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if p.rows.is_empty() {
        let empty = "no breakpoints or watchpoints (::bp, ::wp)";
        return frame.render_widget(placeholder(app, theme, &p.load, empty), inner);
    }
    let width = inner.width as usize;
    let lines: Vec<Line> = p
        .rows
        .iter()
        .skip(p.offset)
        .take(inner.height as usize)
        .map(|e| {
            let state = if e.enabled { "on " } else { "off" };
            let style = if e.enabled { Style::new() } else { theme.dim() };
            let mut text = format!("{} {}", e.symbol, e.options);
            text = text.trim_end().to_string();
            let head = format!("{:>3} {state} {:<7} {:>4} ", e.id, fit(&e.kind, 7), e.hits);
            let rest = width.saturating_sub(head.chars().count());
            Line::from(vec![
                Span::styled(head, theme.dim()),
                Span::styled(fit(&text, rest), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
