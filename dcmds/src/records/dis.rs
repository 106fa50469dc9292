//! Disassembled instructions (`::dis`, and the `i` format).

use crate::dis::DisLine;
use crate::record::{hex, Record};
use qmdb_linux::Program;
use serde::Serialize;

/// The width of the `symbol+off:` column.
const LABEL_WIDTH: usize = 32;

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instruction {
    #[serde(with = "hex")]
    pub addr: u64,
    /// The instruction's bytes, in hex.
    pub bytes: String,
    /// AT&T syntax, branch targets and RIP-relative operands followed by `<symbol+off>`.
    pub text: String,
    /// `symbol+off`, or the bare address.
    #[serde(skip)]
    pub label: String,
    /// `-b`: print the bytes too.
    #[serde(skip)]
    pub show_bytes: bool,
}

impl Instruction {
    /// `line`, labelled with `program`'s symbols; `bytes`: print the bytes too.
    pub fn new(program: &Program, line: &DisLine, bytes: bool) -> Instruction {
        Instruction {
            addr: line.addr.0,
            bytes: line.bytes.iter().map(|b| format!("{b:02x}")).collect(),
            text: line.text.clone(),
            label: program.symbolize(line.addr),
            show_bytes: bytes,
        }
    }
}

impl Record for Instruction {
    fn render(&self, lines: &mut Vec<String>) {
        let label = format!("{}:", self.label);
        lines.push(if self.show_bytes {
            format!("{label:<LABEL_WIDTH$} {:<30} {}", self.bytes, self.text)
        } else {
            format!("{label:<LABEL_WIDTH$} {}", self.text)
        });
    }
}
