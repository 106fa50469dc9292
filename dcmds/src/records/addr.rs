//! A bare address, as walks and pipe-aware dcmds print one when nothing reads their pipe.

use crate::record::{hex, Record};
use serde::Serialize;

/// An address printed as bare hex, one a line, as mdb does; its JSON is the string `"0x…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Address(#[serde(with = "hex")] pub u64);

impl Record for Address {
    fn render(&self, lines: &mut Vec<String>) {
        lines.push(format!("{:x}", self.0));
    }
}
