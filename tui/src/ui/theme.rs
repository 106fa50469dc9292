//! The styles the UI draws with: the terminal's own foreground and background, bold and
//! reverse video, and a few accent colours readable on dark and light backgrounds; with
//! `NO_COLOR` set, no colours at all (<https://no-color.org>).

use ratatui::style::{Color, Modifier, Style};

/// Which styles to draw with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// Colours unless `NO_COLOR` is set to something non-empty.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    /// With accent colours.
    pub fn colored() -> Self {
        Theme { color: true }
    }

    /// Modifiers only.
    pub fn plain() -> Self {
        Theme { color: false }
    }

    /// Whether colours are used.
    pub fn has_color(&self) -> bool {
        self.color
    }

    fn accent(&self, style: Style, color: Color) -> Style {
        if self.color {
            style.fg(color)
        } else {
            style
        }
    }

    fn bold() -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// A pane's border and title.
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.accent(Self::bold(), Color::Cyan)
        } else {
            Style::new()
        }
    }

    /// A pane's title text.
    pub fn title(&self, focused: bool) -> Style {
        if focused {
            self.accent(Self::bold(), Color::Cyan)
        } else {
            Self::bold()
        }
    }

    /// The selected row of a list.
    pub fn selected(&self, focused: bool) -> Style {
        if focused {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Self::bold().add_modifier(Modifier::UNDERLINED)
        }
    }

    /// Column headers.
    pub fn header(&self) -> Style {
        Self::bold()
    }

    /// Secondary text: addresses, notes about staleness.
    pub fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    /// The echo of a command the user ran.
    pub fn command(&self) -> Style {
        Self::bold()
    }

    /// A note from the UI.
    pub fn note(&self) -> Style {
        self.accent(Style::new(), Color::Cyan)
            .add_modifier(if self.color {
                Modifier::empty()
            } else {
                Modifier::ITALIC
            })
    }

    /// Warnings.
    pub fn warning(&self) -> Style {
        self.accent(Style::new(), Color::Yellow)
    }

    /// Errors.
    pub fn error(&self) -> Style {
        self.accent(Self::bold(), Color::Red)
    }

    /// A register that changed since the previous stop.
    pub fn changed(&self) -> Style {
        let s = self.accent(Self::bold(), Color::Red);
        if self.color {
            s
        } else {
            s.add_modifier(Modifier::UNDERLINED)
        }
    }

    /// The on-CPU marker and the current instruction's marker.
    pub fn on_cpu(&self) -> Style {
        self.accent(Self::bold(), Color::Green)
    }

    /// A search match.
    pub fn found(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// The current search match.
    pub fn current_found(&self) -> Style {
        self.accent(self.found(), Color::Yellow)
            .add_modifier(Modifier::BOLD)
    }

    /// The status bar's base.
    pub fn status_bar(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// A status bar segment that calls for attention (running, disconnected).
    pub fn status_alert(&self, color: Color) -> Style {
        self.accent(self.status_bar().add_modifier(Modifier::BOLD), color)
    }

    /// The command line's prompt.
    pub fn prompt(&self, focused: bool) -> Style {
        if focused {
            self.accent(Self::bold(), Color::Cyan)
        } else {
            self.dim()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_has_no_colours() {
        let t = Theme::plain();
        for s in [
            t.border(true),
            t.title(true),
            t.note(),
            t.warning(),
            t.error(),
            t.changed(),
            t.on_cpu(),
            t.current_found(),
            t.status_alert(Color::Red),
            t.prompt(true),
        ] {
            assert_eq!(s.fg, None, "{s:?}");
            assert_eq!(s.bg, None, "{s:?}");
        }
        assert_eq!(Theme::colored().error().fg, Some(Color::Red));
    }
}
