//! The output pane: only the visible window of the buffer is turned into text, with search
//! matches highlighted.

use super::Theme;
use crate::app::output::{find_in_from, LineStyle, Output};
use crate::app::{App, Focus};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

fn line_style(theme: &Theme, style: LineStyle) -> Style {
    match style {
        LineStyle::Text => Style::new(),
        LineStyle::Warning => theme.warning(),
        LineStyle::Error => theme.error(),
        LineStyle::Command => theme.command(),
        LineStyle::Note => theme.note(),
    }
}

/// One line, scrolled `hscroll` columns, its matches of `pattern` highlighted.
fn render_line<'a>(
    text: &'a str,
    base: Style,
    pattern: Option<&str>,
    hit: Style,
    hscroll: usize,
) -> Line<'a> {
    let text = match text.char_indices().nth(hscroll) {
        Some((i, _)) => &text[i..],
        None if hscroll > 0 => "",
        None => text,
    };
    let Some(p) = pattern else {
        return Line::styled(text, base);
    };
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(m) = find_in_from(text, p, at) {
        if m.start > at {
            spans.push(Span::styled(&text[at..m.start], base));
        }
        spans.push(Span::styled(&text[m.clone()], base.patch(hit)));
        at = m.end.max(m.start + 1).min(text.len());
        if m.end == m.start {
            break;
        }
    }
    if at < text.len() {
        spans.push(Span::styled(&text[at..], base));
    }
    Line::from(spans)
}

/// The title's right-hand note: where the view is when not at the end.
fn position(out: &Output, height: usize) -> Option<String> {
    let w = out.window(height);
    (out.scroll() > 0)
        .then(|| format!(" {}-{} of {} · End follows ", w.start + 1, w.end, out.len()))
}

pub(super) fn draw(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let out = &app.output;
    let focused = app.focus() == Focus::Output;
    let height = area.height.saturating_sub(2) as usize;
    let width = area.width.saturating_sub(2) as usize;
    let bottom = match super::bars::progress(app, theme, width) {
        Some(p) => Some(p),
        None => match (&out.pattern, position(out, height)) {
            (Some(p), pos) => Some(Line::from(vec![
                Span::styled(format!(" /{p} "), theme.dim()),
                Span::raw(pos.unwrap_or_default()),
            ])),
            (None, Some(pos)) => Some(Line::raw(pos)),
            (None, None) => None,
        },
    };
    let load = Default::default();
    let block = super::pane_block(app, theme, "Output".into(), focused, &load, bottom);
    let current = out.current_index();
    let lines: Vec<Line> = out
        .window(height)
        .map_while(|i| {
            let l = out.line(i)?;
            let hit = if Some(i) == current {
                theme.current_found()
            } else {
                theme.found()
            };
            Some(render_line(
                &l.text,
                line_style(theme, l.style),
                out.pattern.as_deref(),
                hit,
                out.hscroll,
            ))
        })
        .collect();
    let para = if lines.is_empty() {
        Paragraph::new(Line::styled(
            "Type an mdb command below: ::help lists the dcmds, F1 the keys.",
            theme.dim(),
        ))
        .wrap(ratatui::widgets::Wrap { trim: true })
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(para.block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_become_their_own_spans() {
        let hit = Style::new().add_modifier(ratatui::style::Modifier::REVERSED);
        let l = render_line("a schedule b schedule", Style::new(), Some("sched"), hit, 0);
        let texts: Vec<&str> = l.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(texts, ["a ", "sched", "ule b ", "sched", "ule"]);
        let l = render_line("abcdef", Style::new(), None, hit, 2);
        assert_eq!(l.spans[0].content, "cdef");
        let l = render_line("ab", Style::new(), None, hit, 5);
        assert_eq!(l.width(), 0);
    }
}
