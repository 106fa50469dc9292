//! What the formats show: `addr/fmt` a line at a time, `expr=fmt` as a whole.

use crate::record::{hex, Record};
use serde::Serialize;

/// One line of `addr/fmt`: the address of its first item and the values on it, as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryLine {
    #[serde(with = "hex")]
    pub addr: u64,
    pub values: Vec<String>,
    /// The line as printed: the label column, then the values in their columns.
    #[serde(skip)]
    pub text: String,
}

impl Record for MemoryLine {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(self.text.clone());
    }
}

/// The value of `expr=fmt`, with every value its format items rendered, as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormattedValue {
    /// The expression's value (before any `+`/`-` items).
    #[serde(with = "hex")]
    pub value: u64,
    pub values: Vec<String>,
    /// The lines printed, each indented by the label column.
    #[serde(skip)]
    pub lines: Vec<String>,
}

impl Record for FormattedValue {
    fn render(&self, lines: &mut Vec<String>) {
        lines.extend(self.lines.iter().cloned());
    }
}
