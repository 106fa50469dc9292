//! `::printf`'s result: the text it formatted.

use crate::record::{hex, Record};
use serde::Serialize;

/// What one `::printf` printed for one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrintfText {
    /// The structure's address (dot).
    #[serde(with = "hex")]
    pub addr: u64,
    /// The formatted text, with the newlines the format gave it.
    pub text: String,
}

impl PrintfText {
    /// The text lines [`Record::render`] gives.
    pub fn lines_of(&self) -> Vec<String> {
        let mut lines = Vec::new();
        self.render(&mut lines);
        lines
    }
}

impl Record for PrintfText {
    /// One line per line of the text; text after the last newline is a line of its own.
    fn render(&self, lines: &mut Vec<String>) {
        let body = self.text.strip_suffix('\n').unwrap_or(&self.text);
        if self.text.is_empty() {
            return;
        }
        lines.extend(body.split('\n').map(str::to_string));
    }
}
