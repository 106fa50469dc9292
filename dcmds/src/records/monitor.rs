//! What QEMU's monitor answered to `::monitor`.

use crate::record::Record;
use serde::Serialize;

/// One monitor (HMP) command and its answer, as QEMU gave it (`\r\n` line ends kept in the
/// JSON, dropped from the text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitorReply {
    /// The command line passed to HMP.
    pub command: String,
    /// Its output, verbatim.
    pub output: String,
}

impl Record for MonitorReply {
    fn render(&self, lines: &mut Vec<String>) {
        lines.extend(
            self.output
                .lines()
                .map(|l| l.trim_end_matches('\r').to_string()),
        );
    }
}
