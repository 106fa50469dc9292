//! Kernel log records as `::msgbuf` prints them.

use crate::record::Record;
use serde::Serialize;

/// One printk record, with the dmesg lines of it that are shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    /// The record's sequence number.
    pub seq: u64,
    /// When it was logged, in nanoseconds since boot.
    pub ts_nsec: u64,
    /// Its log level (0 `KERN_EMERG` to 7 `KERN_DEBUG`).
    pub level: u8,
    /// Its syslog facility.
    pub facility: u8,
    /// The message.
    pub text: String,
    /// The lines printed: `[    0.000000] text`, each line of a multi-line record with the
    /// prefix; only the last ones when `-n` cut the record.
    #[serde(skip)]
    pub lines: Vec<String>,
}

impl Record for LogEntry {
    fn render(&self, lines: &mut Vec<String>) {
        lines.extend(self.lines.iter().cloned());
    }
}
