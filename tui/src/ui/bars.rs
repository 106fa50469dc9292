//! The status bar, the command line (and its prompts), and the completion list above it.

use super::{fit, spinner, Theme};
use crate::app::events::describe_run_state;
use crate::app::{App, Focus, Link};
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

/// The status bar's segments with their priority (0: always shown); when they do not fit,
/// the least important go first.
fn segments(app: &App, theme: &Theme) -> Vec<(u8, Span<'static>)> {
    let s = &app.status;
    let bar = theme.status_bar();
    let mut v = Vec::new();
    let target = if s.target.is_empty() {
        "qmdb"
    } else {
        &s.target
    };
    v.push((0, Span::styled(format!(" {target} "), bar)));
    match &app.link {
        Link::Connecting => v.push((0, Span::styled(" connecting... ", bar))),
        Link::Disconnected(_) => v.push((
            0,
            Span::styled(
                " ✖ disconnected · r reconnects ",
                theme.status_alert(Color::Red),
            ),
        )),
        Link::Connected if s.running => v.push((
            0,
            Span::styled(" ▶ running ", theme.status_alert(Color::Green)),
        )),
        Link::Connected => v.push((
            0,
            Span::styled(
                format!(" ■ {} ", describe_run_state(s)),
                theme.status_alert(Color::Yellow),
            ),
        )),
    }
    if app.link == Link::Connected {
        if let Some(r) = &s.kernel_release {
            v.push((1, Span::styled(format!(" Linux {r} "), bar)));
        }
        v.push((
            2,
            Span::styled(format!(" vCPU {} of {} ", s.selected_vcpu, s.vcpus), bar),
        ));
        if let Some(k) = s.kaslr_slide {
            v.push((3, Span::styled(format!(" KASLR {k:#x} "), bar)));
        }
    }
    if let Some(e) = app.last_elapsed {
        v.push((
            4,
            Span::styled(format!(" last {:.2}s ", e.as_secs_f64()), bar),
        ));
    }
    v
}

/// The right end of the status bar: a message, or the detach in progress, or a hint.
fn right_end(app: &App, theme: &Theme) -> (u8, Span<'static>) {
    let bar = theme.status_bar();
    if app.is_quitting() {
        return (0, Span::styled(" detaching... ", bar));
    }
    if let Some(m) = &app.message {
        let style = if m.error {
            theme.status_alert(Color::Red)
        } else {
            bar.add_modifier(ratatui::style::Modifier::BOLD)
        };
        return (0, Span::styled(format!(" {} ", m.text), style));
    }
    (5, Span::styled(" F1 keys ", bar))
}

/// The progress indicator: spinner, what runs, for how long, how to cancel.
pub(super) fn progress(app: &App, theme: &Theme, width: usize) -> Option<Line<'static>> {
    let (what, e) = app.progress()?;
    let cancel = if app.running.as_ref().is_some_and(|r| r.interrupting) {
        "interrupting"
    } else {
        "Ctrl-C cancels"
    };
    let tail = format!(" {:.1}s · {cancel} ", e.as_secs_f64());
    let room = width.saturating_sub(tail.chars().count() + 6);
    let what = if room >= 8 {
        format!(" {}", fit(&what, room))
    } else {
        String::new()
    };
    Some(Line::styled(
        format!(" {}{what}{tail}", spinner(e)),
        theme.status_alert(Color::Cyan),
    ))
}

pub(super) fn draw_status(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    if area.height == 0 {
        return;
    }
    let width = area.width as usize;
    let mut segs = segments(app, theme);
    let right = right_end(app, theme);
    segs.push(right);
    let right_at = segs.len() - 1;
    let mut keep = vec![true; segs.len()];
    let w = |s: &Span| s.content.chars().count();
    loop {
        let used: usize = segs
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|((_, s), _)| w(s) + 1)
            .sum();
        if used <= width {
            break;
        }
        let drop = (segs.iter().zip(&keep).enumerate())
            .filter(|&(_, ((prio, _), &k))| k && *prio > 0)
            .max_by_key(|&(i, ((prio, _), _))| (*prio, i))
            .map(|(i, _)| i);
        match drop.and_then(|i| keep.get_mut(i)) {
            Some(k) => *k = false,
            None => break,
        }
    }
    let bar = theme.status_bar();
    let mut spans: Vec<Span> = Vec::new();
    let mut used = 0;
    for ((_, seg), &k) in segs.iter().zip(&keep).take(right_at) {
        if !k {
            continue;
        }
        if !spans.is_empty() {
            spans.push(Span::styled("│", bar));
            used += 1;
        }
        used += w(seg);
        spans.push(seg.clone());
    }
    if let (Some(true), Some((_, r))) = (keep.get(right_at), segs.get(right_at)) {
        let gap = width.saturating_sub(used + w(r));
        spans.push(Span::styled(" ".repeat(gap), bar));
        spans.push(r.clone());
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(bar), area);
}

pub(super) fn draw_command(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let width = area.width as usize;
    let focused = app.focus() == Focus::CommandLine;
    let (prompt, input, extra, cursor_on) = if let Some(hs) = &app.hsearch {
        let hit = (hs.hit.and_then(|i| app.history.entries().get(i))).map_or("", String::as_str);
        let prompt = format!("(history search) '{}': ", hs.query);
        (prompt, hit.to_string(), None, None)
    } else if let Some(p) = &app.search {
        let extra = (!p.found).then(|| Span::styled("  not found", theme.error()));
        (
            "/".to_string(),
            p.input.value().to_string(),
            extra,
            Some(&p.input),
        )
    } else {
        (
            "> ".to_string(),
            app.input.value().to_string(),
            None,
            Some(&app.input),
        )
    };
    let prompt_w = prompt.chars().count();
    let avail = width.saturating_sub(prompt_w + 1);
    let scroll = cursor_on.map_or(0, |i| i.visual_scroll(avail));
    let shown: String = input.chars().skip(scroll).take(avail).collect();
    let active = focused || app.hsearch.is_some() || app.search.is_some();
    let mut spans = vec![Span::styled(prompt, theme.prompt(active)), Span::raw(shown)];
    spans.extend(extra);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
    if active && area.height > 0 {
        let x = match cursor_on {
            Some(i) => prompt_w + i.visual_cursor().saturating_sub(scroll),
            None => prompt_w - 3,
        };
        frame.set_cursor_position(Position {
            x: area.x + (x.min(width.saturating_sub(1))) as u16,
            y: area.y,
        });
    }
}

/// The completion candidates, in columns, over the bottom of the output pane.
pub(super) fn draw_menu(frame: &mut Frame, app: &App, theme: &Theme, output: Rect) {
    let Some(menu) = &app.menu else { return };
    let c = &menu.completion;
    let col_w = c
        .candidates
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(1)
        + 2;
    let inner_w = output.width.saturating_sub(2) as usize;
    let cols = (inner_w / col_w).max(1);
    let max_rows = (output.height.saturating_sub(3) as usize).clamp(1, 6);
    let rows = c.candidates.len().div_ceil(cols).min(max_rows);
    let shown = rows * cols;
    let mut lines: Vec<Line> = (0..rows)
        .map(|r| {
            let spans: Vec<Span> = (0..cols)
                .filter_map(|k| {
                    let i = r * cols + k;
                    let name = c.candidates.get(i)?;
                    let style = if menu.chosen == Some(i) {
                        theme.selected(true)
                    } else {
                        Style::new()
                    };
                    Some(Span::styled(
                        format!("{:<col_w$}", fit(name, col_w - 1)),
                        style,
                    ))
                })
                .collect();
            Line::from(spans)
        })
        .collect();
    if c.total > shown {
        if let Some(last) = lines.last_mut() {
            *last = Line::styled(
                format!("... and {} more", c.total - shown + cols),
                theme.dim(),
            );
        }
    }
    let h = lines.len() as u16 + 1;
    let inner = output.inner(ratatui::layout::Margin::new(1, 1));
    let area = Rect::new(
        inner.x,
        (inner.y + inner.height).saturating_sub(h),
        inner.width,
        h.min(inner.height),
    );
    let title = format!(" {} completions · Tab cycles ", c.total);
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(theme.border(true))
        .title(Span::styled(title, theme.title(true)));
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
