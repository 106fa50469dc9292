//! The threads and stack panes: a header row and a list with a selection.

use super::{cell, fit, pane_block, placeholder, Theme};
use crate::app::cursor::visible_offset;
use crate::app::panes::Side;
use crate::app::{App, Focus};
use crate::protocol::ThreadRow;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

/// From this inner width the threads pane shows each task_struct address.
const WIDE_THREADS: usize = 44;
/// From this inner width the stack pane shows each frame's stack pointer.
const WIDE_STACK: usize = 44;

/// Pads a row's spans with the row style to the full width, so the selection bar spans it.
fn full_row(mut spans: Vec<Span<'static>>, width: usize, row: Style) -> Line<'static> {
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    if used < width {
        spans.push(Span::raw(" ".repeat(width - used)));
    }
    Line::from(spans).style(row)
}

fn thread_spans(t: &ThreadRow, theme: &Theme, width: usize) -> Vec<Span<'static>> {
    let on_cpu = t.on_vcpu.is_some();
    let cpu = t.cpu.map_or("-".to_string(), |c| c.to_string());
    let mut spans = vec![
        if on_cpu {
            Span::styled("●", theme.on_cpu())
        } else {
            Span::raw(" ")
        },
        Span::raw(format!("{:>6} {} {:>3} ", t.pid, t.state, cpu)),
    ];
    let rest = width.saturating_sub(14);
    if width >= WIDE_THREADS {
        let comm_w = rest.saturating_sub(17);
        spans.push(cell(&t.comm, comm_w, Style::new()));
        spans.push(Span::styled(format!(" {:016x}", t.thread), theme.dim()));
    } else {
        spans.push(Span::raw(fit(&t.comm, rest)));
    }
    spans
}

pub(super) fn draw_threads(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let p = &app.threads;
    let focused = app.focus() == Focus::Side(Side::Threads);
    let width = area.width.saturating_sub(2) as usize;
    let title = if p.filter().is_empty() {
        format!("Threads {}", p.all().len())
    } else {
        format!("Threads {} of {}", p.len(), p.all().len())
    };
    let bottom = if !p.filter().is_empty() {
        Some(Line::styled(
            format!(" filter: {}▏", p.filter()),
            theme.title(focused),
        ))
    } else if focused {
        Some(Line::styled(" type to filter · Enter: stack ", theme.dim()))
    } else {
        None
    };
    let block = pane_block(app, theme, title, focused, &p.load, bottom);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if p.all().is_empty() {
        return frame.render_widget(placeholder(app, theme, &p.load, "no threads"), inner);
    }
    let mut head = format!(" {:>6} S CPU COMM", "PID");
    if width >= WIDE_THREADS {
        let comm_w = width.saturating_sub(31);
        head = format!("{head:<w$} TASK", w = 14 + comm_w);
    }
    let mut lines = vec![Line::styled(fit(&head, width), theme.header())];
    let h = (inner.height as usize).saturating_sub(1);
    let offset = visible_offset(p.cursor.offset, p.cursor.selected, h);
    let window = offset..(offset + h).min(p.len());
    for (i, t) in window.map_while(|i| Some((i, p.shown(i)?))) {
        let style = if i == p.cursor.selected {
            theme.selected(focused)
        } else {
            Style::new()
        };
        lines.push(full_row(thread_spans(t, theme, width), width, style));
    }
    if p.is_empty() {
        lines.push(Line::styled("no thread matches", theme.dim()));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The stack's header, shortened for the pane: `sp ffffb3f2c0267d68` of a task's stack, the
/// task (`0 swapper/0`) of a vCPU's (the title says which vCPU).
fn header_row(header: &str) -> String {
    let sp = header
        .strip_prefix("stack pointer for thread")
        .and_then(|h| h.rsplit_once(": "));
    if let Some((_, sp)) = sp {
        return format!("sp {sp}");
    }
    let who = header
        .rfind('(')
        .and_then(|i| header[i + 1..].strip_suffix(')'));
    match who {
        Some(w) => format!("task {w}"),
        None => header.to_string(),
    }
}

/// The stack pane's title: whose stack.
fn stack_title(app: &App) -> String {
    match app.stack.view.as_ref().map(|v| v.thread) {
        Some(Some(t)) => match app.threads.find(t) {
            Some(row) => format!("Stack · {} {}", row.pid, row.comm),
            None => format!("Stack · {t:x}"),
        },
        Some(None) => format!("Stack · vCPU {}", app.status.selected_vcpu),
        None => "Stack".to_string(),
    }
}

pub(super) fn draw_stack(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let p = &app.stack;
    let focused = app.focus() == Focus::Side(Side::Stack);
    let width = area.width.saturating_sub(2) as usize;
    let bottom = focused.then(|| Line::styled(" Enter: disassemble ", theme.dim()));
    let block = pane_block(app, theme, stack_title(app), focused, &p.load, bottom);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(view) = &p.view else {
        return frame.render_widget(placeholder(app, theme, &p.load, "no stack"), inner);
    };
    let sp = header_row(&view.header);
    let mut lines = vec![Line::styled(fit(&sp, width), theme.dim())];
    let h = (inner.height as usize).saturating_sub(1);
    let offset = visible_offset(p.cursor.offset, p.cursor.selected, h);
    let frames = p.frames();
    for (i, f) in frames.iter().enumerate().skip(offset).take(h) {
        let style = if i == p.cursor.selected {
            theme.selected(focused)
        } else {
            Style::new()
        };
        let mark = if f.reliable { " " } else { "?" };
        let mut spans = Vec::new();
        let mut avail = width.saturating_sub(1);
        if width >= WIDE_STACK {
            spans.push(Span::styled(format!("{:016x} ", f.sp), theme.dim()));
            avail = avail.saturating_sub(17);
        }
        spans.push(Span::raw(mark));
        spans.push(Span::raw(fit(&f.symbol, avail)));
        lines.push(full_row(spans, width, style));
    }
    if let Some(note) = &view.note {
        if lines.len() <= h {
            lines.push(Line::styled(fit(note, width), theme.warning()));
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::header_row;

    #[test]
    fn stack_headers_are_shortened() {
        assert_eq!(
            header_row(
                "stack pointer for thread ffff8ead41bf4800 (89 qmdb-sleeper): ffffb3f2c0267d68"
            ),
            "sp ffffb3f2c0267d68"
        );
        assert_eq!(
            header_row("stack of vCPU 0: thread ffffffffb3a1aa40 (0 swapper/0)"),
            "task 0 swapper/0"
        );
        assert_eq!(header_row("odd"), "odd");
    }
}
