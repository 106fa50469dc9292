//! The memory pane's command (`:mem EXPR`) and how its hex dump is laid out: how many bytes
//! a line holds at a width, and the text of a line (hex and ASCII), shared by drawing and
//! tests.

use super::panes::Side;
use super::App;
use crate::protocol::Request;

/// How a hex dump line is written at a given width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemLayout {
    /// Bytes per line: 16, 8 or 4.
    pub per_line: usize,
    /// The full 16-digit address starts each line; else its offset from the expression
    /// (`+010`), the address being in the title.
    pub full_addr: bool,
}

/// Columns a line takes: label, hex bytes, a space, the ASCII.
fn line_width(l: MemLayout) -> usize {
    let label = if l.full_addr { 16 } else { 4 };
    label + 1 + 3 * l.per_line + 1 + l.per_line
}

/// The widest layout that fits `width` columns (the narrowest when none does).
pub fn layout_for(width: usize) -> MemLayout {
    let choices = [(16, true), (16, false), (8, true), (8, false), (4, false)];
    choices
        .iter()
        .map(|&(per_line, full_addr)| MemLayout {
            per_line,
            full_addr,
        })
        .find(|&l| line_width(l) <= width)
        .unwrap_or(MemLayout {
            per_line: 4,
            full_addr: false,
        })
}

/// One line of the dump: its label, the bytes in hex, and as ASCII (`.` for what does not
/// print). `offset` is the line's first byte from the start address `addr`.
pub fn dump_line(addr: u64, offset: usize, bytes: &[u8], l: MemLayout) -> (String, String, String) {
    let label = if l.full_addr {
        format!("{:016x}", addr.wrapping_add(offset as u64))
    } else {
        format!("+{offset:03x}")
    };
    let mut hex: String = bytes.iter().map(|b| format!("{b:02x} ")).collect();
    // Short last line: keep the ASCII column aligned.
    hex.push_str(&"   ".repeat(l.per_line.saturating_sub(bytes.len())));
    let ascii = bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    (label, hex, ascii)
}

impl App {
    /// `:mem EXPR` (the UI's own command): the memory pane follows `EXPR` from now on;
    /// `:mem` alone says what it follows.
    pub(super) fn memory_command(&mut self, arg: &str, out: &mut Vec<Request>) {
        let expr = arg.trim();
        if expr.is_empty() {
            let msg = match &self.memory.expr {
                Some(e) => format!("the memory pane follows {e}"),
                None => "usage: :mem EXPR (e.g. :mem <rsp, :mem init_task+0x10)".to_string(),
            };
            return self.say(msg);
        }
        self.memory.expr = Some(expr.to_string());
        self.memory.view = None;
        self.memory.offset = 0;
        *Side::Memory.of_mut(&mut self.shown) = true;
        if let Some(pane) = self.pane_request(Side::Memory) {
            self.refresh(pane, out);
        }
    }
}

#[cfg(test)]
impl App {
    /// `:mem EXPR` as the command line runs it, for the drawing tests.
    pub(crate) fn memory_command_for_tests(&mut self, expr: &str, out: &mut Vec<Request>) {
        self.memory_command(expr, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_narrow_with_the_pane() {
        assert_eq!(
            layout_for(100),
            MemLayout {
                per_line: 16,
                full_addr: true
            }
        );
        assert_eq!(layout_for(80).per_line, 16);
        assert!(!layout_for(80).full_addr);
        assert_eq!(layout_for(60).per_line, 8);
        assert_eq!(layout_for(41).per_line, 8);
        assert_eq!(layout_for(10).per_line, 4);
    }

    #[test]
    fn a_line_shows_hex_and_ascii() {
        let l = MemLayout {
            per_line: 16,
            full_addr: false,
        };
        let (label, hex, ascii) = dump_line(0xffff_ffff_8200_0000, 0x10, b"swapper/0\0\x01", l);
        assert_eq!(label, "+010");
        assert!(hex.starts_with("73 77 61 70 70 65 72 2f 30 00 01 "));
        assert_eq!(hex.len(), 48);
        assert_eq!(ascii, "swapper/0..");
        let full = MemLayout {
            per_line: 8,
            full_addr: true,
        };
        assert_eq!(dump_line(0x1000, 8, b"", full).0, "0000000000001008");
    }
}
