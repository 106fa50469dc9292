//! Laying out format items into lines: a label column, then values in aligned columns, at
//! most 16 bytes' worth of values a line.

use super::{FormatDef, Kind};
use crate::records::MemoryLine;
use crate::session::Session;
use crate::sink::Sink;
use qmdb_bridge::VirtAddr;

/// Width of the label column (mdb's default margin).
pub const LABEL_WIDTH: usize = 16;

/// How lines are labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `/`: each line starts with the address of its first item, `label:`; each line is a
    /// [`MemoryLine`] record, printed as it is complete.
    Address,
    /// `=`: each line is indented by the label column and kept in [`LineBuilder::lines`];
    /// the caller makes the record.
    Indent,
}

/// `label:` padded to the label column, or to the next multiple of 8 when longer.
pub fn label_field(label: &str) -> String {
    let s = format!("{label}:");
    let len = s.chars().count();
    let width = if len < LABEL_WIDTH {
        LABEL_WIDTH
    } else {
        (len / 8 + 1) * 8
    };
    format!("{s:<width$}")
}

/// The line being built.
pub struct LineBuilder {
    style: Style,
    addr: Option<VirtAddr>,
    text: String,
    values: Vec<String>,
    units: usize,
    after_joined: bool,
    /// Every value pushed, for the caller's record (`=`).
    pub all_values: Vec<String>,
    /// The complete lines of [`Style::Indent`], for the caller's record.
    pub lines: Vec<String>,
}

impl LineBuilder {
    pub fn new(style: Style) -> LineBuilder {
        LineBuilder {
            style,
            addr: None,
            text: String::new(),
            values: Vec::new(),
            units: 0,
            after_joined: false,
            all_values: Vec::new(),
            lines: Vec::new(),
        }
    }

    fn start(&mut self, at: VirtAddr) {
        if self.addr.is_none() {
            self.addr = Some(at);
        }
    }

    /// Adds one rendered value of format `def` read at `at`, starting a new line first when
    /// this one is full.
    pub fn push(
        &mut self,
        session: &Session,
        sink: &mut Sink<'_>,
        at: VirtAddr,
        def: &FormatDef,
        value: String,
    ) {
        let units = def.units();
        if self.units + units > 16 {
            self.flush(session, sink);
        }
        self.start(at);
        let joined = matches!(def.kind, Kind::Char | Kind::CharC);
        if joined {
            self.text.push_str(&value);
        } else {
            if self.after_joined {
                self.text.push(' ');
            }
            self.text
                .push_str(&format!("{value:<width$} ", width = def.width));
        }
        self.after_joined = joined;
        self.units += units;
        self.all_values.push(value.clone());
        self.values.push(value);
    }

    /// Adds text that is not a value (literal text, a label from `a`), padded to `width`.
    pub fn push_text(&mut self, at: VirtAddr, text: &str, width: usize) {
        self.start(at);
        if self.after_joined {
            self.text.push(' ');
            self.after_joined = false;
        }
        self.text.push_str(&format!("{text:<width$}"));
    }

    /// Pads the line to the next multiple of 8 columns.
    pub fn tab(&mut self, at: VirtAddr) {
        self.start(at);
        let len = self.text.chars().count();
        let to = (len / 8 + 1) * 8;
        self.text.push_str(&" ".repeat(to.saturating_sub(len)));
        self.after_joined = false;
    }

    /// Ends the line, if it holds anything: printed as a [`MemoryLine`] (`/`), or kept in
    /// [`LineBuilder::lines`] (`=`).
    pub fn flush(&mut self, session: &Session, sink: &mut Sink<'_>) {
        let Some(addr) = self.addr.take() else {
            return;
        };
        let label = match self.style {
            Style::Address => label_field(&session.symbolize(addr)),
            Style::Indent => " ".repeat(LABEL_WIDTH),
        };
        let line = format!("{label}{}", self.text);
        let text = line.trim_end().to_string();
        match self.style {
            Style::Address => sink.record(MemoryLine {
                addr: addr.0,
                values: std::mem::take(&mut self.values),
                text,
            }),
            Style::Indent => self.lines.push(text),
        }
        self.text.clear();
        self.values.clear();
        self.units = 0;
        self.after_joined = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_pad_to_the_margin_or_the_next_tab_stop() {
        assert_eq!(label_field("hz"), "hz:             ");
        assert_eq!(label_field("ffffffff81000000"), "ffffffff81000000:       ");
        assert_eq!(label_field("abcdefghijklmno"), "abcdefghijklmno:        ");
    }
}
