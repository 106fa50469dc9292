//! The registers pane (a grid, changed values highlighted) and the disassembly pane.

use super::{fit, pane_block, placeholder, Theme};
use crate::app::panes::Side;
use crate::app::{App, Focus};
use crate::protocol::RegisterRow;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// From this inner width the disassembly shows addresses; from the next, bytes too.
const DIS_ADDR: usize = 56;
const DIS_BYTES: usize = 100;

pub(super) fn draw_registers(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let p = &app.registers;
    let focused = app.focus() == Focus::Side(Side::Registers);
    let title = format!("Registers · vCPU {}", app.status.selected_vcpu);
    let bottom = (!p.changed.is_empty())
        .then(|| Line::styled(format!(" {} changed ", p.changed.len()), theme.changed()));
    let block = pane_block(app, theme, title, focused, &p.load, bottom);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if p.rows.is_empty() {
        return frame.render_widget(placeholder(app, theme, &p.load, "no registers"), inner);
    }
    let name_w = p
        .rows
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(3)
        .min(10);
    let cell_w = name_w + 1 + 16;
    let width = inner.width as usize;
    let annotated = p.rows.iter().any(|r| annotation(r).is_some());
    if annotated && width >= cell_w + 2 + MIN_NOTE {
        return draw_register_list(frame, app, theme, inner, name_w);
    }
    let cols = ((width + 2) / (cell_w + 2)).max(1);
    let grid_rows = p.rows.len().div_ceil(cols);
    let h = inner.height as usize;
    let first = p.offset.min(grid_rows.saturating_sub(h));
    let lines: Vec<Line> = (first..grid_rows.min(first + h))
        .map(|row| {
            let mut spans = Vec::new();
            for r in p.rows.iter().skip(row * cols).take(cols) {
                if !spans.is_empty() {
                    spans.push(Span::raw("  "));
                }
                let changed = p.changed.contains(&r.name);
                spans.push(Span::styled(
                    format!("{:>name_w$} ", fit(&r.name, name_w)),
                    if changed {
                        theme.changed()
                    } else {
                        theme.dim()
                    },
                ));
                spans.push(Span::styled(
                    format!("{:016x}", r.value),
                    if changed {
                        theme.changed()
                    } else {
                        Style::new()
                    },
                ));
            }
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The fewest columns worth showing a register's symbol and dereference in.
const MIN_NOTE: usize = 12;

/// What a register points at: `sym+0x1a`, `→ word sym`, or both.
pub(super) fn annotation(r: &RegisterRow) -> Option<String> {
    let deref = r.deref.as_ref().map(|d| match &d.symbol {
        Some(s) => format!("→ {:x} {s}", d.value),
        None => format!("→ {:x}", d.value),
    });
    match (&r.symbol, deref) {
        (Some(s), Some(d)) => Some(format!("{s} {d}")),
        (Some(s), None) => Some(s.clone()),
        (None, d) => d,
    }
}

/// The registers a line-per-register pane shows first, in this order.
const FIRST: [&str; 4] = ["rip", "pc", "rsp", "rbp"];

/// One register a line, with what it points at (wide panes); rip, rsp and rbp first.
fn draw_register_list(frame: &mut Frame, app: &App, theme: &Theme, inner: Rect, name_w: usize) {
    let p = &app.registers;
    let h = inner.height as usize;
    let note_w = (inner.width as usize).saturating_sub(name_w + 1 + 16 + 2);
    let first = p.offset.min(p.rows.len().saturating_sub(h));
    // The pc and the stack and frame pointers first: what a stop is read by.
    let rank = |r: &&RegisterRow| {
        FIRST
            .iter()
            .position(|n| *n == r.name)
            .unwrap_or(FIRST.len())
    };
    let mut rows: Vec<&RegisterRow> = p.rows.iter().collect();
    rows.sort_by_key(rank);
    let lines: Vec<Line> = rows
        .into_iter()
        .skip(first)
        .take(h)
        .map(|r| {
            let changed = p.changed.contains(&r.name);
            let (name_style, value_style) = if changed {
                (theme.changed(), theme.changed())
            } else {
                (theme.dim(), Style::new())
            };
            let mut spans = vec![
                Span::styled(format!("{:>name_w$} ", fit(&r.name, name_w)), name_style),
                Span::styled(format!("{:016x}", r.value), value_style),
            ];
            if let Some(note) = annotation(r) {
                spans.push(Span::raw("  "));
                spans.push(Span::styled(fit(&note, note_w), theme.note()));
            }
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The symbol's `+0x…` offset, or the symbol when it has none.
fn short_symbol(s: &str) -> &str {
    s.rfind('+').map_or(s, |i| &s[i..])
}

pub(super) fn draw_disasm(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let p = &app.disasm;
    let focused = app.focus() == Focus::Side(Side::Disassembly);
    let centre = p.rows.iter().find(|r| r.current).or(p.rows.first());
    let title = match centre.and_then(|r| r.symbol.as_deref()) {
        Some(s) => format!("Disassembly · {s}"),
        None => match centre {
            Some(r) => format!("Disassembly · {:x}", r.addr),
            None => "Disassembly".to_string(),
        },
    };
    let block = pane_block(app, theme, title, focused, &p.load, None);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if p.rows.is_empty() {
        return frame.render_widget(placeholder(app, theme, &p.load, "no instructions"), inner);
    }
    let width = inner.width as usize;
    let h = inner.height as usize;
    let sym_w = if width >= DIS_ADDR {
        p.rows
            .iter()
            .map(|r| r.symbol.as_deref().map_or(0, |s| s.chars().count()))
            .max()
            .unwrap_or(0)
            .min(width / 3)
    } else {
        p.rows
            .iter()
            .map(|r| r.symbol.as_deref().map_or(0, |s| short_symbol(s).len()))
            .max()
            .unwrap_or(0)
    };
    let first = p.first_row(h);
    let lines: Vec<Line> = (p.rows.iter().skip(first).take(h))
        .map(|r| {
            let mut spans = vec![if r.current {
                Span::styled("▶ ", theme.on_cpu())
            } else {
                Span::raw("  ")
            }];
            if width >= DIS_ADDR {
                spans.push(Span::styled(format!("{:016x} ", r.addr), theme.dim()));
            }
            let sym = r.symbol.as_deref().unwrap_or("");
            let sym = if width >= DIS_ADDR {
                sym
            } else {
                short_symbol(sym)
            };
            spans.push(Span::styled(
                format!("{:<sym_w$} ", fit(sym, sym_w)),
                theme.dim(),
            ));
            if width >= DIS_BYTES {
                spans.push(Span::styled(
                    format!("{:<24} ", fit(&r.bytes, 24)),
                    theme.dim(),
                ));
            }
            let text_style = if r.current {
                theme.header()
            } else {
                Style::new()
            };
            spans.push(Span::styled(r.text.clone(), text_style));
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
